"""Compile, once and in one process, the numba kernels librosa runs for the engineered features.

librosa caches its numba kernels on disk (`cache=True`, in its package's __pycache__). numba's cache is not
safe against concurrent writers: two Beam workers compiling the same kernel at the same moment left an index
that pointed at the other process's code, and every later process that loaded it segfaulted inside
`librosa.estimate_tuning`. So the environment (`make venv`, the Docker image) runs this module once: it
removes any cached librosa kernels (a corrupt cache cannot be told apart from a good one) and compiles them
afresh for the inputs the pipeline gives, after which workers only read the cache.

    python -m components.spectrogram_transform.numba_cache
"""

from __future__ import annotations

import glob
import os
import sys
import time

import numpy as np

NUMBA_CACHE_PATTERNS = ("*.nbi", "*.nbc")


def librosa_cache_files() -> list[str]:
    import librosa

    root = os.path.dirname(librosa.__file__)
    return sorted(
        path
        for pattern in NUMBA_CACHE_PATTERNS
        for path in glob.glob(os.path.join(root, "**", "__pycache__", pattern), recursive=True)
    )


def warm(sample_rate: int = 22050, seconds: float = 3.0) -> list[str]:
    """Remove librosa's cached kernels and compile them again for every engineered preset; returns the
    cache files written."""
    from components.spectrogram_transform import engineered

    for path in librosa_cache_files():
        os.remove(path)
    rng = np.random.default_rng(0)
    # Noise plus a tone: pitch tracking and the chroma/CQT paths all find something to work on.
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    waveform = (0.1 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for preset in engineered.PRESETS:
        engineered.compute(waveform, sample_rate, preset)
    return librosa_cache_files()


def main() -> int:
    if "tensorflow" in sys.modules:  # numba's first compile has crashed beside TensorFlow's LLVM before
        raise RuntimeError("warm numba's cache in a process that has not imported TensorFlow")
    started = time.monotonic()
    written = warm()
    print(f"numba: compiled and cached {len(written)} librosa kernel files in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
