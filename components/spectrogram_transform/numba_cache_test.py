"""The environment's numba cache holds every librosa kernel the engineered features run, so parallel Beam
workers only read it (numba_cache.py says why writing it concurrently is dangerous)."""

import subprocess
import sys
import time

from components.spectrogram_transform import numba_cache

COMPUTE_EVERY_PRESET = """
import numpy as np
from components.spectrogram_transform import engineered
y = (0.1 * np.random.default_rng(1).standard_normal(66150)).astype(np.float32)
for preset in engineered.PRESETS:
    engineered.compute(y, 22050, preset)
"""


def test_engineered_features_compile_nothing_new_in_a_fresh_process():
    before = {path: _mtime(path) for path in numba_cache.librosa_cache_files()}
    assert before, (
        "librosa's numba cache is empty: `make venv` warms it; run "
        "`python -m components.spectrogram_transform.numba_cache` once"
    )
    time.sleep(0.01)
    subprocess.run([sys.executable, "-c", COMPUTE_EVERY_PRESET], check=True, timeout=300)
    after = {path: _mtime(path) for path in numba_cache.librosa_cache_files()}
    assert after == before, (
        "a fresh process compiled and cached librosa kernels: the warm-up in "
        "components/spectrogram_transform/numba_cache.py misses an input type the features use"
    )


def _mtime(path: str) -> int:
    import os

    return os.stat(path).st_mtime_ns
