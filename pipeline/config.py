"""The one typed configuration object of the project.

Every entry point (the CLI, the local runner, the Makefile through the CLI, the tests) builds a
`PipelineConfig` with `load_config()`. A YAML file overrides the defaults, and `--set dotted.key=value` on
the command line overrides the file.

`PipelineConfig` composes the sections: those of a component are that component's own settings types, with
their defaults, in its folder (`components/<component>/settings.py`: audio, split, example_gen, transform,
trainer, baselines, evaluator, pusher); those of the pipeline as a whole (dataset, demo, beam, report and
the deployment sections) are defined here. pipeline/component_settings.py turns a `PipelineConfig` into what
each component receives.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, Optional

import pydantic
import yaml
from pydantic import Field, field_validator, model_validator

from components.audio_example_gen.settings import AudioConfig, ExampleGenConfig, SplitConfig
from components.blessing_evaluator.settings import EvaluatorConfig
from components.keras_trainer.settings import TrainerConfig
from components.settings_base import Section as _Section
from components.sklearn_baseline_trainer.settings import BaselinesConfig
from components.spectrogram_transform.settings import TransformConfig
from components.versioned_pusher.settings import PusherConfig
from pipeline.config_errors import ConfigError, validation_problems, yaml_problem

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# FMA's eight top-level genres of fma_small. The order is the label vocabulary: label index i is GENRES[i].
FMA_SMALL_GENRES = (
    "Electronic",
    "Experimental",
    "Folk",
    "Hip-Hop",
    "Instrumental",
    "International",
    "Pop",
    "Rock",
)

CONFIG_ENV_VAR = "GENRE_PIPELINE_CONFIG"


class DemoDataConfig(_Section):
    """The built-in synthetic dataset, written in FMA's layout."""

    root: str = Field("data/demo", description="Where fma_small/ and fma_metadata/ of the demo are written.")
    tracks_per_genre: int = Field(20, ge=3, description="Clips per genre; split ~80/10/10 by artist.")
    clip_seconds: float = Field(30.0, gt=0, description="Length of each clip, like FMA's 30 s.")
    sample_rate: int = Field(44100, description="Sample rate of the audio files, like FMA.")
    seed: int = 0
    tracks_per_artist: int = Field(2, ge=1, description="Several tracks share an artist, as in FMA.")
    workers: int = Field(0, ge=0, description="Synthesis and encoding processes; 0 = number of CPUs.")
    audio_format: Literal["mp3", "flac", "wav"] = Field(
        "mp3",
        description="File format of the clips (fma_small/000/000002.<format>): mp3 like FMA (encoding takes ~1 s "
        "of CPU per 30 s clip, 4x the synthesis), or 16-bit flac or wav (~20x and ~60x quicker to write, ~6x and "
        "~9x the size of the demo's MP3s).",
    )
    unique_fraction: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Share of each genre's clips, per split, that are synthesized; the others are copies of one "
        "of them from the same genre and split, circularly shifted, with their own gain. 1 = every clip is "
        "synthesized. Below 1: quicker data for scale benchmarks (make bench-scale), not for accuracy.",
    )


class DatasetConfig(_Section):
    """Where the audio and its labels come from."""

    layout: Literal["fma", "folders"] = "fma"
    # For layout "fma": <audio_root>/<id[:3]>/<id>.mp3 and <metadata_dir>/tracks.csv.
    # For layout "folders": <audio_root>/<Genre>/<file> (GTZAN style).
    # Empty audio_root means "use the demo dataset" (generated on first use).
    audio_root: str = ""
    metadata_dir: str = ""
    subset: Literal["small", "medium", "large"] = "small"

    @property
    def uses_demo(self) -> bool:
        return not self.audio_root


class BeamConfig(_Section):
    # The local default: the DirectRunner in multi-processing mode, one process per core.
    direct_num_workers: int = Field(0, ge=0, description="0 = number of CPUs.")
    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = "multi_processing"
    extra_args: list[str] = Field(default_factory=list)

    def pipeline_args(self) -> list[str]:
        args = [
            f"--direct_num_workers={self.direct_num_workers}",
            f"--direct_running_mode={self.direct_running_mode}",
            *self.extra_args,
        ]
        if _runner(args) in ("DirectRunner", "direct"):
            # Without a dependency flag, TFX builds an sdist of itself for every Beam component it runs (~3 s,
            # and 44 MB left in the temp dir each time) so that remote workers can install it. The
            # DirectRunner's workers import the local installation, so it gets a flag it ignores instead.
            args.append(DIRECT_RUNNER_DEPENDENCY_FLAG)
        return args


