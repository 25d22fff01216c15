"""The tf.Example contract of the pipeline's Examples: feature names, the waveform encoding, the encoder.

Raw examples (AudioExampleGen's output) hold the features below; transformed examples (SpectrogramTransform's
output) keep PASSTHROUGH and add LOG_MEL, MEL_IMAGE and ENGINEERED. Every component imports these names
instead of repeating string literals. The module does not import TensorFlow at load time: Beam workers
import it, and TensorFlow would cost each of them ~6 s and ~500 MB (`feature_spec` and `decode_waveform`
import it when called).
"""

from __future__ import annotations

import struct

import numpy as np

# -- raw examples (AudioExampleGen) ------------------------------------------------------------------------
# The waveform: little-endian int16 PCM (to_pcm16), mono, AudioConfig.sample_rate, exactly AUDIO_NUM_SAMPLES long.
AUDIO = "audio_pcm16"
AUDIO_NUM_SAMPLES = "audio_num_samples"
SAMPLE_RATE = "sample_rate"
LABEL = "label"
GENRE = "genre"
TRACK_ID = "track_id"
ARTIST_ID = "artist_id"  # -1 when unknown (folder layout)
SEGMENT_INDEX = "segment_index"
NUM_SEGMENTS = "num_segments"
SOURCE_PATH = "source_path"  # relative to the audio root
# Per-clip descriptors: cheap, and what makes data validation meaningful.
DURATION_SECONDS = "duration_seconds"
SOURCE_SAMPLE_RATE = "source_sample_rate"
SOURCE_CHANNELS = "source_channels"
SOURCE_FORMAT = "source_format"
RMS_DBFS = "rms_dbfs"
SILENT_FRACTION = "silent_fraction"
PADDED_SECONDS = "padded_seconds"

INT_FEATURES = (
    AUDIO_NUM_SAMPLES,
    SAMPLE_RATE,
    LABEL,
    TRACK_ID,
    ARTIST_ID,
    SEGMENT_INDEX,
    NUM_SEGMENTS,
    SOURCE_SAMPLE_RATE,
    SOURCE_CHANNELS,
)
FLOAT_FEATURES = (DURATION_SECONDS, RMS_DBFS, SILENT_FRACTION, PADDED_SECONDS)
BYTES_FEATURES = (AUDIO, GENRE, SOURCE_PATH, SOURCE_FORMAT)
ALL_FEATURES = INT_FEATURES + FLOAT_FEATURES + BYTES_FEATURES

# Statistics are computed on everything but the waveform: its bytes say nothing TFDV can summarise, and
# identifiers (track id, path) would only inflate the statistics with one unique value per clip.
STATISTICS_EXCLUDED = (AUDIO, TRACK_ID, SOURCE_PATH)
STATISTICS_FEATURES = tuple(f for f in ALL_FEATURES if f not in STATISTICS_EXCLUDED)

# -- transformed examples (SpectrogramTransform) -----------------------------------------------------------
# float32 list of frames * n_mels values, row-major [frame][mel]; shape in the featurizer settings.
LOG_MEL = "log_mel"
# bytes: the uint8 image, image_size * image_size * 3 values, row-major [row][column][channel].
MEL_IMAGE = "mel_image"
# float32 list, one value per name in ENGINEERED_NAMES_FILE (written at the artifact's root).
ENGINEERED = "engineered_features"
# float32 list: the pretrained musicnn embedding (featurizer settings `musicnn`: which checkpoint and layer,
# hence its size), only in examples whose featurizer computes it.
MUSICNN_EMBEDDING = "musicnn_embedding"

# The raw features a transformed example keeps (the waveform included, so the raw-audio model and serving
# tests read the same examples).
PASSTHROUGH = (
    AUDIO,
    AUDIO_NUM_SAMPLES,
    SAMPLE_RATE,
    LABEL,
    GENRE,
    TRACK_ID,
    ARTIST_ID,
    SEGMENT_INDEX,
    NUM_SEGMENTS,
    SOURCE_PATH,
)

# At the root of the transformed Examples artifact.
ENGINEERED_NAMES_FILE = "engineered_feature_names.json"  # ["chroma_cens/kurtosis/01", ...], FMA's column order


# -- the waveform encoding ---------------------------------------------------------------------------------
def to_pcm16(samples: np.ndarray) -> bytes:
    """float [-1, 1] -> little-endian int16 bytes (the waveform encoding of our Examples; see README)."""
    return pcm16_array(samples).tobytes()


