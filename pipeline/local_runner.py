"""Runs the pipeline on this machine: LocalDagRunner, SQLite MLMD and the Beam DirectRunner."""
from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import shutil
import socket
from typing import Optional

from ml_metadata import errors as mlmd_errors
from ml_metadata.proto import metadata_store_pb2
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


def run(config: PipelineConfig) -> "RunOutputs":
    """Run the whole pipeline; returns the outputs of this run (not of a concurrent or earlier one).

    The run id is chosen here (as LocalDagRunner would: the start time) so that this process can record itself
    on the run's MLMD context first: a later run or `make outputs` then tells a live run from a killed one."""
    from tfx.dsl.compiler import constants
    from tfx.orchestration.portable import runtime_parameter_utils, tfx_runner

    prepare_dataset(config)
    # Every component runs in this process, TFX's StatisticsGen and TFMA's Beam graphs too.
    beam_data_plane.install()
    os.makedirs(os.path.dirname(config.metadata_path), exist_ok=True)
    pipeline = create_pipeline(
        config,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
        beam_pipeline_args=config.beam.pipeline_args(),
    )
    ir = tfx_runner._make_pipeline_proto(pipeline)  # what LocalDagRunner.run does before run_with_ir
    run_id = datetime.datetime.now().isoformat()
    # run_with_ir substitutes only what is still a runtime parameter: our id stays.
    runtime_parameter_utils.substitute_runtime_parameter(ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    nodes = [n.pipeline_node.node_info.id for n in ir.nodes
             if not n.pipeline_node.execution_options.HasField("skip")]
    pipeline_root = ir.runtime_spec.pipeline_root.field_value.string_value or config.pipeline_root
    for marked in mark_abandoned_runs(config):
        _log.warning("run %s was interrupted (its runner is gone): %s", marked.run_id, marked.detail)
    _begin_run(config, run_id, nodes, pipeline_root)
    outcome = "interrupted"
    try:
        tfx.orchestration.LocalDagRunner().run_with_ir(ir)
        outcome = "complete"
    except Exception:
        outcome = "failed"
        raise
    finally:  # KeyboardInterrupt too: the run is closed as interrupted and its partial outputs removed at once
        try:
            _end_run(config, run_id, outcome)
        except Exception as e:  # noqa: BLE001 -- never hide the run's own error; the next run closes it
            _log.warning("could not record the end (%s) of run %s in MLMD: %s", outcome, run_id, e)
    return latest_outputs(config, run_id=run_id)


# -- one run's outputs ---------------------------------------------------------------------------------------
# TFX's LocalDagRunner records each run as an MLMD context of type "pipeline_run" (named by the run id, a child
# of the "pipeline" context) and attributes every execution of the run to it, cached ones included (a CACHED
# execution has OUTPUT events to the reused artifacts). A run's executions are registered RUNNING and published
# COMPLETE (with their OUTPUT events), CACHED or FAILED; a killed process leaves its execution RUNNING, with no
# output events, and its partly written directories <pipeline_root>/<node>/<key>/<execution id> on disk.
# Our runner adds two custom properties to the run context: who runs it (pid, host, nodes) and how it ended.

RUN_CONTEXT_TYPE = "pipeline_run"
RUNNER_PROPERTY = "genre_pipeline_runner"    # JSON: pid, host, process start time, nodes, pipeline_root
OUTCOME_PROPERTY = "genre_pipeline_outcome"  # complete | failed | interrupted (absent while it runs)
ABANDONED_PROPERTY = "genre_pipeline_abandoned"  # on an execution we closed as CANCELED: why
_FINISHED = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """One pipeline run as MLMD records it. status: complete | running | interrupted | failed | unfinished
    (unfinished: executions not done and no runner recorded, so live or killed cannot be told)."""

    run_id: str
    started: str  # UTC, from the run context's creation time
    status: str
    nodes: dict  # node id -> state of its execution in this run (COMPLETE, CACHED, RUNNING, ...)
    detail: str = ""

    def describe(self) -> str:
        text = f"{self.run_id} (started {self.started}, {self.status})"
        return f"{text}: {self.detail}" if self.detail and self.status != "complete" else text


class RunOutputs(dict):
    """Artifact URI by "<component id>.<output key>", all from one run; `run` names it (None when no run was
    found, `note` then says why)."""

    def __init__(self, outputs=(), run: Optional[RunInfo] = None, note: str = ""):
        super().__init__(outputs)
        self.run = run
        self.note = note


def _connection(config: PipelineConfig):
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)


