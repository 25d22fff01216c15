"""Runs the pipeline on this machine: LocalDagRunner, SQLite MLMD and the Beam DirectRunner."""
from __future__ import annotations

import logging
import os
from typing import Optional

from tfx import v1 as tfx

from components import beam_data_plane
from components.audio_example_gen.executor import QUARANTINE_FILE as INGEST_QUARANTINE
from components.audio_example_gen.executor import SUMMARY_FILE as INGEST_SUMMARY
from components.spectrogram_transform.features import QUARANTINE_FILE as TRANSFORM_QUARANTINE
from components.spectrogram_transform.features import SUMMARY_FILE as TRANSFORM_SUMMARY
from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline
from pipeline.report import ledger as ledger_view

_log = logging.getLogger(__name__)


def prepare_dataset(config: PipelineConfig) -> None:
    """Make the built-in demo data when no dataset is configured; check a configured one exists."""
    if config.dataset.uses_demo:
        from pipeline.demo_data import ensure_demo_dataset

        ensure_demo_dataset(config.demo, config.genres, config.resolve(config.demo.root))
    elif "://" not in config.audio_root and not os.path.isdir(config.audio_root):
        raise FileNotFoundError(
            f"dataset.audio_root {config.audio_root} does not exist. Run `make download-fma` for FMA, or leave "
            "dataset.audio_root empty to use the built-in demo data."
        )


