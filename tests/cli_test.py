"""The command line: clear errors instead of tracebacks, and the effective configuration."""

import json
import re

import pytest

from pipeline import cli


def test_missing_dataset_is_a_one_line_error(tmp_path, capsys):
    code = cli.main(
        [
            "run-local",
            "--set",
            f"dataset.audio_root={tmp_path / 'nowhere'}",
            "--set",
            f"output_root={tmp_path / 'runs'}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "does not exist" in err and "make download-fma" in err


def test_invalid_setting_is_a_clear_error(capsys):
    assert cli.main(["show-config", "--set", "audio.sample_rate=-5"]) == 2
    assert "sample_rate" in capsys.readouterr().err


def test_show_config_prints_the_effective_configuration(capsys):
    assert cli.main(["show-config", "--set", "audio.segment_seconds=3"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["audio"]["segment_seconds"] == 3.0 and len(shown["genres"]) == 8


def test_outputs_before_any_run_says_what_to_do(tmp_path, capsys):
    assert cli.main(["outputs", "--set", f"output_root={tmp_path}"]) == 1
    assert "make run-local" in capsys.readouterr().out


def test_a_stage_losing_examples_is_a_one_line_error_with_exit_status_1(tmp_path, capsys, monkeypatch):
    from components.ledger import LedgerMismatch
    from pipeline import local_runner

    def lossy_run(config):
        raise LedgerMismatch(
            "examples do not reconcile: SpectrogramTransform, split 'train': read 1201 examples, "
            "but AudioExampleGen /a/1 recorded 1280 (79 missing)"
        )

    monkeypatch.setattr(local_runner, "run", lossy_run)
    assert cli.main(["run-local", "--set", f"output_root={tmp_path}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: examples do not reconcile: SpectrogramTransform, split 'train'")
    assert "Traceback" not in err


HEAVY_MODULES = ("tensorflow", "tfx", "apache_beam", "ml_metadata", "kfp", "tensorflow_data_validation")
_IMPORT_ORDER_PROBE = """
import json, sys
from pipeline import cli
results = {}
heavy = json.loads(sys.argv[2])
for argv in json.loads(sys.argv[1]):
    code = cli.main(argv)
    results[argv[0]] = [code, sorted(m for m in heavy if m in sys.modules)]
print(json.dumps(results))
"""


def test_every_command_reports_a_bad_setting_before_importing_tensorflow_or_tfx(tmp_path):
    """The config is loaded and checked before any heavy import, so a typo comes back in well under a
    second instead of after TFX's 20-30 s import. Checked by what is imported, not by a timer."""
    import subprocess
    import sys

    bad = ["--set", "audio.segmnt_seconds=3"]
    commands = [
        ["run-local", *bad],
        ["outputs", *bad],
        ["demo-data", *bad],
        ["show-config", *bad],
        ["report", *bad],
        ["predict", str(tmp_path / "a.mp3"), *bad],
        ["compile-kubeflow", *bad],
        ["compile-vertex", *bad],
        ["submit-kubeflow", *bad],
        ["submit-vertex", *bad],
    ]
    probe = subprocess.run(
        [sys.executable, "-c", _IMPORT_ORDER_PROBE, json.dumps(commands), json.dumps(HEAVY_MODULES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    results = json.loads(probe.stdout.strip().splitlines()[-1])
    assert results == {argv[0]: [2, []] for argv in commands}
    errors = [line for line in probe.stderr.splitlines() if "error" in line]
    assert len(errors) == len(commands)
    assert all("did you mean audio.segment_seconds?" in line for line in errors)


def test_a_yaml_error_in_the_config_file_is_one_line_on_stderr(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("trainer:\n  epochs: 3\n  family: {cnn\n")
    assert cli.main(["run-local", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith(f"error: config file {path}, line 4, column 1:")


# -- one run's outputs at a time (MLMD shaped as TFX writes it: tests/helpers/mlmd_runs.py) --------------------


def _runs(tmp_path, monkeypatch=None):
    """An MLMD store to fill with runs. With monkeypatch, the summary's example ledger (which reads the TFDV
    statistics and the evaluation these empty artifacts lack) is stubbed out."""
    from pipeline.config import load_config
    from tests.helpers.mlmd_runs import Runs

    if monkeypatch is not None:
        from components.run_reporter import ledger

        monkeypatch.setattr(ledger, "build", lambda outputs: {"splits": {}, "balanced": True, "mismatches": []})
    return Runs(load_config(None, [f"output_root={tmp_path}"]))


def test_outputs_come_from_the_newest_complete_run_never_mixed_with_an_interrupted_newer_one(
    tmp_path, capsys, monkeypatch
):
    """The interrupted run trained a new model (Trainer newest) and was killed in the Evaluator: its model must
    not be shown under the complete run's blessing, nor its partial Evaluator directory read."""
    from pipeline import runs as pipeline_runs

    runs = _runs(tmp_path, monkeypatch)
    runs.complete_run("2026-01-01T10:00:00", blessed=True)
    runs.start("2026-01-02T10:00:00", runner="dead")
    runs.execute("2026-01-02T10:00:00", "AudioExampleGen", "CACHED", cached_from="2026-01-01T10:00:00")
    runs.execute("2026-01-02T10:00:00", "Trainer")
    runs.execute("2026-01-02T10:00:00", "Evaluator", "RUNNING")

    outputs = pipeline_runs.latest_outputs(runs.config)
    assert dict(outputs) == runs.outputs["2026-01-01T10:00:00"]
    assert outputs.run.run_id == "2026-01-01T10:00:00" and outputs.run.status == "complete"

    assert cli.main(["outputs", "--set", f"output_root={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "Run:             2026-01-01T10:00:00 (started " in out and ", complete)" in out
    assert "Blessing:        BLESSED" in out
    shown = set(re.findall(re.escape(runs.config.pipeline_root) + r"/\w+/\w+/\d+", out))  # artifacts shown
    assert runs.outputs["2026-01-01T10:00:00"]["Evaluator.evaluation"] in shown
    assert shown <= set(runs.outputs["2026-01-01T10:00:00"].values())  # every path shown is the complete run's


def test_two_interleaved_runs_each_read_their_own_outputs(tmp_path):
    """Two concurrent runs: B started later and finished first; A's Trainer and Pusher are the newest executions.
    The default is B (the newest complete run) whole; A, asked for by id (as run-local does), is A whole."""
    from pipeline import runs as pipeline_runs
    from tests.helpers.mlmd_runs import NODES

    runs = _runs(tmp_path)
    runs.start("A")
    runs.start("B")
    nodes = list(NODES)
    for node in nodes[:5]:
        runs.execute("A", node)
    for node in nodes:
        runs.execute("B", node, blessed=False)
    runs.finish("B")
    for node in nodes[5:]:
        runs.execute("A", node, blessed=True)
    runs.finish("A")

    newest = pipeline_runs.latest_outputs(runs.config)
    assert dict(newest) == runs.outputs["B"] and newest.run.run_id == "B"
    chosen = pipeline_runs.latest_outputs(runs.config, run_id="A")
    assert chosen.run.run_id == "A" and dict(chosen) == runs.outputs["A"]


def test_a_run_whose_steps_were_cached_is_complete_and_reads_the_reused_artifacts(tmp_path):
    from pipeline import runs as pipeline_runs

    runs = _runs(tmp_path)
    runs.complete_run("first")
    runs.complete_run("second", cached_from="first")
    outputs = pipeline_runs.latest_outputs(runs.config)
    assert dict(outputs) == runs.outputs["first"] and outputs.run.run_id == "second"
    assert set(outputs.run.nodes.values()) == {"CACHED"}


def test_a_live_run_is_not_complete_and_a_run_of_a_failed_step_is_not_either(tmp_path):
    from pipeline import runs as pipeline_runs

    runs = _runs(tmp_path)
    runs.complete_run("done")
    runs.start("failed")
    runs.execute("failed", "AudioExampleGen")
    runs.execute("failed", "StatisticsGen", "FAILED")
    runs.finish("failed", "failed")
    runs.start("live")  # this process: alive
    runs.execute("live", "AudioExampleGen")
    runs.execute("live", "StatisticsGen", "RUNNING")
    assert pipeline_runs.latest_outputs(runs.config).run.run_id == "done"
    statuses = {info.run_id: info.status for info in pipeline_runs.list_runs(runs.config)}
    assert statuses == {"live": "running", "failed": "failed", "done": "complete"}


def test_a_killed_runs_executions_are_cancelled_and_its_partial_outputs_removed(tmp_path):
    """What run-local does first: a run whose runner is gone is closed; a live run, and a run recorded without a
    runner (so nobody can tell), keep their executions and directories."""
    import os

    from pipeline import runs as pipeline_runs

    runs = _runs(tmp_path)
    runs.complete_run("old")
    runs.start("legacy", runner=None)
    legacy = runs.execute("legacy", "Trainer", "RUNNING")
    runs.start("killed", runner="dead")
    cached = runs.execute("killed", "AudioExampleGen", "CACHED", cached_from="old")
    killed = runs.execute("killed", "Trainer", "RUNNING")
    runs.start("live")
    live = runs.execute("live", "Trainer", "RUNNING")
    trainer_dir = os.path.join(runs.config.pipeline_root, "Trainer", "model")

    closed = pipeline_runs.mark_abandoned_runs(runs.config)

    assert [info.run_id for info in closed] == ["killed"]
    assert (runs.state(killed), runs.state(cached)) == ("CANCELED", "CACHED")
    assert (runs.state(live), runs.state(legacy)) == ("RUNNING", "RUNNING")
    assert not os.path.exists(os.path.join(trainer_dir, str(killed)))
    assert not os.path.exists(os.path.join(runs.config.pipeline_root, "Trainer", "model_run", str(killed)))
    assert os.path.isdir(os.path.join(trainer_dir, str(live))) and os.path.isdir(os.path.join(trainer_dir, str(legacy)))
    assert os.path.isdir(runs.outputs["old"]["AudioExampleGen.examples"])  # what the killed run reused stays
    statuses = {info.run_id: info.status for info in pipeline_runs.list_runs(runs.config)}
    assert statuses == {"live": "running", "killed": "interrupted", "legacy": "unfinished", "old": "complete"}
    assert pipeline_runs.mark_abandoned_runs(runs.config) == []
    assert pipeline_runs.latest_outputs(runs.config).run.run_id == "old"


def test_outputs_of_a_chosen_run_list_of_runs_and_an_unknown_run(tmp_path, capsys, monkeypatch):
    runs = _runs(tmp_path, monkeypatch)
    runs.complete_run("first", blessed=False)
    runs.start("second", runner="dead")
    runs.execute("second", "AudioExampleGen")
    where = ["--set", f"output_root={tmp_path}"]

    assert cli.main(["outputs", "--list-runs", *where]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("second (started ") and "interrupted" in listed[0]
    assert listed[1].startswith("first (started ") and listed[1].endswith(", complete)")

    assert cli.main(["outputs", "--run", "second", *where]) == 0
    out = capsys.readouterr().out
    assert "Run:             second (started " in out and "not a complete run" in out
    assert runs.outputs["second"]["AudioExampleGen.examples"] in out

    assert cli.main(["outputs", "--run", "third", *where]) == 2
    assert "no run 'third'" in capsys.readouterr().err


def test_outputs_when_no_run_is_complete_says_so(tmp_path, capsys):
    runs = _runs(tmp_path)
    runs.start("killed", runner="dead")
    runs.execute("killed", "AudioExampleGen")
    assert cli.main(["outputs", "--set", f"output_root={tmp_path}"]) == 1
    out = capsys.readouterr().out
    assert "none of the 1 recorded runs of fma-genre is complete (newest: killed" in out and "make run-local" in out


def test_run_local_reads_its_run_once_for_the_summary_the_ledger_check_and_the_report(tmp_path, capsys, monkeypatch):
    """run-local collects the run's outputs once (report/collect.py, which builds the example ledger) and prints
    the summary, checks the ledger and writes the HTML report from that one dict."""
    import os

    from components.run_reporter import ledger
    from pipeline import local_runner
    from pipeline import report as collect_module
    from pipeline import runs as pipeline_runs

    runs = _runs(tmp_path)
    runs.complete_run("done", blessed=True)
    built, collected = [], []
    mismatch = "test: Trainer scored 9 != 10 (SpectrogramTransform)"
    unbalanced = {"splits": {}, "balanced": False, "mismatches": [mismatch]}
    monkeypatch.setattr(ledger, "build", lambda outputs: built.append(outputs) or unbalanced)
    real_collect = collect_module.collect
    monkeypatch.setattr(
        collect_module, "collect", lambda *args, **kwargs: collected.append(args) or real_collect(*args, **kwargs)
    )
    monkeypatch.setattr(local_runner, "run", lambda config: pipeline_runs.latest_outputs(config, run_id="done"))

    assert cli.main(["run-local", "--set", f"output_root={tmp_path}"]) == 1  # the ledger does not balance
    captured = capsys.readouterr()
    assert len(collected) == 1 and len(built) == 1
    assert "Run:             done (started " in captured.out and "Blessing:        BLESSED" in captured.out
    assert "LEDGER DOES NOT BALANCE: test: Trainer scored 9 != 10" in captured.out
    assert "error: the run's example ledger does not balance" in captured.err
    report_path = re.search(r"Run report:\s+(\S+)", captured.out).group(1)
    assert os.path.exists(report_path) and "Trainer scored 9 != 10" in open(report_path, encoding="utf-8").read()


def test_run_local_records_its_run_and_an_interrupted_run_is_closed_at_once(tmp_path, monkeypatch):
    """local_runner.run on LocalDagRunner (a toy pipeline): the run returns its own outputs and is named; one
    interrupted by Ctrl-C is marked interrupted, its RUNNING execution CANCELED and its partial output removed;
    one that failed is not complete either. The default stays the complete run."""
    import os

    from pipeline import local_runner
    from pipeline import runs as pipeline_runs
    from pipeline.config import load_config
    from tests.helpers.toy_pipeline import create_pipeline_that

    config = load_config(None, [f"output_root={tmp_path}"])
    monkeypatch.setattr(local_runner, "prepare_dataset", lambda config: None)

    monkeypatch.setattr(local_runner, "create_pipeline", create_pipeline_that("finish"))
    done = local_runner.run(config)
    assert done.run.status == "complete" and set(done) == {"Produce.examples", "Consume.result"}
    assert set(done.run.nodes) == {"Produce", "Consume"}

    monkeypatch.setattr(local_runner, "create_pipeline", create_pipeline_that("interrupt"))
    with pytest.raises(KeyboardInterrupt):
        local_runner.run(config)
    monkeypatch.setattr(local_runner, "create_pipeline", create_pipeline_that("fail"))
    with pytest.raises(RuntimeError):
        local_runner.run(config)

    failed, interrupted, complete = pipeline_runs.list_runs(config)
    assert complete.run_id == done.run.run_id
    assert (failed.status, interrupted.status) == ("failed", "interrupted")
    assert interrupted.nodes == {"Produce": "COMPLETE", "Consume": "CANCELED"}
    consume_dir = os.path.join(config.pipeline_root, "Consume", "result")
    assert os.listdir(consume_dir) == [os.path.basename(done["Consume.result"])]  # the interrupted one's is gone
    assert pipeline_runs.latest_outputs(config).run.run_id == done.run.run_id


_KILLABLE_RUN = """
import sys
from pipeline import local_runner
from pipeline.config import load_config
from tests.helpers.toy_pipeline import create_pipeline_that
local_runner.prepare_dataset = lambda config: None
local_runner.create_pipeline = create_pipeline_that("hang")
local_runner.run(load_config(None, [f"output_root={sys.argv[1]}"]))
"""


@pytest.mark.slow  # about a minute: a second process imports TFX
def test_a_run_killed_mid_step_is_closed_by_the_next_run(tmp_path, monkeypatch):
    """kill -9 of run-local while a step runs: the step stays RUNNING in MLMD; while the process lives nothing
    touches it, once it is gone the next run marks it CANCELED and removes its partial output."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from pipeline import local_runner
    from pipeline import runs as pipeline_runs
    from pipeline.config import load_config
    from tests.helpers.toy_pipeline import create_pipeline_that

    config = load_config(None, [f"output_root={tmp_path}"])
    hanging = os.path.join(config.pipeline_root, "Consume", "hanging")
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE_RUN, str(tmp_path)],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    try:
        deadline = time.time() + 240
        while not os.path.exists(hanging):
            assert process.poll() is None and time.time() < deadline, "the toy run did not reach its step"
            time.sleep(0.5)
        [running] = pipeline_runs.list_runs(config)
        assert running.status == "running" and running.nodes["Consume"] == "RUNNING"
        assert pipeline_runs.mark_abandoned_runs(config) == []  # a live run is left alone
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    [killed] = pipeline_runs.list_runs(config)
    assert killed.status == "interrupted" and "is gone" in killed.detail
    partial = os.listdir(os.path.join(config.pipeline_root, "Consume", "result"))
    assert len(partial) == 1

    monkeypatch.setattr(local_runner, "prepare_dataset", lambda config: None)
    monkeypatch.setattr(local_runner, "create_pipeline", create_pipeline_that("finish"))
    done = local_runner.run(config)
    runs = {info.run_id: info for info in pipeline_runs.list_runs(config)}
    assert runs[killed.run_id].nodes == {"Produce": "COMPLETE", "Consume": "CANCELED"}
    assert runs[killed.run_id].status == "interrupted"
    assert os.listdir(os.path.join(config.pipeline_root, "Consume", "result")) == [
        os.path.basename(done["Consume.result"])
    ]
    assert pipeline_runs.latest_outputs(config).run.run_id == done.run.run_id
