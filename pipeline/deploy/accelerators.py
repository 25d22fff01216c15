"""Accelerator specs (`gpu:nvidia-l4:1`, `tpu:tpu-v5-lite-podslice:2x2`) and what they become on each target.

One spec string names the hardware the way GKE labels its nodes. From it follow, for Kubeflow Pipelines on
GKE, the node selector, the toleration of the node pool's taint and the resource limit (`nvidia.com/gpu: N`,
`google.com/tpu: chips`), and for Vertex AI Pipelines the accelerator enum name and count. A pipeline task is
one pod, so only single-host TPU slices are accepted: a multi-host topology needs several pods.

Pure Python on purpose: the config validates specs with it, before TensorFlow or KFP are imported.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

GKE_GPU_LABEL = "cloud.google.com/gke-accelerator"
GKE_TPU_LABEL = "cloud.google.com/gke-tpu-accelerator"
GKE_TPU_TOPOLOGY_LABEL = "cloud.google.com/gke-tpu-topology"
GPU_RESOURCE = "nvidia.com/gpu"
TPU_RESOURCE = "google.com/tpu"


class AcceleratorError(ValueError):
    """An accelerator spec that is malformed, unknown, or impossible on the chosen target."""


@dataclass(frozen=True)
class GpuType:
    vertex: str
    counts: tuple[int, ...]  # GPUs per node that Compute Engine machine shapes offer


@dataclass(frozen=True)
class TpuType:
    vertex: Optional[str]  # None: Vertex AI has no enum for this TPU generation
    dimensions: int  # 2 for v5e/v6e (2D torus), 3 for v4/v5p (3D torus)
    chips_per_host: int
    single_host_topologies: tuple[str, ...]


# GKE's accelerator label values with Vertex AI's AcceleratorType names.
GPU_TYPES: dict[str, GpuType] = {
    "nvidia-tesla-t4": GpuType("NVIDIA_TESLA_T4", (1, 2, 4)),
    "nvidia-l4": GpuType("NVIDIA_L4", (1, 2, 4, 8)),
    "nvidia-tesla-a100": GpuType("NVIDIA_TESLA_A100", (1, 2, 4, 8, 16)),
    "nvidia-a100-80gb": GpuType("NVIDIA_A100_80GB", (1, 2, 4, 8)),
    "nvidia-h100-80gb": GpuType("NVIDIA_H100_80GB", (1, 2, 4, 8)),
    "nvidia-h100-mega-80gb": GpuType("NVIDIA_H100_MEGA_80GB", (8,)),
    "nvidia-h200-141gb": GpuType("NVIDIA_H200_141GB", (8,)),
    "nvidia-tesla-v100": GpuType("NVIDIA_TESLA_V100", (1, 2, 4, 8)),
    "nvidia-tesla-p100": GpuType("NVIDIA_TESLA_P100", (1, 2, 4)),
    "nvidia-tesla-p4": GpuType("NVIDIA_TESLA_P4", (1, 2, 4)),
}

TPU_TYPES: dict[str, TpuType] = {
    "tpu-v4-podslice": TpuType("TPU_V4_POD", 3, 4, ("2x2x1",)),
    "tpu-v5-lite-podslice": TpuType("TPU_V5_LITEPOD", 2, 8, ("1x1", "2x2", "2x4")),
    "tpu-v5-lite-device": TpuType("TPU_V5_LITEPOD", 2, 8, ("1x1", "2x2", "2x4")),
    "tpu-v5p-slice": TpuType(None, 3, 4, ("2x2x1",)),
    "tpu-v6e-slice": TpuType(None, 2, 8, ("1x1", "2x2", "2x4")),
}

SPEC_FORMS = "gpu:<type>[:<count>] or tpu:<type>:<topology>, e.g. gpu:nvidia-l4:1 or tpu:tpu-v5-lite-podslice:2x2"
_TOPOLOGY = re.compile(r"^[1-9][0-9]*(x[1-9][0-9]*)+$")


@dataclass(frozen=True)
class Accelerator:
    kind: str  # "gpu" | "tpu"
    type: str  # the GKE label value, e.g. nvidia-l4, tpu-v5-lite-podslice
    count: int  # GPUs, or the TPU chips the topology implies
    topology: Optional[str] = None

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.type}:{self.topology if self.kind == 'tpu' else self.count}"

    @property
    def kubernetes_resource(self) -> str:
        """What the open-source KFP backend puts in the pod's resource limits (it takes the type literally)."""
        return GPU_RESOURCE if self.kind == "gpu" else TPU_RESOURCE

    def node_selector(self) -> dict[str, str]:
        if self.kind == "gpu":
            return {GKE_GPU_LABEL: self.type}
        return {GKE_TPU_LABEL: self.type, GKE_TPU_TOPOLOGY_LABEL: self.topology}

    def tolerations(self) -> list[dict[str, str]]:
        """GKE taints GPU and TPU node pools `<resource>=present:NoSchedule`; tolerate exactly that taint."""
        return [{"key": self.kubernetes_resource, "operator": "Exists", "effect": "NoSchedule"}]

    def vertex_type(self) -> str:
        vertex = GPU_TYPES[self.type].vertex if self.kind == "gpu" else TPU_TYPES[self.type].vertex
        if vertex is None:
            usable = sorted(f"tpu:{name}" for name, t in TPU_TYPES.items() if t.vertex)
            raise AcceleratorError(
                f"Vertex AI has no accelerator type for {self.type} ({self.spec}); "
                f"on Vertex use one of {usable} or a GPU"
            )
        return vertex