def _open_store(config: PipelineConfig, create: bool = False):
    """The MLMD store, or None when there is no database yet (opening would create an empty one)."""
    from ml_metadata.metadata_store import metadata_store

    if not create and "://" not in config.metadata_path and not os.path.exists(config.metadata_path):
        return None
    return metadata_store.MetadataStore(_connection(config))


def latest_outputs(config: PipelineConfig, run_id: Optional[str] = None) -> RunOutputs:
    """The outputs of one pipeline run, read back from MLMD: the newest complete run, or the run `run_id`
    (whatever its status; only its finished executions' outputs). Keyed "<component id>.<output key>"
    (e.g. "Trainer.model", "AudioExampleGen.examples"); `.run` names the run. The one reader of a run's
    outputs: the console summary, `make outputs` and the report all use it."""
    store = _open_store(config)
    if store is None:
        if run_id is not None:
            raise ValueError(f"no run {run_id}: no MLMD database at {config.metadata_path}")
        return RunOutputs(note="no pipeline run is recorded")
    return read_run_outputs(store, config.pipeline_name, run_id)


def list_runs(config: PipelineConfig) -> list[RunInfo]:
    """Every recorded run of the pipeline, newest first."""
    store = _open_store(config)
    return [] if store is None else [info for info, _, _ in _runs(store, config.pipeline_name)]


def read_run_outputs(store, pipeline_name: str, run_id: Optional[str] = None) -> RunOutputs:
    runs = _runs(store, pipeline_name)
    if run_id is not None:
        chosen = [r for r in runs if r[0].run_id == run_id]
        if not chosen:
            known = ", ".join(info.run_id for info, _, _ in runs[:5]) or "none"
            raise ValueError(f"no run {run_id!r} of {pipeline_name} is recorded (newest runs: {known})")
    else:
        chosen = [r for r in runs if r[0].status == "complete"][:1]
        if not chosen:
            if not runs:
                return RunOutputs(note="no pipeline run is recorded")
            return RunOutputs(note=f"none of the {len(runs)} recorded runs of {pipeline_name} is complete "
                                   f"(newest: {runs[0][0].describe()})")
    info, executions, node_of = chosen[0]
    return RunOutputs(_outputs_of(store, executions, node_of), run=info)


def _runs(store, pipeline_name: str) -> list[tuple[RunInfo, list, dict]]:
    """(RunInfo, the run's executions, execution id -> node id) for each run of the pipeline, newest first."""
    pipeline_context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_context is None:
        return []
    prefix = f"{pipeline_name}."
    node_of = {}
    for context in store.get_contexts_by_type("node"):
        if context.name.startswith(prefix):
            for execution in store.get_executions_by_context(context.id):
                node_of[execution.id] = context.name[len(prefix):]
    try:
        run_type_id = store.get_context_type(RUN_CONTEXT_TYPE).id
    except mlmd_errors.NotFoundError:
        return []
    run_contexts = [c for c in store.get_children_contexts_by_context(pipeline_context.id)
                    if c.type_id == run_type_id]
    runs = []
    for context in sorted(run_contexts, key=lambda c: (c.create_time_since_epoch, c.id), reverse=True):
        executions = [e for e in store.get_executions_by_context(context.id) if e.id in node_of]
        runs.append((_run_info(context, executions, node_of), executions, node_of))
    return runs


def _runner(context) -> Optional[dict]:
    if RUNNER_PROPERTY not in context.custom_properties:
        return None
    try:
        return json.loads(context.custom_properties[RUNNER_PROPERTY].string_value)
    except ValueError:
        return None


