"""Decoding, validation and resampling of one audio file: pure functions, no Beam, no TFX (the cut into
segments and the downmix are components/waveform.py's, shared with whole-track prediction; re-exported here).

Every way a file can be unusable ends in `Quarantined` with a machine-readable reason from `Reason`
and a human-readable detail, never in an exception escaping to the caller.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
from collections.abc import Iterator
from typing import BinaryIO, Optional, Union

import numpy as np
import soundfile as sf
import soxr

from components.audio_example_gen.settings import AudioConfig
from components.waveform import iter_segments, segment, to_mono  # noqa: F401  (segment, iter_segments: re-exported)


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
    TOO_LONG = "too_long"  # decodes to more than audio.max_decoded_seconds (decoding stops at the bound)
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
BLOCK_FRAMES = 1 << 16  # source frames decoded at a time (1.4 s at 48 kHz; 512 KiB of float32 stereo)
# The blocks of `decode`, which holds the whole clip anyway: libsndfile's MP3 decoding costs ~10% more CPU
# in 64 Ki-frame reads than in one read of the file; 2 Mi frames (44 s at 48 kHz, 16 MiB of float32 stereo)
# decode a 30 s clip in one read.
DECODE_BLOCK_FRAMES = 1 << 21
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


class Refused(Exception):
    """A Quarantined outcome found while a DecodeStream is being iterated (the stream ends there)."""

    def __init__(self, quarantined: Quarantined):
        super().__init__(f"{quarantined.detail} [{quarantined.reason}]")
        self.quarantined = quarantined


class DecodeStream:
    """An opened audio file, decoded block by block to mono float32 at the target rate.

    Iterating yields the blocks (about BLOCK_FRAMES source frames each) and raises Refused when the stream
    proves unusable: DECODE_ERROR, NO_AUDIO, TRUNCATED, NON_FINITE, or TOO_LONG past max_frames. Memory
    is one block whatever the file's length. The verdicts are those of decoding the whole file at once:
    a NaN or Inf stops the output but decoding goes on to the end, so a file both truncated and
    non-finite is TRUNCATED, as before. Use as a context manager (it closes the file).
    """

    def __init__(
        self,
        sound: sf.SoundFile,
        config: AudioConfig,
        max_frames: Optional[int],
        max_seconds: Optional[float],
        owned: Optional[BinaryIO] = None,
        block_frames: Optional[int] = None,
    ):
        self._sound, self._config, self._owned = sound, config, owned
        self._block_frames = block_frames or BLOCK_FRAMES
        self._max_frames, self._max_seconds = max_frames, max_seconds
        self.source_format = sound.format
        self.source_subtype = str(sound.subtype)
        self.source_sample_rate = int(sound.samplerate)
        self.source_channels = int(sound.channels)
        self.declared_frames = int(sound.frames)
        self.frames_read = 0  # source frames decoded so far
        self.samples_out = 0  # samples at the target rate yielded so far

    def __enter__(self) -> DecodeStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._sound.close()
        if self._owned is not None:
            self._owned.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        rate, target = self.source_sample_rate, self._config.sample_rate
        resampler = None if rate == target else soxr.ResampleStream(rate, target, 1, dtype="float32", quality="HQ")
        non_finite = False
        while True:
            want = self._block_frames
            if self._max_frames is not None:  # never more than one frame past the bound
                want = min(want, self._max_frames + 1 - self.frames_read)
            try:
                block = self._sound.read(want, dtype="float32", always_2d=True)
            except Exception as e:
                raise Refused(
                    Quarantined(Reason.DECODE_ERROR, f"{self.source_format} stream fails to decode: {_short(e)}")
                ) from e
            self.frames_read += len(block)
            if self._max_frames is not None and self.frames_read > self._max_frames:
                raise Refused(
                    Quarantined(
                        Reason.TOO_LONG,
                        f"more than {self._max_seconds:g} s of audio (audio.max_decoded_seconds); "
                        "decoding stopped there",
                    )
                )
            last = len(block) < want
            if not non_finite:
                mono = to_mono(block) if len(block) else np.zeros(0, np.float32)
                # NaN and Inf survive the downmix (NaN + x and Inf - Inf are NaN) and a dot product, so a
                # finite float32 dot (BLAS: several times cheaper than a float64 sum) proves every sample
                # finite; only when it is not (or finite audio overflows float32) does the float64 sum,
                # which finite audio cannot overflow, decide.
                non_finite = not np.isfinite(np.dot(mono, mono)) and not np.isfinite(np.sum(mono, dtype=np.float64))
            if not non_finite:
                out = mono if resampler is None else resampler.resample_chunk(mono, last=last)
                if len(out):
                    self.samples_out += len(out)
                    yield out.astype(np.float32, copy=False)
            if last:
                break
        self._finish(non_finite)

    def _finish(self, non_finite: bool) -> None:
        read, declared, rate = self.frames_read, self.declared_frames, self.source_sample_rate
        if read == 0:
            raise Refused(Quarantined(Reason.NO_AUDIO, f"{self.source_format} header declares no audio frames"))
        # MP3 (Xing/LAME header) and OGG declare their length; a file cut short decodes to fewer frames.
        if declared > 0 and read < declared * (1.0 - self._config.truncation_tolerance):
            raise Refused(
                Quarantined(
                    Reason.TRUNCATED,
                    f"decoded {read} of {declared} frames the header declares "
                    f"({read / rate:.2f} s of {declared / rate:.2f} s)",
                )
            )
        if non_finite:
            raise Refused(Quarantined(Reason.NON_FINITE, "decoded samples contain NaN or Inf"))


Source = Union[bytes, str, BinaryIO]


def open_stream(
    source: Source,
    path: str,
    config: AudioConfig,
    max_seconds: Optional[float] = None,
    block_frames: Optional[int] = None,
) -> Union[DecodeStream, Quarantined]:
    """Open `source` (the file's bytes, a local path, or a seekable binary file object such as a gs://
    file's tf.io.gfile.GFile; `path` names it)
    for block-wise decoding. Quarantined for what the header already tells: EMPTY_FILE, UNDECODABLE,
    EXTENSION_MISMATCH, and TOO_LONG when the header declares more than max_seconds (None: no bound).
    block_frames: source frames per block (None: BLOCK_FRAMES)."""
    owned = None
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            if len(source) == 0:
                return Quarantined(Reason.EMPTY_FILE, "file has 0 bytes")
            source = owned = io.BytesIO(source)
        elif isinstance(source, str):
            if os.path.getsize(source) == 0:
                return Quarantined(Reason.EMPTY_FILE, "file has 0 bytes")
    except OSError as e:
        return Quarantined(Reason.READ_ERROR, f"cannot read file: {_short(e)}")
    try:
        sound = sf.SoundFile(source)
    except Exception as e:  # libsndfile raises LibsndfileError/RuntimeError for unknown content
        if owned is not None:
            owned.close()
        return Quarantined(Reason.UNDECODABLE, f"not a recognised audio format ({_short(e)})")
    stream = None
    try:
        expected = SUPPORTED_FORMATS.get(extension_of(path), set())
        if sound.format not in expected and not config.allow_extension_mismatch:
            return Quarantined(
                Reason.EXTENSION_MISMATCH,
                f"content is {sound.format} but the extension is {extension_of(path) or '(none)'}",
            )
        max_frames = None if max_seconds is None else int(np.ceil(max_seconds * sound.samplerate))
        if max_frames is not None and sound.frames > max_frames:
            return Quarantined(
                Reason.TOO_LONG,
                f"the header declares {sound.frames / sound.samplerate:.0f} s of "
                f"audio, over the {max_seconds:g} s limit (audio.max_decoded_seconds)",
            )
        stream = DecodeStream(sound, config, max_frames, max_seconds, owned, block_frames)
        return stream
    finally:
        if stream is None:
            sound.close()
            if owned is not None:
                owned.close()


def decode(data: bytes, path: str, config: AudioConfig) -> Union[DecodedClip, Quarantined]:
    """Decode any supported format, at any rate, channel count and bit depth, to mono at the target rate.

    Decoding stops at config.max_decoded_seconds (TOO_LONG), so the clip held in memory is bounded too."""
    stream = open_stream(data, path, config, max_seconds=config.max_decoded_seconds, block_frames=DECODE_BLOCK_FRAMES)
    if isinstance(stream, Quarantined):
        return stream
    with stream:
        try:
            blocks = list(stream)
        except Refused as e:
            return e.quarantined
    samples = blocks[0] if len(blocks) == 1 else np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    return DecodedClip(
        samples=samples,
        source_format=stream.source_format,
        source_sample_rate=stream.source_sample_rate,
        source_channels=stream.source_channels,
        source_subtype=stream.source_subtype,
    )


@dataclasses.dataclass(frozen=True)
class ClipDescriptors:
    duration_seconds: float
    rms_dbfs: float
    silent_fraction: float


class RunningValidation:
    """The checks of `validate` over a clip given block by block (add each block in order, then result()):
    the same verdicts, reasons and descriptors in constant memory, for tracks of any length."""

    def __init__(self, config: AudioConfig):
        self._config = config
        self._threshold = 10.0 ** (config.silence_threshold_dbfs / 10.0)
        self.samples = 0
        self._energy = 0.0
        self._frames = 0
        self._silent_frames = 0
        self._carry = np.zeros(0, np.float32)  # the samples of an unfinished SILENCE_FRAME frame

    def add(self, block: np.ndarray) -> None:
        if not len(block):
            return
        self.samples += len(block)
        self._energy += float(np.dot(block, block))
        if len(self._carry):
            block = np.concatenate([self._carry, block])
        whole = len(block) // SILENCE_FRAME * SILENCE_FRAME
        powers = frame_powers(block[:whole])
        self._frames += len(powers)
        self._silent_frames += int(np.count_nonzero(powers < self._threshold))
        self._carry = block[whole:].copy()

    def result(self) -> Union[ClipDescriptors, Quarantined]:
        config = self._config
        duration = self.samples / float(config.sample_rate)
        if duration < config.min_duration_seconds:
            return Quarantined(
                Reason.TOO_SHORT, f"{duration:.2f} s of audio, under the {config.min_duration_seconds:g} s minimum"
            )
        level = _power_db(self._energy / self.samples) if self.samples else _DB_FLOOR
        frames, silent_frames = self._frames, self._silent_frames
        if len(self._carry):  # a partial tail frame counts on its own samples
            frames += 1
            silent_frames += int(frame_powers(self._carry)[0] < self._threshold)
        silent = silent_frames / frames if frames else 1.0
        if silent > config.max_silent_fraction:
            return Quarantined(
                Reason.SILENT,
                f"{silent:.1%} of frames below {config.silence_threshold_dbfs:g} dBFS "
                f"(limit {config.max_silent_fraction:.0%}); overall level {level:.1f} dBFS",
            )
        return ClipDescriptors(duration_seconds=duration, rms_dbfs=level, silent_fraction=silent)


def validate(clip: DecodedClip, config: AudioConfig) -> Union[ClipDescriptors, Quarantined]:
    """TOO_SHORT or SILENT, else the clip's descriptors (RunningValidation over the whole clip at once)."""
    checks = RunningValidation(config)
    checks.add(clip.samples)
    return checks.result()


def content_fingerprint(samples: np.ndarray) -> str:
    """CRC-32C and length of the decoded samples: files that decode to identical audio share it
    (FMA has a dozen such pairs; across splits they leak test data into training)."""
    import google_crc32c

    return f"{google_crc32c.value(np.ascontiguousarray(samples).tobytes()):08x}-{len(samples)}"


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
