"""Compiling for Kubeflow Pipelines v2: the YAML a cluster would run, checked without a cluster.

CPU, GPU and TPU profiles; the Kubernetes platform document parsed into kfp-kubernetes' proto; the package
loaded the way kfp.Client loads it; nothing the open-source backend rejects or ignores; every container
command importable here; no secret in the file. The helpers at the top serve tests/vertex_compile_test.py too.
"""

import importlib
import importlib.util
import json

import pytest
import yaml
from google.protobuf import json_format
from kfp.client.client import _extract_pipeline_yaml
from kfp.kubernetes import kubernetes_executor_config_pb2
from tfx import v1 as tfx
from tfx.dsl.components.base import base_executor
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.types import standard_artifacts

from pipeline.config import DIRECT_RUNNER_DEPENDENCY_FLAG, load_config
from pipeline.deploy import cli as deploy_cli
from pipeline.deploy.kubeflow_runner import CompileError, beam_pipeline_args, compile_pipeline
from pipeline.pipeline import create_components

IMAGE = "europe-docker.pkg.dev/fma-project/pipelines/fma-genre:1.4.2"
TPU_IMAGE = IMAGE + "-tpu"
ROOT = "gs://fma-bucket/pipeline-root"
CLOUD = [
    f"deploy.image={IMAGE}",
    f"deploy.pipeline_root={ROOT}",
    "dataset.audio_root=gs://fma-bucket/fma_small",
    "dataset.metadata_dir=gs://fma-bucket/fma_metadata",
    "pusher.destination=gs://fma-bucket/models/fma-genre",
]
PROFILES = {"cpu": None, "gpu": "gpu:nvidia-l4:2", "tpu": "tpu:tpu-v5-lite-podslice:2x2"}
HEAVY_BEAM_STEPS = ("AudioExampleGen", "SpectrogramTransform")


def cloud_config(*overrides, accelerator=None, component="Trainer"):
    extra = [f"deploy.accelerators.{component}={accelerator}"] if accelerator else []
    return load_config(overrides=[*CLOUD, *extra, *overrides])


def compile_profile(target, profile, tmp_path, *overrides):
    suffix = "yaml" if target == "kubeflow" else "json"
    return compile_pipeline(
        cloud_config(*overrides, accelerator=PROFILES[profile]), target, str(tmp_path / f"{profile}.{suffix}")
    )


def executor_of(spec, component_id):
    label = spec["components"][spec["root"]["dag"]["tasks"][component_id]["componentRef"]["name"]]["executorLabel"]
    return label, spec["deploymentSpec"]["executors"][label]


def platform_executors(compiled):
    return compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


# -- every profile ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_every_component_is_present_with_its_image(profile, tmp_path):
    compiled = compile_profile("kubeflow", profile, tmp_path)
    expected = set(create_components(cloud_config(), "kubeflow"))
    assert set(compiled.pipeline_spec["root"]["dag"]["tasks"]) == expected
    for component_id in expected:
        _, executor = executor_of(compiled.pipeline_spec, component_id)
        on_tpu = profile == "tpu" and component_id == "Trainer"
        assert executor["container"]["image"] == (TPU_IMAGE if on_tpu else IMAGE), component_id


@pytest.mark.parametrize("profile", PROFILES)
def test_yaml_loads_the_way_kfp_client_loads_a_package(profile, tmp_path):
    compiled = compile_profile("kubeflow", profile, tmp_path)
    package = _extract_pipeline_yaml(compiled.path)
    assert package.pipeline_spec.pipeline_info.name == "fma-genre"
    assert package.pipeline_spec.schema_version == "2.1.0"
    assert package.pipeline_spec.default_pipeline_root == ROOT
    assert set(package.pipeline_spec.root.dag.tasks) == set(compiled.pipeline_spec["root"]["dag"]["tasks"])
    executors = package.platform_spec.platforms["kubernetes"].deployment_spec.executors
    assert set(executors) == ({"Trainer_executor"} if PROFILES[profile] else set())
    with open(compiled.path, encoding="utf-8") as f:
        documents = list(yaml.safe_load_all(f))
    assert len(documents) == 2 and documents[1] == compiled.platform_spec


