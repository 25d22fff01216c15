"""The whole pipeline at two dataset sizes: each component's cost and how it grows with the data (make bench-scale).

    make bench-scale                                    # 400 and 1,600 clips of 30 s
    make bench-scale BENCH_ARGS="--clips 1000,8000"     # up to fma_small's 8,000 clips
    make bench-scale BENCH_ARGS="--clips 24,96"         # a smoke test (a few minutes)

Each size N is a synthetic demo dataset in FMA's layout (the config's genres, 8 by default, N / 8 clips each),
made once under --root/clips-N/demo and reused while its settings do not change; its making is not timed but
its duration is reported. The clips are 16-bit FLAC (MP3 encoding costs 4x the synthesis) and by default a
quarter of each genre's clips per split are synthesized, the others shifted copies of them (demo.audio_format,
demo.unique_fraction in pipeline/datasets/demo). Per 30 s clip, in CPU seconds: synthesis ~0.25, MP3 ~1.0,
FLAC ~0.05, a copy ~0.005; so 8,000 clips take ~8 min on 2 idle cores, not ~20 with every clip synthesized
(as MP3: ~80 min).

Each size then runs the whole pipeline with the local runner and the config (default: as `make run-local`;
fresh outputs, no cached component) in a fresh process (`--child-clips N`), which splits the run at TFX's
own log lines ("Component X is running." / "Component X is finished.") and records per component:
  wall time;
  CPU time of the process tree: this process, its live descendants and the ones already reaped (Beam's
    worker processes, multiprocessing pools), from psutil's cpu_times (user, system and reaped children's);
  peak RSS summed over the process tree, sampled by a thread every --poll-seconds and at each component's
    start and end, reset per component (shared pages of forked workers count once per process);
  examples in and out, from the artifacts (the ledger: components/run_reporter/ledger.py; AudioExampleGen's
    "in" counts audio files);
  bytes written: the component's directory under the pipeline root (the Pusher's: also its push destination;
    the RunReporter's: also the HTML report).
Between sizes, per component and for the whole run: the cost slope (cost_large / cost_small) / (N_large /
N_small) of wall and CPU time: 1.0 grows linearly with the data, a fixed cost gives less (goal: <= 1.2). For
the whole run also the total wall time, the peak RSS, and the bytes written against the dataset's audio bytes
(goal: <= 2x) and against fma_small's MP3s (7.2 GiB for 8,000 clips). Prints a markdown table; every figure
goes to build/bench/scale.json (and each size's to --root/clips-N/result.json).

Each result.json also records when, at which commit, with which effective config and on which machine (CPU
model, AVX-512 or not: TensorFlow's cost per example differs ~3x between the two) it was measured. With
--reuse, a size whose result.json has no problems and was measured at the same commit (a clean tree), with
the same config, on the same kind of machine is not run again: an 8,000-clip run takes hours, and another
size can then be added (or a failed run repeated) without it. The report marks each reused size with when it
was measured; a result from before these records existed is reused only with an UNVERIFIED mark.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Optional

import psutil

import components  # noqa: F401  (Keras 2 before TensorFlow: see components/__init__.py)
from benchmarks.common import write_report
from components.versioned_pusher.manifest import code_version
from pipeline.cli_common import add_config_arguments, configure_logging
from pipeline.config import PipelineConfig, load_config

MODULE = "benchmarks.bench_scale"
GOAL_SLOPE = 1.2  # cost slope of wall and CPU time between the two sizes (1.0: linear)
GOAL_BYTES_RATIO = 2.0  # everything a run writes against the dataset's audio bytes
MIN_SIZE_RATIO = 4  # the larger size is at least this many times the smaller
MIN_SLOPE_SECONDS = 0.5  # below this at the smaller size a cost is noise: no slope is shown for it
FMA_SMALL_CLIPS = 8000
FMA_SMALL_MP3_BYTES = 7.2 * 2**30  # fma_small.zip as FMA documents it: 0.97 MB (0.92 MiB) per 30 s clip
COMPONENT_EVENT = re.compile(r"^Component (?P<node>\S+) is (?P<kind>running|finished)\.$")
WHOLE_RUN = "whole run"
BETWEEN = "between components"


# -- pure helpers (tests/bench_scale_test.py) ----------------------------------------------------------------


def parse_clips(text: str, num_genres: int) -> list[int]:
    """'400,1600' -> [400, 1600]: two sizes, each a multiple of the genre count with >= 3 clips per genre (one
    artist per split), the larger >= MIN_SIZE_RATIO times the smaller."""
    try:
        sizes = sorted(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--clips {text!r}: two whole numbers, e.g. 400,1600") from None
    if len(sizes) != 2:
        raise ValueError(f"--clips {text!r}: exactly two sizes, e.g. 400,1600")
    for n in sizes:
        if n % num_genres or n < 3 * num_genres:
            raise ValueError(
                f"--clips: {n} clips cannot be {num_genres} balanced genres of >= 3 clips each "
                f"(use a multiple of {num_genres}, at least {3 * num_genres})"
            )
    if sizes[1] < MIN_SIZE_RATIO * sizes[0]:
        raise ValueError(f"--clips {text!r}: the larger size must be at least {MIN_SIZE_RATIO}x the smaller")
    return sizes


def parse_event(message: str) -> Optional[tuple[str, str]]:
    """("running" | "finished", node id) from one of LocalDagRunner's lines, else None."""
    m = COMPONENT_EVENT.match(message)
    return (m["kind"], m["node"]) if m else None


