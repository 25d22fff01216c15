"""Mutation testing by named mutations: does the test suite notice when the code that guards a model's
quality and the pushed versions is broken on purpose? `make mutation`, or `python -m tests.mutation`.

Each mutation replaces one exact snippet of one file and names the tests that must then fail. Not mutmut or
cosmic-ray: they generate mutants over whole modules and run the tests once per mutant, and every pytest
process here pays about 15 s of TensorFlow/TFX import before its first test (more with the trained-model
fixture), so hundreds of mostly trivial mutants would take hours. A short, curated list runs in well under
an hour and says in words what each survivor means.

The mutants are applied in a private copy of the working tree (tracked and untracked-but-not-ignored files),
one at a time, never in the checkout. A mutation whose snippet no longer occurs exactly once, or whose tests
are gone, is "stale": it fails the run, so the list cannot rot silently as the code changes.

Exit status: 0 when every mutant was killed; 1 when any survived, timed out or is stale; 2 when the
unmutated tests fail or the copy does not import from itself (nothing was measured).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path("build/mutation/results.json")
KILLED, SURVIVED, TIMEOUT, STALE = "killed", "survived", "timeout", "stale"
# pytest's exit codes 4 (usage error: e.g. a test path that does not exist) and 5 (no tests collected) mean
# the named tests are not there, not that they caught the mutant.
_NOT_RUN = (4, 5)


@dataclasses.dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # relative to the repository root
    original: str  # must occur exactly once in `file`
    replacement: str
    tests: tuple[str, ...]  # files or node ids that must fail; cheapest first (pytest runs with -x)
    breaks: str  # the behaviour it breaks, in one line


_TRAINER = "components/keras_trainer/"
_EVALUATOR = "components/blessing_evaluator/"
_PUSHER = "components/versioned_pusher/"
_TRAINER_TESTS = (_TRAINER + "trainer_test.py", _TRAINER + "trainer_fine_tune_test.py")

MUTATIONS: tuple[Mutation, ...] = (
    # -- the Keras trainer ---------------------------------------------------------------------------------
    Mutation(
        "trainer-patience-ignored",
        _TRAINER + "trainer.py",
        "patience=patience, restore_best_weights=True",
        "patience=10**6, restore_best_weights=True",
        _TRAINER_TESTS,
        "early stopping never stops: every run trains all configured epochs",
    ),
    Mutation(
        "trainer-best-weights-not-restored",
        _TRAINER + "trainer.py",
        "restore_best_weights=True",
        "restore_best_weights=False",
        _TRAINER_TESTS,
        "the exported model has the last epoch's weights, not the best eval loss's",
    ),
    Mutation(
        "trainer-track-accuracy-constant",
        _TRAINER + "trainer.py",
        '"track_accuracy": track["accuracy"],',
        '"track_accuracy": 1.0,',
        (_TRAINER + "trainer_test.py", _TRAINER + "track_prediction_test.py"),
        "metrics.json reports a perfect per-track accuracy whatever the model predicts",
    ),
    Mutation(
        "trainer-learning-rate-ignored",
        _TRAINER + "trainer.py",
        "optimizer=tf.keras.optimizers.Adam(learning_rate)",
        "optimizer=tf.keras.optimizers.Adam()",
        _TRAINER_TESTS,
        "trainer.learning_rate and mobilenet.fine_tune_learning_rate have no effect (Adam's default 0.001)",
    ),
    Mutation(
        "track-genre-off-by-one",
        _TRAINER + "track_prediction.py",
        'info["genres"][int(np.argmax(mean))]',
        'info["genres"][int(np.argmax(mean)) - 1]',
        (_TRAINER + "track_prediction_test.py",),
        "a whole track is called for the genre before the most probable one",
    ),
    Mutation(
        "strategy-global-batch-not-scaled",
        _TRAINER + "strategy.py",
        "return per_replica * replicas",
        "return per_replica",
        (_TRAINER + "strategy_test.py",),
        "with N replicas each device gets 1/N of the batch the learning rate was chosen for",
    ),
    # -- the blessing policy -------------------------------------------------------------------------------
    Mutation(
        "policy-always-bless",
        _EVALUATOR + "policy.py",
        "return tfma_validation_ok, reasons",
        "return True, reasons",
        (_EVALUATOR + "policy_test.py", _EVALUATOR + "executor_test.py"),
        "a model that fails its checks is recorded as blessed",
    ),
    Mutation(
        "policy-boundary-strict",
        _EVALUATOR + "policy.py",
        "bool(measured >= threshold)",
        "bool(measured > threshold)",
        (_EVALUATOR + "policy_test.py", _EVALUATOR + "executor_test.py"),
        "accuracy exactly at a threshold fails the recorded check while TFMA (>=) blesses it",
    ),
    Mutation(
        "policy-floor-ignored",
        _EVALUATOR + "policy.py",
        "return max(self.accuracy_floor, baseline.accuracy + self.baseline_margin)",
        "return baseline.accuracy + self.baseline_margin",
        (_EVALUATOR + "policy_test.py", _EVALUATOR + "executor_test.py"),
        "with baselines, a model below the absolute accuracy floor is blessed if it beats weak baselines",
    ),
    Mutation(
        "policy-margin-sign-flipped",
        _EVALUATOR + "policy.py",
        "baseline.accuracy + self.baseline_margin",
        "baseline.accuracy - self.baseline_margin",
        (_EVALUATOR + "policy_test.py", _EVALUATOR + "executor_test.py"),
        "a positive baseline_margin lowers the bar below the best baseline instead of raising it",
    ),
    Mutation(
        "eval-config-regression-check-dropped",
        _EVALUATOR + "eval_config.py",
        "if max_drop is not None:",
        "if False:",
        (_EVALUATOR + "eval_config_test.py", _EVALUATOR + "executor_test.py"),
        "TFMA gets no change threshold: a model worse than the latest blessed one is blessed",
    ),
    # -- the example ledger --------------------------------------------------------------------------------
    Mutation(
        "ledger-check-always-reconciles",
        "components/ledger.py",
        "broken = [e for e in entries if e.balanced is False]",
        "broken = []",
        ("components/ledger_test.py", _TRAINER + "trainer_test.py"),
        "no stage ever raises LedgerMismatch: lost examples go unnoticed",
    ),
    Mutation(
        "ledger-quarantine-not-counted",
        "components/ledger.py",
        "self.counted + self.quarantined == self.expected",
        "self.counted == self.expected",
        ("components/ledger_test.py", "components/spectrogram_transform/executor_test.py"),
        "a stage that quarantined examples is reported as having lost them",
    ),
    Mutation(
        "ledger-split-dropped",
        "components/ledger.py",
        'sum(recorded.get(part, 0) for part in split.split(","))',
        'recorded.get(split.split(",")[0], 0)',
        ("components/ledger_test.py", _EVALUATOR + "executor_test.py"),
        'a stage reading "eval,test" is checked against the eval split\'s record only',
    ),
    Mutation(
        "report-ledger-split-dropped",
        "components/run_reporter/ledger.py",
        'SPLITS = ("train", "eval", "test")',
        'SPLITS = ("train", "eval")',
        ("tests/report_test.py",),
        "the run's ledger has no test split: losses there are never shown or flagged",
    ),
    Mutation(
        "report-ledger-reconcile-ignored",
        "components/run_reporter/ledger.py",
        'reconciles = ingest is None or ingest.get("reconciles", True)',
        "reconciles = True",
        ("tests/report_test.py", "tests/cli_test.py"),
        "files AudioExampleGen saw but neither ingested nor quarantined do not unbalance the run's ledger",
    ),
    # -- the pusher's version claim ------------------------------------------------------------------------
    Mutation(
        "pusher-claim-overwrites",
        _PUSHER + "versions.py",
        "os.link(temporary, path)",
        'open(path, "wb").write(data)',
        (_PUSHER + "push_race_test.py", _PUSHER + "versions_test.py", _PUSHER + "executor_test.py"),
        "create-if-absent overwrites: two pushes can claim (and write) one version number",
    ),
    Mutation(
        "pusher-already-pushed-unchecked",
        _PUSHER + "executor.py",
        "pushed = version_holding(destination, digest)",
        "pushed = None",
        (_PUSHER + "executor_test.py",),
        "a model already at the destination is published again as a new version",
    ),
    Mutation(
        "pusher-cleanup-removes-whole-dir",
        _PUSHER + "executor.py",
        "os.rmdir(path)  # fails when not empty",
        "tf.io.gfile.rmtree(path)",
        (_PUSHER + "push_race_test.py", _PUSHER + "executor_test.py"),
        "a failed push deletes its whole version directory, files it did not write included",
    ),
    # -- the counts of AudioExampleGen and SpectrogramTransform --------------------------------------------
    Mutation(
        "transform-drops-first-of-batch",
        "components/spectrogram_transform/transform.py",
        "for split, serialized in batch:",
        "for split, serialized in batch[1:]:",
        ("components/spectrogram_transform/executor_test.py",),
        "the first example of every batch vanishes: neither written nor quarantined",
    ),
    Mutation(
        "transform-quarantine-counted-twice",
        "components/spectrogram_transform/executor.py",
        'entry["quarantined"] += count',
        'entry["quarantined"] += 2 * count',
        ("components/spectrogram_transform/executor_test.py",),
        "each quarantined example counts twice in the transform's summary and ledger",
    ),
    Mutation(
        "ingest-test-split-not-written",
        "components/audio_example_gen/executor.py",
        "for split, examples in zip(SPLITS, by_split):",
        "for split, examples in zip(SPLITS[:2], by_split):",
        ("components/audio_example_gen/executor_test.py",),
        "the test split's decoded examples are silently never written",
    ),
    Mutation(
        "ingest-quarantine-counted-twice",
        "components/audio_example_gen/executor.py",
        '"files_quarantined": len(quarantined),',
        '"files_quarantined": 2 * len(quarantined),',
        ("components/audio_example_gen/executor_test.py",),
        "each quarantined file counts twice in the ingestion summary",
    ),
)


class StaleMutation(ValueError):
    """The mutation no longer fits the code: its snippet is not there exactly once, or its tests are gone."""


@dataclasses.dataclass
class Result:
    name: str
    verdict: str
    seconds: float
    detail: str = ""  # the first failing test of a killed mutant, or why it is stale


# -- the private copy --------------------------------------------------------------------------------------
def project_files(repo: Path) -> list[str]:
    """Tracked files and untracked files git does not ignore, as they are in the working tree now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout.decode()
    # A tracked file deleted (or moved) in the working tree is left out: the copy is the tree as it is.
    return sorted({f for f in listed.split("\0") if f and os.path.lexists(repo / f)})