def _run_info(context, executions, node_of) -> RunInfo:
    state_name = metadata_store_pb2.Execution.State.Name
    newest = {}
    for execution in sorted(executions, key=lambda e: e.id):
        newest[node_of[execution.id]] = execution
    nodes = {node: state_name(e.last_known_state) for node, e in newest.items()}
    runner = _runner(context)
    outcome = context.custom_properties[OUTCOME_PROPERTY].string_value \
        if OUTCOME_PROPERTY in context.custom_properties else ""
    if runner:
        for node in runner.get("nodes", []):
            nodes.setdefault(node, "NOT RUN")
    states = {e.last_known_state for e in executions}
    unfinished = sorted(node for node, e in newest.items() if e.last_known_state not in _FINISHED)
    started = datetime.datetime.fromtimestamp(context.create_time_since_epoch / 1000, datetime.timezone.utc) \
        .strftime("%Y-%m-%d %H:%M:%S UTC")
    if metadata_store_pb2.Execution.FAILED in states or outcome == "failed":
        failed = [n for n, s in nodes.items() if s == "FAILED"]
        status, detail = "failed", f"failed in {', '.join(failed)}" if failed else "the runner stopped on an error"
    elif outcome == "interrupted" or metadata_store_pb2.Execution.CANCELED in states:
        status, detail = "interrupted", f"stopped in {', '.join(unfinished) or 'between steps'}"
    elif runner is not None:
        if outcome == "complete" and not unfinished:
            status, detail = "complete", ""
        elif _runner_alive(runner):
            status, detail = "running", f"pid {runner.get('pid')} on {runner.get('host')}"
        else:
            status, detail = "interrupted", (f"its runner (pid {runner.get('pid')} on {runner.get('host')}) is "
                                             f"gone; stopped in {', '.join(unfinished) or 'between steps'}")
    elif executions and not unfinished:
        status, detail = "complete", ""  # recorded before runs named their runner: all its executions finished
    else:
        status, detail = "unfinished", (f"{', '.join(unfinished)} not finished and no runner recorded: "
                                        "still running or killed")
    return RunInfo(run_id=context.name, started=started, status=status, nodes=nodes, detail=detail)


def _outputs_of(store, executions, node_of) -> dict[str, str]:
    """Output URIs of the run's finished executions (a cached one's are the reused artifacts)."""
    finished = sorted((e for e in executions if e.last_known_state in _FINISHED), key=lambda e: e.id)
    if not finished:
        return {}
    events = [e for e in store.get_events_by_execution_ids([e.id for e in finished])
              if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)]
    usable = (metadata_store_pb2.Artifact.LIVE, metadata_store_pb2.Artifact.UNKNOWN)
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))}
    outputs = {}
    for event in sorted(events, key=lambda e: (e.execution_id, e.artifact_id)):
        artifact = artifacts.get(event.artifact_id)
        if artifact is None or artifact.state not in usable:
            continue
        key = event.path.steps[0].key if event.path.steps else "output"
        outputs[f"{node_of[event.execution_id]}.{key}"] = artifact.uri
    return outputs


# -- the runner's record, and runs whose runner is gone ------------------------------------------------------

def _process_start(pid: int) -> Optional[float]:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        return None


def _runner_alive(runner: dict) -> bool:
    """Whether the process that recorded itself as a run's runner still runs. A runner on another host cannot
    be checked: it counts as alive (its run is then never read as complete, nor cleaned up from here)."""
    if runner.get("host") != socket.gethostname():
        return True
    pid = runner.get("pid")
    if not isinstance(pid, int):
        return False
    started = _process_start(pid)
    if started is None:
        return False
    recorded = runner.get("process_started")
    return recorded is None or abs(started - recorded) < 2  # else the pid now belongs to another process


def _begin_run(config: PipelineConfig, run_id: str, nodes: list[str], pipeline_root: str) -> None:
    """Creates the run's contexts as TFX would (the pipeline_run context a child of the pipeline context; TFX
    reuses them) and records this process on it."""
    from tfx.orchestration import metadata as tfx_metadata
    from tfx.orchestration.portable.mlmd import context_lib

    runner = {"pid": os.getpid(), "host": socket.gethostname(), "process_started": _process_start(os.getpid()),
              "nodes": nodes, "pipeline_root": pipeline_root}
    with tfx_metadata.Metadata(_connection(config)) as m:
        pipeline_context = context_lib.register_context_if_not_exists(m, "pipeline", config.pipeline_name)
        context = context_lib.register_context_if_not_exists(m, RUN_CONTEXT_TYPE, run_id,
                                                             parent_contexts=[pipeline_context])
        context.custom_properties[RUNNER_PROPERTY].string_value = json.dumps(runner)
        m.store.put_contexts([context])


