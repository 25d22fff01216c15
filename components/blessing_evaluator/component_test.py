"""The component's spec and construction-time checks (the executor is tested in executor_test.py)."""

import json

import pytest
from tfx import types
from tfx.types import standard_artifacts

from components.blessing_evaluator.component import BlessingEvaluator
from components.blessing_evaluator.executor import BASELINE_MODELS_KEY, BLESSING_POLICY_KEY, Executor
from pipeline import component_settings
from pipeline.config import load_config


def _channel(artifact_type):
    return types.Channel(type=artifact_type)


def _component(target="local", **overrides):
    config = load_config()
    arguments = dict(
        examples=_channel(standard_artifacts.Examples),
        model=_channel(standard_artifacts.Model),
        eval_config=component_settings.eval_config(config),
        example_splits=["test"],
        policy=component_settings.blessing_policy(config, target),
        baseline_model=_channel(standard_artifacts.Model),
        baseline_models=_channel(standard_artifacts.Model),
    )
    arguments.update(overrides)
    return BlessingEvaluator(**arguments)


def test_spec_is_the_evaluators_plus_baselines_and_policy():
    component = _component()
    assert set(component.inputs) == {"examples", "model", "baseline_model", BASELINE_MODELS_KEY}
    assert set(component.outputs) == {"evaluation", "blessing"}
    assert component.executor_spec.executor_class is Executor
    policy = json.loads(component.exec_properties[BLESSING_POLICY_KEY])
    assert policy["regression_source"] == "resolver" and policy["accuracy_floor"] == 0.3
    assert json.loads(component.exec_properties["example_splits"]) == ["test"]


def test_executor_is_a_subclass_of_the_standard_evaluator_executor():
    from tfx.components.evaluator import executor as standard

    assert issubclass(Executor, standard.Executor)


def test_optional_inputs_may_be_left_out():
    component = _component(baseline_model=None, baseline_models=None)
    assert "baseline_model" not in component.inputs and BASELINE_MODELS_KEY not in component.inputs


def test_construction_refuses_what_cannot_work():
    with pytest.raises(ValueError, match="one split"):
        _component(example_splits=["eval", "test"])
    with pytest.raises(ValueError, match="do not also wire a baseline_model resolver"):
        _component(policy=component_settings.blessing_policy(load_config(), "kubeflow"))
    config = component_settings.eval_config(load_config())
    del config.metrics_specs[0].metrics[1]
    with pytest.raises(ValueError, match="no metric named 'accuracy'"):
        _component(eval_config=config)
