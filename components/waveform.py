"""Waveforms as ingestion and serving both see them: the channel downmix and the cut into fixed-length
segments. AudioExampleGen cuts clips into examples with these functions, and whole-track prediction cuts a
track into the served model's input with the same ones, so a model is served exactly what it trained on.
numpy only (Beam workers import it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Optional, Protocol

import numpy as np


class Segmenting(Protocol):
    """How a clip is cut: AudioExampleGen's AudioConfig, or SegmentLength."""

    @property
    def segment_seconds(self) -> Optional[float]: ...  # None: whole-clip mode (one example per clip)

    @property
    def example_samples(self) -> int: ...


@dataclasses.dataclass(frozen=True)
class SegmentLength:
    """Segment mode at a given length: what a served model takes (its featurizer's num_samples)."""

    sample_rate: int
    example_samples: int

    def __post_init__(self):
        if self.sample_rate < 1 or self.example_samples < 1:
            raise ValueError(f"cannot cut segments of {self.example_samples} samples at {self.sample_rate} Hz")

    @property
    def segment_seconds(self) -> float:
        return self.example_samples / self.sample_rate


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


def segment(samples: np.ndarray, config: Segmenting) -> list[np.ndarray]:
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


def iter_segments(blocks: Iterable[np.ndarray], config: Segmenting) -> Iterator[np.ndarray]:
    """`segment` over a clip given block by block, yielding each segment as soon as it is complete:
    the same segments (segment mode only: whole-clip mode needs the clip's length before its centre)."""
    if config.segment_seconds is None:
        raise ValueError(
            "iter_segments needs segment mode (audio.segment_seconds); whole-clip mode takes the "
            "centre of the clip, known only once all of it is decoded: use segment()"
        )
    length = config.example_samples
    buffer, filled, count = np.zeros(length, np.float32), 0, 0
    for block in blocks:
        position = 0
        while position < len(block):
            take = min(length - filled, len(block) - position)
            buffer[filled : filled + take] = block[position : position + take]
            filled, position = filled + take, position + take
            if filled == length:
                yield buffer.copy()
                filled, count = 0, count + 1
    if count == 0:  # shorter than one segment: zero-padded into one, as segment() pads it
        yield _pad(buffer[:filled], length)


def _pad(samples: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, len(samples))] = samples[:length]
    return out
