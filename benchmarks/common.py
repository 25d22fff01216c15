"""Shared benchmark plumbing: run a measurement in a fresh process and record its peak memory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import psutil


def run_measured(module: str, args: list[str], poll_seconds: float = 0.05) -> tuple[dict, float]:
    """Run `python -m module args` and return (its JSON result, peak RSS in MiB of its process tree).

    The child prints one JSON line last; RSS is summed over the child and all its descendants (Beam's
    and multiprocessing's worker processes) and sampled every poll_seconds.
    """
    log = tempfile.TemporaryFile(mode="w+")  # the child's warnings; shown only if it fails
    process = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, stderr=log,
                               text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    parent = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(poll_seconds)
    output = process.stdout.read()
    if process.returncode != 0:
        log.seek(0)
        raise RuntimeError(f"{module} {' '.join(args)} failed with exit code {process.returncode}:\n"
                           + log.read()[-3000:])
    result = json.loads(output.strip().splitlines()[-1])
    return result, peak / 2**20


def write_report(name: str, report: dict) -> str:
    from pipeline.config import PROJECT_ROOT

    out_dir = PROJECT_ROOT / "build" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(report, indent=2))
    return str(path)
