"""The settings SpectrogramTransform's executor receives, as one typed JSON execution property."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from components.spectrogram_transform.featurizer import SpectrogramSettings
from pipeline.config import ExampleGenConfig, PipelineConfig


class TransformSettings(BaseModel):
    """Everything the executor needs (typed at both ends of the execution property)."""

    model_config = ConfigDict(extra="forbid")

    # The featurizer graph's settings: exported beside the SavedModel, so serving uses the same ones.
    featurizer: SpectrogramSettings
    engineered_preset: Literal["fma", "quick"]
    batch_size: int
    min_seconds: float
    # Label vocabulary: each example's `genre` must be genres[label] (guards against a changed vocabulary).
    genres: tuple[str, ...]
    # Shards and progress interval as AudioExampleGen's output; GZIP engine and level from
    # config.transform (stored by default: the Trainer re-reads these records every epoch).
    output: ExampleGenConfig

    @classmethod
    def from_pipeline_config(cls, config: PipelineConfig) -> "TransformSettings":
        transform = config.transform
        return cls(
            featurizer=SpectrogramSettings.from_pipeline_config(config),
            engineered_preset=transform.engineered_preset,
            batch_size=transform.batch_size,
            min_seconds=transform.min_seconds,
            genres=config.genres,
            output=config.example_gen.model_copy(update={
                "compression_engine": transform.compression_engine,
                "compression_level": transform.compression_level,
            }),
        )