@pytest.mark.parametrize("profile", PROFILES)
def test_heavy_beam_steps_request_cpu_and_memory(profile, tmp_path):
    compiled = compile_profile("kubeflow", profile, tmp_path)
    present = [c for c in HEAVY_BEAM_STEPS if c in compiled.pipeline_spec["root"]["dag"]["tasks"]]
    assert "AudioExampleGen" in present
    for component_id in present:
        _, executor = executor_of(compiled.pipeline_spec, component_id)
        assert executor["container"]["resources"] == {"cpuRequest": 8.0, "memoryRequest": 32.0}


def test_limits_are_optional_and_never_below_the_requests(tmp_path):
    config = cloud_config("deploy.resources.Trainer={cpu: 4, memory_gb: 16, cpu_limit: 6, memory_limit_gb: 20}")
    compiled = compile_pipeline(config, "kubeflow", str(tmp_path / "p.yaml"))
    assert executor_of(compiled.pipeline_spec, "Trainer")[1]["container"]["resources"] == {
        "cpuRequest": 4.0,
        "memoryRequest": 16.0,
        "cpuLimit": 6.0,
        "memoryLimit": 20.0,
    }
    with pytest.raises(ValueError, match=r"memory_limit_gb \(8.0\) is below memory_gb \(16.0\)"):
        cloud_config("deploy.resources.Trainer={memory_gb: 16, memory_limit_gb: 8}")


def test_cpu_profile_places_nothing_on_accelerators(tmp_path):
    compiled = compile_profile("kubeflow", "cpu", tmp_path)
    assert platform_executors(compiled) == {}
    for executor in compiled.pipeline_spec["deploymentSpec"]["executors"].values():
        assert "accelerator" not in executor["container"].get("resources", {})


# -- the Trainer on GPUs and TPUs ---------------------------------------------------------------------------------


