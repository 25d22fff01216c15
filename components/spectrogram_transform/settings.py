"""SpectrogramTransform's settings: the `transform` section of the pipeline configuration (with its defaults;
the spectrogram itself is featurizer.SpectrogramConfig), and TransformSettings, what the executor receives
as one typed JSON execution property."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from components.featurizer import MusicnnFeatures, SpectrogramConfig, SpectrogramSettings
from components.settings_base import GzipOutput, TFRecordOutput


class TransformConfig(GzipOutput):
    """SpectrogramTransform: log-mel, its image form and engineered features per example."""

    spectrogram: SpectrogramConfig = Field(default_factory=SpectrogramConfig)
    # The pretrained musicnn embedding, computed (and stored in the examples) only when a configured model
    # reads it: trainer.model_family=musicnn_transfer or baselines.feature_set=musicnn.
    musicnn: MusicnnFeatures = Field(default_factory=MusicnnFeatures)
    # "fma": FMA's features.csv set (518 values, chroma/CQT included, ~0.3 s per 30 s of audio);
    # "quick": the same statistics of MFCC, RMS, ZCR and the spectral descriptors only (no CQT), for fast runs.
    engineered_preset: Literal["fma", "quick"] = "fma"
    batch_size: int = Field(32, ge=1, description="Waveforms per call of the TensorFlow featurizer.")
    min_seconds: float = Field(
        0.5, ge=0, description="Examples with less non-padded audio are quarantined (features need some signal)."
    )
    # GZIP of the transformed examples. The Trainer reads them every epoch that is not cached, and each
    # record (audio, log-mel, image: ~350 KB per 3 s) must be inflated whole to use one feature, so the
    # default stores without compressing (zlib level 0): first epochs read 2.2-2.6x faster for 31% more
    # disk (make bench-input). Shards and progress follow example_gen's settings.
    compression_engine: Literal["isal", "zlib"] = "zlib"
    compression_level: int = Field(0, ge=0, le=9, description="isal: 0-3, zlib: 0-9 (zlib 0 stores).")


class TransformSettings(BaseModel):
    """Everything the executor needs (typed at both ends of the execution property).

    Built from the pipeline configuration by pipeline/component_settings.py (transform_settings)."""

    model_config = ConfigDict(extra="forbid")

    # The featurizer graph's settings: exported beside the SavedModel, so serving uses the same ones.
    featurizer: SpectrogramSettings
    engineered_preset: Literal["fma", "quick"]
    # What the examples carry besides the metadata is what a configured model reads (at fma_small's size the
    # waveform, log-mel and image of every example would be ~7x the MP3 input): the featurizer's outputs
    # (featurizer.spectra, featurizer.musicnn); the engineered features when `engineered`; the waveform
    # (`audio_pcm16`) in the splits of `waveform_splits` only (None: in every split).
    engineered: bool = True
    waveform_splits: Optional[tuple[str, ...]] = None
    batch_size: int
    min_seconds: float
    # Label vocabulary: each example's `genre` must be genres[label] (guards against a changed vocabulary).
    genres: tuple[str, ...]
    # Shards and progress interval as AudioExampleGen's output; GZIP engine and level from
    # config.transform (stored by default: the Trainer re-reads these records every epoch).
    output: TFRecordOutput