def copy_tree(repo: Path, destination: Path) -> int:
    files = project_files(repo)
    for name in files:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, target, follow_symlinks=False)
    return len(files)


def isolated_env(root: Path) -> dict[str, str]:
    # PYTHONPATH first: the venv's editable install maps `components` and `pipeline` to the checkout, and
    # its finder comes after sys.path. No bytecode: a mutant and the original of the same size written in
    # the same second would share a .pyc (its check is mtime in seconds and size).
    return {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}


def check_imports_from(root: Path, python: str, packages: Sequence[str] = ("components", "pipeline", "tests")) -> None:
    """Raises RuntimeError unless the packages import from `root` there (not from the checkout)."""
    code = "import importlib, sys\nfor p in sys.argv[1:]: print(importlib.import_module(p).__file__)"
    out = subprocess.run(
        [python, "-c", code, *packages], cwd=root, env=isolated_env(root), capture_output=True, text=True, check=True
    ).stdout.split()
    wrong = [f for f in out if not Path(f).resolve().is_relative_to(root.resolve())]
    if len(out) != len(packages) or wrong:
        raise RuntimeError(f"the copy in {root} imports {wrong or out} from elsewhere: mutants would not be tested")


# -- one mutant ---------------------------------------------------------------------------------------------
def mutated_text(text: str, mutation: Mutation) -> str:
    found = text.count(mutation.original)
    if found != 1:
        where = "does not occur" if found == 0 else f"occurs {found} times"
        raise StaleMutation(f"{mutation.original!r} {where} in {mutation.file} (it must occur exactly once)")
    return text.replace(mutation.original, mutation.replacement)


