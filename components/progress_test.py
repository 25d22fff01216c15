"""Worker progress files add up in the executor's monitor; an unwritable directory is not an error."""

import multiprocessing
import os

import apache_beam as beam
import pyarrow as pa
from apache_beam.testing.util import assert_that, equal_to

from components import progress


def _worker(directory: str, files: int) -> None:
    reporter = progress.ProgressReporter(directory, every=3)
    for _ in range(files):
        reporter.add()
    reporter.flush()


def test_counts_from_several_processes_add_up(tmp_path):
    processes = [multiprocessing.Process(target=_worker, args=(str(tmp_path), n)) for n in (7, 11)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    assert progress.count_done(str(tmp_path)) == 18


def test_reporter_reports_every_n_files_before_the_final_flush(tmp_path):
    reporter = progress.ProgressReporter(str(tmp_path), every=4)
    for _ in range(9):
        reporter.add()
    assert progress.count_done(str(tmp_path)) == 8
    reporter.flush()
    assert progress.count_done(str(tmp_path)) == 9


def test_unwritable_directory_is_ignored(tmp_path):
    reporter = progress.ProgressReporter(str(tmp_path / "missing" / "dir"), every=1)
    reporter.add()
    reporter.add()  # the first failure disabled reporting; no exception either time


def test_monitor_shows_the_final_count(tmp_path, capsys):
    directory = str(tmp_path / "p")
    with progress.ProgressMonitor(directory, total=5, description="test", poll_seconds=0.05):
        _worker(directory, 5)
    assert "5/5" in capsys.readouterr().err


def test_a_batch_crossing_a_multiple_of_every_is_reported(tmp_path):
    reporter = progress.ProgressReporter(str(tmp_path), every=8)
    reporter.add(5)
    assert progress.count_done(str(tmp_path)) == 0
    reporter.add(5)  # 10: passed 8 without landing on it
    assert progress.count_done(str(tmp_path)) == 10
    reporter.add(100)
    assert progress.count_done(str(tmp_path)) == 110


def test_monitor_shows_each_part_against_its_total(tmp_path, capsys):
    directory = str(tmp_path / "p")
    with progress.ProgressMonitor(directory, 9, "test", 0.05, unit="example", parts={"train": 6, "eval": 3}):
        _worker(os.path.join(directory, "train"), 6)
        _worker(os.path.join(directory, "eval"), 2)
    err = capsys.readouterr().err
    assert "8/9" in err and "train 6/6, eval 2/3" in err and "example/s" in err


def test_monitor_without_a_total_shows_the_count(tmp_path, capsys):
    with progress.monitored("Unknown", {"test": None}) as directory:
        _worker(os.path.join(directory, "test"), 4)
    assert "Unknown: 4example" in capsys.readouterr().err
    assert not os.path.exists(directory)


class _Work(beam.PTransform):
    """Stands for TFX's transform that does the work (tfdv.GenerateStatistics, TFMA's)."""

    def expand(self, pcoll):
        return pcoll | beam.Map(lambda element: getattr(element, "num_rows", element))


def test_count_inputs_counts_what_reaches_the_selected_transform_and_passes_it_on(tmp_path):
    batches = [pa.RecordBatch.from_pydict({"x": list(range(n))}) for n in (3, 10, 1)]
    select = lambda transform, label: label.split("[")[1].rstrip("]") if isinstance(transform, _Work) else None  # noqa: E731
    for part in ("batched", "examples"):
        os.makedirs(tmp_path / part)
    with progress.count_inputs(beam.Pipeline(), select, str(tmp_path), every=4) as pipeline:
        worked = pipeline | "Batches" >> beam.Create(batches) | "Work[batched]" >> _Work()
        assert_that(worked, equal_to([3, 10, 1]), label="CheckBatches")
        serialized = pipeline | "Examples" >> beam.Create([5, 6, 7, 8, 9]) | "Other" >> beam.Map(lambda x: x)
        assert_that(serialized | "Work[examples]" >> _Work(), equal_to([5, 6, 7, 8, 9]), label="CheckExamples")
    assert progress.count_done(str(tmp_path / "batched")) == 14  # rows of every RecordBatch
    assert progress.count_done(str(tmp_path / "examples")) == 5  # one per element; "Other" is not counted
    labels = [t.full_label for t in pipeline.transforms_stack[0].parts]
    assert "CountProgress[Work[batched]]" in labels and "CountProgress[Work[examples]]" in labels
