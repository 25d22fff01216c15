"""The TensorFlow-free tf.Example encoder against TensorFlow's own, and the feature contract."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from components.audio_example_gen import features
from components.formats.examples import from_pcm16, to_pcm16


def _reference(values: dict) -> bytes:
    feature = {}
    for name, value in values.items():
        if name in features.INT_FEATURES:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        elif name in features.FLOAT_FEATURES:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        else:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


@pytest.mark.parametrize("track_id,artist_id", [(2, 1), (0, -1), (2**62 + 12345, -(2**40)), (127, 128)])
def test_encoder_matches_tensorflow_byte_for_byte(track_id, artist_id):
    rng = np.random.default_rng(track_id % 1000)
    values = {
        features.AUDIO: to_pcm16(rng.uniform(-1, 1, 22050).astype(np.float32)),
        features.AUDIO_NUM_SAMPLES: 22050,
        features.SAMPLE_RATE: 22050,
        features.LABEL: 3,
        features.GENRE: b"Hip-Hop",
        features.TRACK_ID: track_id,
        features.ARTIST_ID: artist_id,
        features.SEGMENT_INDEX: 0,
        features.NUM_SEGMENTS: 1,
        features.SOURCE_PATH: "Folk/café ☕.mp3".encode(),
        features.DURATION_SECONDS: 29.98,
        features.SOURCE_SAMPLE_RATE: 44100,
        features.SOURCE_CHANNELS: 2,
        features.SOURCE_FORMAT: b"MP3",
        features.RMS_DBFS: -17.25,
        features.SILENT_FRACTION: 0.0,
        features.PADDED_SECONDS: 0.5,
    }
    encoded = features.encode_example(values)
    assert encoded == _reference(values)
    parsed = tf.io.parse_single_example(encoded, features.feature_spec())
    assert int(parsed[features.ARTIST_ID]) == artist_id and int(parsed[features.TRACK_ID]) == track_id
    assert parsed[features.SOURCE_PATH].numpy().decode() == "Folk/café ☕.mp3"
    assert float(parsed[features.RMS_DBFS]) == pytest.approx(-17.25)
    waveform = features.decode_waveform(parsed[features.AUDIO]).numpy()
    np.testing.assert_allclose(waveform, from_pcm16(values[features.AUDIO]))


def test_statistics_leave_out_only_the_waveform_and_identifiers():
    assert set(features.ALL_FEATURES) - set(features.STATISTICS_FEATURES) == {
        features.AUDIO,
        features.TRACK_ID,
        features.SOURCE_PATH,
    }
    assert len(set(features.ALL_FEATURES)) == len(features.ALL_FEATURES)


def test_worker_modules_do_not_import_tensorflow():
    code = (
        "import sys; import components.audio_example_gen.ingest; "
        "print(sorted(m for m in ('tensorflow', 'tfx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_to_pcm16_rounds_half_to_even_and_clips_like_the_reference_formula():
    rng = np.random.default_rng(7)
    halves = np.array([0.5, 1.5, -0.5, -2.5, 32766.5], np.float32) / np.float32(32767.0)
    for samples in (rng.uniform(-2, 2, 4096).astype(np.float32), rng.normal(0, 1, 4096), halves):
        reference = np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        assert to_pcm16(samples) == reference
        assert features.pcm16_array(samples).tobytes() == reference


@pytest.mark.parametrize("num_segments,padded", [(3, False), (1, True)])
def test_build_examples_equals_encode_example_of_each_segment(num_segments, padded):
    from components.audio_example_gen.audio import ClipDescriptors, DecodedClip
    from components.audio_example_gen.sources import SourceItem

    rng = np.random.default_rng(num_segments)
    samples = rng.uniform(-1.1, 1.1, 1000 if padded else 3 * 1024 + 17).astype(np.float32)
    segments = [np.pad(samples, (0, 24))] if padded else [samples[i * 1024 : (i + 1) * 1024] for i in range(3)]
    item = SourceItem("/x/Folk/café.mp3", "Folk/café.mp3", 2**40 + 3, -1, "Folk", 4, "eval")
    clip = DecodedClip(samples, "MP3", 44100, 2, "MPEG_LAYER_III")
    descriptors = ClipDescriptors(29.98, -17.25, 0.125)
    built = features.build_examples(item, clip, descriptors, segments, 22050)
    assert len(built) == len(segments)
    for index, (example, segment) in enumerate(zip(built, segments)):
        assert example == features.encode_example(
            {
                features.AUDIO: to_pcm16(segment),
                features.AUDIO_NUM_SAMPLES: len(segment),
                features.SAMPLE_RATE: 22050,
                features.LABEL: 4,
                features.GENRE: b"Folk",
                features.TRACK_ID: 2**40 + 3,
                features.ARTIST_ID: -1,
                features.SEGMENT_INDEX: index,
                features.NUM_SEGMENTS: len(segments),
                features.SOURCE_PATH: "Folk/café.mp3".encode(),
                features.DURATION_SECONDS: 29.98,
                features.SOURCE_SAMPLE_RATE: 44100,
                features.SOURCE_CHANNELS: 2,
                features.SOURCE_FORMAT: b"MP3",
                features.RMS_DBFS: -17.25,
                features.SILENT_FRACTION: 0.125,
                features.PADDED_SECONDS: 24 / 22050 if padded else 0.0,
            }
        )
        assert example == _reference(_parsed_values(example))  # and TensorFlow re-encodes it identically


def _parsed_values(serialized: bytes) -> dict:
    example = tf.train.Example.FromString(serialized)
    values = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values[name] = getattr(feature, kind).value[0]
    return values
