"""AudioExampleGen's settings: the `audio`, `split` and `example_gen` sections of the pipeline configuration
(with their defaults), and IngestSettings, what the executor receives as one typed JSON execution property."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from components.settings_base import Section, TFRecordOutput


class AudioConfig(Section):
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
    # The file's size does not bound what it decodes to (a 19 MB FLAC of 1 h at 48 kHz stereo is 1.3 GB of
    # float32): ingestion stops decoding past this and quarantines the file (too_long). 30 min at 22.05 kHz
    # is 160 MB of mono float32 per file in a worker. genre-predict streams and applies no such bound.
    max_decoded_seconds: float = Field(
        1800.0, gt=0, description="Longer decoded audio is quarantined (too_long) by AudioExampleGen."
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


class SplitConfig(Section):
    """How examples are assigned to train/eval/test."""

    # "official": FMA's set.split column (training/validation/test); falls back to "hash" for the folder
    # layout, which has none. "hash": a deterministic hash of the artist (or the track, when no artist is
    # known), so no artist or track crosses splits.
    method: Literal["official", "hash"] = "official"
    train_percent: int = Field(64, ge=1, le=98)
    eval_percent: int = Field(16, ge=1, le=98)
    salt: str = "fma-genre"

    @model_validator(mode="after")
    def _fractions(self) -> SplitConfig:
        if self.train_percent + self.eval_percent >= 100:
            raise ValueError("train_percent + eval_percent must leave room for a test split (< 100)")
        return self

    @property
    def test_percent(self) -> int:
        return 100 - self.train_percent - self.eval_percent


class ExampleGenConfig(TFRecordOutput):
    """The TFRecords AudioExampleGen writes.

    GZIP of the TFRecords: int16 PCM deflates by only 6-8%, so the default is the fastest deflate there
    is: Intel's ISA-L at level 1 (about 1.5 ms per 30 s clip, against 8 ms for zlib's fastest useful
    setting). See components/audio_example_gen/README.md for the measurements.
    """


class IngestSettings(BaseModel):
    """Everything the executor needs, as one JSON execution property (typed at both ends).

    Built from the pipeline configuration by pipeline/component_settings.py (ingest_settings)."""

    model_config = ConfigDict(extra="forbid")

    layout: str
    audio_root: str
    metadata_dir: str
    subset: str
    genres: tuple[str, ...]
    audio: AudioConfig
    split: SplitConfig
    example_gen: ExampleGenConfig