def check_fits(root: Path, mutation: Mutation) -> None:
    """Raises StaleMutation when the mutation cannot be applied to the tree at `root` as written."""
    path = root / mutation.file
    if not path.is_file():
        raise StaleMutation(f"{mutation.file} does not exist")
    mutated_text(path.read_text(encoding="utf-8"), mutation)
    missing = [t for t in mutation.tests if not (root / t.split("::")[0]).exists()]
    if missing:
        raise StaleMutation(f"its tests {missing} do not exist")


def run_tests(root: Path, tests: Sequence[str], python: str, timeout: float, log: Optional[Path] = None):
    """(pytest's exit code, or None when it ran past `timeout` seconds; the output)."""
    basetemp = root.parent / "pytest-tmp"  # beside the copy: no clash with other pytest runs on the machine
    command = [python, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}"]
    # Its own session: a timeout kills the whole tree (Beam workers included).
    process = subprocess.Popen(
        command,
        cwd=root,
        env=isolated_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        code: Optional[int] = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        code = None
    except BaseException:  # Ctrl-C does not reach a process in its own session
        os.killpg(process.pid, signal.SIGKILL)
        raise
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(command)}\n{output}", encoding="utf-8")
    return code, output


def verdict(code: Optional[int]) -> str:
    if code is None:
        return TIMEOUT
    if code == 0:
        return SURVIVED
    return STALE if code in _NOT_RUN else KILLED


def first_failure(output: str) -> str:
    """The first FAILED/ERROR line of pytest's short summary (-ra), or ""."""
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line[:200]
    return ""


