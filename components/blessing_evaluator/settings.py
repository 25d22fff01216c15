"""The Evaluator's settings: the `evaluator` section of the pipeline configuration, with its defaults.

The executor receives them as the TFMA EvalConfig (eval_config.build_eval_config) and the BlessingPolicy
(policy.py), both built from the pipeline configuration by pipeline/component_settings.py."""

from __future__ import annotations

from pydantic import Field

from components.settings_base import Section


class EvaluatorConfig(Section):
    """The Evaluator (TFMA) on the Keras model, and what it takes to bless (and so push) that model."""

    example_split: str = Field("test", description="The split the Evaluator measures and blesses on.")
    accuracy_floor: float = Field(
        0.3, ge=0, le=1, description="Absolute: the model's accuracy must reach this (chance is 1/len(genres))."
    )
    max_accuracy_drop: float = Field(
        0.02,
        ge=0,
        le=1,
        description="No regression: accuracy may be at most this much below the latest blessed model's, both "
        "measured on this run's split. Skipped (and recorded so) when nothing was blessed before.",
    )
    baseline_margin: float = Field(
        0.0,
        ge=-1,
        le=1,
        description="Accuracy must be at least the best SklearnBaselineTrainer model's test accuracy plus this.",
    )
