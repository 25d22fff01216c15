"""RunReporter executor: collect the run's report from its input artifacts and write it as files.

The same code (collect.py, render.py, summary.py) reads a local run's artifacts for `make report`; here the
artifacts are the component's inputs, so it works wherever the pipeline ran (LocalDagRunner, Kubeflow,
Vertex; gs:// URIs through tf.io.gfile) without querying MLMD.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import re
import traceback

from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.formats import REPORT_HTML, REPORT_LEDGER, REPORT_STATUS, REPORT_SUMMARY
from components.json_files import write_json
from components.run_reporter.collect import RunOutputs
from components.run_reporter.settings import ReportSettings

SETTINGS_KEY = "report_settings"
REPORT_KEY = "report"
# Input key -> the "<component>.<output key>" name the report's readers use (as the MLMD reader names them).
INPUT_SOURCES = {
    "examples": "AudioExampleGen.examples",
    "statistics": "StatisticsGen.statistics",
    "schema": "SchemaGen.schema",
    "anomalies": "ExampleValidator.anomalies",
    "transformed_examples": "SpectrogramTransform.transformed_examples",
    "model": "Trainer.model",
    "model_run": "Trainer.model_run",
    "baseline_models": "SklearnBaselineTrainer.model",
    "evaluation": "Evaluator.evaluation",
    "blessing": "Evaluator.blessing",
    "pushed_model": "Pusher.pushed_model",
}
# Custom properties on the report artifact: what a UI listing artifacts can show without opening them.
OK_PROPERTY, BLESSED_PROPERTY, BALANCED_PROPERTY, VERSION_PROPERTY = "ok", "blessed", "ledger_balanced", "version"
ANOMALIES_PROPERTY = "anomalies"
# Float properties "<model>_<score>": each model's test accuracy and macro-F1, per segment and per track, as
# the comparison table shows them (MODEL_SCORES).
MODEL_SCORES = ("accuracy", "macro_f1", "track_accuracy", "track_macro_f1")


_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ReportedRun:
    """The run as the reporter knows it: every upstream step succeeded, or it would not be running."""

    run_id: str
    started: str
    status: str = "complete"
    detail: str = ""

    def describe(self) -> str:
        return f"{self.run_id} (reported {self.started}, {self.status})"


def _json_safe(value):
    """numpy scalars and arrays (in metrics) as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_report_files(settings: ReportSettings, outputs: dict, uri: str) -> dict:
    """Writes report.html, summary.json and ledger.json under `uri`, then status.json; returns the status.

    Never raises for a problem in the report: it is recorded in status.json (`ok`: false, `error`), so a
    report that cannot be built never fails an otherwise successful run."""
    from components.run_reporter import render
    from components.run_reporter.collect import collect

    status = {"ok": True, "error": "", "files": []}
    try:
        report = collect(settings, outputs)
        _write_text(os.path.join(uri, REPORT_SUMMARY), json.dumps(report, indent=1, default=_json_safe) + "\n")
        write_json(os.path.join(uri, REPORT_LEDGER), report["ledger"])
        render.write_html(report, os.path.join(uri, REPORT_HTML))
        status["files"] = [REPORT_HTML, REPORT_SUMMARY, REPORT_LEDGER]
        status["blessed"] = report["verdict"]["blessed"]
        status["ledger_balanced"] = report["ledger"].get("balanced") if report["ledger"]["available"] else None
        push = report["push"]
        status["version"] = push.get("version") if push["available"] else None
        found = report["anomalies"]
        status["anomalies"] = sum(map(len, found["by_split"].values())) if found["available"] else None
        status["metrics"] = _model_metrics(report["comparison"])
    except Exception as e:  # recorded, and shown by the summary: the run itself succeeded
        _log.error("RunReporter: the report could not be written: %s: %s", type(e).__name__, e, exc_info=True)
        status.update(ok=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=8))
    try:
        write_json(os.path.join(uri, REPORT_STATUS), status)
    except Exception as e:  # an artifact without status.json reads as a failed report
        _log.error("RunReporter: %s could not be written: %s: %s", REPORT_STATUS, type(e).__name__, e)
        status.update(ok=False, error=f"{REPORT_STATUS} not written: {type(e).__name__}: {e}")
    return status


def _model_metrics(comparison: dict) -> dict[str, float]:
    """{"<model>_accuracy": ..., "<model>_macro_f1": ..., "<model>_track_accuracy": ...,
    "<model>_track_macro_f1": ...} (test split) for the Keras model and each baseline, where recorded: what a
    pipeline UI listing the report artifact's properties shows without opening it."""
    metrics = {}
    for row in comparison.get("rows", []) if comparison["available"] else []:
        name = "keras" if row["keras"] else re.sub(r"[^a-z0-9]+", "_", row["name"].lower()).strip("_")
        for metric in MODEL_SCORES:
            if row.get(metric) is not None:
                metrics[f"{name}_{metric}"] = float(row[metric])
    return metrics


def _write_text(path: str, text: str) -> None:
    import tensorflow as tf

    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        settings = ReportSettings.model_validate_json(exec_properties[SETTINGS_KEY])
        report = artifact_utils.get_single_instance(output_dict[REPORT_KEY])
        outputs = {
            name: artifact_utils.get_single_uri(input_dict[key])
            for key, name in INPUT_SOURCES.items()
            if input_dict.get(key)
        }
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        run_id = (self._context.pipeline_run_id if self._context else None) or "this run"
        status = write_report_files(settings, RunOutputs(outputs, ReportedRun(run_id, now)), report.uri)
        report.set_int_custom_property(OK_PROPERTY, int(status["ok"]))
        for name in (BLESSED_PROPERTY, BALANCED_PROPERTY, VERSION_PROPERTY, ANOMALIES_PROPERTY):
            if status.get(name) is not None:
                report.set_int_custom_property(name, int(status[name]))
        for name, value in status.get("metrics", {}).items():
            report.set_float_custom_property(name, value)
