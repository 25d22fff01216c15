"""Worker progress files add up in the executor's monitor; an unwritable directory is not an error."""

import multiprocessing

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
