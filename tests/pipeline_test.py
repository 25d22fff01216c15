"""create_pipeline() and its helpers, without running anything."""

import json
import os

import pytest

from components.audio_example_gen import features
from pipeline.config import load_config
from pipeline.pipeline import create_components, create_pipeline, input_fingerprint
from tests.helpers import factories


def _config(tmp_path):
    return load_config(
        overrides=[
            f"dataset.audio_root={tmp_path / 'fma_small'}",
            f"dataset.metadata_dir={tmp_path / 'fma_metadata'}",
            f"output_root={tmp_path / 'runs'}",
        ]
    )


def test_pipeline_wires_validation_transform_and_both_trainers(tmp_path):
    pipeline = create_pipeline(_config(tmp_path))
    by_id = {c.id: c for c in pipeline.components}
    assert set(by_id) == {
        "AudioExampleGen",
        "StatisticsGen",
        "SchemaGen",
        "ExampleValidator",
        "SpectrogramTransform",
        "Trainer",
        "SklearnBaselineTrainer",
        "LatestBlessedModelResolver",
        "Evaluator",
        "Pusher",
        "RunReporter",
    }
    transform, trainer = by_id["SpectrogramTransform"], by_id["Trainer"]
    # The transform waits for data validation; both trainers read the transformed examples.
    assert by_id["ExampleValidator"] in transform.upstream_nodes
    assert trainer.inputs["examples"] is transform.outputs["transformed_examples"]
    assert trainer.inputs["transform_graph"] is transform.outputs["featurizer"]
    assert by_id["SklearnBaselineTrainer"].inputs["examples"] is transform.outputs["transformed_examples"]
    assert trainer.exec_properties["run_fn"] == "components.keras_trainer.trainer.run_fn"
    stats = by_id["StatisticsGen"]
    assert features.AUDIO not in stats.exec_properties["stats_options_json"]
    assert f'"{features.RMS_DBFS}"' in stats.exec_properties["stats_options_json"]
    assert pipeline.pipeline_info.pipeline_root == str(tmp_path / "runs" / "fma-genre" / "pipeline_root")


def test_input_fingerprint_changes_with_the_dataset(tmp_path):
    config = _config(tmp_path)
    audio = factories.write_audio(tmp_path / "fma_small" / "000" / "000002.mp3", seconds=0.2)
    (tmp_path / "fma_metadata").mkdir()
    (tmp_path / "fma_metadata" / "tracks.csv").write_text("x")
    first = input_fingerprint(config)
    assert first == input_fingerprint(config)
    factories.write_audio(tmp_path / "fma_small" / "000" / "000005.mp3", seconds=0.2)
    second = input_fingerprint(config)
    assert second != first
    os.utime(audio, ns=(1, 1))
    assert input_fingerprint(config) != second


def test_remote_datasets_have_no_fingerprint():
    config = load_config(overrides=["dataset.audio_root=gs://b/fma_small"])
    assert input_fingerprint(config) == ""


def test_evaluator_blesses_against_the_latest_blessed_model_and_the_baselines(tmp_path):
    config = _config(tmp_path)
    components = create_components(config)
    assert all(component.id == cid for cid, component in components.items())
    evaluator, resolver, pusher = (
        components["Evaluator"],
        components["LatestBlessedModelResolver"],
        components["Pusher"],
    )
    assert evaluator.inputs["model"] is components["Trainer"].outputs["model"]
    assert evaluator.inputs["examples"] is components["SpectrogramTransform"].outputs["transformed_examples"]
    assert evaluator.inputs["baseline_model"] is resolver.outputs["model"]
    assert evaluator.inputs["baseline_models"] is components["SklearnBaselineTrainer"].outputs["model"]
    # The resolver reads only the Trainer's models and the Evaluator's blessings of earlier runs.
    models, blessings = resolver.raw_inputs["model"], resolver.raw_inputs["model_blessing"]
    assert (models.producer_component_id, models.output_key) == ("Trainer", "model")
    assert (blessings.producer_component_id, blessings.output_key) == ("Evaluator", "blessing")
    assert pusher.inputs["model_blessing"] is evaluator.outputs["blessing"]
    assert pusher.exec_properties["destination"] == config.push_destination


