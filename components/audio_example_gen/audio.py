"""Decoding, validation, resampling and segmenting of one audio file: pure functions, no Beam, no TFX.

Every way a file can be unusable ends in `Quarantined` with a machine-readable reason from `Reason`
and a human-readable detail, never in an exception escaping to the caller.
"""
from __future__ import annotations

import dataclasses
import io
import os
import re
from typing import Union

import numpy as np
import soundfile as sf
import soxr

from pipeline.config import AudioConfig


class Reason:
    """Quarantine reasons. The values are written to quarantine.jsonl; keep them stable."""

    UNSUPPORTED_EXTENSION = "unsupported_extension"
    EMPTY_FILE = "empty_file"
    UNDECODABLE = "undecodable"
    EXTENSION_MISMATCH = "extension_mismatch"
    NO_AUDIO = "no_audio"
    TRUNCATED = "truncated"
    DECODE_ERROR = "decode_error"
    NON_FINITE = "non_finite"
    TOO_SHORT = "too_short"
    SILENT = "silent"
    READ_ERROR = "read_error"
    TOO_LARGE = "too_large"
    # Labelling and metadata reasons, decided before any decoding.
    LABEL_MISSING = "label_missing"
    LABEL_UNKNOWN = "label_unknown"
    AUDIO_MISSING = "audio_missing"
    NO_METADATA = "no_metadata"
    OUTSIDE_SUBSET = "outside_subset"
    BAD_FILE_NAME = "bad_file_name"
    # A failure the code did not foresee: recorded against the file so the run goes on; please report it.
    INTERNAL_ERROR = "internal_error"


# Extension -> the container formats libsndfile may report for it.
SUPPORTED_FORMATS = {
    ".mp3": {"MP3", "MPEG"},
    ".wav": {"WAV", "WAVEX", "RF64", "W64"},
    ".flac": {"FLAC"},
    ".ogg": {"OGG"},
    ".oga": {"OGG"},
}

SILENCE_FRAME = 2048  # samples per frame when measuring the silent fraction
_DB_FLOOR = -200.0


@dataclasses.dataclass(frozen=True)
class Quarantined:
    reason: str
    detail: str


@dataclasses.dataclass(frozen=True)
class DecodedClip:
    """Mono audio at the target rate plus what we learned about the source."""

    samples: np.ndarray  # float32, mono, at AudioConfig.sample_rate
    source_format: str
    source_sample_rate: int
    source_channels: int
    source_subtype: str

    def duration(self, sample_rate: int) -> float:
        return len(self.samples) / float(sample_rate)


