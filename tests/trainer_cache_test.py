"""The Trainer's cache on LocalDagRunner: runs into one MLMD database, the Trainer cached when only settings it
does not read change (baselines, demo data, an Evaluator threshold) and retrained when its own change.

The pipeline run here is AudioExampleGen .. Trainer (the nodes the Trainer depends on), with each component
built by create_components from the whole configuration, so its execution properties are those of a full run;
what the left-out nodes read cannot reach the Trainer except through its execution properties. The output
root decides where MLMD lives, so a run under another one starts afresh: that the Trainer's execution
properties do not depend on it is tests/pipeline_test.py's test_only_what_run_fn_reads_is_in_the_trainers_cache_key.
"""

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from pipeline.config import load_config
from pipeline.datasets.demo import ensure_demo_dataset
from pipeline.pipeline import create_components, create_pipeline

pytestmark = pytest.mark.slow

UPSTREAM_OF_TRAINER = (
    "AudioExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "SpectrogramTransform",
    "Trainer",
)


def _run(config) -> None:
    components = create_components(config)
    pipeline = create_pipeline(
        config,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
        beam_pipeline_args=config.beam.pipeline_args(),
        components={name: components[name] for name in UPSTREAM_OF_TRAINER},
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)


def _trainer_executions(config) -> list[tuple[str, str]]:
    """(state, model artifact URI) of every Trainer execution in MLMD, oldest first."""
    store = metadata_store.MetadataStore(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
    )
    node = store.get_context_by_type_and_name("node", f"{config.pipeline_name}.Trainer")
    executions = sorted(store.get_executions_by_context(node.id), key=lambda e: e.id)
    found = []
    for execution in executions:
        outputs = [
            e
            for e in store.get_events_by_execution_ids([execution.id])
            if e.type == metadata_store_pb2.Event.OUTPUT and e.path.steps[0].key == "model"
        ]
        (model,) = store.get_artifacts_by_id([outputs[0].artifact_id]) if outputs else (None,)
        state = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
        found.append((state, model.uri if model else ""))
    return found


def test_trainer_is_cached_unless_its_own_settings_change(tmp_path):
    common = [
        f"demo.root={tmp_path / 'demo'}",
        "demo.tracks_per_genre=3",
        "demo.clip_seconds=3",
        f"output_root={tmp_path / 'runs'}",
        "audio.segment_seconds=1.5",
        "trainer.model_family=cnn2d_mel",  # 1.5 s examples: shorter than musicnn's 3 s patch
        "beam.direct_num_workers=1",
        "beam.direct_running_mode=in_memory",
        "transform.engineered_preset=quick",
        "transform.spectrogram.n_mels=32",
        "transform.spectrogram.image_size=32",
        "trainer.epochs=1",
        "trainer.batch_size=8",
    ]
    first = load_config(overrides=common)
    ensure_demo_dataset(first.demo, first.genres, first.resolve(first.demo.root), progress=False)
    _run(first)
    (trained,) = _trainer_executions(first)
    assert trained[0] == "COMPLETE", trained

    # Settings the Trainer does not read. demo.workers: the demo data is the same (its generation does not
    # depend on the worker count, and it is not generated again), only the demo section of the config differs.
    unrelated = load_config(
        overrides=[
            *common,
            "baselines.algorithms=[knn]",
            "baselines.seed=5",
            "demo.workers=1",
            "evaluator.accuracy_floor=0.9",
            "evaluator.max_accuracy_drop=0.1",
        ]
    )
    ensure_demo_dataset(unrelated.demo, unrelated.genres, unrelated.resolve(unrelated.demo.root), progress=False)
    _run(unrelated)
    executions = _trainer_executions(unrelated)
    assert len(executions) == 2 and executions[1] == ("CACHED", trained[1]), executions

    retrain = load_config(overrides=[*common, "trainer.learning_rate=0.01"])
    _run(retrain)
    executions = _trainer_executions(retrain)
    assert len(executions) == 3, executions
    state, model_uri = executions[2]
    assert state == "COMPLETE" and model_uri and model_uri != trained[1], executions