def test_the_run_reporter_reads_every_steps_output_of_this_run_last(tmp_path):
    from components.run_reporter.executor import INPUT_SOURCES

    components = create_components(_config(tmp_path), "kubeflow")
    reporter = components["RunReporter"]
    for key, source in INPUT_SOURCES.items():
        producer, output_key = source.split(".")
        assert reporter.inputs[key] is components[producer].outputs[output_key], key
    ordered = [c.id for c in create_pipeline(_config(tmp_path), components=components).components]
    assert ordered[-1] == "RunReporter" and components["Pusher"] in reporter.upstream_nodes
    config = load_config(overrides=[f"output_root={tmp_path / 'runs'}", "baselines.enabled=false"])
    without_baselines = create_components(config)
    assert "baseline_models" not in without_baselines["RunReporter"].inputs


def test_kubeflow_target_has_no_resolver_and_regresses_against_the_push_destination(tmp_path):
    config = _config(tmp_path)
    components = create_components(config, "kubeflow")
    assert "LatestBlessedModelResolver" not in components
    assert "baseline_model" not in components["Evaluator"].inputs
    policy = json.loads(components["Evaluator"].exec_properties["blessing_policy"])
    assert policy["regression_source"] == "push_destination"
    assert policy["push_destination"] == config.push_destination
    with pytest.raises(ValueError, match="unknown target"):
        create_components(config, "airflow")


def test_baselines_can_be_left_out(tmp_path):
    config = load_config(overrides=[f"output_root={tmp_path}", "baselines.enabled=false"])
    components = create_components(config)
    assert "SklearnBaselineTrainer" not in components
    assert "baseline_models" not in components["Evaluator"].inputs


def test_blessing_and_deployment_settings_do_not_change_the_trainers_cache_key(tmp_path):
    def trainer_config(*overrides):
        config = load_config(overrides=[f"output_root={tmp_path}", *overrides])
        return create_components(config)["Trainer"].exec_properties["custom_config"]

    base = trainer_config()
    assert (
        trainer_config(
            "evaluator.accuracy_floor=0.9",
            "pusher.destination=/elsewhere",
            "deploy.pipeline_root=gs://b/r",
            "beam.direct_num_workers=1",
        )
        == base
    )
    assert trainer_config("trainer.epochs=3") != base


def test_only_what_run_fn_reads_is_in_the_trainers_cache_key(tmp_path):
    """The Trainer's execution properties (its cache key) hold TrainerSettings and nothing else: the baselines,
    the demo data's settings, the output root and the Evaluator's thresholds leave them as they are."""

    def trainer_properties(*overrides, output_root=tmp_path / "runs"):
        config = load_config(overrides=[f"output_root={output_root}", *overrides])
        return create_components(config)["Trainer"].exec_properties

    base = trainer_properties()
    unrelated = {
        "baselines": ["baselines.algorithms=[knn]", "baselines.seed=3", "baselines.pca_components=0.9"],
        "demo": ["demo.workers=1", "demo.seed=7", "demo.tracks_per_genre=4", f"demo.root={tmp_path / 'demo'}"],
        "evaluator": [
            "evaluator.accuracy_floor=0.9",
            "evaluator.max_accuracy_drop=0.1",
            "evaluator.baseline_margin=0.05",
        ],
    }
    for section, overrides in unrelated.items():
        assert trainer_properties(*overrides) == base, section
    assert trainer_properties(output_root=tmp_path / "elsewhere") == base
    assert str(tmp_path) not in base["custom_config"]
    assert trainer_properties("trainer.learning_rate=0.01") != base
    assert trainer_properties("transform.spectrogram.n_mels=64") != base  # run_fn checks the featurizer's
