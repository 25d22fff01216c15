"""Progress of the Beam workers, shown in the executor's process.

Beam's DirectRunner does not forward its workers' INFO logs, and its metrics arrive only when the
pipeline ends, so a local run of thousands of clips would show nothing for minutes. Each worker instead
rewrites a tiny file with its count of processed files; the executor sums them into a progress bar.
Best effort by design: where workers do not share the executor's file system (Dataflow), their writes
fail quietly and the runner's own UI shows progress.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

from tqdm import tqdm


class ProgressReporter:
    """Worker side: one file per DoFn instance holding its running count."""

    def __init__(self, directory: str, every: int):
        self._path = os.path.join(directory, f"{os.getpid()}-{uuid.uuid4().hex}") if directory else ""
        self._every = max(1, every)
        self._count = 0

    def add(self, files: int = 1) -> None:
        self._count += files
        if self._path and self._count % self._every == 0:
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
                pass  # replaced while we read it: counted at the next poll
    return total


class ProgressMonitor:
    """Executor side: a progress bar over `total` files, fed by the workers' count files."""

    def __init__(self, directory: str, total: int, description: str, poll_seconds: float = 1.0):
        self._directory, self._total, self._poll = directory, total, poll_seconds
        self._description = description
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProgressMonitor:
        os.makedirs(self._directory, exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with tqdm(total=self._total, desc=self._description, unit="file", mininterval=2.0) as bar:
            started = time.monotonic()
            while not self._stop.wait(self._poll):
                bar.n = min(self._total, count_done(self._directory))
                bar.refresh()
            bar.n = min(self._total, count_done(self._directory))
            bar.set_postfix_str(f"{time.monotonic() - started:.0f} s")
