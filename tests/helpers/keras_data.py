"""Small transformed-example artifacts for the Keras Trainer's tests (components/keras_trainer/), the report's
tests and the benchmarks.

They follow the transformed-example contract (`components/formats/examples.py`): the
passthrough features of AudioExampleGen's examples plus LOG_MEL and MEL_IMAGE computed by the featurizer
graph from the int16-decoded waveform, as SpectrogramTransform computes them. The engineered feature
vector is left out (no Keras model reads it). Layout: `<root>/Split-<name>/data_tfrecord-*.gz` (GZIP)
and the exported featurizer in `<featurizer_dir>`, as the Trainer receives them from TFX.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from collections.abc import Iterable, Sequence
from typing import Optional

import numpy as np
import tensorflow as tf

from components.featurizer import IMAGE_OUTPUT, LOG_MEL_OUTPUT, MUSICNN_OUTPUT, SpectrogramSettings, build_featurizer
from components.formats import examples as raw
from components.formats import examples as transformed
from components.formats.examples import from_pcm16, to_pcm16
from components.tfrecord_sink import ENGINES, frame_record

TFRECORD_NAME = "data_tfrecord-{index:05d}-of-{count:05d}.gz"


@dataclasses.dataclass(frozen=True)
class Segment:
    waveform: np.ndarray  # float32 [num_samples]
    label: int
    genre: str
    track_id: int
    segment_index: int = 0
    num_segments: int = 1
    artist_id: int = -1
    source_path: str = ""


def _int(value) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def encode_transformed(
    passthrough: dict,
    log_mel: Optional[np.ndarray],
    image: Optional[np.ndarray],
    embedding: Optional[np.ndarray] = None,
) -> bytes:
    """passthrough: {feature name: value} for the PASSTHROUGH features (AUDIO as int16 bytes); log_mel, image,
    embedding: the featurizer's outputs, each when it computes it."""
    feature = {}
    for name in transformed.PASSTHROUGH:
        value = passthrough[name]
        feature[name] = _bytes(value) if isinstance(value, bytes) else _int(value)
    if log_mel is not None:
        feature[transformed.LOG_MEL] = tf.train.Feature(float_list=tf.train.FloatList(value=log_mel.reshape(-1)))
    if image is not None:
        feature[transformed.MEL_IMAGE] = _bytes(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
    if embedding is not None:
        feature[transformed.MUSICNN_EMBEDDING] = tf.train.Feature(float_list=tf.train.FloatList(value=embedding))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _outputs(features: dict, count: int) -> list:
    """[log-mels, images, embeddings], each a list of `count` per-example values (None when not computed)."""
    return [
        list(features[name].numpy()) if name in features else [None] * count
        for name in (LOG_MEL_OUTPUT, IMAGE_OUTPUT, MUSICNN_OUTPUT)
    ]


def transform_segments(
    segments: Sequence[Segment], settings: SpectrogramSettings, featurizer=None, batch_size: int = 32
) -> list[bytes]:
    """Serialized transformed examples of the segments, featurized from their int16 round trip."""
    featurizer = featurizer or build_featurizer(settings)
    out = []
    for start in range(0, len(segments), batch_size):
        chunk = segments[start : start + batch_size]
        pcm = [to_pcm16(s.waveform) for s in chunk]
        waveforms = np.stack([from_pcm16(p) for p in pcm])
        if waveforms.shape[1] != settings.num_samples:
            raise ValueError(f"segments have {waveforms.shape[1]} samples, the settings {settings.num_samples}")
        outputs = _outputs(featurizer.featurize(tf.constant(waveforms)), len(chunk))
        for s, p, log_mel, image, embedding in zip(chunk, pcm, *outputs):
            passthrough = {
                raw.AUDIO: p,
                raw.AUDIO_NUM_SAMPLES: settings.num_samples,
                raw.SAMPLE_RATE: settings.sample_rate,
                raw.LABEL: s.label,
                raw.GENRE: s.genre.encode(),
                raw.TRACK_ID: s.track_id,
                raw.ARTIST_ID: s.artist_id,
                raw.SEGMENT_INDEX: s.segment_index,
                raw.NUM_SEGMENTS: s.num_segments,
                raw.SOURCE_PATH: s.source_path.encode(),
            }
            out.append(encode_transformed(passthrough, log_mel, image, embedding))
    return out


def transform_raw_records(
    records: Iterable[bytes], settings: SpectrogramSettings, featurizer=None, batch_size: int = 32
) -> Iterable[bytes]:
    """AudioExampleGen's serialized examples -> transformed ones (passthrough features copied)."""
    featurizer = featurizer or build_featurizer(settings)
    spec = {name: spec for name, spec in raw.feature_spec().items() if name in transformed.PASSTHROUGH}
    batch: list[bytes] = []

    def flush():
        parsed = {k: v.numpy() for k, v in tf.io.parse_example(tf.constant(batch), spec).items()}
        features = featurizer.featurize(raw.decode_waveform(tf.constant(parsed[raw.AUDIO])))
        for i, (log_mel, image, embedding) in enumerate(zip(*_outputs(features, len(batch)))):
            passthrough = {name: parsed[name][i] for name in transformed.PASSTHROUGH}
            yield encode_transformed(passthrough, log_mel, image, embedding)

    for record in records:
        batch.append(record)
        if len(batch) == batch_size:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def write_split(
    root: str,
    split: str,
    records: Iterable[bytes],
    shards: int = 1,
    compression_engine: str = "isal",
    compression_level: int = 1,
) -> list[str]:
    """GZIP TFRecords of one split, round-robin over `shards` files; returns their paths. Framed and
    deflated like the pipeline's own sink (tfrecord_sink.py; default: its default engine and level), so
    readers see the same streams as SpectrogramTransform's output."""
    directory = os.path.join(root, f"Split-{split}")
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, TFRECORD_NAME.format(index=i, count=shards)) for i in range(shards)]
    files = [open(p, "wb") for p in paths]
    deflaters = [
        ENGINES[compression_engine].compressobj(compression_level, zlib.DEFLATED, 16 + zlib.MAX_WBITS) for _ in paths
    ]
    try:
        for index, record in enumerate(records):
            files[index % shards].write(deflaters[index % shards].compress(frame_record(record)))
        for f, deflater in zip(files, deflaters):
            f.write(deflater.flush())
    finally:
        for f in files:
            f.close()
    return paths


