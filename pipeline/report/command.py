"""`genre-pipeline report`: the HTML report of a local run (from MLMD) or of a Kubeflow/Vertex run (its
RunReporter artifact)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from typing import Optional

from pipeline.config import PipelineConfig, load_config

_log = logging.getLogger(__name__)


def collect(config: PipelineConfig, outputs: dict, **collect_args) -> dict:
    """The report's data (components/run_reporter/collect.py) of `outputs` ("<component>.<key>" -> uri)."""
    from components.run_reporter.collect import collect as collect_report
    from pipeline.component_settings import report_settings

    return collect_report(report_settings(config), outputs, **collect_args)


def write_report(
    config: PipelineConfig,
    output: Optional[str] = None,
    outputs: Optional[dict] = None,
    run_id: Optional[str] = None,
    report: Optional[dict] = None,
    **collect_args,
) -> str:
    """Writes the report of the newest complete local run, or of the run `run_id`, or of `outputs`
    ("<component>.<key>" -> uri, as runs.latest_outputs gives them, naming their run), or `report` (what
    collect() gave for them, when the caller has it already) to `output` (default config.report_path,
    local or gs://); returns its path."""
    from components.run_reporter.render import write_html

    if report is None:
        if outputs is None:
            outputs = _latest_outputs(config, run_id)
        report = collect(config, outputs, **collect_args)
    return write_html(report, output or config.report_path)


def _latest_outputs(config: PipelineConfig, run_id: Optional[str] = None) -> dict:
    from pipeline.runs import latest_outputs  # never creates a missing database

    outputs = latest_outputs(config, run_id=run_id)
    if outputs.run is None:
        _log.warning("%s: the report will say so", outputs.note)
    return outputs


def add_remote_arguments(parser: argparse.ArgumentParser) -> None:
    """Where --run is, when it is not a local run: a Kubeflow run (--host) or a Vertex job (--project, --region);
    a pipeline root URI needs neither."""
    parser.add_argument("--host", help="Kubeflow Pipelines endpoint: --run is a KFP run id")
    parser.add_argument("--project", help="Google Cloud project: --run is a Vertex AI PipelineJob name (with --region)")
    parser.add_argument("--region", help="Vertex AI region of the PipelineJob, e.g. europe-west4")


def is_remote(args) -> bool:
    """Whether --run names a Kubeflow or Vertex run or a pipeline root rather than a run in the local MLMD."""
    run = getattr(args, "run_id", None) or ""
    remote = bool(args.host or args.project or args.region)
    if remote and not run:
        raise ValueError("--host/--project/--region need the run too: RUN=<KFP run id | Vertex job name>")
    return remote or "://" in run or run.startswith("projects/") or os.path.isdir(run)


def remote_report(args) -> str:
    """The URI of the remote run's report artifact (pipeline/deploy/remote_runs.py)."""
    from pipeline.deploy.remote_runs import report_uri

    return report_uri(args.run_id, host=args.host, project=args.project, region=args.region)


def remote_report_dir(config: PipelineConfig, run: str) -> str:
    """Where a remote run's report is fetched to by default: <output_root>/<pipeline_name>/reports/<run>."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", run.rstrip("/").split("/")[-1]).strip("_.")
    return config.resolve(os.path.join(config.output_root, config.pipeline_name, "reports", name or "run"))


def fetch_remote_report(config: PipelineConfig, args) -> int:
    from components.formats import REPORT_HTML, REPORT_STATUS
    from components.json_files import read_json
    from pipeline.deploy.remote_runs import fetch_report

    uri = remote_report(args)
    fetched = fetch_report(uri, args.output or remote_report_dir(config, args.run_id))
    print(f"Report artifact: {uri}")
    status = read_json(fetched[REPORT_STATUS]) if REPORT_STATUS in fetched else None
    if REPORT_HTML not in fetched or not (status or {}).get("ok"):
        why = (status or {}).get("error") or f"no {REPORT_STATUS}: the report step did not finish"
        print(f"error: the run's report step failed ({why}); its files: {sorted(fetched)}", file=sys.stderr)
        return 1
    print(f"Run report: {fetched[REPORT_HTML]}")
    return 0


def main(argv=None) -> int:
    from pipeline.cli_common import add_config_arguments, quiet_library_warnings

    parser = argparse.ArgumentParser(
        prog="genre-pipeline report",
        description="Write the self-contained HTML report of the newest complete local run (or of --run RUN_ID), "
        "or fetch a Kubeflow/Vertex run's report artifact (--run with --host, or --project and --region, or a "
        "pipeline root URI).",
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--run",
        dest="run_id",
        metavar="RUN_ID",
        help="the run to report: a local run id (default: the newest complete run; "
        "`genre-pipeline outputs --list-runs` lists them), a KFP run id (--host), a Vertex job (--project, "
        "--region) or the pipeline root URI of a run",
    )
    parser.add_argument(
        "--output",
        help="where to write the HTML (default: report.output, else <output_root>/<pipeline_name>/report.html); "
        "for a remote run, the directory its report files are fetched to (default: "
        "<output_root>/<pipeline_name>/reports/<run>)",
    )
    add_remote_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    quiet_library_warnings()
    try:
        if is_remote(args):
            return fetch_remote_report(config, args)
        path = write_report(config, args.output, run_id=args.run_id)
    except ValueError as e:  # an unknown run id, a remote run not found or not finished
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Run report: {path}")
    return 0
