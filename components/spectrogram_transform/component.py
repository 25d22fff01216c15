"""SpectrogramTransform component: spec and channels.

A custom Beam component rather than tfx.components.Transform: the log-mel comes from one exported
TensorFlow graph (components/featurizer.py) that the served model embeds too, and the engineered features need
librosa, which has no place inside a tf.Transform preprocessing_fn.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.types.standard_component_specs import EXAMPLES_KEY, SCHEMA_KEY, TRANSFORMED_EXAMPLES_KEY

from components.spectrogram_transform import executor
from components.spectrogram_transform.executor import FEATURIZER_KEY, TRANSFORM_CONFIG_KEY
from components.spectrogram_transform.settings import TransformSettings


class SpectrogramTransformSpec(types.ComponentSpec):
    PARAMETERS = {TRANSFORM_CONFIG_KEY: ExecutionParameter(type=str)}
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
    }
    OUTPUTS = {
        TRANSFORMED_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        FEATURIZER_KEY: ChannelParameter(type=standard_artifacts.TransformGraph),
    }


class SpectrogramTransform(base_beam_component.BaseBeamComponent):
    """AudioExampleGen's examples -> examples with log-mel, mel image and engineered features.

    Outputs: `transformed_examples` (Examples: the same splits as the input, GZIP TFRecords, plus
    engineered_feature_names.json, quarantine.jsonl, summary.json and features_<split>.csv at the root)
    and `featurizer` (TransformGraph: the exported featurizer SavedModel and its settings, for the
    Trainer to embed in the serving signature).
    """

    SPEC_CLASS = SpectrogramTransformSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, schema: types.BaseChannel, settings: TransformSettings):
        spec = SpectrogramTransformSpec(
            examples=examples,
            schema=schema,
            transform_config=settings.model_dump_json(),
            transformed_examples=types.Channel(type=standard_artifacts.Examples),
            featurizer=types.Channel(type=standard_artifacts.TransformGraph),
        )
        super().__init__(spec=spec)
