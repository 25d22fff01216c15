"""The settings AudioExampleGen's executor receives, as one typed JSON execution property."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from pipeline.config import AudioConfig, ExampleGenConfig, PipelineConfig, SplitConfig


class IngestSettings(BaseModel):
    """Everything the executor needs, as one JSON execution property (typed at both ends)."""

    model_config = ConfigDict(extra="forbid")

    layout: str
    audio_root: str
    metadata_dir: str
    subset: str
    genres: tuple[str, ...]
    audio: AudioConfig
    split: SplitConfig
    example_gen: ExampleGenConfig

    @classmethod
    def from_pipeline_config(cls, config: PipelineConfig) -> "IngestSettings":
        return cls(
            layout=config.dataset.layout,
            audio_root=config.audio_root,
            metadata_dir=config.metadata_dir,
            subset=config.dataset.subset,
            genres=config.genres,
            audio=config.audio,
            split=config.split,
            example_gen=config.example_gen,
        )
