"""A fix for a data-loss race in Apache Beam's portable runner (the DirectRunner's FnApiRunner). `install()`
runs before any Beam pipeline: in local_runner.run (every component of a local run shares that process) and
in the executors that run Beam (AudioExampleGen, SpectrogramTransform, StatisticsGen through
components/statistics_executor.py, the Evaluator), which is what a Kubeflow or Vertex container runs.

The bug (Beam 2.59, still present in the version this project pins): the runner sends each worker a
bundle's input through a `TimeBasedBufferingClosableOutputStream` (`DATA_BUFFER_TIME_LIMIT_MS = 1000` in
`runners/portability/fn_api_runner/worker_handlers.py`). A background thread flushes that stream every
second: `flush()` does `callback(self.get())` and then `self._clear()` under `_flush_lock`, but `write()`
does not take the lock. Bytes written by `BundleManager._send_input_to_worker` between the flusher's
`get()` and `_clear()` are wiped unsent, without an error: the worker receives the end-of-input marker,
processes what arrived and reports success. The lost unit is one buffered chunk (about 10 MB: 79 audio
examples of 3 s). It needs the send loop to outlast one flush period, so it shows under CPU contention
and on large inputs: 1,280 -> 1,201 train examples in SpectrogramTransform on a busy laptop, 6,400 ->
4,267 on 800 clips. `direct_running_mode=multi_processing` and `multi_threading` are exposed, whatever
`direct_num_workers`; `in_memory` is not (its channel has no time-based flusher). Any stage that receives
data from the runner is exposed: the transform's input, the inputs of every sink's write stage,
StatisticsGen's and TFMA's Beam graphs.

The fix: `write()` takes the same lock as `flush()`, so a flush sends and clears exactly what was written
before it and a write waits for a running flush. Streaming and the 10 MB messages stay as they are
(setting `DATA_BUFFER_TIME_LIMIT_MS = 0` would also close the race, but sends a worker's whole share of a
bundle as one gRPC message, which fails above 2 GB: fma_small's train split is 8 GB of audio).

Upstream report (to file at github.com/apache/beam): "FnApiRunner silently drops bundle input under load:
TimeBasedBufferingClosableOutputStream.write races with the periodic flush", with
components/beam_data_plane_test.py as the reproduction. Every stage of this pipeline also checks its
example counts against its upstream's record (components/ledger.py), so a loss of any other cause fails
the run instead of passing unnoticed.
"""

from __future__ import annotations

import logging

_log = logging.getLogger(__name__)
_PATCHED = "_genre_pipeline_write_holds_flush_lock"


def install() -> bool:
    """Make the time-based stream's write atomic with its flush; True when the patch is (now) in place.
    Idempotent; a Beam without the class or its lock is left alone (and says so)."""
    try:
        from apache_beam.runners.worker import data_plane
    except ImportError:  # no Beam in this process: nothing to fix
        return False
    stream = getattr(data_plane, "TimeBasedBufferingClosableOutputStream", None)
    if stream is None or not hasattr(stream, "flush"):
        _log.warning(
            "apache_beam's data plane has no TimeBasedBufferingClosableOutputStream: the write/flush "
            "race fix (components/beam_data_plane.py) was not applied; check the new Beam for it"
        )
        return False
    if getattr(stream, _PATCHED, False):
        return True
    unlocked_write = data_plane.ClosableOutputStream.write

    def write(self, b, nested=False):
        # The lock is created in __init__; writes before it exists come from __init__ itself (none today).
        lock = getattr(self, "_flush_lock", None)
        if lock is None:
            return unlocked_write(self, b, nested)
        with lock:
            return unlocked_write(self, b, nested)

    stream.write = write
    setattr(stream, _PATCHED, True)
    return True
