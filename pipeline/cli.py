"""Command line of the project: `genre-pipeline <command>` or `python -m pipeline.cli <command>`.

The Makefile calls these commands; all of them read the one configuration object (pipeline.config).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from components.ledger import LedgerMismatch
from pipeline.cli_common import add_config_arguments, configure_logging
from pipeline.config import load_config


def cmd_run_local(args, config) -> int:
    from pipeline import local_runner

    log_file = config.resolve(
        os.path.join(config.output_root, config.pipeline_name, "logs", time.strftime("run-local-%Y%m%d-%H%M%S.log"))
    )
    configure_logging(log_file)
    print(f"Full log: {log_file}")
    outputs = local_runner.run(config)  # this run's outputs, not those of a concurrent or an earlier run
    from components.run_reporter import summary
    from pipeline.report import collect, write_report

    report = collect(config, outputs)  # read once: the summary, the ledger check and the HTML report
    print("\nPipeline finished. Outputs:\n" + summary.text(report))
    print(f"Full log:        {log_file}")
    print(f"Run report:      {write_report(config, report=report)}  (open it in a browser; `make report` rewrites it)")
    balance = report["ledger"]
    if not balance["available"]:
        print(f"error: the run's example ledger could not be checked: {balance['why']}", file=sys.stderr)
        return 1
    if not balance["balanced"]:
        print(
            "error: the run's example ledger does not balance (see the table above): "
            + "; ".join(balance["mismatches"]),
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_demo_data(args, config) -> int:
    from pipeline.datasets.demo import ensure_demo_dataset

    ensure_demo_dataset(config.demo, config.genres, config.resolve(config.demo.root))
    print(f"Demo dataset ready: {config.audio_root} and {config.metadata_dir}")
    return 0


def cmd_show_config(args, config) -> int:
    print(config.model_dump_json(indent=2))
    return 0


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Which recorded run to show (`outputs`, `report`)."""
    parser.add_argument(
        "--run",
        dest="run_id",
        metavar="RUN_ID",
        help="the run to show: a local run id (default: the newest complete run; see --list-runs), a KFP run id "
        "(--host), a Vertex job (--project, --region) or the pipeline root URI of a run",
    )
    parser.add_argument("--list-runs", action="store_true", help="list the recorded runs, newest first, and exit")
    from pipeline.report.command import add_remote_arguments

    add_remote_arguments(parser)


def cmd_outputs(args, config) -> int:
    from pipeline import runs
    from pipeline.report.command import is_remote

    if is_remote(args):  # a Kubeflow or Vertex run: its RunReporter's summary.json, printed as for a local run
        from components.run_reporter import summary
        from pipeline.deploy.remote_runs import read_summary
        from pipeline.report.command import remote_report

        print(summary.text(read_summary(remote_report(args))))
        return 0

    if getattr(args, "list_runs", False):
        recorded = runs.list_runs(config)
        for info in recorded:
            print(info.describe())
        if not recorded:
            print(f"No run of {config.pipeline_name} recorded in {config.metadata_path}; run `make run-local` first.")
        return 0 if recorded else 1
    outputs = runs.latest_outputs(config, run_id=getattr(args, "run_id", None))
    if outputs.run is None:
        print(
            f"No complete run of {config.pipeline_name} to show: {outputs.note} in {config.metadata_path}. "
            "Run `make run-local` first (or pick a run: `genre-pipeline outputs --list-runs`, `--run RUN_ID`)."
        )
        return 1
    from components.run_reporter import summary
    from pipeline.report import collect

    print(summary.text(collect(config, outputs)))
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
        from pipeline.deploy import cli as deploy_cli  # imported lazily: TFX and KFP come with it

        return deploy_cli.main(argv)
    if argv and argv[0] == "predict":
        from pipeline import predict  # its own parser: files, --model, --format

        return predict.main(argv[1:])
    if argv and argv[0] == "report":
        from pipeline import report  # its own parser: --output

        return report.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="genre-pipeline",
        description=__doc__.splitlines()[0],
        epilog="Also: predict FILES..., report (the HTML run report); see `genre-pipeline predict --help`. "
        "Kubeflow/Vertex: " + ", ".join(DEPLOY_COMMANDS) + " (see `genre-pipeline compile-kubeflow --help`)",
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