def parse_accelerator(spec: str) -> Accelerator:
    """Parse and validate one spec; every error names the valid choices."""
    parts = [p.strip() for p in str(spec).strip().split(":")]
    kind = parts[0].lower()
    if kind == "gpu":
        return _parse_gpu(spec, parts)
    if kind == "tpu":
        return _parse_tpu(spec, parts)
    raise AcceleratorError(f"accelerator {spec!r}: expected {SPEC_FORMS}")


def _parse_gpu(spec: str, parts: list[str]) -> Accelerator:
    if len(parts) not in (2, 3):
        raise AcceleratorError(f"accelerator {spec!r}: expected gpu:<type>[:<count>], e.g. gpu:nvidia-l4:1")
    name = parts[1].lower()
    if name not in GPU_TYPES:
        raise AcceleratorError(f"unknown GPU type {parts[1]!r} in {spec!r}; valid GPU types: {sorted(GPU_TYPES)}")
    raw_count = parts[2] if len(parts) == 3 else "1"
    counts = GPU_TYPES[name].counts
    if not raw_count.isdigit() or int(raw_count) not in counts:
        raise AcceleratorError(f"invalid GPU count {raw_count!r} for {name} in {spec!r}; valid counts: {list(counts)}")
    return Accelerator("gpu", name, int(raw_count))


def _parse_tpu(spec: str, parts: list[str]) -> Accelerator:
    if len(parts) != 3:
        raise AcceleratorError(
            f"accelerator {spec!r}: expected tpu:<type>:<topology>, e.g. tpu:tpu-v5-lite-podslice:2x2"
        )
    name, topology = parts[1].lower(), parts[2].lower()
    if name not in TPU_TYPES:
        raise AcceleratorError(f"unknown TPU type {parts[1]!r} in {spec!r}; valid TPU types: {sorted(TPU_TYPES)}")
    tpu = TPU_TYPES[name]
    valid = list(tpu.single_host_topologies)
    if not _TOPOLOGY.match(topology) or topology.count("x") + 1 != tpu.dimensions:
        raise AcceleratorError(
            f"invalid topology {parts[2]!r} for {name} in {spec!r}: {name} takes "
            f"{tpu.dimensions} dimensions; valid topologies: {valid}"
        )
    chips = math.prod(int(d) for d in topology.split("x"))
    if topology not in tpu.single_host_topologies:
        if chips > tpu.chips_per_host:
            raise AcceleratorError(
                f"topology {topology} of {name} has {chips} chips, more than one {name} host "
                f"holds ({tpu.chips_per_host}): a multi-host slice, which one pipeline task (one "
                f"pod) cannot use; single-host topologies: {valid}"
            )
        raise AcceleratorError(f"unsupported topology {topology} for {name} in {spec!r}; valid topologies: {valid}")
    return Accelerator("tpu", name, chips, topology)
