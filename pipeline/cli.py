"""Command line of the project: `genre-pipeline <command>` or `python -m pipeline.cli <command>`.

The Makefile calls these commands; all of them read the one configuration object (pipeline.config).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from components.ledger import LedgerMismatch
from pipeline.config import CONFIG_ENV_VAR, load_config


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help=f"YAML config file (default: ${CONFIG_ENV_VAR}, else built-in defaults)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting, e.g. --set audio.segment_seconds=3 (repeatable)")


class _ConsoleFilter(logging.Filter):
    """Our own progress, TFX's component start/finish lines and real warnings reach the console; TFX's
    artifact and MLMD dumps (thousands of lines per run) and its known-harmless warnings go to the log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(("pipeline", "components", "benchmarks")):
            return True
        if record.name == "absl":
            message = record.getMessage()
            return message.startswith("Component ") and message.endswith(("is running.", "is finished."))
        return record.levelno >= logging.WARNING and not record.name.startswith("apache_beam.runners.portability")


def quiet_library_warnings() -> None:
    """For short commands (predict, report): Google's client libraries warn about Python's end of life on
    every import, and TensorFlow about its own deprecations; neither is the user's to act on."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def configure_logging(log_file: str | None = None) -> None:
    """Console: our progress, TFX's component start/finish, warnings. Log file: everything at INFO."""
    # Google's client libraries warn on every import about Python versions' end of life; through the
    # environment the setting also reaches Beam's worker processes.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    warnings.filterwarnings("ignore", category=FutureWarning)
    # TFX reports component starts/ends through absl. absl resets its logger to WARNING whenever its
    # --verbosity flag is (re)applied, which happens mid-run; pinning the flag at INFO keeps those lines.
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler()
    console.setFormatter(formatter)
    console.addFilter(_ConsoleFilter())
    root.addHandler(console)
    if log_file:
        os.makedirs(os.path.dirname(log_file), exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)


def cmd_run_local(args, config) -> int:
    from pipeline import local_runner

    log_file = config.resolve(os.path.join(config.output_root, config.pipeline_name, "logs",
                                           time.strftime("run-local-%Y%m%d-%H%M%S.log")))
    configure_logging(log_file)
    print(f"Full log: {log_file}")
    outputs = local_runner.run(config)  # this run's outputs, not those of a concurrent or an earlier run
    from pipeline.report import ledger

    balance = ledger.build(outputs)
    print("\nPipeline finished. Outputs:\n" + local_runner.describe_outputs(outputs, config, balance))
    print(f"Full log:        {log_file}")
    from pipeline.report import write_report

    print(f"Run report:      {write_report(config, outputs=outputs)}  "
          "(open it in a browser; `make report` rewrites it)")
    if not balance["balanced"]:
        print("error: the run's example ledger does not balance (see the table above): "
              + "; ".join(balance["mismatches"]), file=sys.stderr)
        return 1
    return 0


def cmd_demo_data(args, config) -> int:
    from pipeline.demo_data import ensure_demo_dataset

    ensure_demo_dataset(config.demo, config.genres, config.resolve(config.demo.root))
    print(f"Demo dataset ready: {config.audio_root} and {config.metadata_dir}")
    return 0


def cmd_show_config(args, config) -> int:
    print(config.model_dump_json(indent=2))
    return 0


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Which recorded run to show (`outputs`, `report`)."""
    parser.add_argument("--run", dest="run_id", metavar="RUN_ID",
                        help="the run to show, by id (default: the newest complete run; see --list-runs)")
    parser.add_argument("--list-runs", action="store_true", help="list the recorded runs, newest first, and exit")


def cmd_outputs(args, config) -> int:
    from pipeline import local_runner

    if getattr(args, "list_runs", False):
        runs = local_runner.list_runs(config)
        for info in runs:
            print(info.describe())
        if not runs:
            print(f"No run of {config.pipeline_name} recorded in {config.metadata_path}; run `make run-local` first.")
        return 0 if runs else 1
    outputs = local_runner.latest_outputs(config, run_id=getattr(args, "run_id", None))
    if outputs.run is None:
        print(f"No complete run of {config.pipeline_name} to show: {outputs.note} in {config.metadata_path}. "
              "Run `make run-local` first (or pick a run: `genre-pipeline outputs --list-runs`, `--run RUN_ID`).")
        return 1
    print(local_runner.describe_outputs(outputs, config))
    return 0


COMMANDS = {
    "run-local": (cmd_run_local, "run the whole pipeline on this machine (demo data unless a dataset is set)"),
    "demo-data": (cmd_demo_data, "write the synthetic demo dataset in FMA's layout"),
    "show-config": (cmd_show_config, "print the effective configuration as JSON"),
    "outputs": (cmd_outputs, "print the outputs of the newest complete local run (or of --run RUN_ID)"),
}


DEPLOY_COMMANDS = ("compile-kubeflow", "compile-vertex", "submit-kubeflow", "submit-vertex")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DEPLOY_COMMANDS:
        from pipeline import deploy_cli  # imported lazily: deploy_cli imports this module

        return deploy_cli.main(argv)
    if argv and argv[0] == "predict":
        from pipeline import predict  # its own parser: files, --model, --format

        return predict.main(argv[1:])
    if argv and argv[0] == "report":
        from pipeline import report  # its own parser: --output

        return report.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="genre-pipeline", description=__doc__.splitlines()[0],
        epilog="Also: predict FILES..., report (the HTML run report); see `genre-pipeline predict --help`. "
               "Kubeflow/Vertex: "
               + ", ".join(DEPLOY_COMMANDS) + " (see `genre-pipeline compile-kubeflow --help`)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        add_config_arguments(command)
        if name == "outputs":
            add_run_arguments(command)
        command.set_defaults(func=func)
    args = parser.parse_args(argv)
    try:  # before anything heavy is imported, so a bad setting comes back at once
        config = load_config(args.config, args.overrides)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure_logging()
    try:
        return args.func(args, config)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except LedgerMismatch as e:  # a stage lost (or invented) examples: the message names both sides
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