def tone_segments(
    genres: Sequence[str],
    per_genre: int,
    settings: SpectrogramSettings,
    seed: int = 0,
    first_track_id: int = 1,
    segments_per_track: int = 2,
) -> list[Segment]:
    """Learnable synthetic segments: genre i is a harmonic tone at its own pitch, with random phase,
    level and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(settings.num_samples) / settings.sample_rate
    out = []
    for label, genre in enumerate(genres):
        frequency = 110.0 * 2 ** (label * 5 / 12)  # a fourth apart: distinct mel bands
        for n in range(per_genre):
            track_id = first_track_id + label * 1000 + n // segments_per_track
            level = rng.uniform(0.1, 0.5)
            wave = level * (
                np.sin(2 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi)) + 0.4 * np.sin(4 * np.pi * frequency * t)
            )
            wave += 0.01 * rng.standard_normal(len(t))
            out.append(
                Segment(
                    wave.astype(np.float32),
                    label,
                    genre,
                    track_id,
                    n % segments_per_track,
                    segments_per_track,
                    artist_id=label,
                )
            )
    return out


def relabeled(segments: Sequence[Segment], genres: Sequence[str], shift: int = 1) -> list[Segment]:
    """The segments labelled as the genre `shift` places on: examples no model of the tones can get right."""
    return [
        dataclasses.replace(s, label=(s.label + shift) % len(genres), genre=genres[(s.label + shift) % len(genres)])
        for s in segments
    ]


def read_records(files: Sequence[str], limit: Optional[int] = None) -> Iterable[bytes]:
    dataset = tf.data.TFRecordDataset(list(files), compression_type="GZIP")
    if limit is not None:
        dataset = dataset.take(limit)
    for record in dataset:
        yield record.numpy()