def run(config: PipelineConfig) -> dict[str, str]:
    """Run the whole pipeline; returns the URI of each component's newest output artifact."""
    prepare_dataset(config)
    # Every component runs in this process, TFX's StatisticsGen and TFMA's Beam graphs too.
    beam_data_plane.install()
    os.makedirs(os.path.dirname(config.metadata_path), exist_ok=True)
    pipeline = create_pipeline(
        config,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
        beam_pipeline_args=config.beam.pipeline_args(),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return latest_outputs(config)


def latest_outputs(config: PipelineConfig) -> dict[str, str]:
    """URI of each output of the newest successful (or cached) execution of every component, read back from
    MLMD, keyed "<component id>.<output key>" (e.g. "Trainer.model", "AudioExampleGen.examples")."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    store = metadata_store.MetadataStore(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
    )
    finished = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
    prefix = f"{config.pipeline_name}."
    outputs: dict[str, str] = {}
    for context in store.get_contexts_by_type("node"):
        if not context.name.startswith(prefix):
            continue
        executions = [e for e in store.get_executions_by_context(context.id) if e.last_known_state in finished]
        if not executions:
            continue
        newest = max(executions, key=lambda e: e.id)
        events = [e for e in store.get_events_by_execution_ids([newest.id])
                  if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)]
        uris = {a.id: a.uri for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
        node_id = context.name[len(prefix):]
        for event in events:
            key = event.path.steps[0].key if event.path.steps else "output"
            outputs[f"{node_id}.{key}"] = uris[event.artifact_id]
    return outputs


def anomalies_by_split(anomalies_uri: str) -> dict[str, list[str]]:
    """Human-readable anomalies per split from an ExampleAnomalies artifact."""
    from tensorflow_data_validation.utils import anomalies_util

    result = {}
    for entry in sorted(os.listdir(anomalies_uri)):
        path = os.path.join(anomalies_uri, entry, "SchemaDiff.pb")
        if entry.startswith("Split-") and os.path.exists(path):
            anomalies = anomalies_util.load_anomalies_binary(path)
            result[entry[len("Split-"):]] = [
                f"{feature}: {info.short_description}" for feature, info in sorted(anomalies.anomaly_info.items())
            ]
    return result


def _read_json(directory: str, name: str) -> Optional[dict]:
    from components.json_files import read_json

    return read_json(os.path.join(directory, name))


def describe_models(outputs: dict[str, str]) -> list[str]:
    """Each trained model's test accuracy (per segment, and per track with segments averaged)."""
    from components.keras_trainer.trainer import METRICS_FILE as KERAS_METRICS
    from components.sklearn_baseline_trainer.serialization import SUMMARY_FILE as BASELINE_SUMMARY

    rows = []
    keras = _read_json(outputs["Trainer.model_run"], KERAS_METRICS) if "Trainer.model_run" in outputs else None
    if keras is not None:
        test = keras.get("test") or {}
        rows.append((f"Keras {keras['model_family']}", keras["eval"]["accuracy"], test.get("accuracy"),
                     test.get("track_accuracy")))
    baselines = outputs.get("SklearnBaselineTrainer.model")
    summary = _read_json(baselines, BASELINE_SUMMARY) if baselines else None
    if summary is not None:
        for algorithm, result in summary["algorithms"].items():
            best = " (best baseline)" if algorithm == summary["best_algorithm"] else ""
            rows.append((f"sklearn {algorithm}{best}", result["eval_accuracy"], result["test_accuracy"],
                         result["test_track_accuracy"]))
    if not rows:
        return []

    def percent(value) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    width = max(len(row[0]) for row in rows) + 2
    lines = [f"{'Model':<{width}} {'eval acc':>9} {'test acc':>9} {'test acc, whole tracks':>23}"]
    lines += [f"{name:<{width}} {percent(e):>9} {percent(t):>9} {percent(tt):>23}" for name, e, t, tt in rows]
    if keras is not None:
        lines.append(f"Keras model:     {outputs.get('Trainer.model')}  (run logs: {outputs['Trainer.model_run']})")
    if baselines:
        lines.append(f"Baseline models: {baselines}")
    return lines


def describe_blessing(outputs: dict[str, str], config: Optional[PipelineConfig] = None) -> list[str]:
    """The Evaluator's decision, check by check, and what the Pusher did with it."""
    blessing = outputs.get("Evaluator.blessing")
    if not blessing:
        return []
    from components.blessing_evaluator.results import read_decision

    decision = read_decision(blessing)
    metrics = decision.get("metrics") or {}
    verdict = "BLESSED" if decision["blessed"] else "NOT BLESSED"
    lines = [f"Blessing:        {verdict} (Evaluator on {decision.get('split')}: accuracy "
             f"{_number(metrics.get('accuracy'))}, macro-F1 {_number(metrics.get('macro_f1'))} over "
             f"{metrics.get('example_count', '?')} examples)"]
    for check in decision.get("checks", []):
        if check.get("skipped"):
            outcome = f"skipped: {check.get('detail', '')}"
        else:
            outcome = (f"{check.get('metric')} {_number(check.get('measured'))} {check.get('comparison')} "
                       f"{_number(check.get('threshold'))}: {'passed' if check.get('passed') else 'FAILED'}")
        lines.append(f"  {check['name']:<16} {outcome}")
    lines.append(f"Evaluation:      {outputs.get('Evaluator.evaluation')}")
    if config is not None:
        lines.append(describe_push(outputs, config, decision))
    return lines


def describe_push(outputs: dict[str, str], config: PipelineConfig, decision: dict) -> str:
    from pipeline.report.collect import push  # what the Pusher did, read once for the report and this line

    result = push(config, outputs, decision)
    if not result["available"]:
        return "Pushed:          the Pusher has not run"
    if result["pushed"]:
        return (f"Pushed:          version {result['version']} -> {result['model_dir']}  "
                f"(manifest {result['manifest_path']})")
    current = (f"; serving stays at version {result['serving_version']}"
               if result["serving_version"] is not None else "")
    return f"Pushed:          nothing ({result['why']}){current}"


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def describe_outputs(outputs: dict[str, str], config: Optional[PipelineConfig] = None,
                     ledger: Optional[dict] = None) -> str:
    """The run summary; `ledger` is ledger_view.build(outputs) when the caller has built it already."""
    lines = []
    examples = outputs.get("AudioExampleGen.examples")
    if examples:
        summary = _read_json(examples, INGEST_SUMMARY)
        if summary is not None:
            counts = summary["counts"]
            lines.append(
                f"Ingestion: {counts['files_seen']} files seen = {counts['files_with_examples']} with examples "
                f"+ {counts['files_quarantined']} quarantined; {counts['examples']} examples "
                f"{summary['examples_per_split']}"
            )
            if summary["quarantined_by_reason"]:
                lines.append(f"Quarantine by reason: {summary['quarantined_by_reason']}")
        lines.append(f"Examples:        {examples}")
        lines.append(f"Quarantine list: {os.path.join(examples, INGEST_QUARANTINE)}")
    transformed = outputs.get("SpectrogramTransform.transformed_examples")
    transform_summary = _read_json(transformed, TRANSFORM_SUMMARY) if transformed else None
    for label, key in (("Statistics", "StatisticsGen.statistics"), ("Schema", "SchemaGen.schema"),
                       ("Anomalies", "ExampleValidator.anomalies")):
        if key in outputs:
            lines.append(f"{label + ':':<16} {outputs[key]}")
    if "ExampleValidator.anomalies" in outputs:
        for split, found in anomalies_by_split(outputs["ExampleValidator.anomalies"]).items():
            lines.append(f"  anomalies in {split}: " + ("; ".join(found) if found else "none"))
    if transform_summary is not None:
        counts = transform_summary["counts"]
        lines.append(
            f"Transform: {counts['examples_in']} examples in = {counts['examples_out']} out + "
            f"{counts['quarantined']} quarantined"
            + (f" {transform_summary['quarantined_by_reason']}" if counts["quarantined"] else "") + "; "
            f"{transform_summary['engineered_features']} engineered features ({transform_summary['engineered_preset']})"
        )
        lines.append(f"Transformed:     {transformed}  (quarantine: {TRANSFORM_QUARANTINE})")
    lines.extend(describe_models(outputs))
    lines.extend(describe_blessing(outputs, config))
    lines.extend(ledger_view.lines(ledger or ledger_view.build(outputs)))
    if config is not None:
        lines.append(f"Pipeline root:   {config.pipeline_root}")
        lines.append(f"MLMD database:   {config.metadata_path}")
    return "\n".join(lines)