# TFX's make_beam_dependency_flags skips its package build when any of these flags is set; the DirectRunner
# does not read this one (it runs no container).
DIRECT_RUNNER_DEPENDENCY_FLAG = "--sdk_container_image=unused-by-the-direct-runner"


def _runner(args: list[str]) -> str:
    """The Beam runner the arguments select (the last --runner wins; DirectRunner by default)."""
    runner = "DirectRunner"
    for i, arg in enumerate(args):
        if arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
        elif arg == "--runner" and i + 1 < len(args):
            runner = args[i + 1]
    return runner


class ReportConfig(_Section):
    """`make report`: one self-contained HTML page about the newest local run."""

    output: str = Field("", description="Empty: <output_root>/<pipeline_name>/report.html.")


# -- deployment sections (Kubeflow / Vertex / Dataflow) go below this line --

_IMAGE_REFERENCE = re.compile(r"^[a-z0-9][a-z0-9._\-/:]*(:[\w][\w.\-]{0,127}|@sha256:[0-9a-f]{64})$")


class ComponentResources(_Section):
    """CPU and memory of one component's container (units as KFP's ResourceSpec: vCPUs, GB = 10^9 bytes)."""

    cpu: Optional[float] = Field(
        None, gt=0, description="vCPUs requested on Kubeflow; Vertex sizes the machine by cpu_limit, else by this."
    )
    memory_gb: Optional[float] = Field(None, gt=0, description="Memory requested on Kubeflow (GB); Vertex: as cpu.")
    cpu_limit: Optional[float] = Field(None, gt=0, description="Kubeflow CPU limit; none = no limit.")
    memory_limit_gb: Optional[float] = Field(None, gt=0, description="Kubeflow memory limit (GB); none = no limit.")

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> ComponentResources:
        for request, limit in (("cpu", "cpu_limit"), ("memory_gb", "memory_limit_gb")):
            low, high = getattr(self, request), getattr(self, limit)
            if low is not None and high is not None and high < low:
                raise ValueError(f"{limit} ({high}) is below {request} ({low})")
        return self


def _default_resources() -> dict[str, ComponentResources]:
    # The heavy Beam steps run Beam's DirectRunner inside their own pod unless Dataflow is on: give them room.
    return {
        "AudioExampleGen": ComponentResources(cpu=8, memory_gb=32),
        "SpectrogramTransform": ComponentResources(cpu=8, memory_gb=32),
    }


class DeployConfig(_Section):
    """What the compiled Kubeflow/Vertex specs run: image, pipeline root, and per-component placement."""

    image: str = Field(
        "",
        description="The pipeline image, by tag or digest (registry/name:tag or "
        "registry/name@sha256:...): `make docker-build IMAGE=...`.",
    )
    tpu_image: str = Field(
        "",
        description="Image of components on TPUs (tensorflow-tpu + libtpu); empty = "
        "<image>-tpu, the tag `make docker-build` gives the TPU variant.",
    )
    pipeline_root: str = Field("", description="Where cloud runs write artifacts, e.g. gs://bucket/fma-genre.")
    resources: dict[str, ComponentResources] = Field(
        default_factory=_default_resources, description="Component id -> CPU/memory."
    )
    accelerators: dict[str, str] = Field(
        default_factory=dict,
        description="Component id -> accelerator spec, e.g. {Trainer: gpu:nvidia-l4:1} or "
        "{Trainer: tpu:tpu-v5-lite-podslice:2x2}; ACCELERATOR= on the make line "
        "sets the Trainer's.",
    )

    @field_validator("image", "tpu_image")
    @classmethod
    def _pinned_image(cls, image: str) -> str:
        if image and not _IMAGE_REFERENCE.match(image):
            raise ValueError(
                f"image {image!r} must name a tag or a digest: registry/name:tag or "
                "registry/name@sha256:<64 hex digits>"
            )
        return image

    @field_validator("accelerators")
    @classmethod
    def _valid_accelerators(cls, accelerators: dict[str, str]) -> dict[str, str]:
        from pipeline.deploy.accelerators import parse_accelerator

        return {component: parse_accelerator(spec).spec for component, spec in accelerators.items()}

    @property
    def resolved_tpu_image(self) -> str:
        if self.tpu_image:
            return self.tpu_image
        if "@" in self.image:
            raise ValueError(
                "deploy.image is a digest, so the TPU image cannot be derived from it: set "
                "deploy.tpu_image (the digest of the image built from docker/Dockerfile.tpu)"
            )
        return f"{self.image}-tpu"


