"""tf.data input for the Keras models: transformed-example TFRecords (GZIP) to (model input, label) batches.

Each model family reads one feature of the transformed-example contract
(`components/formats/examples.py`) and nothing else:

    cnn2d_mel             LOG_MEL    float32 [frames, n_mels] (dB)
    mobilenetv2_transfer  MEL_IMAGE  uint8 [S, S, 3]
    cnn1d_raw             AUDIO      float32 [num_samples] in [-1, 1] (decoded from int16 PCM)
    musicnn_transfer      MUSICNN_EMBEDDING  float32 [size] (the frozen network's embedding, computed once
                          by SpectrogramTransform: training the head never runs the network)

Order of the stages, and why:
  files (shuffled, seeded) -> interleaved GZIP readers (parallel) -> batches of serialized examples ->
  vectorised parse of the one feature (parallel) -> unbatch -> [cache] -> shuffle (seeded) ->
  batch (global batch; static on TPU) -> decode to the model's dtype -> prefetch (AUTOTUNE)
- Parsing batches instead of single examples: one parse op per batch is several times cheaper than one
  per example.
- The cache and the shuffle buffer hold the parsed feature in its compact stored form (audio as int16
  bytes, the image as uint8 bytes), not the serialized examples, which carry every feature: a transformed
  3 s example is ~350 KB serialized, its log-mel 65 KB, so a 4,096-example buffer fits in ~270 MB.
- The cache is used when the split's cached form (its exact example count, see components/ledger.py,
  times the cached size) fits config.trainer.cache_megabytes: from the second epoch on, no
  decompression or parsing at all.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Optional

from components.featurizer import SpectrogramSettings
from components.formats import examples as raw_features
from components.formats import examples as transformed

_log = logging.getLogger(__name__)

FAMILY_FEATURE = {
    "cnn2d_mel": transformed.LOG_MEL,
    "mobilenetv2_transfer": transformed.MEL_IMAGE,
    "cnn1d_raw": raw_features.AUDIO,
    "musicnn_transfer": transformed.MUSICNN_EMBEDDING,
}
# Features stored as float lists (parsed as [prod(shape)] and reshaped); the others are bytes.
FLOAT_FEATURES = (transformed.LOG_MEL, transformed.MUSICNN_EMBEDDING)
# Serialized examples parsed together (the vectorised parse's batch; not the training batch).
PARSE_BATCH = 64


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What one family reads: the feature, its model-side shape and dtype, and its cached size."""

    feature: str
    shape: tuple[int, ...]
    dtype: str  # of the model input
    cached_bytes: int  # per example, in the cache / shuffle buffer (label included)


def input_spec(family: str, settings: SpectrogramSettings) -> InputSpec:
    if family not in FAMILY_FEATURE:
        raise ValueError(f"unknown model family {family!r}; choose from {sorted(FAMILY_FEATURE)}")
    needed = FAMILY_FEATURE[family]
    if needed in (transformed.LOG_MEL, transformed.MEL_IMAGE) and needed not in settings.spectra:
        raise ValueError(
            f"model family {family} reads {needed}, but the featurizer was exported without it (it computes "
            f"{list(settings.spectra)}): SpectrogramTransform stores what the pipeline configuration's "
            f"trainer.model_family reads; re-run it with trainer.model_family={family} (pipeline/component_settings.py)"
        )
    if family == "cnn2d_mel":
        frames, mels = settings.log_mel_shape
        return InputSpec(transformed.LOG_MEL, (frames, mels), "float32", frames * mels * 4 + 8)
    if family == "musicnn_transfer":
        if settings.musicnn is None:
            raise ValueError(
                "model family musicnn_transfer reads the musicnn embedding, but the featurizer was exported without "
                "it (its settings have no `musicnn`): SpectrogramTransform computes it when the pipeline "
                "configuration has trainer.model_family=musicnn_transfer (pipeline/component_settings.py)"
            )
        size = settings.musicnn.size
        return InputSpec(transformed.MUSICNN_EMBEDDING, (size,), "float32", size * 4 + 8)
    if family == "mobilenetv2_transfer":
        return InputSpec(
            transformed.MEL_IMAGE, settings.image_shape, "uint8", settings.image_size * settings.image_size * 3 + 8
        )
    return InputSpec(raw_features.AUDIO, (settings.num_samples,), "float32", settings.num_samples * 2 + 8)


def list_files(file_patterns: Sequence[str]) -> list[str]:
    """The TFRecord files the patterns match, sorted; an error naming the patterns when there are none."""
    import tensorflow as tf

    files = sorted({f for pattern in file_patterns for f in tf.io.gfile.glob(pattern)})
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {list(file_patterns)}; is the Examples artifact empty?")
    return files


