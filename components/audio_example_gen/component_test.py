"""The component's spec, and the reason it is not a FileBasedExampleGen: resources survive compilation."""

from kfp.pipeline_spec import pipeline_spec_pb2

from components.audio_example_gen.component import AudioExampleGen
from components.audio_example_gen.executor import INGEST_CONFIG_KEY
from components.audio_example_gen.settings import IngestSettings
from pipeline import component_settings
from pipeline.config import load_config
from pipeline.pipeline import create_components
from tests.helpers.compiled import compile_pipeline_spec


def _remote_config():
    return load_config(
        overrides=["dataset.audio_root=gs://bucket/fma_small", "dataset.metadata_dir=gs://bucket/fma_metadata"]
    )


def test_settings_round_trip_through_the_execution_property():
    config = _remote_config()
    component = AudioExampleGen(component_settings.ingest_settings(config), "fingerprint")
    settings = IngestSettings.model_validate_json(component.exec_properties[INGEST_CONFIG_KEY])
    assert settings.audio_root == "gs://bucket/fma_small" and settings.genres == config.genres
    assert settings.audio == config.audio and settings.split == config.split
    assert component.outputs["examples"].type_name == "Examples"


def test_platform_config_resources_survive_kubeflow_v2_compilation(tmp_path):
    components = create_components(_remote_config())
    resources = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec(
        cpu_limit=8.0, memory_limit=32.0
    )
    components["AudioExampleGen"].with_platform_config(resources)
    executors = compile_pipeline_spec(components.values(), tmp_path)["deploymentSpec"]["executors"]
    container = executors["AudioExampleGen_executor"]["container"]
    assert container["resources"] == {"cpuLimit": 8.0, "memoryLimit": 32.0}
    assert container["image"] == "registry/image:tag"
