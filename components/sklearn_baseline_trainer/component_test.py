"""The component's spec: channels, the settings round trip, early config errors, Kubeflow V2 compilation."""

import json

import pytest
from tfx import v1 as tfx

from components.sklearn_baseline_trainer.component import SklearnBaselineTrainer
from components.sklearn_baseline_trainer.executor import BASELINE_CONFIG_KEY
from components.sklearn_baseline_trainer.settings import BaselineSettings
from pipeline import component_settings
from pipeline.config import load_config
from tests.helpers.compiled import compile_pipeline_spec


def _examples_channel():
    # Stands in for SpectrogramTransform's transformed_examples: any producer of an Examples channel.
    return tfx.dsl.Importer(
        source_uri="gs://bucket/transformed_examples", artifact_type=tfx.types.standard_artifacts.Examples
    ).with_id("ImportTransformed")


def test_settings_round_trip_through_the_execution_property():
    config = load_config(overrides=["baselines.pca_components=0.95", "baselines.grid_search=true"])
    importer = _examples_channel()
    trainer = SklearnBaselineTrainer(
        examples=importer.outputs["result"], settings=component_settings.baseline_settings(config)
    )
    settings = BaselineSettings.model_validate_json(trainer.exec_properties[BASELINE_CONFIG_KEY])
    assert settings.baselines == config.baselines and settings.genres == config.genres
    assert trainer.inputs["examples"].type_name == "Examples"
    assert trainer.outputs["model"].type_name == "Model"
    assert trainer.id == "SklearnBaselineTrainer"


def test_bad_hyperparameter_fails_when_the_pipeline_is_built():
    config = load_config(overrides=["baselines.hyperparameters.logistic_regression.c=1"])
    with pytest.raises(ValueError, match=r"logistic_regression: unknown hyperparameter\(s\) \['c'\]"):
        SklearnBaselineTrainer(
            examples=_examples_channel().outputs["result"], settings=component_settings.baseline_settings(config)
        )


def test_compiles_under_kubeflow_v2(tmp_path):
    config = load_config()
    importer = _examples_channel()
    trainer = SklearnBaselineTrainer(
        examples=importer.outputs["result"], settings=component_settings.baseline_settings(config)
    )
    spec = compile_pipeline_spec([importer, trainer], tmp_path)
    container = spec["deploymentSpec"]["executors"]["SklearnBaselineTrainer_executor"]["container"]
    assert container["image"] == "registry/image:tag"
    assert "components.sklearn_baseline_trainer.executor.Executor" in json.dumps(container)
    task = spec["root"]["dag"]["tasks"]["SklearnBaselineTrainer"]
    assert task["inputs"]["artifacts"]["examples"]["taskOutputArtifact"]["producerTask"] == "ImportTransformed"
    outputs = spec["components"]["SklearnBaselineTrainer"]["outputDefinitions"]["artifacts"]
    assert outputs["model"]["artifactType"]["instanceSchema"].startswith("title: tfx.Model")
    constant = json.dumps(task["inputs"]["parameters"][BASELINE_CONFIG_KEY])
    assert "logistic_regression" in constant
