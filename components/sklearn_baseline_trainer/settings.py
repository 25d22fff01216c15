"""The settings SklearnBaselineTrainer's executor receives, as one typed JSON execution property."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from pipeline.config import BaselinesConfig, PipelineConfig


class BaselineSettings(BaseModel):
    """The `baselines` section of the pipeline configuration and the label vocabulary (index i = genres[i])."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    genres: tuple[str, ...]
    baselines: BaselinesConfig

    @classmethod
    def from_pipeline_config(cls, config: PipelineConfig) -> "BaselineSettings":
        return cls(genres=config.genres, baselines=config.baselines)

    @model_validator(mode="after")
    def _algorithms_listed_once(self) -> "BaselineSettings":
        algorithms = self.baselines.algorithms
        if not algorithms:
            raise ValueError("baselines.algorithms is empty: list at least one algorithm, or set "
                             "baselines.enabled=false to leave SklearnBaselineTrainer out of the pipeline")
        if len(set(algorithms)) != len(algorithms):
            raise ValueError(f"baselines.algorithms lists an algorithm twice: {list(algorithms)}")
        return self
