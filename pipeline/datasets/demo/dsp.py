"""Signal-processing helpers of the synthesizer (vectorised numpy, float32)."""

from __future__ import annotations

import math

import numpy as np

_TWO_PI = np.float32(2 * np.pi)


def _frac(x: np.ndarray) -> np.ndarray:
    """x mod 1 as float32, computed in the input's precision (np.mod is ~100x slower than this)."""
    return (x - np.floor(x)).astype(np.float32, copy=False)


def _sin_cycles(cycles: np.ndarray) -> np.ndarray:
    """sin(2*pi*cycles) in float32 (SIMD, ~50x faster than float64) after removing whole cycles."""
    return np.sin(_TWO_PI * _frac(cycles))


def _white(rng: np.random.Generator, shape) -> np.ndarray:
    """Unit-variance white noise, float32 (uniform: 6x cheaper than Gaussian, sounds the same)."""
    return (rng.random(shape, dtype=np.float32) - np.float32(0.5)) * np.float32(math.sqrt(12.0))


def _box(x: np.ndarray, length: int) -> np.ndarray:
    """Centered moving average (a cheap FIR low-pass), same length as x."""
    n = len(x)
    if length <= 1 or n < 2:
        return x.astype(np.float32, copy=False)
    length = min(length, n)
    h = length // 2
    # c_ext[j] = sum of x[:j - h], clamped to [0, n] at both ends; y[i] = (c_ext[i + L] - c_ext[i]) / L
    c_ext = np.empty(n + length + 1, np.float64)
    c_ext[: h + 1] = 0.0
    np.cumsum(x, dtype=np.float64, out=c_ext[h + 1 : h + 1 + n])
    c_ext[h + 1 + n :] = c_ext[h + n]
    return ((c_ext[length : length + n] - c_ext[:n]) * (1.0 / length)).astype(np.float32)


def _lowpass(x: np.ndarray, cutoff_hz: float, sr: int, passes: int = 2) -> np.ndarray:
    length = int(round(0.44 * sr / max(cutoff_hz, 1.0)))
    for _ in range(passes):
        x = _box(x, length)
    return x


def _highpass(x: np.ndarray, cutoff_hz: float, sr: int) -> np.ndarray:
    return (x - _lowpass(x, cutoff_hz, sr, passes=1)).astype(np.float32)


def _add_at(buf: np.ndarray, sig: np.ndarray, start: int, gain: float = 1.0) -> None:
    n = len(buf)
    if start >= n or start + len(sig) <= 0:
        return
    s0 = max(0, -start)
    b0 = max(0, start)
    m = min(len(sig) - s0, n - b0)
    if gain == 1.0:
        buf[b0 : b0 + m] += sig[s0 : s0 + m]
    else:
        buf[b0 : b0 + m] += np.float32(gain) * sig[s0 : s0 + m]


def _active_rms(x: np.ndarray, frame: int = 2048) -> float:
    """RMS over the frames where the layer actually plays (so a sparse layer is not boosted)."""
    m = len(x) // frame
    if m == 0:
        return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))
    e = np.sqrt(np.mean(np.square(x[: m * frame].reshape(m, frame), dtype=np.float64), axis=1))
    peak = e.max()
    if peak <= 1e-9:
        return 0.0
    act = e[e > 0.1 * peak]
    return float(np.sqrt(np.mean(act**2)))


def _soft_limit(x: np.ndarray, knee: float = 0.85) -> np.ndarray:
    a = np.abs(x)
    over = a > knee
    if np.any(over):
        x = x.copy()
        x[over] = np.sign(x[over]) * (knee + (1 - knee) * np.tanh((a[over] - knee) / (1 - knee)))
    return np.clip(x, -1.0, 1.0)
