"""Which artifacts belong to one pipeline run: the runs MLMD records, their status, their outputs; the
runner's record on its run, and closing runs whose runner is gone (their partial outputs removed).

`latest_outputs` is how every reader of a run's outputs (the console summary, `make outputs`, the report:
components/run_reporter/collect.py) finds the artifacts; what is in them is read by collect.py alone."""

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

from components.run_reporter.collect import RunOutputs
from pipeline.config import PipelineConfig

_log = logging.getLogger(__name__)


# -- one run's outputs ---------------------------------------------------------------------------------------
# TFX's LocalDagRunner records each run as an MLMD context of type "pipeline_run" (named by the run id, a child
# of the "pipeline" context) and attributes every execution of the run to it, cached ones included (a CACHED
# execution has OUTPUT events to the reused artifacts). A run's executions are registered RUNNING and published
# COMPLETE (with their OUTPUT events), CACHED or FAILED; a killed process leaves its execution RUNNING, with no
# output events, and its partly written directories <pipeline_root>/<node>/<key>/<execution id> on disk.
# Our runner adds two custom properties to the run context: who runs it (pid, host, nodes) and how it ended.

RUN_CONTEXT_TYPE = "pipeline_run"
RUNNER_PROPERTY = "genre_pipeline_runner"  # JSON: pid, host, process start time, nodes, pipeline_root
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
    (e.g. "Trainer.model", "AudioExampleGen.examples"); `.run` names the run. The console summary,
    `make outputs` and the report all find a run's artifacts here (and read them in report/collect.py)."""
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
            return RunOutputs(
                note=f"none of the {len(runs)} recorded runs of {pipeline_name} is complete "
                f"(newest: {runs[0][0].describe()})"
            )
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
                node_of[execution.id] = context.name[len(prefix) :]
    try:
        run_type_id = store.get_context_type(RUN_CONTEXT_TYPE).id
    except mlmd_errors.NotFoundError:
        return []
    run_contexts = [c for c in store.get_children_contexts_by_context(pipeline_context.id) if c.type_id == run_type_id]
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
    outcome = (
        context.custom_properties[OUTCOME_PROPERTY].string_value
        if OUTCOME_PROPERTY in context.custom_properties
        else ""
    )
    if runner:
        for node in runner.get("nodes", []):
            nodes.setdefault(node, "NOT RUN")
    states = {e.last_known_state for e in executions}
    unfinished = sorted(node for node, e in newest.items() if e.last_known_state not in _FINISHED)
    started = datetime.datetime.fromtimestamp(context.create_time_since_epoch / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )
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
            status, detail = (
                "interrupted",
                (
                    f"its runner (pid {runner.get('pid')} on {runner.get('host')}) is "
                    f"gone; stopped in {', '.join(unfinished) or 'between steps'}"
                ),
            )
    elif executions and not unfinished:
        status, detail = "complete", ""  # recorded before runs named their runner: all its executions finished
    else:
        status, detail = (
            "unfinished",
            (f"{', '.join(unfinished)} not finished and no runner recorded: still running or killed"),
        )
    return RunInfo(run_id=context.name, started=started, status=status, nodes=nodes, detail=detail)


def _outputs_of(store, executions, node_of) -> dict[str, str]:
    """Output URIs of the run's finished executions (a cached one's are the reused artifacts)."""
    finished = sorted((e for e in executions if e.last_known_state in _FINISHED), key=lambda e: e.id)
    if not finished:
        return {}
    events = [
        e
        for e in store.get_events_by_execution_ids([e.id for e in finished])
        if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
    ]
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


def begin_run(config: PipelineConfig, run_id: str, nodes: list[str], pipeline_root: str) -> None:
    """Creates the run's contexts as TFX would (the pipeline_run context a child of the pipeline context; TFX
    reuses them) and records this process on it."""
    from tfx.orchestration import metadata as tfx_metadata
    from tfx.orchestration.portable.mlmd import context_lib

    runner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "process_started": _process_start(os.getpid()),
        "nodes": nodes,
        "pipeline_root": pipeline_root,
    }
    with tfx_metadata.Metadata(_connection(config)) as m:
        pipeline_context = context_lib.register_context_if_not_exists(m, "pipeline", config.pipeline_name)
        context = context_lib.register_context_if_not_exists(
            m, RUN_CONTEXT_TYPE, run_id, parent_contexts=[pipeline_context]
        )
        context.custom_properties[RUNNER_PROPERTY].string_value = json.dumps(runner)
        m.store.put_contexts([context])


def end_run(config: PipelineConfig, run_id: str, outcome: str) -> None:
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
        _close_run(
            store, config, context, f"interrupted: its runner (pid {runner.get('pid')} on {runner.get('host')}) is gone"
        )
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
    node_names = {c.id: c.name[len(prefix) :] for c in store.get_contexts_by_type("node") if c.name.startswith(prefix)}
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
    candidates = [
        os.path.join(node_dir, key, str(execution_id)) for key in sorted(os.listdir(node_dir)) if key != ".system"
    ]
    candidates.append(os.path.join(node_dir, ".system", "executor_execution", str(execution_id)))
    for path in candidates:
        if os.path.exists(path) and not store.get_artifacts_by_uri(path):
            _log.info("removing the partial output %s of interrupted execution %d", path, execution_id)
            shutil.rmtree(path, ignore_errors=True)
