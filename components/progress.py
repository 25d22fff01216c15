"""Progress of the Beam workers, shown in the executor's process.

Beam's DirectRunner does not forward its workers' INFO logs, and its metrics arrive only when the
pipeline ends, so a local run of thousands of clips would show nothing for minutes. Each worker instead
rewrites a tiny file with its count of processed files; the executor sums them into a progress bar.
Best effort by design: where workers do not share the executor's file system (Dataflow), their writes
fail quietly and the runner's own UI shows progress.

Our own DoFns call ProgressReporter.add(). A Beam pipeline built by TFX's code (StatisticsGen, the
Evaluator) gets a pass-through counting step, CountExamples, inserted before the transform that does the
work (count_inputs), without changing what that transform receives.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Optional

import apache_beam as beam
from apache_beam.transforms import ptransform
from tqdm import tqdm


class ProgressReporter:
    """Worker side: one file per DoFn instance holding its running count."""

    def __init__(self, directory: str, every: int):
        self._path = os.path.join(directory, f"{os.getpid()}-{uuid.uuid4().hex}") if directory else ""
        self._every = max(1, every)
        self._count = 0

    def add(self, files: int = 1) -> None:
        before = self._count
        self._count += files
        if self._path and self._count // self._every > before // self._every:  # passed a multiple of `every`
            self.flush()

    def flush(self) -> None:
        if not self._path:
            return
        try:
            temporary = f"{self._path}.tmp"
            with open(temporary, "w") as f:
                f.write(str(self._count))
            os.replace(temporary, self._path)  # readers never see a half-written count
        except OSError:
            self._path = ""  # not a shared file system: stop trying


def count_done(directory: str) -> int:
    total = 0
    for name in os.listdir(directory):
        if not name.endswith(".tmp"):
            try:
                with open(os.path.join(directory, name)) as f:
                    total += int(f.read() or 0)
            except (OSError, ValueError):
                pass  # replaced while we read it (counted at the next poll), or a folder
    return total


class ProgressMonitor:
    """Executor side: a progress bar over `total` items (None: unknown, no ETA), fed by the workers' count
    files in `directory`, or, with `parts` ({name: total or None}), in its subfolders <directory>/<name>,
    each shown beside the bar ("train 1200/6400, eval 0/800"). Rate and ETA: the average since it started."""

    def __init__(
        self,
        directory: str,
        total: Optional[int],
        description: str,
        poll_seconds: float = 1.0,
        unit: str = "file",
        parts: Optional[Mapping[str, Optional[int]]] = None,
    ):
        self._directory, self._total, self._poll = directory, total, poll_seconds
        self._description, self._unit, self._parts = description, unit, dict(parts or {})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProgressMonitor:
        os.makedirs(self._directory, exist_ok=True)
        for part in self._parts:
            os.makedirs(os.path.join(self._directory, part), exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _done(self) -> tuple[int, str]:
        """(items done, the parts' counts as text; empty with fewer than two parts)."""
        if not self._parts:
            return count_done(self._directory), ""
        done = {part: count_done(os.path.join(self._directory, part)) for part in self._parts}
        shown = ", ".join(f"{p} {n}/{'?' if t is None else t}" for (p, n), t in zip(done.items(), self._parts.values()))
        return sum(done.values()), shown if len(self._parts) > 1 else ""

    def _update(self, bar: tqdm, suffix: str = "") -> None:
        done, parts = self._done()
        bar.n = done if self._total is None else min(self._total, done)
        bar.set_postfix_str(", ".join(s for s in (parts, suffix) if s), refresh=False)
        bar.refresh()

    def _run(self) -> None:
        with tqdm(total=self._total, desc=self._description, unit=self._unit, mininterval=2.0) as bar:
            started = time.monotonic()
            while not self._stop.wait(self._poll):
                self._update(bar)
            self._update(bar, f"{time.monotonic() - started:.0f} s")


@contextlib.contextmanager
def monitored(description: str, parts: Mapping[str, Optional[int]], unit: str = "example") -> Iterator[str]:
    """A temporary progress directory (yielded) with a ProgressMonitor over its parts, {name: total or
    None}; the bar's total is their sum (unknown when one is). The directory is removed afterwards."""
    totals = list(parts.values())
    total = None if any(t is None for t in totals) else sum(totals)
    directory = tempfile.mkdtemp(prefix=f"{description.lower()}-progress-")
    try:
        with ProgressMonitor(directory, total, description, unit=unit, parts=parts):
            yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class CountExamples(beam.DoFn):
    """Pass-through: counts the examples going by into a ProgressReporter, a RecordBatch as its rows and
    any other element (a serialized example) as one, and yields every element unchanged."""

    def __init__(self, directory: str, every: int = 8):
        self._directory, self._every = directory, every

    def setup(self):
        # Here, not in __init__: each worker process needs a file of its own (the name holds its pid).
        self._progress = ProgressReporter(self._directory, self._every)

    def process(self, element: Any) -> Iterator[Any]:
        self._progress.add(getattr(element, "num_rows", 1))
        yield element

    def finish_bundle(self):
        self._progress.flush()


Selector = Callable[[beam.PTransform, str], Optional[str]]


def count_inputs(pipeline: beam.Pipeline, select: Selector, directory: str, every: int = 8) -> beam.Pipeline:
    """Makes `pipeline` count the examples reaching each transform it applies from now on for which
    select(transform, label) names a part: into <directory>/<part> (see ProgressMonitor), through a
    CountExamples step applied just before, as `CountProgress[<label>]`. The transform gets the same
    elements; the code that builds the graph (TFX's) is not changed. Returns the pipeline."""
    apply = pipeline.apply

    def counting_apply(transform, pvalueish=None, label=None):
        # Beam resolves `"label" >> transform` by calling apply again with the bare transform, its label set:
        # select sees each application once, there.
        if label is None and not isinstance(transform, ptransform._NamedPTransform):
            part = select(transform, transform.label)
            if part is not None:
                element_type = getattr(pvalueish, "element_type", None)
                count = beam.ParDo(CountExamples(os.path.join(directory, part), every))
                if element_type is not None:
                    count = count.with_input_types(element_type).with_output_types(element_type)
                pvalueish = apply(count, pvalueish, f"CountProgress[{transform.label}]")
        return apply(transform, pvalueish, label)

    pipeline.apply = counting_apply  # Pipeline.apply calls self.apply: nested applications come here too
    return pipeline


def format_duration(seconds: float) -> str:
    """ "45 s", "3 min 20 s", "1 h 05 min": an ETA or elapsed time as people read it."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
