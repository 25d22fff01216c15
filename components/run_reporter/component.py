"""RunReporter component: the run's report, summary and ledger as an artifact of the run."""

from __future__ import annotations

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.run_reporter import executor
from components.run_reporter.executor import INPUT_SOURCES, REPORT_KEY, SETTINGS_KEY
from components.run_reporter.settings import ReportSettings

_TYPES = {
    "examples": standard_artifacts.Examples,
    "statistics": standard_artifacts.ExampleStatistics,
    "schema": standard_artifacts.Schema,
    "anomalies": standard_artifacts.ExampleAnomalies,
    "transformed_examples": standard_artifacts.Examples,
    "model": standard_artifacts.Model,
    "model_run": standard_artifacts.ModelRun,
    "baseline_models": standard_artifacts.Model,
    "evaluation": standard_artifacts.ModelEvaluation,
    "blessing": standard_artifacts.ModelBlessing,
    "pushed_model": standard_artifacts.PushedModel,
}


class RunReport(types.Artifact):
    """A run's report: report.html, summary.json, ledger.json and status.json (components/formats)."""

    # Also its import path (components/__init__.py): Kubeflow's entrypoint finds the class by this name.
    TYPE_NAME = "components.RunReport"


class RunReporterSpec(types.ComponentSpec):
    PARAMETERS = {SETTINGS_KEY: ExecutionParameter(type=str)}
    # Every input is optional: a pipeline without baselines (or a partial one in a test) still gets its report,
    # whose sections then say what is missing.
    INPUTS = {key: ChannelParameter(type=_TYPES[key], optional=True) for key in INPUT_SOURCES}
    OUTPUTS = {REPORT_KEY: ChannelParameter(type=RunReport)}


class RunReporter(base_component.BaseComponent):
    """Writes the run's HTML report, its example ledger and a machine-readable summary from the run's own
    artifacts (its inputs), on any orchestrator. It never fails the run: a problem is recorded in
    status.json and shows in the summary. See README.md."""

    SPEC_CLASS = RunReporterSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, settings: ReportSettings, **inputs: Optional[types.BaseChannel]):
        unknown = sorted(set(inputs) - set(INPUT_SOURCES))
        if unknown:
            raise ValueError(f"RunReporter has no input {unknown}; its inputs are {list(INPUT_SOURCES)}")
        spec = RunReporterSpec(
            **{key: channel for key, channel in inputs.items() if channel is not None},
            **{SETTINGS_KEY: settings.model_dump_json()},
            **{REPORT_KEY: types.Channel(type=RunReport)},
        )
        super().__init__(spec=spec)
