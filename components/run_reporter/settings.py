"""What the report needs from the pipeline's configuration, resolved by the pipeline (pipeline/component_settings.py).

The report describes the run's settings as text rows: the pipeline turns its configuration into them, so this
component knows nothing of `PipelineConfig`."""

from __future__ import annotations

from pydantic import Field

from components.settings_base import Section


class ReportSettings(Section):
    pipeline_name: str
    genres: list[str] = Field(min_length=1)
    settings_rows: list[tuple[str, str]] = Field(
        default_factory=list, description="(label, text) rows of the report's settings table, in order."
    )
    baselines_enabled: bool = True
    model_family: str = Field(description="The configured Keras model family (when the Trainer recorded none).")
    accuracy_floor: float = Field(description="The blessing policy's accuracy floor, drawn on the accuracy chart.")
    push_destination: str = Field(description="Where the Pusher pushes: the report names the version it serves.")
