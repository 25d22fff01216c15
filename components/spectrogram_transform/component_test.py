"""The component's spec and channels, and its place in a pipeline compiled for Kubeflow Pipelines v2."""

import json

import pytest
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx

from components.audio_example_gen.component import AudioExampleGen
from components.spectrogram_transform.component import SpectrogramTransform
from components.spectrogram_transform.executor import TRANSFORM_CONFIG_KEY
from components.spectrogram_transform.settings import TransformSettings
from pipeline import component_settings
from pipeline.config import load_config
from tests.helpers.compiled import compile_pipeline_spec


def _config():
    return load_config(
        overrides=[
            "dataset.audio_root=gs://bucket/fma_small",
            "dataset.metadata_dir=gs://bucket/fma_metadata",
            "transform.engineered_preset=quick",
            "transform.spectrogram.n_mels=96",
        ]
    )


def _with_transform(config):
    """A tiny pipeline: ingestion, validation, and the transform after the validator."""
    example_gen = AudioExampleGen(component_settings.ingest_settings(config))
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"])
    validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    transform = SpectrogramTransform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        settings=component_settings.transform_settings(config),
    )
    transform.add_upstream_node(validator)
    return {
        "AudioExampleGen": example_gen,
        "StatisticsGen": statistics_gen,
        "SchemaGen": schema_gen,
        "ExampleValidator": validator,
        "SpectrogramTransform": transform,
    }


def test_settings_come_from_the_pipeline_config_and_round_trip():
    config = _config()
    settings = component_settings.transform_settings(config)
    assert settings.featurizer == component_settings.spectrogram_settings(config)
    assert settings.featurizer.n_mels == 96 and settings.featurizer.num_samples == config.audio.example_samples
    assert settings.engineered_preset == "quick" and settings.genres == config.genres
    assert TransformSettings.model_validate_json(settings.model_dump_json()) == settings


@pytest.mark.parametrize(
    "overrides, spectra, musicnn, engineered, waveform_splits",
    [
        # the default: the musicnn head and baselines on engineered features; the waveform for the Evaluator
        ((), (), True, True, ("test",)),
        (("trainer.model_family=cnn2d_mel",), ("log_mel",), False, True, ("test",)),
        (("trainer.model_family=mobilenetv2_transfer",), ("mel_image",), False, True, ("test",)),
        (("trainer.model_family=cnn1d_raw",), ("log_mel",), False, True, None),
        (("trainer.musicnn.fine_tune_epochs=2",), (), True, True, None),
        (("baselines.feature_set=musicnn",), (), True, False, ("test",)),
        (("baselines.enabled=false", "evaluator.example_split=eval"), (), True, False, ("eval",)),
        (("trainer.model_family=cnn2d_mel", "baselines.feature_set=musicnn"), ("log_mel",), True, False, ("test",)),
    ],
)
def test_the_transform_computes_and_stores_only_what_the_configured_models_read(
    overrides, spectra, musicnn, engineered, waveform_splits
):
    settings = component_settings.transform_settings(load_config(overrides=list(overrides)))
    assert settings.featurizer.spectra == spectra
    assert (settings.featurizer.musicnn is not None) == musicnn
    assert settings.engineered == engineered
    assert settings.waveform_splits == waveform_splits


def test_component_has_its_channels_and_typed_parameter():
    component = _with_transform(_config())["SpectrogramTransform"]
    assert component.inputs["examples"].type_name == "Examples"
    assert component.inputs["schema"].type_name == "Schema"
    assert component.outputs["transformed_examples"].type_name == "Examples"
    assert component.outputs["featurizer"].type_name == "TransformGraph"
    settings = TransformSettings.model_validate_json(component.exec_properties[TRANSFORM_CONFIG_KEY])
    assert settings == component_settings.transform_settings(_config())


def test_compiles_for_kubeflow_v2_wired_after_validation_with_its_resources(tmp_path):
    components = _with_transform(_config())
    resources = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec(
        cpu_limit=16.0, memory_limit=64.0
    )
    components["SpectrogramTransform"].with_platform_config(resources)
    spec = compile_pipeline_spec(components.values(), tmp_path)
    task = spec["root"]["dag"]["tasks"]["SpectrogramTransform"]
    assert "ExampleValidator" in task["dependentTasks"]
    inputs = task["inputs"]["artifacts"]
    assert inputs["examples"]["taskOutputArtifact"] == {
        "producerTask": "AudioExampleGen",
        "outputArtifactKey": "examples",
    }
    assert inputs["schema"]["taskOutputArtifact"] == {"producerTask": "SchemaGen", "outputArtifactKey": "schema"}
    component_spec = spec["components"][task["componentRef"]["name"]]
    outputs = component_spec["outputDefinitions"]["artifacts"]
    assert outputs["transformed_examples"]["artifactType"]["instanceSchema"].startswith("title: tfx.Examples\n")
    assert outputs["featurizer"]["artifactType"]["instanceSchema"].startswith("title: tfx.TransformGraph\n")
    parameter = task["inputs"]["parameters"][TRANSFORM_CONFIG_KEY]["runtimeValue"]["constantValue"]["stringValue"]
    assert TransformSettings.model_validate_json(parameter).featurizer.n_mels == 96
    container = spec["deploymentSpec"]["executors"]["SpectrogramTransform_executor"]["container"]
    assert container["resources"] == {"cpuLimit": 16.0, "memoryLimit": 64.0}
    assert "components.spectrogram_transform.executor.Executor" in json.dumps(container["args"])
