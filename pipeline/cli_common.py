"""What every command line of the project shares (pipeline/cli.py, pipeline/deploy/cli.py, predict, report,
the benchmarks): the config arguments and the console's logging."""

from __future__ import annotations

import argparse
import logging
import os
import warnings

from pipeline.config import CONFIG_ENV_VAR


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help=f"YAML config file (default: ${CONFIG_ENV_VAR}, else built-in defaults)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set audio.segment_seconds=3 (repeatable)",
    )


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