def slope(small: Optional[float], large: Optional[float], size_ratio: float, floor: float = 0.0) -> Optional[float]:
    """(large / small) / size_ratio: 1.0 = cost proportional to the data. None when a cost is missing or the
    smaller one is at most `floor` (too small to say how it grows)."""
    if small is None or large is None or small <= floor or small <= 0:
        return None
    return round(large / small / size_ratio, 3)


def machine_description(cpuinfo_path: str = "/proc/cpuinfo") -> dict:
    """The machine's kind as bench-scale's figures depend on it: CPU model, usable CPUs, AVX-512 or not."""
    model, flags = None, None
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key == "flags" and flags is None:
                    flags = value.split()
                if model is not None and flags is not None:
                    break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": model,
        "cpus": cpus,
        "avx512": None if flags is None else "avx512f" in flags,
        "memory_bytes": psutil.virtual_memory().total,
    }


def _differences(old, new, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like dicts."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [] if old == new else [prefix or "(value)"]
    out = []
    for key in sorted(set(old) | set(new), key=str):
        out += _differences(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
    return out


def reuse_decision(result: Optional[dict], config: dict, machine: dict, code: dict) -> tuple[bool, str]:
    """(reuse it?, why) for an earlier result.json of the same size under --reuse; `code` is this checkout's
    code_version()."""
    if result is None:
        return False, "no earlier result"
    if result.get("problems") or result.get("ledger_mismatches"):
        return False, "the earlier run had problems"
    provenance = result.get("provenance")
    if not provenance:
        when = result.get("measured_at_file_time", "at an unknown time")
        return True, f"reused, UNVERIFIED: measured {when} (file time), before results recorded config, commit, machine"
    changed = _differences(provenance.get("config"), config)
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        return False, f"the config changed since: {shown}"
    was = provenance.get("machine") or {}
    kind = ("cpu_model", "cpus", "avx512")
    if any(was.get(k) != machine.get(k) for k in kind):
        return False, "measured on another kind of machine: " + ", ".join(
            f"{k} {was.get(k)!r} -> {machine.get(k)!r}" for k in kind if was.get(k) != machine.get(k)
        )
    was_code = provenance.get("code") or {}
    if code.get("git_dirty"):
        return False, "this checkout has uncommitted changes: the code an earlier result ran cannot be told"
    if was_code.get("git_commit") != code.get("git_commit") or was_code.get("git_dirty"):
        return (
            False,
            f"measured at other code: commit {str(was_code.get('git_commit'))[:12]} "
            f"(dirty: {was_code.get('git_dirty')})",
        )
    return True, f"reused: measured {provenance.get('finished_at', '?')} at commit {str(code.get('git_commit'))[:12]}"


class Accounting:
    """Per-component wall time, CPU time and peak RSS from start/finish events with readings of the clocks.

    Thread-safe: the events come from the thread that logs them, the RSS samples from a sampler thread. Peak
    RSS is reset at each start; `run_peak_rss` holds the peak over every sample.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Optional[dict] = None
        self.components: list[dict] = []
        self.problems: list[str] = []
        self.run_peak_rss = 0
        self.run_peak_processes = 0

    def start(self, node: str, wall: float, cpu: float, rss: int, processes: int = 1) -> None:
        with self._lock:
            if self._open is not None:
                self.problems.append(f"{node} started while {self._open['component']} was running")
                self._close(wall, cpu)
            self._open = {
                "component": node,
                "_wall0": wall,
                "_cpu0": cpu,
                "peak_rss_bytes": rss,
                "max_processes": processes,
            }
            self._peak(rss, processes)

    def finish(self, node: str, wall: float, cpu: float, rss: int, processes: int = 1) -> None:
        with self._lock:
            if self._open is None or self._open["component"] != node:
                running = self._open["component"] if self._open else "nothing"
                self.problems.append(f"{node} finished while {running} was running")
                return
            self._peak(rss, processes)
            self._close(wall, cpu)

    def sample(self, rss: int, processes: int = 1) -> None:
        with self._lock:
            self._peak(rss, processes)

    def _peak(self, rss: int, processes: int) -> None:
        self.run_peak_rss = max(self.run_peak_rss, rss)
        self.run_peak_processes = max(self.run_peak_processes, processes)
        if self._open is not None:
            self._open["peak_rss_bytes"] = max(self._open["peak_rss_bytes"], rss)
            self._open["max_processes"] = max(self._open["max_processes"], processes)

    def _close(self, wall: float, cpu: float) -> None:
        entry = self._open
        self._open = None
        self.components.append(
            {
                "component": entry["component"],
                "wall_s": round(wall - entry["_wall0"], 3),
                "cpu_s": round(cpu - entry["_cpu0"], 3),
                "peak_rss_bytes": entry["peak_rss_bytes"],
                "max_processes": entry["max_processes"],
            }
        )

    def unfinished(self) -> Optional[str]:
        with self._lock:
            return self._open["component"] if self._open else None


def examples_by_component(splits: dict[str, list[dict]]) -> dict[str, dict[str, int]]:
    """{component: {"in": n, "out": n}} summed over splits from ledger.build(...)["splits"]. "out": the
    examples a component wrote; "in": what it read, profiled, trained on, scored or evaluated, and for
    AudioExampleGen the audio files (with examples or quarantined)."""
    totals: dict[str, dict[str, int]] = {}
    for rows in splits.values():
        for row in rows:
            entry = totals.setdefault(row["stage"], {})
            count = row["count"] or 0
            if row["what"].startswith("examples written"):
                entry["out"] = entry.get("out", 0) + count
            elif row["what"].startswith("files"):
                entry["in"] = entry.get("in", 0) + count + (row.get("quarantined") or 0)
            elif row["count"] is not None:
                entry["in"] = entry.get("in", 0) + count
    return totals


def tree_bytes(path: str) -> int:
    """Apparent size of a file, or of every file under a directory (0 when absent)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total


def compare(sizes: Sequence[int], results: Sequence[dict]) -> dict:
    """Per component and for the whole run: both sizes' figures side by side and the slopes."""
    ratio = sizes[1] / sizes[0]
    small, large = ({c["component"]: c for c in r["components"]} for r in results)
    names = [c["component"] for c in results[1]["components"]]
    names += [n for n in (c["component"] for c in results[0]["components"]) if n not in names]
    rows = []
    for name in [*names, BETWEEN, WHOLE_RUN]:
        if name in (BETWEEN, WHOLE_RUN):
            pair = [r[name.replace(" ", "_")] for r in results]
        else:
            pair = [small.get(name), large.get(name)]
        row = {"component": name}
        for key in ("wall_s", "cpu_s", "peak_rss_bytes", "examples_in", "examples_out", "bytes_written"):
            row[key] = [None if p is None else p.get(key) for p in pair]
        row["wall_slope"] = slope(*row["wall_s"], ratio, MIN_SLOPE_SECONDS)
        row["cpu_slope"] = slope(*row["cpu_s"], ratio, MIN_SLOPE_SECONDS)
        rows.append(row)
    return {"size_ratio": ratio, "rows": rows}


def _fmt(value: Optional[float], digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if digits else f"{round(value):,}"


def _pair(values: Sequence[Optional[float]], digits: int = 1, scale: float = 1.0) -> str:
    if all(v is None for v in values):
        return "-"
    return " / ".join(_fmt(None if v is None else v / scale, digits) for v in values)


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def _slope_cell(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"**{value:.2f}**" if value > GOAL_SLOPE else f"{value:.2f}"


def _examples_cell(ins: Sequence[Optional[int]], outs: Sequence[Optional[int]]) -> str:
    cells = []
    for i, o in zip(ins, outs):
        if i is None and o is None:
            return "-"
        cells.append(f"{_fmt(i, 0)} → {_fmt(o, 0)}" if o is not None else _fmt(i, 0))
    return " / ".join(cells)


def markdown_table(report: dict) -> str:
    """The README's table: one row per component, each cell "smaller size / larger size"."""
    n1, n2 = report["clips"]
    lines = [
        f"| component ({n1:,} / {n2:,} clips) | wall s | wall slope | CPU s | CPU slope | peak RSS MiB "
        "| examples in → out | written MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report["comparison"]["rows"]:
        name = f"**{row['component']}**" if row["component"] == WHOLE_RUN else row["component"]
        lines.append(
            "| "
            + " | ".join(
                [
                    name,
                    _pair(row["wall_s"]),
                    _slope_cell(row["wall_slope"]),
                    _pair(row["cpu_s"]),
                    _slope_cell(row["cpu_slope"]),
                    _pair(row["peak_rss_bytes"], 0, 2**20),
                    _examples_cell(row["examples_in"], row["examples_out"]),
                    _pair(row["bytes_written"], 1, 2**20),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def _machine_words(machine: Optional[dict]) -> str:
    if not machine or not machine.get("cpu_model"):
        return ""
    avx = {True: ", AVX-512", False: ", no AVX-512"}.get(machine.get("avx512"), "")
    return f" ({machine['cpu_model']}{avx})"


def summary_lines(report: dict) -> list[str]:
    """The whole run's figures and the goals, as sentences under the table."""
    whole = next(r for r in report["comparison"]["rows"] if r["component"] == WHOLE_RUN)
    n1, n2 = report["clips"]
    out = [
        f"- Setup: {n1:,} and {n2:,} clips of {report.get('clip_seconds', 30):g} s, "
        f"{report['audio_format'].upper()}, demo.unique_fraction {report.get('unique_fraction', 1):g} (the clips "
        f"not synthesized are shifted copies), {report.get('cpus', '?')} CPUs{_machine_words(report.get('machine'))}; "
        f"each cell: {n1:,} clips / {n2:,} "
        f"clips; slope: (cost ratio) / (clips ratio {n2 / n1:g}), - when the cost at {n1:,} clips is under "
        f"{MIN_SLOPE_SECONDS} s"
    ]
    for n, size in zip(report["clips"], report["sizes"]):
        run, data = size["whole_run"], size["dataset"]
        took = f"{data['seconds'] / 60:.1f} min" if data.get("seconds") is not None else "time not recorded"
        made = f"made in {took}, not timed" if data["generated"] else f"reused (made in {took})"
        if data.get("synthesized") is not None:
            made = f"({data['synthesized']:,} clips synthesized) {made}"
        out.append(
            f"- {n:,} clips: {run['wall_s'] / 60:.1f} min, {run['cpu_s'] / 60:.1f} CPU min, peak RSS "
            f"{_size(run['peak_rss_bytes'])}; wrote {_size(run['bytes_written'])} = "
            f"{size['bytes_ratio_audio']:.2f}x the audio ({_size(data['audio_bytes'])} "
            f"{report['audio_format'].upper()}, {size.get('audio_ratio_mp3', 0):.2f}x fma_small's MP3s for as many "
            f"clips), {size['bytes_ratio_mp3']:.2f}x fma_small's MP3s; "
            f"demo data {made}; RSS sampler {size.get('sampler_cpu_s', 0):.1f} CPU s"
            + (f"; {size['reused']}" if size.get("reused") else "")
        )
    over = [
        f"{r['component']} ({_fmt(r['wall_slope'], 2)} / {_fmt(r['cpu_slope'], 2)})"
        for r in report["comparison"]["rows"]
        if r["component"] != WHOLE_RUN
        and any(s is not None and s > GOAL_SLOPE for s in (r["wall_slope"], r["cpu_slope"]))
    ]
    out.append(
        f"- Slope of the whole run (wall / CPU): {_fmt(whole['wall_slope'], 2)} / {_fmt(whole['cpu_slope'], 2)} "
        f"(goal <= {GOAL_SLOPE}; 1.0 = linear in the clips)"
        + (f"; over the goal: {', '.join(over)}" if over else "; no component over the goal")
    )
    ratios = ", ".join(f"{s['bytes_ratio_audio']:.2f}x" for s in report["sizes"])
    out.append(f"- Bytes written against the audio: {ratios} (goal <= {GOAL_BYTES_RATIO}x)")
    trainer = report.get("trainer_epochs")
    if trainer and all(trainer):
        per_epoch = [
            (r["wall_s"][0] / trainer[0], r["wall_s"][1] / trainer[1])
            for r in report["comparison"]["rows"]
            if r["component"] == "Trainer" and None not in r["wall_s"]
        ]
        if per_epoch:
            s = slope(*per_epoch[0], report["comparison"]["size_ratio"])
            out.append(
                f"- Trainer: {trainer[0]} / {trainer[1]} epochs (early stopping); per epoch "
                f"{per_epoch[0][0]:.1f} / {per_epoch[0][1]:.1f} s, slope {_fmt(s, 2)}"
            )
    return out


# -- measuring one run (the child process) -------------------------------------------------------------------


class ProcessTree:
    """CPU seconds and RSS of a process and all its descendants (psutil)."""

    def __init__(self, pid: Optional[int] = None) -> None:
        self.root = psutil.Process(pid)

    def _members(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return [self.root]

    def cpu_seconds(self) -> float:
        """User and system time of the live processes plus what each has reaped of its children (their
        children_user/children_system: the root's is RUSAGE_CHILDREN): every CPU second the tree has spent,
        but for descendants orphaned outside the tree before they ended."""
        total = 0.0
        for p in self._members():
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def rss(self) -> tuple[int, int]:
        """(RSS summed over the tree, number of processes)."""
        total, count = 0, 0
        for p in self._members():
            try:
                total += p.memory_info().rss
                count += 1
            except psutil.Error:
                continue
        return total, count


class Sampler(threading.Thread):
    """Samples the tree's RSS into an Accounting every `seconds`; counts its own CPU time."""

    def __init__(self, accounting: Accounting, tree: ProcessTree, seconds: float) -> None:
        super().__init__(name="bench-scale-rss", daemon=True)
        self.accounting, self.tree, self.seconds = accounting, tree, seconds
        self.stopped = threading.Event()
        self.cpu_s = 0.0

    def run(self) -> None:
        while not self.stopped.wait(self.seconds):
            self.accounting.sample(*self.tree.rss())
            self.cpu_s = time.thread_time()

    def stop(self) -> float:
        self.stopped.set()
        self.join()
        return round(self.cpu_s, 2)


class ComponentEvents(logging.Handler):
    """Feeds TFX's "Component X is running/finished." lines into an Accounting, with fresh clock readings."""

    def __init__(self, accounting: Accounting, tree: ProcessTree, clock: Callable[[], float] = time.monotonic):
        super().__init__(logging.INFO)
        self.accounting, self.tree, self.clock = accounting, tree, clock

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event = parse_event(record.getMessage())
            if event is None:
                return
            kind, node = event
            wall, cpu, (rss, processes) = self.clock(), self.tree.cpu_seconds(), self.tree.rss()
            (self.accounting.start if kind == "running" else self.accounting.finish)(node, wall, cpu, rss, processes)
        except Exception:
            self.handleError(record)


def _trainer_epochs(outputs) -> Optional[int]:
    from components.json_files import read_json
    from components.keras_trainer.trainer import METRICS_FILE

    uri = outputs.get("Trainer.model_run")
    metrics = read_json(os.path.join(uri, METRICS_FILE)) if uri else None
    return ((metrics or {}).get("training") or {}).get("epochs_run")


def measure_run(config: PipelineConfig, poll_seconds: float) -> dict:
    """Run the pipeline once in this process and account for each component (see the module's docstring)."""
    from components.run_reporter import ledger
    from pipeline import local_runner

    accounting, tree = Accounting(), ProcessTree()
    handler = ComponentEvents(accounting, tree)
    absl_logger = logging.getLogger("absl")  # TFX logs through absl; its records reach the root's handlers too
    absl_logger.addHandler(handler)
    sampler = Sampler(accounting, tree, poll_seconds)
    wall0, cpu0 = time.monotonic(), tree.cpu_seconds()
    accounting.sample(*tree.rss())
    sampler.start()
    try:
        outputs = local_runner.run(config)
    finally:
        wall, cpu = time.monotonic() - wall0, tree.cpu_seconds() - cpu0
        sampler_cpu = sampler.stop()
        absl_logger.removeHandler(handler)
    if accounting.unfinished():
        accounting.problems.append(f"{accounting.unfinished()} never finished")
    if not accounting.components:
        accounting.problems.append("no 'Component ... is running.' line was seen: is absl logging at INFO?")

    balance = ledger.build(outputs)
    examples = examples_by_component(balance["splits"])
    run_dir = os.path.dirname(config.metadata_path)
    extra = {"Pusher": [config.push_destination], "RunReporter": [config.report_path]}
    for entry in accounting.components:
        name = entry["component"]
        entry["examples_in"] = examples.get(name, {}).get("in")
        entry["examples_out"] = examples.get(name, {}).get("out")
        dirs = [os.path.join(config.pipeline_root, name), *extra.get(name, [])]
        entry["bytes_written"] = sum(tree_bytes(d) for d in dirs)
    in_components = [sum(c[k] for c in accounting.components) for k in ("wall_s", "cpu_s")]
    return {
        "components": accounting.components,
        "between_components": {"wall_s": round(wall - in_components[0], 3), "cpu_s": round(cpu - in_components[1], 3)},
        "whole_run": {
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "peak_rss_bytes": accounting.run_peak_rss,
            "max_processes": accounting.run_peak_processes,
            "bytes_written": tree_bytes(run_dir),
            "examples_in": examples.get("AudioExampleGen", {}).get("in"),
            "examples_out": examples.get("AudioExampleGen", {}).get("out"),
        },
        "trainer_epochs": _trainer_epochs(outputs),
        "ledger_balanced": balance["balanced"],
        "ledger_mismatches": balance["mismatches"],
        "sampler_cpu_s": sampler_cpu,
        "problems": accounting.problems,
    }


# -- the benchmark -------------------------------------------------------------------------------------------


def size_config(args: argparse.Namespace, clips: int, num_genres: int) -> PipelineConfig:
    here = os.path.join(os.path.abspath(args.root), f"clips-{clips}")
    overrides = [
        f"demo.tracks_per_genre={clips // num_genres}",
        f"demo.root={here}/demo",
        f"demo.audio_format={args.audio_format}",
        f"demo.unique_fraction={args.unique_fraction}",
        f"output_root={here}/runs",
        *args.overrides,
    ]
    config = load_config(args.config, overrides)
    if not config.dataset.uses_demo:
        raise SystemExit("bench-scale runs on the demo data: leave dataset.audio_root empty")
    made = config.demo.tracks_per_genre * len(config.genres)
    if made != clips:
        raise SystemExit(f"the config's demo settings give {made} clips, not {clips}")
    return config


def _result_path(args: argparse.Namespace, clips: int) -> str:
    return os.path.join(os.path.abspath(args.root), f"clips-{clips}", "result.json")


def _earlier_result(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            result = json.load(f)
    except (OSError, ValueError):
        return None
    provenance = result.get("provenance") or {}
    if not provenance.get("finished_at"):  # older results: the file's time stands in
        mtime = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
        result["measured_at_file_time"] = mtime.isoformat(timespec="seconds")
    return result


def code_of_run(at_start: dict, at_end: dict) -> dict:
    """The code a run measured: the checkout's state when it started. An edit or commit during the hours of
    a run (Beam's workers import from the checkout as they start) leaves it unknown: marked dirty, so
    --reuse never takes it."""
    if at_end == at_start:
        return at_start
    return {**at_start, "git_dirty": True, "changed_during_run": at_end}


def _child(args: argparse.Namespace) -> int:
    base = load_config(args.config, args.overrides)
    config = size_config(args, args.child_clips, len(base.genres))
    runs = config.resolve(config.output_root)
    shutil.rmtree(runs, ignore_errors=True)  # no cached component: every one runs
    configure_logging(os.path.join(runs, "bench-scale.log"))
    code_at_start = code_version()
    result = {"clips": args.child_clips, **measure_run(config, args.poll_seconds)}
    result["provenance"] = {
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "code": code_of_run(code_at_start, code_version()),
        "config": config.model_dump(mode="json"),
        "machine": machine_description(),
    }
    path = _result_path(args, args.child_clips)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    return 0


def _dataset(config: PipelineConfig) -> dict:
    """Make (or find) the size's demo data in this process, outside any timing."""
    from pipeline.datasets.demo import ensure_demo_dataset

    started = time.monotonic()
    summary = ensure_demo_dataset(config.demo, config.genres, config.resolve(config.demo.root))
    call_s = time.monotonic() - started
    try:
        with open(os.path.join(summary.root, "demo_config.json")) as f:
            synthesized = json.load(f).get("synthesized_tracks")
    except (OSError, ValueError):
        synthesized = None
    return {
        "root": summary.root,
        "clips": summary.num_tracks,
        "generated": summary.generated,
        "seconds": summary.seconds if summary.seconds is not None else (call_s if summary.generated else None),
        "check_s": None if summary.generated else round(call_s, 2),
        "audio_bytes": tree_bytes(summary.audio_root),
        "synthesized": synthesized,
    }


def build_report(
    args: argparse.Namespace, sizes: Sequence[int], results: list[dict], datasets: list[dict], machine: dict
) -> dict:
    mp3_per_clip = FMA_SMALL_MP3_BYTES / FMA_SMALL_CLIPS
    per_size = []
    for n, result, data in zip(sizes, results, datasets):
        written = result["whole_run"]["bytes_written"]
        per_size.append(
            {
                **result,
                "dataset": data,
                "bytes_ratio_audio": round(written / data["audio_bytes"], 3),
                "bytes_ratio_mp3": round(written / (n * mp3_per_clip), 3),
                "audio_ratio_mp3": round(data["audio_bytes"] / (n * mp3_per_clip), 3),
                "bytes_written_per_clip": round(written / n),
                "audio_bytes_per_clip": round(data["audio_bytes"] / n),
            }
        )
    config = size_config(args, sizes[0], len(load_config(args.config, args.overrides).genres))
    report = {
        "clips": list(sizes),
        "clip_seconds": config.demo.clip_seconds,
        "audio_format": args.audio_format,
        "unique_fraction": args.unique_fraction,
        "cpus": machine["cpus"],
        "machine": machine,
        "goals": {"slope": GOAL_SLOPE, "bytes_ratio_audio": GOAL_BYTES_RATIO},
        "fma_small_mp3_bytes_per_clip": round(mp3_per_clip),
        "trainer_epochs": [r.get("trainer_epochs") for r in results],
        "sizes": per_size,
    }
    report["comparison"] = compare(sizes, results)
    return report


def main(argv: Optional[Iterable[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--clips", default="400,1600", help="the two dataset sizes (default: 400,1600)")
    parser.add_argument("--root", default="build/bench/scale", help="each size's demo data and outputs go here")
    parser.add_argument("--audio-format", default="flac", choices=["flac", "wav", "mp3"], help="default: flac")
    parser.add_argument(
        "--unique-fraction",
        type=float,
        default=0.25,
        help="share of the clips synthesized, the others shifted copies (demo.unique_fraction; default: 0.25)",
    )
    parser.add_argument("--poll-seconds", type=float, default=0.25, help="RSS sampling period (default: 0.25)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep a size's earlier result.json when its commit, config and kind of machine match (see above)",
    )
    parser.add_argument("--child-clips", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_clips:
        return _child(args)

    genres = load_config(args.config, args.overrides).genres
    try:
        sizes = parse_clips(args.clips, len(genres))
    except ValueError as e:
        parser.error(str(e))
    configs = {n: size_config(args, n, len(genres)) for n in sizes}
    datasets = []
    for n in sizes:  # all data first: in this process, before TensorFlow is imported (quick worker start)
        print(f"demo data: {n:,} clips ...", flush=True)
        datasets.append(_dataset(configs[n]))
    results, machine, code = [], machine_description(), code_version() if args.reuse else None
    for n in sizes:
        if args.reuse:
            earlier = _earlier_result(_result_path(args, n))
            reuse, why = reuse_decision(earlier, configs[n].model_dump(mode="json"), machine, code)
            print(f"pipeline run on {n:,} clips: {why}", flush=True)
            if reuse:
                results.append({**earlier, "reused": why})
                continue
        print(f"pipeline run on {n:,} clips ...", flush=True)
        started = time.monotonic()
        process = subprocess.run([sys.executable, "-m", MODULE, *argv, "--child-clips", str(n)])
        if process.returncode != 0:
            print(f"the run on {n:,} clips failed (exit status {process.returncode})", file=sys.stderr)
            return process.returncode or 1
        with open(_result_path(args, n)) as f:
            results.append(json.load(f))
        print(f"pipeline run on {n:,} clips: {(time.monotonic() - started) / 60:.1f} min with its start", flush=True)

    report = build_report(args, sizes, results, datasets, machine)
    table = markdown_table(report)
    lines = summary_lines(report)
    report["table"] = table
    path = write_report("scale", report)
    print()
    print(table)
    print()
    print("\n".join(lines))
    problems = [f"{n}: {p}" for n, r in zip(sizes, results) for p in r["problems"] + r["ledger_mismatches"]]
    if problems:
        print("PROBLEMS: " + "; ".join(problems))
    print(f"figures in {path}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
