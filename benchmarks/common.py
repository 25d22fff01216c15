"""Shared benchmark plumbing: run a measurement in a fresh process and record its peak memory.

A benchmark re-runs its own module as the child: `--child NAME --child-args JSON` names the measurement
and its keyword arguments, and the child prints its JSON result as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import psutil


def add_child_arguments(parser: argparse.ArgumentParser, children: dict) -> None:
    parser.add_argument("--child", choices=sorted(children), help=argparse.SUPPRESS)
    parser.add_argument("--child-args", help=argparse.SUPPRESS)


def run_child(args: argparse.Namespace, children: dict) -> bool:
    """In the child: run the named measurement and print its result; False in the parent."""
    if not args.child:
        return False
    print(json.dumps(children[args.child](**json.loads(args.child_args))))
    return True


def measure_in_child(module: str, child: str, spec: dict) -> tuple[dict, float]:
    """(result, peak RSS in MiB) of `children[child](**spec)` run by `python -m module` in a fresh process."""
    return run_measured(module, ["--child", child, "--child-args", json.dumps(spec)])


def run_measured(module: str, args: list[str], poll_seconds: float = 0.05) -> tuple[dict, float]:
    """Run `python -m module args` and return (its JSON result, peak RSS in MiB of its process tree).

    The child prints one JSON line last; RSS is summed over the child and all its descendants (Beam's
    and multiprocessing's worker processes) and sampled every poll_seconds.
    """
    log = tempfile.TemporaryFile(mode="w+")  # the child's warnings; shown only if it fails
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
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
        raise RuntimeError(
            f"{module} {' '.join(args)} failed with exit code {process.returncode}:\n" + log.read()[-3000:]
        )
    result = json.loads(output.strip().splitlines()[-1])
    return result, peak / 2**20


def write_report(name: str, report: dict) -> str:
    from pipeline.config import PROJECT_ROOT

    out_dir = PROJECT_ROOT / "build" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(report, indent=2))
    return str(path)