def _end_run(config: PipelineConfig, run_id: str, outcome: str) -> None:
    store = _open_store(config, create=True)
    context = store.get_context_by_type_and_name(RUN_CONTEXT_TYPE, run_id)
    if context is None:
        return
    if outcome != "complete":
        _close_run(store, config, context, f"the runner stopped ({outcome})")
        context = store.get_context_by_type_and_name(RUN_CONTEXT_TYPE, run_id)
    context.custom_properties[OUTCOME_PROPERTY].string_value = outcome
    store.put_contexts([context])


def mark_abandoned_runs(config: PipelineConfig) -> list[RunInfo]:
    """Closes every run of the pipeline whose runner is gone but whose executions are still NEW or RUNNING:
    those executions become CANCELED, the run's outcome "interrupted", and the directories they were writing
    are removed. Runs recorded without a runner, and runs of a live (or unverifiable) runner, are left alone;
    the reader never takes an unfinished run for a result either way. Returns the runs closed."""
    store = _open_store(config)
    if store is None:
        return []
    closed = []
    for info, _, _ in _runs(store, config.pipeline_name):
        context = store.get_context_by_type_and_name(RUN_CONTEXT_TYPE, info.run_id)
        runner = _runner(context)
        if runner is None or OUTCOME_PROPERTY in context.custom_properties or _runner_alive(runner):
            continue
        _close_run(store, config, context, f"interrupted: its runner (pid {runner.get('pid')} on "
                                           f"{runner.get('host')}) is gone")
        context = store.get_context_by_type_and_name(RUN_CONTEXT_TYPE, info.run_id)
        context.custom_properties[OUTCOME_PROPERTY].string_value = "interrupted"
        store.put_contexts([context])
        closed.append(dataclasses.replace(info, status="interrupted"))
    return closed


def _close_run(store, config: PipelineConfig, context, why: str) -> None:
    """Marks the run's NEW/RUNNING executions CANCELED and removes what they had written."""
    runner = _runner(context) or {}
    pipeline_root = runner.get("pipeline_root") or config.pipeline_root
    prefix = f"{config.pipeline_name}."
    node_names = {c.id: c.name[len(prefix):] for c in store.get_contexts_by_type("node") if c.name.startswith(prefix)}
    active = (metadata_store_pb2.Execution.NEW, metadata_store_pb2.Execution.RUNNING)
    for execution in store.get_executions_by_context(context.id):
        if execution.last_known_state not in active:
            continue
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
        execution.custom_properties[ABANDONED_PROPERTY].string_value = why
        store.put_executions([execution])
        for node_context in store.get_contexts_by_execution(execution.id):
            if node_context.id in node_names:
                _remove_partial_outputs(store, pipeline_root, node_names[node_context.id], execution.id)


def _remove_partial_outputs(store, pipeline_root: str, node: str, execution_id: int) -> None:
    """<pipeline_root>/<node>/<key>/<execution id> (outputs) and .system/executor_execution/<id> (scratch), as
    TFX's outputs_utils names them; a directory MLMD records as an artifact's URI is kept."""
    if "://" in pipeline_root:
        return
    node_dir = os.path.join(pipeline_root, node)
    if not os.path.isdir(node_dir):
        return
    candidates = [os.path.join(node_dir, key, str(execution_id)) for key in sorted(os.listdir(node_dir))
                  if key != ".system"]
    candidates.append(os.path.join(node_dir, ".system", "executor_execution", str(execution_id)))
    for path in candidates:
        if os.path.exists(path) and not store.get_artifacts_by_uri(path):
            _log.info("removing the partial output %s of interrupted execution %d", path, execution_id)
            shutil.rmtree(path, ignore_errors=True)


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
    run_info = getattr(outputs, "run", None)
    if run_info is not None:
        lines.append(f"Run:             {run_info.describe()}")
        if run_info.status != "complete":
            lines.append("  (not a complete run: only the steps it finished are shown)")
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