def pcm16_array(samples: np.ndarray) -> np.ndarray:
    """to_pcm16's int16 samples as an array (its bytes are to_pcm16's): one float temporary, worked in place."""
    scaled = np.clip(samples, -1.0, 1.0)  # a new array, so the in-place steps below never touch `samples`
    scaled *= 32767.0  # same dtype and rounding as `clipped * 32767.0`
    np.rint(scaled, out=scaled)  # np.round(x) with 0 decimals is np.rint (half to even)
    return scaled.astype("<i2")


def from_pcm16(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0


def decode_waveform(serialized_audio):
    """The AUDIO feature (a string tensor) back to float32 in [-1, 1] inside a TensorFlow graph."""
    import tensorflow as tf

    return tf.cast(tf.io.decode_raw(serialized_audio, tf.int16, little_endian=True), tf.float32) / 32767.0


def feature_spec() -> dict:
    """tf.io parsing spec of every raw feature (all scalar, all present)."""
    import tensorflow as tf

    spec = {name: tf.io.FixedLenFeature([], tf.int64) for name in INT_FEATURES}
    spec.update({name: tf.io.FixedLenFeature([], tf.float32) for name in FLOAT_FEATURES})
    spec.update({name: tf.io.FixedLenFeature([], tf.string) for name in BYTES_FEATURES})
    return spec


# -- tf.Example in protobuf wire format --------------------------------------------------------------------
# (tensorflow/core/example/{example,feature}.proto):
#   Example { Features features = 1; }   Features { map<string, Feature> feature = 1; }
#   Feature { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
#   BytesList { repeated bytes value = 1; }  FloatList/Int64List { repeated float/int64 value = 1 [packed]; }
# Encoding it here keeps TensorFlow out of the workers; tests check it against tf.train.Example byte for byte.
def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 are ten-byte two's complement varints
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature(name: str, value) -> bytes:
    if name in INT_FEATURES:
        feature = length_delimited_field(3, length_delimited_field(1, _varint(int(value))))
    elif name in FLOAT_FEATURES:
        feature = length_delimited_field(2, length_delimited_field(1, struct.pack("<f", float(value))))
    else:
        feature = length_delimited_field(1, length_delimited_field(1, bytes(value)))
    key = length_delimited_field(1, name.encode("utf-8"))
    return length_delimited_field(1, key + length_delimited_field(2, feature))


def encode_example(values: dict) -> bytes:
    """Serialize {raw feature name: scalar} as a tf.Example, in sorted key order like TensorFlow's own."""
    return length_delimited_field(1, b"".join(_feature(name, values[name]) for name in sorted(values)))


def _header(number: int, length: int) -> bytes:
    """The tag and length of a length-delimited field, without its payload."""
    return _varint(number << 3 | 2) + _varint(length)


def _feature_parts(name: str, value) -> list:
    """`_feature(name, value)` as pieces whose concatenation is that entry: a bytes-like value (a bytes
    feature, e.g. the waveform) is referenced, not copied into each of the nested fields around it."""
    if name in INT_FEATURES or name in FLOAT_FEATURES:
        return [_feature(name, value)]
    payload = value if isinstance(value, bytes) else memoryview(value).cast("B")
    size = len(payload)
    bytes_list = _header(1, size)  # BytesList { value = 1 }
    feature = _header(1, len(bytes_list) + size)  # Feature { bytes_list = 1 }
    feature_size = len(feature) + len(bytes_list) + size
    key = length_delimited_field(1, name.encode("utf-8"))
    entry = key + _header(2, feature_size)
    return [_header(1, len(entry) + feature_size), entry, feature, bytes_list, payload]


class ExampleEncoder:
    """`encode_example` for a series of examples that share most of their values (the segments of one
    clip): the shared features are encoded once, and each example is joined in one copy of its waveform.
    `encode(varying)` == `encode_example({**shared, **varying})`, byte for byte."""

    def __init__(self, shared: dict, varying_names):
        self._names = sorted({*shared, *varying_names})
        self._shared = {name: _feature(name, value) for name, value in shared.items()}

    def encode(self, varying: dict) -> bytes:
        parts = []
        for name in self._names:
            if name in varying:
                parts.extend(_feature_parts(name, varying[name]))
            else:
                parts.append(self._shared[name])
        size = sum(p.nbytes if isinstance(p, memoryview) else len(p) for p in parts)
        return b"".join([_header(1, size), *parts])
