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
