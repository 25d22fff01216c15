"""The command line: clear errors instead of tracebacks, and the effective configuration."""
import json

from pipeline import cli


def test_missing_dataset_is_a_one_line_error(tmp_path, capsys):
    code = cli.main(["run-local", "--set", f"dataset.audio_root={tmp_path / 'nowhere'}",
                     "--set", f"output_root={tmp_path / 'runs'}"])
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
        raise LedgerMismatch("examples do not reconcile: SpectrogramTransform, split 'train': read 1201 examples, "
                             "but AudioExampleGen /a/1 recorded 1280 (79 missing)")

    monkeypatch.setattr(local_runner, "run", lossy_run)
    assert cli.main(["run-local", "--set", f"output_root={tmp_path}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: examples do not reconcile: SpectrogramTransform, split 'train'")
    assert "Traceback" not in err
