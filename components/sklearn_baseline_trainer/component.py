"""SklearnBaselineTrainer component: spec and channels."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.types.standard_component_specs import EXAMPLES_KEY, MODEL_KEY

from components.sklearn_baseline_trainer import estimators, executor
from components.sklearn_baseline_trainer.executor import BASELINE_CONFIG_KEY
from components.sklearn_baseline_trainer.settings import BaselineSettings


class SklearnBaselineTrainerSpec(types.ComponentSpec):
    PARAMETERS = {BASELINE_CONFIG_KEY: ExecutionParameter(type=str)}
    INPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


class SklearnBaselineTrainer(base_component.BaseComponent):
    """Logistic regression, kNN, Gaussian naive Bayes and SVM on SpectrogramTransform's engineered features.

    Input: `examples`, SpectrogramTransform's transformed Examples. Output: `model`, a Model artifact
    holding one skops model, metadata and metrics file per algorithm, `metrics.json` (the summary, with the
    best algorithm by eval accuracy) and `manifest.json`; the headline numbers are also custom properties.
    """

    SPEC_CLASS = SklearnBaselineTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, settings: BaselineSettings):
        # Unknown or invalid hyperparameters fail here, when the pipeline is built, not after upstream work.
        estimators.validate(settings.baselines)
        spec = SklearnBaselineTrainerSpec(
            examples=examples,
            baseline_config=settings.model_dump_json(),
            model=types.Channel(type=standard_artifacts.Model),
        )
        super().__init__(spec=spec)