def should_cache(examples: int, spec: InputSpec, cache_megabytes: float) -> bool:
    """Whether `examples` examples of the split fit cache_megabytes in their cached form."""
    return examples * spec.cached_bytes / 2**20 <= cache_megabytes


def _parse_batch(spec: InputSpec, with_track_ids: bool):
    import tensorflow as tf

    if spec.feature in FLOAT_FEATURES:
        parse_spec = {spec.feature: tf.io.FixedLenFeature([math.prod(spec.shape)], tf.float32)}
    else:
        parse_spec = {spec.feature: tf.io.FixedLenFeature([], tf.string)}
    parse_spec[raw_features.LABEL] = tf.io.FixedLenFeature([], tf.int64)
    if with_track_ids:
        parse_spec[raw_features.TRACK_ID] = tf.io.FixedLenFeature([], tf.int64)

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, parse_spec)
        if with_track_ids:
            return parsed[spec.feature], parsed[raw_features.LABEL], parsed[raw_features.TRACK_ID]
        return parsed[spec.feature], parsed[raw_features.LABEL]

    return parse


def _to_model_input(spec: InputSpec):
    """Batched stored form -> the model's input (runs after the cache, on whole batches)."""
    import tensorflow as tf

    def convert(values, *rest):  # rest: the label (and the track id)
        if spec.feature in FLOAT_FEATURES:
            model_input = values
        elif spec.feature == transformed.MEL_IMAGE:
            model_input = tf.io.decode_raw(values, tf.uint8)
        else:
            model_input = raw_features.decode_waveform(values)
        return (tf.reshape(model_input, (-1, *spec.shape)), *rest)

    return convert


def make_dataset(
    file_patterns: Sequence[str],
    spec: InputSpec,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    shuffle_buffer: int = 4096,
    cache: bool = False,
    drop_remainder: bool = False,
    repeat: bool = False,
    files: Optional[Sequence[str]] = None,
    with_track_ids: bool = False,
):
    """(model input, label) batches from GZIP TFRecords of transformed (or, for cnn1d_raw, raw) examples.

    training: shuffle files and examples (seeded, reshuffled each epoch). repeat: endless (with
    steps_per_epoch). drop_remainder: static batch shapes (TPU). with_track_ids: (input, label, track id)
    batches, for per-track evaluation.
    """
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    files = list(files) if files is not None else list_files(file_patterns)
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type="GZIP", buffer_size=1 << 20),
        # Deterministic: with the seeded shuffles, a seed gives the same order every run (reproducible
        # training); the shuffle buffer, not the reader's order, is what randomises.
        cycle_length=min(len(files), 8),
        num_parallel_calls=autotune,
        deterministic=True,
    )
    dataset = dataset.batch(PARSE_BATCH).map(_parse_batch(spec, with_track_ids), num_parallel_calls=autotune).unbatch()
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(_to_model_input(spec), num_parallel_calls=autotune)
    return dataset.prefetch(autotune)


def check_examples(files: Sequence[str], spec: InputSpec, family: str) -> None:
    """Read the first example and check it has the family's feature at the expected size.

    A mismatch (examples written with other spectrogram settings, or raw examples given to a
    spectrogram model) is reported here in words instead of as a shape error deep inside tf.data.
    """
    import tensorflow as tf

    first = next(iter(tf.data.TFRecordDataset(files[:1], compression_type="GZIP").take(1)), None)
    if first is None:
        raise ValueError(f"{files[0]} holds no examples")
    example = tf.train.Example.FromString(first.numpy())
    feature = example.features.feature
    if spec.feature not in feature or raw_features.LABEL not in feature:
        missing = [f for f in (spec.feature, raw_features.LABEL) if f not in feature]
        raise ValueError(
            f"examples in {files[0]} have no {missing} feature, which model family {family!r} reads; the "
            f"Trainer must read SpectrogramTransform's transformed examples (features: {sorted(feature)})"
        )
    if spec.feature in FLOAT_FEATURES:
        found, expected = len(feature[spec.feature].float_list.value), math.prod(spec.shape)
    elif spec.feature == transformed.MEL_IMAGE:
        found, expected = len(feature[spec.feature].bytes_list.value[0]), spec.shape[0] * spec.shape[1] * 3
    else:
        found, expected = len(feature[spec.feature].bytes_list.value[0]) // 2, spec.shape[0]
    if found != expected:
        raise ValueError(
            f"{spec.feature} of the examples in {files[0]} has {found} values but the featurizer settings give "
            f"{expected} (shape {spec.shape}); the examples and the featurizer come from different settings"
        )
