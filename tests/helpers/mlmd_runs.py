"""MLMD stores shaped as TFX's LocalDagRunner writes them, for tests of the run reader (no pipeline run).

The shape is that of a real run's database (runs/<pipeline>/metadata.sqlite, TFX 1.16): a "pipeline" context
named after the pipeline; one "pipeline_run" context per run, named by the run id and a child of the pipeline
context; a "node" context "<pipeline>.<node id>" per component. Each execution is attributed to all three; a
COMPLETE one has OUTPUT events (path: output key, index) to LIVE artifacts at
<pipeline_root>/<node>/<key>/<execution id>; a CACHED one has OUTPUT events to the artifacts it reuses; a
RUNNING one (a killed process) has no output events, only its partly written directory on disk.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.config import PipelineConfig

# The nodes and output keys of the real pipeline (LatestBlessedModelResolver has no outputs).
NODES = {
    "AudioExampleGen": ["examples"],
    "LatestBlessedModelResolver": [],
    "StatisticsGen": ["statistics"],
    "SchemaGen": ["schema"],
    "ExampleValidator": ["anomalies"],
    "SpectrogramTransform": ["featurizer", "transformed_examples"],
    "SklearnBaselineTrainer": ["model"],
    "Trainer": ["model", "model_run"],
    "Evaluator": ["blessing", "evaluation"],
    "Pusher": ["pushed_model"],
}


def dead_pid() -> int:
    """The pid of a process of this host that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


class Runs:
    """Writes runs into config.metadata_path the way TFX and local_runner do."""

    def __init__(self, config: PipelineConfig):
        self.config = config
        os.makedirs(os.path.dirname(config.metadata_path), exist_ok=True)
        connection = pb.ConnectionConfig()
        connection.sqlite.filename_uri = config.metadata_path
        connection.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = metadata_store.MetadataStore(connection)
        self.types = {
            name: self.store.put_context_type(pb.ContextType(name=name))
            for name in ("pipeline", "pipeline_run", "node")
        }
        self.pipeline = self._context("pipeline", config.pipeline_name)
        self.artifact_type = self.store.put_artifact_type(pb.ArtifactType(name="Examples"))
        self.runs: dict[str, pb.Context] = {}
        self.outputs: dict[str, dict[str, str]] = {}  # run id -> the outputs its executions recorded

    def _context(self, type_name: str, name: str) -> pb.Context:
        found = self.store.get_context_by_type_and_name(type_name, name)
        if found is not None:
            return found
        [context_id] = self.store.put_contexts([pb.Context(type_id=self.types[type_name], name=name)])
        return self.store.get_contexts_by_id([context_id])[0]

    def start(self, run_id: str, runner: str | None = "live") -> None:
        """A run context; runner: "live" (this process), "dead" (an exited pid of this host) or None (a run
        recorded before local_runner named its runner)."""
        context = self._context("pipeline_run", run_id)
        self.store.put_parent_contexts([pb.ParentContext(child_id=context.id, parent_id=self.pipeline.id)])
        if runner is not None:
            import psutil

            pid = os.getpid() if runner == "live" else dead_pid()
            record = {
                "pid": pid,
                "host": socket.gethostname(),
                "nodes": list(NODES),
                "process_started": psutil.Process(os.getpid()).create_time() if runner == "live" else None,
                "pipeline_root": self.config.pipeline_root,
            }
            context.custom_properties["genre_pipeline_runner"].string_value = json.dumps(record)
            self.store.put_contexts([context])
        self.runs[run_id] = context
        self.outputs[run_id] = {}

    def finish(self, run_id: str, outcome: str = "complete") -> None:
        context = self.store.get_context_by_type_and_name("pipeline_run", run_id)
        context.custom_properties["genre_pipeline_outcome"].string_value = outcome
        self.store.put_contexts([context])

    def execute(
        self, run_id: str, node: str, state: str = "COMPLETE", cached_from: str | None = None, blessed: bool = True
    ) -> int:
        """One execution of `node` in the run; COMPLETE writes new artifacts (and their directories), CACHED
        reuses those of run `cached_from`, RUNNING leaves a partly written directory and no output event.
        The Evaluator's blessing holds a decision on this run's Trainer.model (blessed or not), the Pusher's
        output a push result (nothing pushed)."""
        type_id = self.store.put_execution_type(pb.ExecutionType(name=f"tfx.components.{node}"))
        contexts = [self.pipeline, self.runs[run_id], self._context("node", f"{self.config.pipeline_name}.{node}")]
        execution = pb.Execution(type_id=type_id, last_known_state=pb.Execution.State.Value(state))
        [execution_id] = self.store.put_executions([execution])  # its id names its output directories
        execution = self.store.get_executions_by_id([execution_id])[0]
        artifacts_and_events = []
        for key in NODES[node]:
            uri = os.path.join(self.config.pipeline_root, node, key, str(execution_id))
            if state == "CACHED":
                uri = self.outputs[cached_from][f"{node}.{key}"]
                artifact = self.store.get_artifacts_by_uri(uri)[0]
            else:
                os.makedirs(uri, exist_ok=True)
                if state != "COMPLETE":  # a killed step: a partial directory, nothing recorded
                    open(os.path.join(uri, "partial"), "w").close()
                    continue
                artifact = pb.Artifact(type_id=self.artifact_type, uri=uri, state=pb.Artifact.LIVE)
                self._write_contents(run_id, f"{node}.{key}", uri, blessed)
            event = pb.Event(type=pb.Event.OUTPUT)
            event.path.steps.add().key = key
            event.path.steps.add().index = 0
            artifacts_and_events.append((artifact, event))
            self.outputs[run_id][f"{node}.{key}"] = uri
        contexts_for_put = [self.store.get_contexts_by_id([c.id])[0] for c in contexts]
        self.store.put_execution(execution, artifacts_and_events, contexts_for_put, reuse_context_if_already_exist=True)
        return execution_id

    def _write_contents(self, run_id: str, output: str, uri: str, blessed: bool) -> None:
        if output == "Evaluator.blessing":
            decision = {
                "blessed": blessed,
                "model_uri": self.outputs[run_id].get("Trainer.model"),
                "split": "test",
                "metrics": {},
                "checks": [],
                "reasons": [] if blessed else ["too weak"],
            }
            with open(os.path.join(uri, "decision.json"), "w") as f:
                json.dump(decision, f)
        elif output == "Pusher.pushed_model":
            with open(os.path.join(uri, "push_result.json"), "w") as f:
                json.dump({"pushed": False, "reasons": ["test run: nothing pushed"]}, f)

    def complete_run(
        self, run_id: str, runner: str | None = "live", cached_from: str | None = None, blessed: bool = True
    ) -> None:
        """Every node ran and the runner ended."""
        self.start(run_id, runner)
        for node in NODES:
            self.execute(run_id, node, "CACHED" if cached_from else "COMPLETE", cached_from, blessed)
        if runner is not None:
            self.finish(run_id)

    def state(self, execution_id: int) -> str:
        return pb.Execution.State.Name(self.store.get_executions_by_id([execution_id])[0].last_known_state)
