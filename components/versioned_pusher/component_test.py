"""The component's channels and properties, as the pipeline builds it."""

import json

import pytest
from tfx import v1 as tfx

from components.versioned_pusher.component import VersionedPusher
from components.versioned_pusher.executor import Executor
from pipeline.config import load_config


def _channels():
    types = tfx.types.standard_artifacts
    return (
        tfx.dsl.Channel(type=types.Model),
        tfx.dsl.Channel(type=types.ModelBlessing),
        tfx.dsl.Channel(type=types.Examples),
    )


def test_spec_carries_destination_and_manifest_context():
    model, blessing, examples = _channels()
    config = load_config()
    pusher = VersionedPusher(
        model=model,
        model_blessing=blessing,
        examples=examples,
        destination="gs://b/serving",
        manifest_context={"config": config.model_dump(mode="json")},
    )
    assert pusher.exec_properties["destination"] == "gs://b/serving"
    assert json.loads(pusher.exec_properties["manifest_context"])["config"]["genres"] == list(config.genres)
    assert set(pusher.inputs) == {"model", "model_blessing", "examples"}
    assert pusher.outputs["pushed_model"].type == tfx.types.standard_artifacts.PushedModel
    assert pusher.executor_spec.executor_class is Executor


def test_examples_are_optional():
    model, blessing, _ = _channels()
    pusher = VersionedPusher(
        model=model, model_blessing=blessing, destination="/srv/models", manifest_context={"config": {}}
    )
    assert "examples" not in pusher.inputs or pusher.inputs.get("examples") is None


@pytest.mark.parametrize(
    "destination, context, message",
    [
        ("", {"config": {}}, "needs a destination"),
        ("/srv/models", {}, 'must hold "config"'),
    ],
)
def test_invalid_arguments_fail_when_the_pipeline_is_built(destination, context, message):
    model, blessing, _ = _channels()
    with pytest.raises(ValueError, match=message):
        VersionedPusher(model=model, model_blessing=blessing, destination=destination, manifest_context=context)