def test_gpu_profile_puts_the_trainer_on_l4_nodes(tmp_path):
    compiled = compile_profile("kubeflow", "gpu", tmp_path)
    label, executor = executor_of(compiled.pipeline_spec, "Trainer")
    assert executor["container"]["resources"]["accelerator"] == {"type": "nvidia.com/gpu", "count": "2"}
    placement = platform_executors(compiled)[label]
    assert placement["nodeSelector"] == {"labels": {"cloud.google.com/gke-accelerator": "nvidia-l4"}}
    assert placement["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_tpu_profile_puts_the_trainer_on_a_v5e_slice(tmp_path):
    compiled = compile_profile("kubeflow", "tpu", tmp_path)
    label, executor = executor_of(compiled.pipeline_spec, "Trainer")
    assert executor["container"]["resources"]["accelerator"] == {"type": "google.com/tpu", "count": "4"}
    placement = platform_executors(compiled)[label]
    assert placement["nodeSelector"]["labels"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        "cloud.google.com/gke-tpu-topology": "2x2",
    }
    assert placement["tolerations"] == [{"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.mark.parametrize(
    "spec, labels, resource",
    [
        ("gpu:nvidia-tesla-t4:1", {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}, ("nvidia.com/gpu", "1")),
        ("gpu:nvidia-tesla-a100:4", {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}, ("nvidia.com/gpu", "4")),
        (
            "tpu:tpu-v4-podslice:2x2x1",
            {"cloud.google.com/gke-tpu-accelerator": "tpu-v4-podslice", "cloud.google.com/gke-tpu-topology": "2x2x1"},
            ("google.com/tpu", "4"),
        ),
    ],
)
def test_any_component_id_can_be_placed(spec, labels, resource, tmp_path):
    """Placement is keyed on component ids: here SchemaGen, a component every pipeline has."""
    config = cloud_config(accelerator=spec, component="SchemaGen")
    compiled = compile_pipeline(config, "kubeflow", str(tmp_path / "p.yaml"))
    label, executor = executor_of(compiled.pipeline_spec, "SchemaGen")
    accelerator = executor["container"]["resources"]["accelerator"]
    assert (accelerator["type"], accelerator["count"]) == resource
    assert platform_executors(compiled)[label]["nodeSelector"]["labels"] == labels
    assert executor["container"]["image"] == (TPU_IMAGE if spec.startswith("tpu") else IMAGE)


def test_platform_document_parses_into_kubernetes_executor_config(tmp_path):
    compiled = compile_pipeline(
        cloud_config(accelerator="tpu:tpu-v4-podslice:2x2x1", component="SchemaGen"),
        "kubeflow",
        str(tmp_path / "p.yaml"),
    )
    placement = platform_executors(compiled)["SchemaGen_executor"]
    fields = {f.json_name for f in kubernetes_executor_config_pb2.KubernetesExecutorConfig.DESCRIPTOR.fields}
    parsed = json_format.ParseDict(
        {k: v for k, v in placement.items() if k in fields}, kubernetes_executor_config_pb2.KubernetesExecutorConfig()
    )
    assert dict(parsed.node_selector.labels) == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v4-podslice",
        "cloud.google.com/gke-tpu-topology": "2x2x1",
    }
    if "tolerations" not in fields:
        pytest.skip(
            "this kfp-kubernetes (1.0, Python 3.10's lock) has no tolerations field; the document keeps "
            "them for backends that read them"
        )
    parsed = json_format.ParseDict(placement, kubernetes_executor_config_pb2.KubernetesExecutorConfig())
    assert [(t.key, t.operator, t.effect) for t in parsed.tolerations] == [("google.com/tpu", "Exists", "NoSchedule")]


# -- what the open-source backend accepts ---------------------------------------------------------------------------


def test_kubeflow_evaluator_regresses_against_the_push_destination_without_a_resolver(tmp_path):
    spec = compile_profile("kubeflow", "cpu", tmp_path).pipeline_spec
    tasks = spec["root"]["dag"]["tasks"]
    assert "LatestBlessedModelResolver" not in tasks
    evaluator = tasks["Evaluator"]["inputs"]
    assert set(evaluator["artifacts"]) == {"examples", "model", "baseline_models"}
    policy = json.loads(evaluator["parameters"]["blessing_policy"]["runtimeValue"]["constant"])
    assert policy["regression_source"] == "push_destination"
    assert policy["push_destination"] == "gs://fma-bucket/models/fma-genre"
    assert (
        tasks["Pusher"]["inputs"]["parameters"]["destination"]["runtimeValue"]["constant"]
        == "gs://fma-bucket/models/fma-genre"
    )


def test_nothing_the_open_source_backend_rejects_or_ignores(tmp_path):
    spec = compile_profile("kubeflow", "cpu", tmp_path).pipeline_spec
    assert spec["schemaVersion"] == "2.1.0" and spec["defaultPipelineRoot"] == ROOT
    for label, executor in spec["deploymentSpec"]["executors"].items():
        assert set(executor) == {"container"}, label  # no resolver or importer tasks
        assert "lifecycle" not in executor["container"], label  # no driver hook
    for task_id, task in spec["root"]["dag"]["tasks"].items():
        for name, parameter in task.get("inputs", {}).get("parameters", {}).items():
            # The backend's driver implements `constant` only, not schema 2.0's `constantValue`.
            assert set(parameter["runtimeValue"]) == {"constant"}, (task_id, name)
    for component in spec["components"].values():
        for parameter in component.get("inputDefinitions", {}).get("parameters", {}).values():
            assert set(parameter) == {"parameterType"}


def _with_extra(config, node, target):
    components = create_components(config, target)
    components[node.id] = node
    return components


def test_a_resolver_is_refused_for_kubeflow_but_compiles_for_vertex(tmp_path):
    config = cloud_config()
    resolver = tfx.dsl.Resolver(
        strategy_class=LatestArtifactStrategy, model=tfx.dsl.Channel(type=standard_artifacts.Model)
    ).with_id("latest_model")
    with pytest.raises(CompileError, match=r"latest_model compiles to a resolver task.*rejects"):
        compile_pipeline(config, "kubeflow", str(tmp_path / "p.yaml"), _with_extra(config, resolver, "kubeflow"))
    assert not (tmp_path / "p.yaml").exists()
    resolver = tfx.dsl.Resolver(
        strategy_class=LatestArtifactStrategy, model=tfx.dsl.Channel(type=standard_artifacts.Model)
    ).with_id("latest_model")
    compiled = compile_pipeline(config, "vertex", str(tmp_path / "p.json"), _with_extra(config, resolver, "vertex"))
    assert "latest_model" in compiled.pipeline_spec["root"]["dag"]["tasks"]


def test_file_based_example_gen_is_refused_for_kubeflow_and_keeps_its_resources_on_vertex(tmp_path):
    config = cloud_config("deploy.resources.csv_gen.cpu=3", "deploy.resources.csv_gen.memory_gb=5")
    csv_gen = tfx.components.CsvExampleGen(input_base="gs://fma-bucket/csv").with_id("csv_gen")
    with pytest.raises(CompileError, match=r"csv_gen relies on a driver hook.*ignores"):
        compile_pipeline(config, "kubeflow", str(tmp_path / "p.yaml"), _with_extra(config, csv_gen, "kubeflow"))
    csv_gen = tfx.components.CsvExampleGen(input_base="gs://fma-bucket/csv").with_id("csv_gen")
    compiled = compile_pipeline(config, "vertex", str(tmp_path / "p.json"), _with_extra(config, csv_gen, "vertex"))
    _, executor = executor_of(compiled.pipeline_spec, "csv_gen")
    # TFX drops these for FileBasedExampleGen subclasses (tfx#6146); the compiler puts them back.
    assert executor["container"]["resources"] == {"cpuLimit": 3.0, "memoryLimit": 5.0}


def test_every_container_command_resolves_to_an_importable_module_and_executor_class(tmp_path):
    spec = compile_profile("kubeflow", "cpu", tmp_path).pipeline_spec
    for label, executor in spec["deploymentSpec"]["executors"].items():
        container = executor["container"]
        assert container["command"][:2] == ["python", "-m"], label
        assert importlib.util.find_spec(container["command"][2]) is not None, container["command"]
        args = container["args"]
        module, _, name = args[args.index("--executor_class_path") + 1].rpartition(".")
        executor_class = getattr(importlib.import_module(module), name)
        assert issubclass(executor_class, base_executor.BaseExecutor), label
        assert args[args.index("--json_serialized_invocation_args") + 1] == "{{$}}"
        json.loads(args[args.index("--json_serialized_inputs_spec_args") + 1])


# -- Beam: DirectRunner by default, Dataflow by switch -------------------------------------------------------------


def _beam_args(spec, component_id):
    args = executor_of(spec, component_id)[1]["container"]["args"]
    return args[args.index("--json_serialized_inputs_spec_args") + 2 :]


def test_beam_steps_default_to_the_direct_runner_in_multi_processing_mode(tmp_path):
    spec = compile_profile("kubeflow", "cpu", tmp_path).pipeline_spec
    assert _beam_args(spec, "AudioExampleGen") == [
        "--direct_num_workers=0",
        "--direct_running_mode=multi_processing",
        DIRECT_RUNNER_DEPENDENCY_FLAG,  # no TFX sdist built per component: the image has TFX
    ]


def test_dataflow_switch_moves_the_beam_steps_to_dataflow(tmp_path):
    dataflow = [
        "dataflow.enabled=true",
        "dataflow.project=fma-project",
        "dataflow.region=europe-west4",
        "dataflow.temp_location=gs://fma-bucket/tmp",
        "dataflow.machine_type=n2-highmem-8",
        "dataflow.max_num_workers=25",
        "dataflow.disk_size_gb=100",
    ]
    spec = compile_profile("kubeflow", "cpu", tmp_path, *dataflow).pipeline_spec
    args = _beam_args(spec, "AudioExampleGen")
    assert args == beam_pipeline_args(cloud_config(*dataflow))
    for expected in (
        "--runner=DataflowRunner",
        "--project=fma-project",
        "--region=europe-west4",
        "--temp_location=gs://fma-bucket/tmp",
        "--machine_type=n2-highmem-8",
        "--max_num_workers=25",
        f"--sdk_container_image={IMAGE}",
        "--disk_size_gb=100",
    ):
        assert expected in args
    assert not any(a.startswith("--direct_") for a in args)
    with pytest.raises(ValueError, match=r"dataflow.enabled needs dataflow.project, dataflow.temp_location"):
        cloud_config("dataflow.enabled=true", "dataflow.region=europe-west4")


# -- errors --------------------------------------------------------------------------------------------------------


def test_local_settings_fail_at_compile_time_with_everything_to_change(tmp_path):
    with pytest.raises(CompileError) as error:
        compile_pipeline(load_config(), "kubeflow", str(tmp_path / "p.yaml"))
    message = str(error.value)
    for fragment in (
        "deploy.image is not set",
        "deploy.pipeline_root must be a cloud URI",
        "dataset.audio_root resolves to the local path",
        "dataset.metadata_dir resolves",
    ):
        assert fragment in message


def test_an_accelerator_for_a_component_the_pipeline_lacks_lists_the_ids(tmp_path):
    config = cloud_config(accelerator="gpu:nvidia-l4:1", component="Trainr")
    with pytest.raises(CompileError, match=r"deploy.accelerators names \['Trainr'\].*'AudioExampleGen'"):
        compile_pipeline(config, "kubeflow", str(tmp_path / "p.yaml"))


def test_a_tpu_with_a_digest_image_needs_an_explicit_tpu_image(tmp_path):
    digest = "europe-docker.pkg.dev/p/r/fma@sha256:" + "a" * 64
    config = cloud_config(f"deploy.image={digest}", accelerator="tpu:tpu-v4-podslice:2x2x1", component="SchemaGen")
    with pytest.raises(CompileError, match="set deploy.tpu_image"):
        compile_pipeline(config, "kubeflow", str(tmp_path / "p.yaml"))
    config = cloud_config(
        f"deploy.image={digest}",
        f"deploy.tpu_image={digest.replace('a' * 64, 'b' * 64)}",
        accelerator="tpu:tpu-v4-podslice:2x2x1",
        component="SchemaGen",
    )
    compiled = compile_pipeline(config, "kubeflow", str(tmp_path / "p.yaml"))
    assert executor_of(compiled.pipeline_spec, "SchemaGen")[1]["container"]["image"].endswith("b" * 64)
    assert executor_of(compiled.pipeline_spec, "AudioExampleGen")[1]["container"]["image"] == digest


# -- secrets and the command line ------------------------------------------------------------------------------------

SUBMIT_SETTINGS = [
    "kubeflow.host=https://kfp.example.internal/pipeline",
    "kubeflow.namespace=team-audio",
    "kubeflow.service_account=pipeline-runner-sa",
    "vertex.project=submit-only-project",
    "vertex.service_account=runner@submit-only-project.iam.gserviceaccount.com",
    "vertex.network=projects/123/global/networks/vpc-fma",
    "vertex.encryption_key=projects/submit-only-project/locations/europe-west4/keyRings/k/cryptoKeys/c",
]


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_no_submit_setting_or_credential_reaches_the_compiled_file(target, tmp_path, monkeypatch):
    key_file = tmp_path / "key.json"
    secret = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-----END PRIVATE KEY-----"
    key_file.write_text(json.dumps({"type": "service_account", "private_key": secret}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("KF_PIPELINES_APP_OAUTH2_CLIENT_SECRET", "oauth-client-secret-value")
    compiled = compile_pipeline(cloud_config(*SUBMIT_SETTINGS), target, str(tmp_path / f"p.{target}"))
    text = open(compiled.path, encoding="utf-8").read()
    values = [s.split("=", 1)[1] for s in SUBMIT_SETTINGS]
    for forbidden in [*values, secret, "oauth-client-secret-value", str(key_file), "private_key", "BEGIN PRIVATE"]:
        assert forbidden not in text, forbidden


def test_command_line_compiles_and_reports_bad_accelerators(tmp_path, capsys):
    output = tmp_path / "cli.yaml"
    args = [
        "compile-kubeflow",
        "--image",
        IMAGE,
        "--pipeline-root",
        ROOT,
        "--output",
        str(output),
        "--set",
        "dataset.audio_root=gs://fma-bucket/fma_small",
        "--set",
        "dataset.metadata_dir=gs://fma-bucket/fma_metadata",
        "--set",
        "pusher.destination=gs://fma-bucket/models/fma-genre",
        "--accelerator",
        "SchemaGen=gpu:nvidia-tesla-t4:1",
    ]
    assert deploy_cli.main(args) == 0
    assert f"Compiled kubeflow pipeline: {output}" in capsys.readouterr().out
    assert (
        _extract_pipeline_yaml(str(output))
        .platform_spec.platforms["kubernetes"]
        .deployment_spec.executors["SchemaGen_executor"]["nodeSelector"]["labels"]["cloud.google.com/gke-accelerator"]
        == "nvidia-tesla-t4"
    )
    assert deploy_cli.main(args[:-1] + ["gpu:nvidia-tesla-k80:1"]) == 2
    assert "valid GPU types" in capsys.readouterr().err
