"""The one typed configuration object of the project.

Every entry point (the CLI, the local runner, the Makefile through the CLI, the tests) builds a
`PipelineConfig` with `load_config()`; nothing else holds defaults. A YAML file overrides the defaults,
and `--set dotted.key=value` on the command line overrides the file.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DemoDataConfig(_Section):
    """The built-in synthetic dataset, written in FMA's layout."""

    root: str = Field("data/demo", description="Where fma_small/ and fma_metadata/ of the demo are written.")
    tracks_per_genre: int = Field(20, ge=3, description="Clips per genre; split ~80/10/10 by artist.")
    clip_seconds: float = Field(30.0, gt=0, description="Length of each clip, like FMA's 30 s.")
    sample_rate: int = Field(44100, description="Sample rate of the MP3 files, like FMA.")
    seed: int = 0
    tracks_per_artist: int = Field(2, ge=1, description="Several tracks share an artist, as in FMA.")
    workers: int = Field(0, ge=0, description="Encoding processes; 0 = number of CPUs.")


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


class AudioConfig(_Section):
    """How decoded audio becomes fixed-length examples."""

    sample_rate: int = Field(22050, ge=1000, description="Every clip is resampled to this rate, mono.")
    clip_seconds: float = Field(30.0, gt=0, description="Length of a whole clip; shorter clips are zero-padded.")
    # 3 s segments: ten training examples per FMA clip, and the length the models and the served
    # signature take; a whole track is predicted by averaging its segments.
    segment_seconds: Optional[float] = Field(
        3.0, gt=0, description="Cut clips into segments of this length; None keeps the whole clip."
    )
    min_duration_seconds: float = Field(2.0, ge=0, description="Shorter decoded audio is quarantined.")
    silence_threshold_dbfs: float = Field(-60.0, description="Frames quieter than this count as silent.")
    max_silent_fraction: float = Field(
        0.95, ge=0, le=1, description="Clips with a larger fraction of silent frames are quarantined."
    )
    truncation_tolerance: float = Field(
        0.02, ge=0, le=1, description="Quarantine a file that decodes to fewer frames than its header declares."
    )
    max_file_megabytes: float = Field(
        512.0, gt=0, description="Larger files are quarantined unread (protects workers' memory)."
    )
    allow_extension_mismatch: bool = Field(
        False, description="Accept files whose content format differs from their extension."
    )

    @property
    def example_seconds(self) -> float:
        return self.segment_seconds or self.clip_seconds

    @property
    def example_samples(self) -> int:
        return int(round(self.example_seconds * self.sample_rate))


class SplitConfig(_Section):
    """How examples are assigned to train/eval/test."""

    # "official": FMA's set.split column (training/validation/test); falls back to "hash" for the folder
    # layout, which has none. "hash": a deterministic hash of the artist (or the track, when no artist is
    # known), so no artist or track crosses splits.
    method: Literal["official", "hash"] = "official"
    train_percent: int = Field(64, ge=1, le=98)
    eval_percent: int = Field(16, ge=1, le=98)
    salt: str = "fma-genre"

    @model_validator(mode="after")
    def _fractions(self) -> "SplitConfig":
        if self.train_percent + self.eval_percent >= 100:
            raise ValueError("train_percent + eval_percent must leave room for a test split (< 100)")
        return self

    @property
    def test_percent(self) -> int:
        return 100 - self.train_percent - self.eval_percent


class ExampleGenConfig(_Section):
    num_shards: int = Field(0, ge=0, description="TFRecord shards per split; 0 lets Beam choose.")
    # GZIP settings of the TFRecords. int16 PCM deflates by only 6-8%, so the default is the fastest
    # deflate there is: Intel's ISA-L at level 1 (about 1.5 ms per 30 s clip, against 8 ms for zlib's
    # fastest useful setting). See components/audio_example_gen/README.md for the measurements.
    compression_engine: Literal["isal", "zlib"] = "isal"
    compression_level: int = Field(1, ge=0, le=9, description="isal: 0-3, zlib: 0-9 (zlib 0 stores without compressing).")
    progress_every: int = Field(5, ge=1, description="Each worker reports progress every N files.")


    @model_validator(mode="after")
    def _level_in_engine_range(self) -> "ExampleGenConfig":
        if self.compression_engine == "isal" and self.compression_level > 3:
            raise ValueError("compression_level for the isal engine is 0-3 (zlib takes 0-9)")
        return self


