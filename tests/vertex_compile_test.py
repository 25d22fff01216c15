"""Compiling for Vertex AI Pipelines: a PipelineJob JSON that aiplatform accepts, with Vertex's accelerator names."""

import json

import pytest
from google.auth.credentials import AnonymousCredentials
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline.deploy.kubeflow_runner import CompileError, compile_pipeline
from pipeline.deploy.submit import vertex_job
from tests.kubeflow_compile_test import IMAGE, PROFILES, ROOT, TPU_IMAGE, cloud_config, compile_profile, executor_of


@pytest.mark.parametrize("profile", PROFILES)
def test_json_is_a_pipeline_job_with_every_component_and_its_image(profile, tmp_path):
    compiled = compile_profile("vertex", profile, tmp_path)
    with open(compiled.path, encoding="utf-8") as f:
        job = json_format.ParseDict(json.load(f), pipeline_spec_pb2.PipelineJob())  # strict: no unknown fields
    assert job.display_name == "fma-genre"
    assert job.runtime_config.gcs_output_directory == ROOT
    spec = compiled.pipeline_spec
    assert spec["schemaVersion"] == "2.1.0"
    assert set(spec["root"]["dag"]["tasks"]) == set(job.pipeline_spec["root"]["dag"]["tasks"])
    assert {"AudioExampleGen", "SpectrogramTransform", "Trainer"} <= set(spec["root"]["dag"]["tasks"])
    resolvers = {cid for cid in spec["root"]["dag"]["tasks"] if "resolver" in executor_of(spec, cid)[1]}
    # Vertex runs the latest-blessed-model resolver as its two query tasks (no container, no image).
    assert resolvers == {
        "LatestBlessedModelResolver-model-blessing-resolver",
        "LatestBlessedModelResolver-model-resolver",
    }
    for component_id in set(spec["root"]["dag"]["tasks"]) - resolvers:
        image = executor_of(spec, component_id)[1]["container"]["image"]
        assert image == (TPU_IMAGE if profile == "tpu" and component_id == "Trainer" else IMAGE), component_id


def test_evaluator_compares_with_the_latest_blessed_model_from_vertex_metadata(tmp_path):
    spec = compile_profile("vertex", "cpu", tmp_path).pipeline_spec
    tasks = spec["root"]["dag"]["tasks"]
    inputs = tasks["Evaluator"]["inputs"]["artifacts"]
    assert inputs["baseline_model"]["taskOutputArtifact"] == {
        "producerTask": "LatestBlessedModelResolver-model-resolver",
        "outputArtifactKey": "model",
    }
    assert inputs["baseline_models"]["taskOutputArtifact"]["producerTask"] == "SklearnBaselineTrainer"
    query = executor_of(spec, "LatestBlessedModelResolver-model-blessing-resolver")[1]["resolver"]
    assert "metadata.blessed.number_value=1" in query["outputArtifactQueries"]["model_blessing"]["filter"]
    assert tasks["Pusher"]["inputs"]["artifacts"]["model_blessing"]["taskOutputArtifact"]["producerTask"] == "Evaluator"


def test_heavy_beam_steps_size_their_machines_by_limits(tmp_path):
    spec = compile_profile("vertex", "cpu", tmp_path).pipeline_spec
    for component_id in ("AudioExampleGen", "SpectrogramTransform"):
        assert executor_of(spec, component_id)[1]["container"]["resources"] == {"cpuLimit": 8.0, "memoryLimit": 32.0}
    assert "resources" not in executor_of(spec, "SchemaGen")[1]["container"]


@pytest.mark.parametrize(
    "spec, vertex_type, count",
    [
        ("gpu:nvidia-l4:2", "NVIDIA_L4", "2"),
        ("gpu:nvidia-tesla-t4:1", "NVIDIA_TESLA_T4", "1"),
        ("gpu:nvidia-tesla-a100:8", "NVIDIA_TESLA_A100", "8"),
        ("tpu:tpu-v5-lite-podslice:2x2", "TPU_V5_LITEPOD", "4"),
        ("tpu:tpu-v4-podslice:2x2x1", "TPU_V4_POD", "4"),
    ],
)
def test_trainer_gets_the_vertex_accelerator_type_and_count(spec, vertex_type, count, tmp_path):
    config = cloud_config("deploy.resources.Trainer.cpu=8", "deploy.resources.Trainer.memory_gb=30", accelerator=spec)
    compiled = compile_pipeline(config, "vertex", str(tmp_path / "p.json"))
    resources = executor_of(compiled.pipeline_spec, "Trainer")[1]["container"]["resources"]
    assert resources == {"cpuLimit": 8.0, "memoryLimit": 30.0, "accelerator": {"type": vertex_type, "count": count}}
    assert compiled.platform_spec is None


def test_a_tpu_vertex_cannot_provide_fails_at_compile_time(tmp_path):
    config = cloud_config(accelerator="tpu:tpu-v5p-slice:2x2x1")
    with pytest.raises(CompileError, match=r"Vertex AI has no accelerator type for tpu-v5p-slice"):
        compile_pipeline(config, "vertex", str(tmp_path / "p.json"))
    # The same spec is fine on GKE, which has v5p node pools.
    compile_pipeline(config, "kubeflow", str(tmp_path / "p.yaml"))


def test_machines_larger_than_vertex_offers_fail_at_compile_time(tmp_path):
    config = cloud_config("deploy.resources.AudioExampleGen.cpu=128")
    with pytest.raises(CompileError, match=r"AudioExampleGen: Vertex machines offer at most 96 vCPUs"):
        compile_pipeline(config, "vertex", str(tmp_path / "p.json"))


def test_aiplatform_builds_the_pipeline_job_offline(tmp_path):
    config = cloud_config(
        "vertex.project=fma-project",
        "vertex.region=europe-west4",
        "vertex.run_name=fma-run-1",
        "vertex.encryption_key=projects/fma-project/locations/europe-west4/keyRings/k/cryptoKeys/c",
        "vertex.labels.team=audio",
        accelerator="gpu:nvidia-l4:1",
    )
    compiled = compile_pipeline(config, "vertex", str(tmp_path / "p.json"))
    job = vertex_job(config, compiled.path, credentials=AnonymousCredentials())
    resource = job._gca_resource  # the request aiplatform would send; .gca_resource exists after creation
    assert job.job_id == "fma-run-1" and job.project == "fma-project" and job.location == "europe-west4"
    assert resource.runtime_config.gcs_output_directory == ROOT
    assert resource.encryption_spec.kms_key_name.endswith("/cryptoKeys/c")
    assert resource.labels["team"] == "audio"
    tasks = resource.pipeline_spec["root"]["dag"]["tasks"]
    assert "Trainer" in tasks and "AudioExampleGen" in tasks
    trainer = resource.pipeline_spec["deploymentSpec"]["executors"]["Trainer_executor"]["container"]
    assert trainer["resources"]["accelerator"]["type"] == "NVIDIA_L4"