class KubeflowConfig(_Section):
    """`make compile-kubeflow` / `make submit-kubeflow` (kfp.Client)."""

    output: str = Field("build/pipeline.yaml", description="The compiled PipelineSpec + Kubernetes platform spec.")
    host: str = Field(
        "",
        description="KFP API endpoint, e.g. https://<cluster>/pipeline; empty = "
        "$KF_PIPELINES_ENDPOINT. HOST= on the make line.",
    )
    namespace: str = Field("", description="Kubeflow profile namespace (multi-user installs); empty = default.")
    experiment: str = "fma-genre"
    run_name: str = Field("", description="Empty = <pipeline_name>-<UTC timestamp>.")
    service_account: str = Field("", description="Kubernetes service account the run's pods use; empty = default.")


class VertexConfig(_Section):
    """`make compile-vertex` / `make submit-vertex` (google.cloud.aiplatform.PipelineJob)."""

    output: str = Field("build/pipeline.json", description="The compiled Vertex PipelineJob.")
    project: str = Field("", description="Google Cloud project; PROJECT= on the make line.")
    region: str = Field("us-central1", description="REGION= on the make line.")
    service_account: str = Field("", description="Service account e-mail the run uses; empty = Compute Engine default.")
    network: str = Field("", description="VPC peering network, projects/<number>/global/networks/<name>; optional.")
    encryption_key: str = Field(
        "", description="CMEK key, projects/<p>/locations/<r>/keyRings/<k>/cryptoKeys/<c>; optional."
    )
    run_name: str = Field("", description="Job id; empty = <pipeline_name>-<UTC timestamp>.")
    labels: dict[str, str] = Field(default_factory=dict)


class DataflowConfig(_Section):
    """Runs the Beam steps of cloud runs on Dataflow instead of the DirectRunner inside each step's pod."""

    enabled: bool = False
    project: str = ""
    region: str = ""
    temp_location: str = Field("", description="gs:// folder for Dataflow's temporary and staging files.")
    staging_location: str = Field("", description="Empty = Dataflow's default under temp_location.")
    machine_type: str = "n2-standard-4"
    max_num_workers: int = Field(10, ge=1)
    disk_size_gb: Optional[int] = Field(None, ge=10)
    sdk_container_image: str = Field(
        "",
        description="Worker image; empty = deploy.image, which carries the Beam SDK's boot entrypoint and the project.",
    )
    service_account_email: str = ""
    subnetwork: str = Field("", description="regions/<r>/subnetworks/<name> or its full URL; optional.")
    use_public_ips: bool = True
    extra_args: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> DataflowConfig:
        if not self.enabled:
            return self
        missing = [f"dataflow.{name}" for name in ("project", "region", "temp_location") if not getattr(self, name)]
        if missing:
            raise ValueError(f"dataflow.enabled needs {', '.join(missing)}")
        if not self.temp_location.startswith("gs://"):
            raise ValueError(f"dataflow.temp_location must be a gs:// folder, got {self.temp_location!r}")
        return self

    def pipeline_args(self, default_image: str) -> list[str]:
        image = self.sdk_container_image or default_image
        if not image:
            raise ValueError("Dataflow workers need an image: set dataflow.sdk_container_image or deploy.image")
        args = [
            "--runner=DataflowRunner",
            f"--project={self.project}",
            f"--region={self.region}",
            f"--temp_location={self.temp_location}",
            f"--machine_type={self.machine_type}",
            f"--max_num_workers={self.max_num_workers}",
            f"--sdk_container_image={image}",
            # Custom worker images need Runner v2; the project's image is one.
            "--experiments=use_runner_v2",
        ]
        optional = {
            "staging_location": self.staging_location,
            "disk_size_gb": self.disk_size_gb,
            "service_account_email": self.service_account_email,
            "subnetwork": self.subnetwork,
        }
        args += [f"--{name}={value}" for name, value in optional.items() if value]
        if not self.use_public_ips:
            args.append("--no_use_public_ips")
        return args + list(self.extra_args)