def extension_of(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def is_supported_extension(path: str) -> bool:
    return extension_of(path) in SUPPORTED_FORMATS


def to_mono(audio: np.ndarray) -> np.ndarray:
    """[frames, channels] -> [frames] by averaging channels (as librosa does)."""
    if audio.ndim == 1:
        return audio.astype(np.float32, copy=False)
    # Column-wise adds: numpy's mean(axis=1) over a 2-wide axis is several times slower.
    mono = audio[:, 0].astype(np.float32, copy=True)
    for channel in range(1, audio.shape[1]):
        mono += audio[:, channel]
    if audio.shape[1] > 1:
        mono *= np.float32(1.0 / audio.shape[1])
    return mono


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate == target_rate or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples, source_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def _power_db(power: float) -> float:
    return max(_DB_FLOOR, 10.0 * float(np.log10(power))) if power > 0 else _DB_FLOOR


def rms_dbfs(samples: np.ndarray) -> float:
    if len(samples) == 0:
        return _DB_FLOOR
    return _power_db(float(np.dot(samples, samples)) / len(samples))


def frame_powers(samples: np.ndarray) -> np.ndarray:
    """Mean power of consecutive SILENCE_FRAME-sample frames; a partial tail frame counts on its own samples."""
    whole = len(samples) // SILENCE_FRAME
    frames = samples[: whole * SILENCE_FRAME].reshape(whole, SILENCE_FRAME)
    powers = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / SILENCE_FRAME
    tail = samples[whole * SILENCE_FRAME :]
    if len(tail):
        powers = np.append(powers, float(np.dot(tail, tail)) / len(tail))
    return powers


def silent_fraction(samples: np.ndarray, threshold_dbfs: float) -> float:
    """Fraction of SILENCE_FRAME-sample frames whose RMS is below the threshold."""
    if len(samples) == 0:
        return 1.0
    return float(np.mean(frame_powers(samples) < 10.0 ** (threshold_dbfs / 10.0)))


def decode(data: bytes, path: str, config: AudioConfig) -> Union[DecodedClip, Quarantined]:
    """Decode any supported format, at any rate, channel count and bit depth, to mono at the target rate."""
    if len(data) == 0:
        return Quarantined(Reason.EMPTY_FILE, "file has 0 bytes")
    try:
        # One open gives the container's format, its declared length and the samples.
        with sf.SoundFile(io.BytesIO(data)) as stream:
            info_format, info_subtype, declared_frames = stream.format, stream.subtype, stream.frames
            expected = SUPPORTED_FORMATS.get(extension_of(path), set())
            if info_format not in expected and not config.allow_extension_mismatch:
                return Quarantined(
                    Reason.EXTENSION_MISMATCH,
                    f"content is {info_format} but the extension is {extension_of(path) or '(none)'}",
                )
            try:
                audio = stream.read(dtype="float32", always_2d=True)
                rate = stream.samplerate
            except Exception as e:
                return Quarantined(Reason.DECODE_ERROR, f"{info_format} stream fails to decode: {_short(e)}")
    except Exception as e:  # libsndfile raises LibsndfileError/RuntimeError for unknown content
        return Quarantined(Reason.UNDECODABLE, f"not a recognised audio format ({_short(e)})")
    if audio.shape[0] == 0:
        return Quarantined(Reason.NO_AUDIO, f"{info_format} header declares no audio frames")
    # MP3 (Xing/LAME header) and OGG declare their length; a file cut short decodes to fewer frames.
    if declared_frames > 0 and audio.shape[0] < declared_frames * (1.0 - config.truncation_tolerance):
        return Quarantined(
            Reason.TRUNCATED,
            f"decoded {audio.shape[0]} of {declared_frames} frames the header declares "
            f"({audio.shape[0] / rate:.2f} s of {declared_frames / rate:.2f} s)",
        )
    mono = to_mono(audio)
    # NaN and Inf survive the downmix (NaN + x and Inf - Inf are NaN), and finite audio cannot overflow
    # a float64 sum, so one sum checks every sample.
    if not np.isfinite(np.sum(mono, dtype=np.float64)):
        return Quarantined(Reason.NON_FINITE, "decoded samples contain NaN or Inf")
    mono = resample(mono, int(rate), config.sample_rate)
    return DecodedClip(
        samples=mono,
        source_format=info_format,
        source_sample_rate=int(rate),
        source_channels=int(audio.shape[1]),
        source_subtype=str(info_subtype),
    )


@dataclasses.dataclass(frozen=True)
class ClipDescriptors:
    duration_seconds: float
    rms_dbfs: float
    silent_fraction: float


def validate(clip: DecodedClip, config: AudioConfig) -> Union[ClipDescriptors, Quarantined]:
    duration = clip.duration(config.sample_rate)
    if duration < config.min_duration_seconds:
        return Quarantined(
            Reason.TOO_SHORT, f"{duration:.2f} s of audio, under the {config.min_duration_seconds:g} s minimum"
        )
    level = rms_dbfs(clip.samples)
    silent = silent_fraction(clip.samples, config.silence_threshold_dbfs)
    if silent > config.max_silent_fraction:
        return Quarantined(
            Reason.SILENT,
            f"{silent:.1%} of frames below {config.silence_threshold_dbfs:g} dBFS "
            f"(limit {config.max_silent_fraction:.0%}); overall level {level:.1f} dBFS",
        )
    return ClipDescriptors(duration_seconds=duration, rms_dbfs=level, silent_fraction=silent)


def segment(samples: np.ndarray, config: AudioConfig) -> list[np.ndarray]:
    """Cut a validated clip into fixed-length examples of `config.example_samples` samples.

    Whole-clip mode (no segment_seconds): one example, the centre `clip_seconds` of a longer clip (FMA's
    clips are cut from the middle of tracks too), or the clip zero-padded at the end when shorter.
    Segment mode: consecutive non-overlapping segments from the start; a partial tail is dropped unless
    the clip is shorter than one segment, in which case it is zero-padded into a single segment.
    """
    length = config.example_samples
    if config.segment_seconds is None:
        if len(samples) > length:
            start = (len(samples) - length) // 2
            return [samples[start : start + length]]
        return [_pad(samples, length)]
    count = len(samples) // length
    if count == 0:
        return [_pad(samples, length)]
    return [samples[i * length : (i + 1) * length] for i in range(count)]


def content_fingerprint(samples: np.ndarray) -> str:
    """CRC-32C and length of the decoded samples: files that decode to identical audio share it
    (FMA has a dozen such pairs; across splits they leak test data into training)."""
    import google_crc32c

    return f"{google_crc32c.value(np.ascontiguousarray(samples).tobytes()):08x}-{len(samples)}"


def to_pcm16(samples: np.ndarray) -> bytes:
    """float [-1, 1] -> little-endian int16 bytes (the waveform encoding of our Examples; see README)."""
    clipped = np.clip(samples, -1.0, 1.0)
    return (np.round(clipped * 32767.0)).astype("<i2").tobytes()


def from_pcm16(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0


def _pad(samples: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, len(samples))] = samples[:length]
    return out


def _short(error: Exception, limit: int = 200) -> str:
    text = " ".join(str(error).split())
    # libsndfile names the in-memory stream and its address in its messages; that helps nobody.
    text = re.sub(r"Error opening <_io\.BytesIO object at 0x[0-9a-fA-F]+>: ", "", text)
    return text[:limit]


def read_bytes(path: str, max_megabytes: float) -> Union[bytes, Quarantined]:
    """Read a local or remote (gs://) file; a failure to read is a quarantine entry, not a crash.

    Files over max_megabytes are refused before reading: one stray hour-long WAV must not exhaust a
    worker's memory.
    """
    try:
        if "://" in path:
            import tensorflow as tf  # gfile reaches GCS on Dataflow/Vertex

            size, opener = tf.io.gfile.stat(path).length, lambda: tf.io.gfile.GFile(path, "rb")
        else:
            size, opener = os.path.getsize(path), lambda: open(path, "rb")
        if size > max_megabytes * 2**20:
            return Quarantined(Reason.TOO_LARGE, f"{size / 2**20:.0f} MiB, over the {max_megabytes:g} MiB limit")
        with opener() as f:
            return f.read()
    except Exception as e:
        return Quarantined(Reason.READ_ERROR, f"cannot read file: {_short(e)}")
