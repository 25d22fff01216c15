"""AudioExampleGen component: spec and channels.

Deliberately not a FileBasedExampleGen subclass: resources set with `with_platform_config()` are
dropped for those when compiling for Kubeflow/Vertex (tfx issue 6146), and ingestion is the heaviest
Beam step of the pipeline.
"""

from __future__ import annotations

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.types.standard_component_specs import EXAMPLES_KEY

from components.audio_example_gen import executor
from components.audio_example_gen.executor import INGEST_CONFIG_KEY, INPUT_FINGERPRINT_KEY
from components.audio_example_gen.settings import IngestSettings


class AudioExampleGenSpec(types.ComponentSpec):
    PARAMETERS = {
        INGEST_CONFIG_KEY: ExecutionParameter(type=str),
        # A digest of the input files' names, sizes and times: part of the cache key, so a changed
        # dataset is ingested again instead of served from the cache (local runs).
        INPUT_FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class AudioExampleGen(base_beam_component.BaseBeamComponent):
    """Decodes, labels, validates, segments and splits audio files into tf.Examples.

    Output: an Examples artifact with Split-train/Split-eval/Split-test of GZIP TFRecords, plus
    `quarantine.jsonl` (every rejected input with its reason), `ingest_log.jsonl` (every input's
    outcome) and `summary.json` (counts that reconcile) at the artifact's root.
    """

    SPEC_CLASS = AudioExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, settings: IngestSettings, input_fingerprint: Optional[str] = None):
        spec = AudioExampleGenSpec(
            ingest_config=settings.model_dump_json(),
            input_fingerprint=input_fingerprint or "",
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)
