"""VersionedPusher component: spec and channels."""

from __future__ import annotations

import json
from typing import Any, Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.types.standard_component_specs import EXAMPLES_KEY, MODEL_BLESSING_KEY, MODEL_KEY, PUSHED_MODEL_KEY
from tfx.types.system_executions import Deploy

from components.versioned_pusher import executor
from components.versioned_pusher.executor import DESTINATION_KEY, MANIFEST_CONTEXT_KEY


class VersionedPusherSpec(types.ComponentSpec):
    PARAMETERS = {
        DESTINATION_KEY: ExecutionParameter(type=str),
        MANIFEST_CONTEXT_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }
    OUTPUTS = {PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel)}
    TYPE_ANNOTATION = Deploy


class VersionedPusher(base_component.BaseComponent):
    """Pushes the Trainer's serving model when the Evaluator blessed it.

    Inputs: `model` (Model, its Format-Serving SavedModel is pushed), `model_blessing` (ModelBlessing; its
    `blessed` custom property decides, its decision.json gives the manifest's metrics), optional `examples`
    (the transformed Examples the model was trained on, fingerprinted in the manifest). Output:
    `pushed_model` (PushedModel with the standard Pusher's custom properties and push_result.json).
    """

    SPEC_CLASS = VersionedPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        destination: str,
        manifest_context: dict[str, Any],
        examples: Optional[types.BaseChannel] = None,
    ):
        if not destination:
            raise ValueError("VersionedPusher needs a destination: a local directory or gs://bucket/path")
        if "config" not in manifest_context:
            raise ValueError(
                'manifest_context must hold "config" (the PipelineConfig as JSON), recorded in every manifest'
            )
        spec = VersionedPusherSpec(
            model=model,
            model_blessing=model_blessing,
            examples=examples,
            destination=destination,
            manifest_context=json.dumps(manifest_context, sort_keys=True),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
        )
        super().__init__(spec=spec)