class BeamConfig(_Section):
    # The local default: the DirectRunner in multi-processing mode, one process per core.
    direct_num_workers: int = Field(0, ge=0, description="0 = number of CPUs.")
    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = "multi_processing"
    extra_args: list[str] = Field(default_factory=list)

    def pipeline_args(self) -> list[str]:
        return [
            f"--direct_num_workers={self.direct_num_workers}",
            f"--direct_running_mode={self.direct_running_mode}",
            *self.extra_args,
        ]


class SpectrogramConfig(_Section):
    """The log-mel spectrogram (TensorFlow ops, one graph for training and serving) and its image form."""

    n_fft: int = Field(2048, ge=16, description="FFT size and window length (samples).")
    hop_length: int = Field(512, ge=1, description="Samples between frames.")
    n_mels: int = Field(128, ge=8)
    fmin: float = Field(0.0, ge=0)
    fmax: Optional[float] = Field(None, gt=0, description="None = Nyquist (sample_rate / 2).")
    mel_scale: Literal["slaney", "htk"] = "slaney"
    log_floor: float = Field(1e-10, gt=0, description="Mel power is floored here before 10*log10 (dB).")
    image_size: int = Field(224, ge=32, description="Side of the square image form (image_size x image_size x 3).")
    image_dynamic_range_db: float = Field(
        80.0, gt=0, description="The image maps [max - range, max] dB of each example onto 0-255."
    )

    @model_validator(mode="after")
    def _hop_fits(self) -> "SpectrogramConfig":
        if self.hop_length > self.n_fft:
            raise ValueError("hop_length must not exceed n_fft")
        if self.fmax is not None and self.fmax <= self.fmin:
            raise ValueError("fmax must be above fmin")
        return self


class TransformConfig(_Section):
    """SpectrogramTransform: log-mel, its image form and engineered features per example."""

    spectrogram: SpectrogramConfig = Field(default_factory=SpectrogramConfig)
    # "fma": FMA's features.csv set (518 values, chroma/CQT included, ~0.3 s per 30 s of audio);
    # "quick": the same statistics of MFCC, RMS, ZCR and the spectral descriptors only (no CQT), for fast runs.
    engineered_preset: Literal["fma", "quick"] = "fma"
    batch_size: int = Field(32, ge=1, description="Waveforms per call of the TensorFlow featurizer.")
    min_seconds: float = Field(
        0.5, ge=0, description="Examples with less non-padded audio are quarantined (features need some signal)."
    )


class Cnn1dConfig(_Section):
    downsample: int = Field(4, ge=1, description="Average-pool the waveform by this factor before the first Conv1D.")
    pool_size: int = Field(4, ge=2)


class MobileNetConfig(_Section):
    weights: Literal["imagenet", "random"] = Field(
        "imagenet", description="imagenet falls back to random initialisation (logged) when the weights cannot be had."
    )
    head_units: int = Field(128, ge=8)
    dropout: float = Field(0.3, ge=0, lt=1)
    fine_tune_epochs: int = Field(0, ge=0, description="Epochs with the top of the base unfrozen after the head is trained.")
    fine_tune_layers: int = Field(30, ge=1, description="How many of the base's last layers are unfrozen.")
    fine_tune_learning_rate: float = Field(1e-5, gt=0)


