"""`create_pipeline(config)`: the TFX pipeline, knowing nothing about the runner that will execute it."""

from __future__ import annotations

import hashlib
import os
from typing import Optional

import tensorflow_data_validation as tfdv
from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components import statistics_executor
from components.audio_example_gen import features
from components.audio_example_gen.component import AudioExampleGen
from components.audio_example_gen.sources import walk_files
from components.blessing_evaluator.component import BlessingEvaluator
from components.blessing_evaluator.policy import TARGETS
from components.run_reporter.component import RunReporter
from components.sklearn_baseline_trainer.component import SklearnBaselineTrainer
from components.spectrogram_transform.component import SpectrogramTransform
from components.versioned_pusher.component import VersionedPusher
from pipeline import component_settings
from pipeline.config import PipelineConfig

# The Trainer's run_fn is named by its dotted path, so it ships inside the container image instead of
# being uploaded as a module file at compile time.
KERAS_RUN_FN = "components.keras_trainer.trainer.run_fn"


def input_fingerprint(config: PipelineConfig) -> str:
    """Digest of the dataset's file names, sizes and modification times (local datasets only).

    It joins the cache key of AudioExampleGen, so editing the dataset re-runs ingestion. Remote
    (gs://) datasets return "" and rely on versioned paths instead.
    """
    roots = [config.audio_root, config.metadata_dir]
    if any("://" in r for r in roots):
        return ""
    digest = hashlib.sha256()
    for root in roots:
        for path in walk_files(root) if os.path.isdir(root) else []:
            stat = os.stat(path)
            digest.update(
                f"{os.path.relpath(path, root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode(
                    "utf-8", "surrogateescape"
                )
            )
    return digest.hexdigest()


def create_components(config: PipelineConfig, target: str = "local") -> dict[str, tfx.types.BaseNode]:
    # Where the pipeline runs decides how the Evaluator finds the latest blessed model: through MLMD (a
    # LatestBlessedModelStrategy resolver) locally and on Vertex, from the push destination on open-source
    # Kubeflow, whose backend rejects resolver tasks. Checked before AudioExampleGen lists the audio files.
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose from {list(TARGETS)}")
    example_gen = AudioExampleGen(component_settings.ingest_settings(config), input_fingerprint(config))
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"],
        # The waveform and per-clip identifiers are left out: see features.STATISTICS_EXCLUDED.
        stats_options=tfdv.StatsOptions(feature_allowlist=list(features.STATISTICS_FEATURES)),
    )
    # TFX's executor behind the Beam data-plane fix (components/beam_data_plane.py), in containers too.
    statistics_gen.executor_spec = executor_spec.BeamExecutorSpec(statistics_executor.Executor)
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    spectrogram_transform = SpectrogramTransform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        settings=component_settings.transform_settings(config),
    )
    # Data that fails validation should not be featurised and trained on unnoticed: run after the validator.
    spectrogram_transform.add_upstream_node(example_validator)
    trainer = tfx.components.Trainer(
        run_fn=KERAS_RUN_FN,
        examples=spectrogram_transform.outputs["transformed_examples"],
        transform_graph=spectrogram_transform.outputs["featurizer"],
        schema=schema_gen.outputs["schema"],
        # Epochs, steps and early stopping come from trainer.* (read by run_fn), not from step counts.
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        # Exactly what run_fn reads (TrainerSettings), so that nothing else (a blessing threshold, the baselines,
        # the output root, a deployment setting) invalidates the cached model and retrains it.
        custom_config=component_settings.trainer_settings(config).to_custom_config(),
    )
    components = {
        "AudioExampleGen": example_gen,
        "StatisticsGen": statistics_gen,
        "SchemaGen": schema_gen,
        "ExampleValidator": example_validator,
        "SpectrogramTransform": spectrogram_transform,
        "Trainer": trainer,
    }
    baselines = None
    if config.baselines.enabled:
        baselines = SklearnBaselineTrainer(
            examples=spectrogram_transform.outputs["transformed_examples"],
            settings=component_settings.baseline_settings(config),
        )
        components["SklearnBaselineTrainer"] = baselines
    latest_blessed = None
    if target != "kubeflow":
        # Channels by producer: the pipeline has two Model outputs (Trainer, SklearnBaselineTrainer), and only
        # the Evaluator's blessings count.
        latest_blessed = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
            model=tfx.dsl.Channel(
                type=tfx.types.standard_artifacts.Model, producer_component_id="Trainer", output_key="model"
            ),
            model_blessing=tfx.dsl.Channel(
                type=tfx.types.standard_artifacts.ModelBlessing,
                producer_component_id="Evaluator",
                output_key="blessing",
            ),
        ).with_id("LatestBlessedModelResolver")
        components["LatestBlessedModelResolver"] = latest_blessed
    evaluator = BlessingEvaluator(
        examples=spectrogram_transform.outputs["transformed_examples"],
        model=trainer.outputs["model"],
        baseline_model=latest_blessed.outputs["model"] if latest_blessed else None,
        baseline_models=baselines.outputs["model"] if baselines else None,
        eval_config=component_settings.eval_config(config),
        example_splits=[config.evaluator.example_split],
        policy=component_settings.blessing_policy(config, target),
    ).with_id("Evaluator")
    components["Evaluator"] = evaluator
    components["Pusher"] = VersionedPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        examples=spectrogram_transform.outputs["transformed_examples"],
        destination=config.push_destination,
        manifest_context={"config": config.model_dump(mode="json")},
    ).with_id("Pusher")
    # Last: the run's report, ledger and summary as an artifact, from the run's own artifacts (no MLMD query, no
    # resolver), so a Kubeflow or Vertex run has them too. It never fails the run (see its README).
    components["RunReporter"] = RunReporter(
        component_settings.report_settings(config),
        examples=example_gen.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        anomalies=example_validator.outputs["anomalies"],
        transformed_examples=spectrogram_transform.outputs["transformed_examples"],
        model=trainer.outputs["model"],
        model_run=trainer.outputs["model_run"],
        baseline_models=baselines.outputs["model"] if baselines else None,
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        pushed_model=components["Pusher"].outputs["pushed_model"],
    ).with_id("RunReporter")
    return components


def create_pipeline(
    config: PipelineConfig,
    metadata_connection_config=None,
    beam_pipeline_args: Optional[list[str]] = None,
    pipeline_root: Optional[str] = None,
    components: Optional[dict[str, tfx.types.BaseNode]] = None,
) -> tfx.dsl.Pipeline:
    """The pipeline of `components` (default: `create_components(config)`) under `pipeline_root` (default:
    the local `config.pipeline_root`; the Kubeflow/Vertex compiler passes the cloud one)."""
    components = components if components is not None else create_components(config)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=pipeline_root or config.pipeline_root,
        components=list(components.values()),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args,
    )
