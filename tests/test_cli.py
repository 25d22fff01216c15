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


HEAVY_MODULES = ("tensorflow", "tfx", "apache_beam", "ml_metadata", "kfp", "tensorflow_data_validation")
_IMPORT_ORDER_PROBE = """
import json, sys
from pipeline import cli
results = {}
for argv in json.loads(sys.argv[1]):
    code = cli.main(argv)
    results[argv[0]] = [code, sorted(m for m in %r if m in sys.modules)]
print(json.dumps(results))
""" % (HEAVY_MODULES,)


def test_every_command_reports_a_bad_setting_before_importing_tensorflow_or_tfx(tmp_path):
    """The config is loaded and checked before any heavy import, so a typo comes back in well under a
    second instead of after TFX's 20-30 s import. Checked by what is imported, not by a timer."""
    import subprocess
    import sys

    bad = ["--set", "audio.segmnt_seconds=3"]
    commands = [["run-local", *bad], ["outputs", *bad], ["demo-data", *bad], ["show-config", *bad],
                ["report", *bad], ["predict", str(tmp_path / "a.mp3"), *bad],
                ["compile-kubeflow", *bad], ["compile-vertex", *bad], ["submit-kubeflow", *bad],
                ["submit-vertex", *bad]]
    probe = subprocess.run([sys.executable, "-c", _IMPORT_ORDER_PROBE, json.dumps(commands)],
                           capture_output=True, text=True, timeout=120)
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
