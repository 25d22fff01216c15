"""BlessingEvaluator: the standard Evaluator's spec plus the SklearnBaselineTrainer model and the policy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import json_utils

from components.blessing_evaluator import eval_config as eval_config_lib
from components.blessing_evaluator.executor import BASELINE_MODELS_KEY, BLESSING_POLICY_KEY, Executor
from components.blessing_evaluator.policy import BlessingPolicy


class BlessingEvaluatorSpec(types.ComponentSpec):
    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        BLESSING_POLICY_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        **standard_component_specs.EvaluatorSpec.INPUTS,
        BASELINE_MODELS_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = dict(standard_component_specs.EvaluatorSpec.OUTPUTS)
    TYPE_ANNOTATION = standard_component_specs.EvaluatorSpec.TYPE_ANNOTATION


class BlessingEvaluator(base_beam_component.BaseBeamComponent):
    """TFX's Evaluator (TFMA) on the Keras model, blessing it by the rules of a BlessingPolicy.

    Inputs: `examples` (the split in `example_splits` is evaluated), `model` (the candidate), optional
    `baseline_model` (the latest blessed model, from a LatestBlessedModelStrategy resolver) and optional
    `baseline_models` (SklearnBaselineTrainer's Model artifact: its best test accuracy + margin must be
    beaten). Outputs: `evaluation` (TFMA's results) and `blessing` (BLESSED / NOT_BLESSED, decision.json).
    See README.md.
    """

    SPEC_CLASS = BlessingEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        eval_config: tfma.EvalConfig,
        example_splits: Sequence[str],
        policy: BlessingPolicy,
        baseline_model: Optional[types.BaseChannel] = None,
        baseline_models: Optional[types.BaseChannel] = None,
    ):
        eval_config_lib.accuracy_metric(eval_config)  # fails now, not at run time, without the accuracy metric
        if len(example_splits) != 1:
            raise ValueError(
                f"example_splits must name one split (the blessing is decided on it), got {list(example_splits)}"
            )
        if policy.regression_source == "push_destination" and baseline_model is not None:
            raise ValueError(
                "the blessing policy takes the latest blessed model from the push destination "
                "(Kubeflow); do not also wire a baseline_model resolver"
            )
        spec = BlessingEvaluatorSpec(
            examples=examples,
            model=model,
            baseline_model=baseline_model,
            baseline_models=baseline_models,
            eval_config=eval_config,
            example_splits=json_utils.dumps(list(example_splits)),
            blessing_policy=policy.model_dump_json(),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        )
        super().__init__(spec=spec)
