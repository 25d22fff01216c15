"""Small settings types shared by several components (and by pipeline/config.py, which composes them).

Each component owns its own settings in its folder (`components/<component>/settings.py`); only what two of
them share lives here: the strict base of every configuration section, and the settings of the GZIP
TFRecords AudioExampleGen and SpectrogramTransform write. Nothing here imports a component or `pipeline`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Section(BaseModel):
    """A configuration section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GzipOutput(Section):
    """GZIP settings of TFRecords a component writes (components/tfrecord_sink.py)."""

    compression_engine: Literal["isal", "zlib"] = "isal"
    compression_level: int = Field(
        1, ge=0, le=9, description="isal: 0-3, zlib: 0-9 (zlib 0 stores without compressing)."
    )

    @model_validator(mode="after")
    def _level_in_engine_range(self) -> GzipOutput:
        if self.compression_engine == "isal" and self.compression_level > 3:
            raise ValueError("compression_level for the isal engine is 0-3 (zlib takes 0-9)")
        return self


class TFRecordOutput(GzipOutput):
    """How a Beam component writes its TFRecord splits: shards, progress interval and GZIP settings."""

    num_shards: int = Field(0, ge=0, description="TFRecord shards per split; 0 lets Beam choose.")
    progress_every: int = Field(5, ge=1, description="Each worker reports progress every N files.")
