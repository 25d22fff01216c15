"""Accelerator specs: parsing, GKE placement, Vertex names, and errors that list the valid choices."""

import pytest
from google.cloud.aiplatform_v1.types.accelerator_type import AcceleratorType

from pipeline.config import load_config
from pipeline.config_errors import ConfigError
from pipeline.deploy.accelerators import GPU_TYPES, TPU_TYPES, AcceleratorError, parse_accelerator
from pipeline.deploy.cli import accelerator_override


@pytest.mark.parametrize(
    "spec, gke, vertex, count",
    [
        ("gpu:nvidia-l4:1", "nvidia-l4", "NVIDIA_L4", 1),
        ("gpu:nvidia-tesla-t4:1", "nvidia-tesla-t4", "NVIDIA_TESLA_T4", 1),
        ("gpu:nvidia-tesla-a100:1", "nvidia-tesla-a100", "NVIDIA_TESLA_A100", 1),
        ("gpu:nvidia-tesla-a100:8", "nvidia-tesla-a100", "NVIDIA_TESLA_A100", 8),
        ("gpu:nvidia-l4:4", "nvidia-l4", "NVIDIA_L4", 4),
        ("GPU:NVIDIA-L4", "nvidia-l4", "NVIDIA_L4", 1),  # count defaults to one; case does not matter
    ],
)
def test_gpu_specs(spec, gke, vertex, count):
    acc = parse_accelerator(spec)
    assert (acc.kind, acc.type, acc.count) == ("gpu", gke, count)
    assert acc.node_selector() == {"cloud.google.com/gke-accelerator": gke}
    assert acc.tolerations() == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert acc.kubernetes_resource == "nvidia.com/gpu"
    assert acc.vertex_type() == vertex
    assert parse_accelerator(acc.spec) == acc


@pytest.mark.parametrize(
    "spec, chips, vertex",
    [
        ("tpu:tpu-v5-lite-podslice:2x2", 4, "TPU_V5_LITEPOD"),
        ("tpu:tpu-v5-lite-podslice:1x1", 1, "TPU_V5_LITEPOD"),
        ("tpu:tpu-v5-lite-podslice:2x4", 8, "TPU_V5_LITEPOD"),
        ("tpu:tpu-v4-podslice:2x2x1", 4, "TPU_V4_POD"),
    ],
)
def test_tpu_specs_take_the_chip_count_from_the_topology(spec, chips, vertex):
    acc = parse_accelerator(spec)
    kind, name, topology = spec.split(":")
    assert (acc.kind, acc.type, acc.topology, acc.count) == ("tpu", name, topology, chips)
    assert acc.node_selector() == {
        "cloud.google.com/gke-tpu-accelerator": name,
        "cloud.google.com/gke-tpu-topology": topology,
    }
    assert acc.tolerations() == [{"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert acc.kubernetes_resource == "google.com/tpu"
    assert acc.vertex_type() == vertex
    assert acc.spec == spec


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("fpga:x:1", ["gpu:<type>[:<count>]", "tpu:<type>:<topology>"]),
        ("gpu:nvidia-rtx-4090:1", ["unknown GPU type", "nvidia-l4", "nvidia-tesla-t4", "nvidia-tesla-a100"]),
        ("gpu:nvidia-l4:3", ["invalid GPU count", "[1, 2, 4, 8]"]),
        ("gpu:nvidia-tesla-t4:two", ["invalid GPU count", "[1, 2, 4]"]),
        ("gpu:nvidia-l4:1:2", ["expected gpu:<type>[:<count>]"]),
        ("tpu:tpu-v9:2x2", ["unknown TPU type", "tpu-v5-lite-podslice", "tpu-v4-podslice"]),
        ("tpu:tpu-v5-lite-podslice", ["expected tpu:<type>:<topology>"]),
        ("tpu:tpu-v4-podslice:2x2", ["takes 3 dimensions", "['2x2x1']"]),
        ("tpu:tpu-v5-lite-podslice:2by2", ["invalid topology", "['1x1', '2x2', '2x4']"]),
        (
            "tpu:tpu-v5-lite-podslice:4x4",
            ["has 16 chips, more than one tpu-v5-lite-podslice host holds (8)", "multi-host", "['1x1', '2x2', '2x4']"],
        ),
        ("tpu:tpu-v4-podslice:2x2x2", ["has 8 chips", "multi-host", "['2x2x1']"]),
        ("tpu:tpu-v5-lite-podslice:1x2", ["unsupported topology 1x2", "['1x1', '2x2', '2x4']"]),
    ],
)
def test_invalid_specs_fail_with_the_valid_choices(spec, expected):
    with pytest.raises(AcceleratorError) as error:
        parse_accelerator(spec)
    for fragment in expected:
        assert fragment in str(error.value)


def test_tpus_without_a_vertex_type_say_which_tpus_vertex_has():
    acc = parse_accelerator("tpu:tpu-v5p-slice:2x2x1")
    assert acc.count == 4 and acc.node_selector()["cloud.google.com/gke-tpu-accelerator"] == "tpu-v5p-slice"
    with pytest.raises(
        AcceleratorError,
        match=r"Vertex AI has no accelerator type for tpu-v5p-slice.*"
        r"tpu:tpu-v5-lite-podslice",
    ):
        acc.vertex_type()


def test_every_vertex_name_is_an_aiplatform_accelerator_type():
    names = {t.vertex for t in GPU_TYPES.values()} | {t.vertex for t in TPU_TYPES.values() if t.vertex}
    assert names <= set(AcceleratorType.__members__)


def test_config_validates_and_normalises_accelerators():
    config = load_config(overrides=["deploy.accelerators.Trainer=gpu:nvidia-l4"])
    assert config.deploy.accelerators == {"Trainer": "gpu:nvidia-l4:1"}
    with pytest.raises(ConfigError, match=r"unsupported topology 1x4.*valid topologies: \['1x1', '2x2', '2x4'\]"):
        load_config(overrides=["deploy.accelerators.Trainer=tpu:tpu-v5-lite-podslice:1x4"])


def test_make_line_accelerator_places_the_trainer_unless_a_component_is_named():
    assert accelerator_override("gpu:nvidia-l4:1") == "deploy.accelerators.Trainer=gpu:nvidia-l4:1"
    assert (
        accelerator_override("SklearnBaselineTrainer=tpu:tpu-v4-podslice:2x2x1")
        == "deploy.accelerators.SklearnBaselineTrainer=tpu:tpu-v4-podslice:2x2x1"
    )
