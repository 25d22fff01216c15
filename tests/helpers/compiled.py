"""Compile components with TFX's own KubeflowV2DagRunner, as the component tests check their place in a spec."""

from __future__ import annotations

import json
from pathlib import Path

from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

TEST_IMAGE = "registry/image:tag"


def compile_pipeline_spec(components, output_dir: Path, image: str = TEST_IMAGE) -> dict:
    """The `pipelineSpec` of a Vertex PipelineJob compiled from `components` (written under output_dir)."""
    pipeline = tfx.dsl.Pipeline(pipeline_name="t", pipeline_root="gs://bucket/root", components=list(components))
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=str(output_dir),
        output_filename="pipeline.json",
    )
    runner.run(pipeline, write_out=True)
    return json.loads((Path(output_dir) / "pipeline.json").read_text())["pipelineSpec"]
