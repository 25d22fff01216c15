"""Kubeflow / Vertex commands: `python -m pipeline.deploy.cli <command>` (the Makefile's compile-*/submit-* targets).

compile-kubeflow   writes build/pipeline.yaml (PipelineSpec + Kubernetes platform spec)
compile-vertex     writes build/pipeline.json (a Vertex PipelineJob)
submit-kubeflow    compiles, then creates a run with kfp.Client (HOST)
submit-vertex      compiles, then submits an aiplatform.PipelineJob (PROJECT, REGION)

Every option is a shorthand for a config override, so the one config stays the only source of settings.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.cli_common import add_config_arguments, configure_logging
from pipeline.config import PipelineConfig, load_config

DEFAULT_ACCELERATOR_COMPONENT = "Trainer"
# option -> the config key it overrides
_SHORTHANDS = {
    "image": "deploy.image",
    "tpu_image": "deploy.tpu_image",
    "pipeline_root": "deploy.pipeline_root",
    "host": "kubeflow.host",
    "project": "vertex.project",
    "region": "vertex.region",
}


def accelerator_override(value: str) -> str:
    """`[COMPONENT=]SPEC` -> `deploy.accelerators.COMPONENT=SPEC`; without a component, the Trainer's."""
    component, spec = value.split("=", 1) if "=" in value else (DEFAULT_ACCELERATOR_COMPONENT, value)
    return f"deploy.accelerators.{component.strip()}={spec.strip()}"


def config_from_args(args, target: str) -> PipelineConfig:
    overrides = list(args.overrides)
    for option, key in _SHORTHANDS.items():
        value = getattr(args, option, None)
        if value:
            overrides.append(f"{key}={value}")
    if args.output:
        overrides.append(f"{target}.output={args.output}")
    overrides += [accelerator_override(a) for a in args.accelerators]
    return load_config(args.config, overrides)


def describe(compiled) -> str:
    spec = compiled.pipeline_spec
    executors = spec["deploymentSpec"]["executors"]
    lines = [f"Compiled {compiled.target} pipeline: {compiled.path}"]
    for task_id in sorted(spec["root"]["dag"]["tasks"]):
        label = spec["components"][spec["root"]["dag"]["tasks"][task_id]["componentRef"]["name"]]["executorLabel"]
        container = executors[label].get("container", {})
        resources = container.get("resources", {})
        placement = ", ".join(f"{k}={v}" for k, v in sorted(resources.items()) if k != "accelerator")
        accelerator = resources.get("accelerator")
        if accelerator:
            placement += f"{', ' if placement else ''}{accelerator['count']} x {accelerator['type']}"
        lines.append(f"  {task_id:<24} {container.get('image', '-')}  {placement}")
    if compiled.platform_spec:
        for label, k8s in compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"].items():
            lines.append(f"  {label}: nodeSelector {k8s['nodeSelector']['labels']}")
    return "\n".join(lines)


def cmd_compile(args) -> int:
    config = config_from_args(args, args.target)  # before TFX is imported: bad settings come back at once
    from pipeline.deploy.kubeflow_runner import compile_pipeline

    compiled = compile_pipeline(config, args.target)
    print(describe(compiled))
    return 0


def cmd_submit(args) -> int:
    config = config_from_args(args, args.target)  # before TFX is imported: bad settings come back at once
    from pipeline.deploy import submit
    from pipeline.deploy.kubeflow_runner import compile_pipeline

    compiled = compile_pipeline(config, args.target)
    print(describe(compiled))
    if args.target == "kubeflow":
        run = submit.submit_kubeflow(config, compiled.path)
        print(f"Submitted run {run['run_name']} ({run['run_id']}): {run['url']}")
        review = f"RUN={run['run_id']} HOST={run['host']}"
    else:
        job = submit.submit_vertex(config, compiled.path)
        print(f"Submitted {job['job']}: {job['url']}")
        review = f"RUN={job['job']}"
    # The run's RunReporter writes the report, the ledger and the summary as its artifact (docs/deploy.md).
    print(f"When it has finished: make outputs {review}  (its summary), make report {review}  (its HTML report)")
    return 0


COMMANDS = {
    "compile-kubeflow": (cmd_compile, "kubeflow", "write the Kubeflow Pipelines v2 YAML (kubeflow.output)"),
    "compile-vertex": (cmd_compile, "vertex", "write the Vertex AI PipelineJob JSON (vertex.output)"),
    "submit-kubeflow": (cmd_submit, "kubeflow", "compile, then run on Kubeflow Pipelines (kfp.Client)"),
    "submit-vertex": (cmd_submit, "vertex", "compile, then submit to Vertex AI Pipelines"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.deploy.cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, target, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        add_config_arguments(command)
        command.add_argument("--image", help="deploy.image: registry/name:tag or registry/name@sha256:...")
        command.add_argument("--tpu-image", dest="tpu_image", help="deploy.tpu_image (default <image>-tpu)")
        command.add_argument("--pipeline-root", dest="pipeline_root", help="deploy.pipeline_root, e.g. gs://bucket/x")
        command.add_argument(
            "--accelerator",
            dest="accelerators",
            action="append",
            default=[],
            metavar="[COMPONENT=]SPEC",
            help="e.g. gpu:nvidia-l4:1 (the Trainer's) or Trainer=tpu:tpu-v5-lite-podslice:2x2 (repeatable)",
        )
        command.add_argument("--output", help=f"{target}.output: where the compiled file goes")
        if target == "kubeflow" and name.startswith("submit"):
            command.add_argument("--host", help="kubeflow.host: the KFP API endpoint")
        if target == "vertex" and name.startswith("submit"):
            command.add_argument("--project", help="vertex.project")
            command.add_argument("--region", help="vertex.region")
        command.set_defaults(func=func, target=target)
    return parser


def main(argv=None) -> int:
    from pipeline.deploy.accelerators import AcceleratorError
    from pipeline.deploy.submit import SubmitError

    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, AcceleratorError, SubmitError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