class PipelineConfig(_Section):
    pipeline_name: str = "fma-genre"
    output_root: str = Field("runs", description="Pipeline root, MLMD database and logs of local runs.")
    genres: tuple[str, ...] = FMA_SMALL_GENRES
    enable_cache: bool = True
    demo: DemoDataConfig = Field(default_factory=DemoDataConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    example_gen: ExampleGenConfig = Field(default_factory=ExampleGenConfig)
    beam: BeamConfig = Field(default_factory=BeamConfig)
    transform: TransformConfig = Field(default_factory=TransformConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    baselines: BaselinesConfig = Field(default_factory=BaselinesConfig)
    evaluator: EvaluatorConfig = Field(default_factory=EvaluatorConfig)
    pusher: PusherConfig = Field(default_factory=PusherConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    kubeflow: KubeflowConfig = Field(default_factory=KubeflowConfig)
    vertex: VertexConfig = Field(default_factory=VertexConfig)
    dataflow: DataflowConfig = Field(default_factory=DataflowConfig)

    @field_validator("genres")
    @classmethod
    def _unique_genres(cls, genres: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(genres)) != len(genres) or len(genres) < 2:
            raise ValueError(f"genres must be at least two distinct names, got {genres}")
        return genres

    # Resolved locations -------------------------------------------------------------------------
    def resolve(self, path: str) -> str:
        """Absolute form of a path from the config; relative paths are relative to the project root."""
        if "://" in path or os.path.isabs(path):
            return path
        return str(PROJECT_ROOT / path)

    @property
    def audio_root(self) -> str:
        if self.dataset.uses_demo:
            return self.resolve(os.path.join(self.demo.root, "fma_small"))
        return self.resolve(self.dataset.audio_root)

    @property
    def metadata_dir(self) -> str:
        if self.dataset.uses_demo:
            return self.resolve(os.path.join(self.demo.root, "fma_metadata"))
        if self.dataset.metadata_dir:
            return self.resolve(self.dataset.metadata_dir)
        return self.resolve(os.path.join(os.path.dirname(self.dataset.audio_root.rstrip("/")), "fma_metadata"))

    @property
    def pipeline_root(self) -> str:
        return self.resolve(os.path.join(self.output_root, self.pipeline_name, "pipeline_root"))

    @property
    def metadata_path(self) -> str:
        return self.resolve(os.path.join(self.output_root, self.pipeline_name, "metadata.sqlite"))

    @property
    def push_destination(self) -> str:
        if self.pusher.destination:
            return self.resolve(self.pusher.destination)
        return self.resolve(os.path.join(self.output_root, self.pipeline_name, "serving"))

    @property
    def report_path(self) -> str:
        if self.report.output:
            return self.resolve(self.report.output)
        return self.resolve(os.path.join(self.output_root, self.pipeline_name, "report.html"))


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}=...: cannot set {dotted}: {key} is not a section")
    node[keys[-1]] = value


def _read_yaml_file(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"config file {path} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"config file {path} is a directory, not a YAML file")
    try:
        with open(path, encoding="utf-8") as f:
            tree = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise ConfigError(yaml_problem(e, f"config file {path}")) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {e.start}): is it a YAML file?") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {path} must hold a mapping at top level (section: key: value)")
    return tree


def _parse_override(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ConfigError(f"--set {item}: must look like section.key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        return key, yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError as e:
        # Columns counted in the whole KEY=VALUE the user typed.
        raise ConfigError(yaml_problem(e, f"--set {item}", column_offset=len(item) - len(raw))) from None


def load_config(path: Optional[str] = None, overrides: Optional[list[str]] = None) -> PipelineConfig:
    """Defaults, then the YAML file (argument, else $GENRE_PIPELINE_CONFIG), then `key=value` overrides.

    Override values are parsed as YAML scalars, so `audio.segment_seconds=3` gives a number and
    `dataset.audio_root=` an empty string. Any problem is a ConfigError (a ValueError) of one line per
    problem, naming the file (with line and column for YAML syntax) or the `--set`, and the key; a
    misspelled key comes with the closest valid one.
    """
    path = path or os.environ.get(CONFIG_ENV_VAR) or None
    tree = _read_yaml_file(path) if path else {}
    overridden: dict[str, str] = {}
    for item in overrides or []:
        key, value = _parse_override(item)
        _set_dotted(tree, key, value)
        overridden[key] = item

    def origin_of(key: str) -> str:
        for dotted, item in overridden.items():
            if key == dotted or key.startswith(dotted + ".") or dotted.startswith(key + "."):
                return f"--set {item}"
        return f"config file {path}" if path else "config"

    try:
        return PipelineConfig.model_validate(tree)
    except pydantic.ValidationError as e:
        raise ConfigError("\n".join(validation_problems(e, PipelineConfig, origin_of))) from None
