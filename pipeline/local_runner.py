"""Runs the pipeline on this machine: LocalDagRunner, SQLite MLMD and the Beam DirectRunner."""
from __future__ import annotations

import json
import logging
import os
from typing import Optional

from tfx import v1 as tfx

from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline

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


def describe_outputs(outputs: dict[str, str], config: Optional[PipelineConfig] = None) -> str:
    lines = []
    examples = outputs.get("AudioExampleGen.examples")
    if examples:
        summary_path = os.path.join(examples, "summary.json")
        if os.path.exists(summary_path):
            with open(summary_path, encoding="utf-8") as f:
                summary = json.load(f)
            counts = summary["counts"]
            lines.append(
                f"Ingestion: {counts['files_seen']} files seen = {counts['files_with_examples']} with examples "
                f"+ {counts['files_quarantined']} quarantined; {counts['examples']} examples "
                f"{summary['examples_per_split']}"
            )
            if summary["quarantined_by_reason"]:
                lines.append(f"Quarantine by reason: {summary['quarantined_by_reason']}")
        lines.append(f"Examples:        {examples}")
        lines.append(f"Quarantine list: {os.path.join(examples, 'quarantine.jsonl')}")
    for label, key in (("Statistics", "StatisticsGen.statistics"), ("Schema", "SchemaGen.schema"),
                       ("Anomalies", "ExampleValidator.anomalies")):
        if key in outputs:
            lines.append(f"{label + ':':<16} {outputs[key]}")
    if "ExampleValidator.anomalies" in outputs:
        for split, found in anomalies_by_split(outputs["ExampleValidator.anomalies"]).items():
            lines.append(f"  anomalies in {split}: " + ("; ".join(found) if found else "none"))
    if config is not None:
        lines.append(f"Pipeline root:   {config.pipeline_root}")
        lines.append(f"MLMD database:   {config.metadata_path}")
    return "\n".join(lines)
