"""Compiles the pipeline for Kubeflow Pipelines v2 (YAML) and Vertex AI Pipelines (JSON) with KubeflowV2DagRunner.

The same components as the local run, placed by the config (image, resources, accelerators, Beam arguments).
TFX 1.16 leaves gaps that are closed here, so nobody has to hand-edit a compiled file:

- It writes no Kubernetes platform spec. Node selectors and tolerations go into a second YAML document,
  `platforms.kubernetes.deploymentSpec.executors.<executor>` (kfp-kubernetes' KubernetesExecutorConfig), which
  `kfp.Client` merges into the run.
- Its default schema 2.0.0 passes parameters as `constantValue`, which the open-source backend's driver does
  not implement: both targets compile with schema 2.1.0 (`constant`), which Vertex reads too.
- It drops `with_platform_config()` resources of FileBasedExampleGen subclasses (tfx#6146): restored here.
- It compiles tasks the open-source backend cannot run (resolver tasks; FileBasedExampleGen's driver hook,
  `lifecycle.preCacheCheck`, which it ignores): refused for the Kubeflow target, with the component named.
- The bare YAML PipelineSpec has no pipeline root: `defaultPipelineRoot` is set from the config.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Optional

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner, pipeline_builder

from pipeline.config import ComponentResources, KubeflowConfig, PipelineConfig, VertexConfig
from pipeline.deploy.accelerators import Accelerator, AcceleratorError, parse_accelerator
from pipeline.pipeline import create_components, create_pipeline

_log = logging.getLogger(__name__)

TARGETS = ("kubeflow", "vertex")
ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec
# What one Vertex AI CustomJob machine offers at most (Vertex picks the closest machine type).
VERTEX_MAX_CPU = 96
VERTEX_MAX_MEMORY_GB = 624


class CompileError(ValueError):
    """The config cannot give a spec that would run on the target; the message says what to change."""


@dataclass
class CompiledPipeline:
    target: str
    path: str
    pipeline_spec: dict[str, Any]
    platform_spec: Optional[dict[str, Any]]  # Kubeflow only: the second YAML document
    job: dict[str, Any]  # the whole PipelineJob as KubeflowV2DagRunner built it


def beam_pipeline_args(config: PipelineConfig) -> list[str]:
    """Dataflow when `dataflow.enabled`, else the local default: the DirectRunner in multi-processing mode."""
    if config.dataflow.enabled:
        return config.dataflow.pipeline_args(config.deploy.image)
    return config.beam.pipeline_args()


def output_path(config: PipelineConfig, target: str) -> str:
    return config.resolve(config.kubeflow.output if target == "kubeflow" else config.vertex.output)


def compile_pipeline(
    config: PipelineConfig,
    target: str,
    path: Optional[str] = None,
    components: Optional[dict[str, Any]] = None,
) -> CompiledPipeline:
    """Compile for `target` ("kubeflow" -> YAML, "vertex" -> JSON) and write the file atomically.

    `components` defaults to `create_components(config)`; tests pass their own to exercise the guards.
    """
    if target not in TARGETS:
        raise CompileError(f"unknown target {target!r}; choose from {list(TARGETS)}")
    _check_ready(config, target)
    components = components if components is not None else _create_components(config, target)
    placements = _placements(config, components, target)
    resources = {
        cid: _resource_spec(config.deploy.resources.get(cid), placements.get(cid), target, cid) for cid in components
    }
    resources = {cid: spec for cid, spec in resources.items() if spec is not None}
    for cid, spec in resources.items():
        components[cid].with_platform_config(spec)

    tpu_images = {cid: config.deploy.resolved_tpu_image for cid, acc in placements.items() if acc.kind == "tpu"}
    images = (
        {pipeline_builder.DEFAULT_IMAGE_PATH_KEY: config.deploy.image, **tpu_images}
        if tpu_images
        else config.deploy.image
    )
    pipeline = create_pipeline(
        config,
        beam_pipeline_args=beam_pipeline_args(config),
        pipeline_root=config.deploy.pipeline_root,
        components=components,
    )
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            display_name=config.pipeline_name, default_image=images, use_pipeline_spec_2_1=True
        ),
    )
    job = runner.run(pipeline, write_out=False)
    spec = job["pipelineSpec"]
    _restore_dropped_resources(spec, resources)

    path = path or output_path(config, target)
    if target == "kubeflow":
        _refuse_unsupported_tasks(spec)
        spec["defaultPipelineRoot"] = config.deploy.pipeline_root
        platform = kubernetes_platform_spec(spec, placements)
        _write_yaml(path, spec, platform, config)
        return CompiledPipeline(target, path, spec, platform, job)
    _write_atomically(path, json.dumps(job, indent=2, sort_keys=True) + "\n")
    return CompiledPipeline(target, path, spec, None, job)


def _create_components(config: PipelineConfig, target: str) -> dict[str, Any]:
    # Components may embed the config (the Pusher's manifest_context holds all of it): submission settings (host,
    # namespace, service accounts, network, encryption key) are reset first, so they never reach the compiled
    # file and changing them never invalidates a cached step. The target decides how the Evaluator finds the
    # latest blessed model (no resolver task on open-source Kubeflow).
    return create_components(config.model_copy(update={"kubeflow": KubeflowConfig(), "vertex": VertexConfig()}), target)


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def _check_ready(config: PipelineConfig, target: str) -> None:
    """Everything a cluster needs that a local default cannot give, reported at once."""
    problems = []
    if not config.deploy.image:
        problems.append(
            "deploy.image is not set: the image every step runs in, by tag or digest "
            "(`make docker-build docker-push IMAGE=...`, then IMAGE=... on the make line)"
        )
    if not _is_remote(config.deploy.pipeline_root):
        problems.append(
            f"deploy.pipeline_root must be a cloud URI such as gs://bucket/fma-genre, got "
            f"{config.deploy.pipeline_root!r}"
        )
    elif config.dataflow.enabled and not config.deploy.pipeline_root.startswith("gs://"):
        problems.append("Dataflow workers read and write artifacts: deploy.pipeline_root must be gs://")
    if not _is_remote(config.push_destination):
        problems.append(
            f"pusher.destination resolves to the local path {config.push_destination}, which the "
            "cluster cannot write: set pusher.destination=gs://bucket/models/fma-genre"
        )
    data = {"dataset.audio_root": config.audio_root}
    if config.dataset.layout == "fma":
        data["dataset.metadata_dir"] = config.metadata_dir
    for key, value in data.items():
        if not _is_remote(value):
            problems.append(
                f"{key} resolves to the local path {value}, which the cluster cannot read: upload the "
                f"dataset (e.g. gsutil -m cp -r) and set {key}=gs://..."
            )
    if problems:
        raise CompileError(f"cannot compile for {target}:\n  - " + "\n  - ".join(problems))


def _placements(config: PipelineConfig, components: dict[str, Any], target: str) -> dict[str, Accelerator]:
    ids = sorted(components)
    unknown = sorted(set(config.deploy.accelerators) - set(components))
    if unknown:
        raise CompileError(
            f"deploy.accelerators names {unknown}, which the pipeline does not have; its component ids: {ids}"
        )
    # The default resources name every heavy Beam step the project has; a config may leave one out.
    unused = sorted(set(config.deploy.resources) - set(components))
    if unused:
        _log.warning("deploy.resources for %s ignored: not in this pipeline (its component ids: %s)", unused, ids)
    placements = {cid: parse_accelerator(spec) for cid, spec in config.deploy.accelerators.items()}
    if target == "vertex":
        for acc in placements.values():
            try:
                acc.vertex_type()
            except AcceleratorError as e:
                raise CompileError(str(e)) from e
    if any(acc.kind == "tpu" for acc in placements.values()):
        try:
            _ = config.deploy.resolved_tpu_image  # raises when the TPU image cannot be derived
        except ValueError as e:
            raise CompileError(str(e)) from e
    return placements


def _resource_spec(
    resources: Optional[ComponentResources], accelerator: Optional[Accelerator], target: str, component_id: str
) -> Optional[ResourceSpec]:
    if resources is None and accelerator is None:
        return None
    spec = ResourceSpec()
    resources = resources or ComponentResources()
    if target == "kubeflow":
        # Requests place the pod; limits, when set, cap it (the backend reads both float fields).
        for field, value in (
            ("cpu_request", resources.cpu),
            ("memory_request", resources.memory_gb),
            ("cpu_limit", resources.cpu_limit),
            ("memory_limit", resources.memory_limit_gb),
        ):
            if value is not None:
                setattr(spec, field, value)
    else:
        # Vertex sizes a machine from the limits alone.
        cpu = resources.cpu_limit or resources.cpu
        memory = resources.memory_limit_gb or resources.memory_gb
        if (cpu or 0) > VERTEX_MAX_CPU or (memory or 0) > VERTEX_MAX_MEMORY_GB:
            raise CompileError(
                f"{component_id}: Vertex machines offer at most {VERTEX_MAX_CPU} vCPUs and "
                f"{VERTEX_MAX_MEMORY_GB} GB; asked for {cpu} vCPUs and {memory} GB"
            )
        if cpu:
            spec.cpu_limit = cpu
        if memory:
            spec.memory_limit = memory
    if accelerator is not None:
        # The open-source backend uses the type literally as the pod's resource name; Vertex wants its enum.
        spec.accelerator.type = accelerator.kubernetes_resource if target == "kubeflow" else accelerator.vertex_type()
        spec.accelerator.count = accelerator.count
    return spec


def _executor_labels(spec: dict[str, Any]) -> dict[str, str]:
    """Component id -> executor label, read from the compiled spec rather than assumed."""
    tasks = spec["root"]["dag"]["tasks"]
    return {
        task_id: spec["components"][task["componentRef"]["name"]]["executorLabel"] for task_id, task in tasks.items()
    }


def _restore_dropped_resources(spec: dict[str, Any], resources: dict[str, ResourceSpec]) -> None:
    executors = spec["deploymentSpec"]["executors"]
    for cid, label in _executor_labels(spec).items():
        container = executors[label].get("container")
        if cid in resources and container is not None and "resources" not in container:
            _log.info("%s: TFX dropped its resources (a FileBasedExampleGen, tfx#6146); restored", cid)
            container["resources"] = json_format.MessageToDict(resources[cid])


def _refuse_unsupported_tasks(spec: dict[str, Any]) -> None:
    problems = []
    executors = spec["deploymentSpec"]["executors"]
    for cid, label in sorted(_executor_labels(spec).items()):
        executor = executors[label]
        if "resolver" in executor:
            problems.append(
                f"{cid} compiles to a resolver task, which the open-source KFP backend rejects "
                "('resolver not implemented yet'); leave it out of the Kubeflow target"
            )
        if "lifecycle" in executor.get("container", {}):
            problems.append(
                f"{cid} relies on a driver hook (lifecycle.preCacheCheck, FileBasedExampleGen's driver) "
                "that the open-source KFP backend ignores; use a non-FileBasedExampleGen component "
                "such as AudioExampleGen"
            )
    if problems:
        raise CompileError("cannot compile for kubeflow:\n  - " + "\n  - ".join(problems))


def kubernetes_platform_spec(spec: dict[str, Any], placements: dict[str, Accelerator]) -> dict[str, Any]:
    """The second YAML document: plain dicts in the JSON form of kfp-kubernetes' KubernetesExecutorConfig, so
    it is the same whichever kfp-kubernetes is installed (1.0 on Python 3.10 has no `tolerations` field)."""
    labels = _executor_labels(spec)
    executors = {
        labels[cid]: {"nodeSelector": {"labels": acc.node_selector()}, "tolerations": acc.tolerations()}
        for cid, acc in sorted(placements.items())
    }
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}


def _write_yaml(path: str, spec: dict[str, Any], platform: dict[str, Any], config: PipelineConfig) -> None:
    header = (
        "# PIPELINE DEFINITION\n"
        f"# Name: {config.pipeline_name}\n"
        "# Compiled by pipeline/deploy/kubeflow_runner.py (TFX KubeflowV2DagRunner) for Kubeflow Pipelines v2.\n"
        "# Document 1: the PipelineSpec. Document 2: the Kubernetes platform spec (node selectors, tolerations).\n"
    )
    _write_atomically(path, header + yaml.safe_dump_all([spec, platform], sort_keys=True))


def _write_atomically(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)