def run_mutant(root: Path, mutation: Mutation, python: str, timeout: float, log: Optional[Path] = None) -> Result:
    """Applies the mutation in `root`, runs its tests, and restores the file (its content and mtime)."""
    started = time.monotonic()
    try:
        check_fits(root, mutation)
    except StaleMutation as error:
        return Result(mutation.name, STALE, 0.0, str(error))
    path = root / mutation.file
    original, stat = path.read_text(encoding="utf-8"), path.stat()
    path.write_text(mutated_text(original, mutation), encoding="utf-8")
    try:
        code, output = run_tests(root, mutation.tests, python, timeout, log)
    finally:
        path.write_text(original, encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    result = verdict(code)
    detail = {KILLED: first_failure(output), STALE: f"pytest exit code {code}: the tests named were not run"}
    return Result(mutation.name, result, round(time.monotonic() - started, 1), detail.get(result, ""))


# -- the run ------------------------------------------------------------------------------------------------
def select(names: Sequence[str]) -> list[Mutation]:
    known = {m.name: m for m in MUTATIONS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown mutation(s) {unknown}; `python -m tests.mutation --list` lists them")
    return [known[n] for n in dict.fromkeys(names)] if names else list(MUTATIONS)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def report(results: Sequence[Result], mutations: Sequence[Mutation]) -> list[str]:
    width = max(len(r.name) for r in results)
    lines = ["", f"{'mutation':<{width}}  {'verdict':<8}  {'seconds':>7}  detail"]
    lines += [f"{r.name:<{width}}  {r.verdict:<8}  {r.seconds:>7.1f}  {r.detail}" for r in results]
    counts = {v: sum(r.verdict == v for r in results) for v in (KILLED, SURVIVED, TIMEOUT, STALE)}
    lines.append(f"\n{len(results)} mutants: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    breaks = {m.name: m for m in mutations}
    survivors = [r for r in results if r.verdict != KILLED]
    if survivors:
        lines.append("Survivors (and mutants not killed otherwise):")
        lines += [
            f"  {r.name} [{r.verdict}] {breaks[r.name].file}: {breaks[r.name].breaks}; tests: "
            + " ".join(breaks[r.name].tests)
            for r in survivors
        ]
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this mutation")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument(
        "--timeout", type=float, help="seconds per mutant (default: twice the unmutated run of all its tests + 60)"
    )
    parser.add_argument("--results", type=Path, default=REPO / RESULTS, help=f"results JSON (default {RESULTS})")
    args = parser.parse_args(argv)
    mutations = select([n for option in args.only for n in option.split()])
    if args.list:
        for m in mutations:
            print(f"{m.name}\n  {m.file}: {m.breaks}\n  {m.original!r} -> {m.replacement!r}\n  {' '.join(m.tests)}")
        return 0

    python, logs = sys.executable, args.results.parent / "logs"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        root = Path(scratch) / "repo"
        print(f"copying {copy_tree(REPO, root)} files of {REPO} to {root}", flush=True)
        check_imports_from(root, python)
        fitting = []
        for m in mutations:
            try:
                check_fits(root, m)
                fitting.append(m)
            except StaleMutation:
                pass  # reported by run_mutant below
        tests = list(dict.fromkeys(t for m in fitting for t in m.tests))
        print(f"baseline: the unmutated tests ({len(tests)} paths) must pass ...", flush=True)
        baseline_started = time.monotonic()
        code, output = run_tests(root, tests, python, args.timeout or 3600, logs / "baseline.log")
        baseline_seconds = time.monotonic() - baseline_started
        if code != 0:
            print(output[-4000:])
            print(f"error: the unmutated tests fail (pytest exit code {code}); nothing measured ({logs}/baseline.log)")
            return 2
        timeout = args.timeout or 2 * baseline_seconds + 60
        print(f"baseline passed in {_minutes(baseline_seconds)}; timeout per mutant {_minutes(timeout)}", flush=True)
        results, first = [], time.monotonic()
        for i, m in enumerate(mutations):
            elapsed = time.monotonic() - started
            eta = (time.monotonic() - first) / i * (len(mutations) - i) if i else None
            print(
                f"[{i + 1}/{len(mutations)}] {m.name} (elapsed {_minutes(elapsed)}"
                + (f", ETA {_minutes(eta)})" if eta is not None else ")"),
                flush=True,
            )
            results.append(run_mutant(root, m, python, timeout, logs / f"{m.name}.log"))
            print(f"    {results[-1].verdict} in {results[-1].seconds:.0f} s {results[-1].detail}", flush=True)

    print("\n".join(report(results, mutations)))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        json.dumps(
            {
                "seconds": round(time.monotonic() - started, 1),
                "baseline_seconds": round(baseline_seconds, 1),
                "counts": {v: sum(r.verdict == v for r in results) for v in (KILLED, SURVIVED, TIMEOUT, STALE)},
                "results": [
                    {**dataclasses.asdict(r), **{k: v for k, v in dataclasses.asdict(m).items() if k != "name"}}
                    for r, m in zip(results, mutations)
                ],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results: {args.results}")
    return 0 if all(r.verdict == KILLED for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