class TrainerConfig(_Section):
    """The Keras model trained by the standard TFX Trainer (run_fn: components.keras_trainer.run_fn)."""

    model_family: Literal["cnn1d_raw", "cnn2d_mel", "mobilenetv2_transfer"] = "cnn2d_mel"
    epochs: int = Field(40, ge=1)
    batch_size: int = Field(32, ge=1, description="Per replica; the global batch scales with the replicas.")
    learning_rate: float = Field(1e-3, gt=0)
    early_stopping_patience: int = Field(8, ge=1, description="Epochs without eval-loss improvement before stopping.")
    steps_per_epoch: Optional[int] = Field(None, ge=1, description="None = one pass over the train split.")
    shuffle_buffer: int = Field(4096, ge=1)
    cache_megabytes: float = Field(
        4096.0, ge=0, description="Cache the parsed train split in memory when it is smaller than this."
    )
    seed: int = 0
    cnn1d: Cnn1dConfig = Field(default_factory=Cnn1dConfig)
    mobilenet: MobileNetConfig = Field(default_factory=MobileNetConfig)


BASELINE_ALGORITHMS = ("logistic_regression", "knn", "gaussian_nb", "svm")


def _default_hyperparameters() -> dict[str, dict[str, Any]]:
    return {
        "logistic_regression": {"C": 1.0, "max_iter": 2000},
        "knn": {"n_neighbors": 5, "weights": "distance"},
        "gaussian_nb": {"var_smoothing": 1e-9},
        "svm": {"C": 10.0, "kernel": "rbf", "gamma": "scale"},
    }


def _default_param_grids() -> dict[str, dict[str, list[Any]]]:
    return {
        "logistic_regression": {"C": [0.01, 0.1, 1.0, 10.0]},
        "knn": {"n_neighbors": [3, 5, 9, 15], "weights": ["uniform", "distance"]},
        "gaussian_nb": {"var_smoothing": [1e-9, 1e-6, 1e-3]},
        "svm": {"C": [1.0, 10.0, 100.0], "gamma": ["scale", 0.001, 0.01]},
    }


class BaselinesConfig(_Section):
    """SklearnBaselineTrainer: classic models on the engineered features."""

    enabled: bool = True
    algorithms: tuple[Literal["logistic_regression", "knn", "gaussian_nb", "svm"], ...] = BASELINE_ALGORITHMS
    pca_components: Optional[float] = Field(
        None, gt=0, description="None = no PCA; an integer = components; a fraction in (0, 1) = variance kept."
    )
    hyperparameters: dict[str, dict[str, Any]] = Field(default_factory=_default_hyperparameters)
    grid_search: bool = Field(False, description="Cross-validated grid search on the train split (groups = artist).")
    param_grids: dict[str, dict[str, list[Any]]] = Field(default_factory=_default_param_grids)
    cv_folds: int = Field(3, ge=2)
    seed: int = 0

    @field_validator("hyperparameters", "param_grids")
    @classmethod
    def _known_algorithms(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - set(BASELINE_ALGORITHMS)
        if unknown:
            raise ValueError(f"unknown algorithms {sorted(unknown)}; choose from {list(BASELINE_ALGORITHMS)}")
        return value

# -- deployment sections (Kubeflow / Vertex / Dataflow) go below this line --


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


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ValueError(f"cannot set {dotted}: {key} is not a section")
    node[keys[-1]] = value


def load_config(path: Optional[str] = None, overrides: Optional[list[str]] = None) -> PipelineConfig:
    """Defaults, then the YAML file (argument, else $GENRE_PIPELINE_CONFIG), then `key=value` overrides.

    Override values are parsed as YAML scalars, so `audio.segment_seconds=3` gives a number and
    `dataset.audio_root=` an empty string.
    """
    path = path or os.environ.get(CONFIG_ENV_VAR) or None
    tree: dict[str, Any] = {}
    if path:
        if not os.path.exists(path):
            raise FileNotFoundError(f"config file {path} does not exist")
        with open(path, encoding="utf-8") as f:
            tree = yaml.safe_load(f) or {}
        if not isinstance(tree, dict):
            raise ValueError(f"config file {path} must hold a mapping at top level")
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like section.key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw else ""
        _set_dotted(tree, key.strip(), value)
    return PipelineConfig.model_validate(tree)
