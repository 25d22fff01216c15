"""The Pusher's settings: the `pusher` section of the pipeline configuration, with its defaults.

The component receives the resolved destination (PipelineConfig.push_destination) and the manifest context."""

from __future__ import annotations

from pydantic import Field

from components.settings_base import Section


class PusherConfig(Section):
    """Where blessed models go: a new numbered version directory (TF Serving's layout) per push."""

    destination: str = Field(
        "",
        description="Local directory or gs://...; empty: <output_root>/<pipeline_name>/serving locally "
        "(cloud runs must set a gs:// destination).",
    )
