"""The EvalConfig: its structure, and on a tiny run through TFX's own Evaluator executor, metric values that
match what the served model itself predicts on the same examples."""

import json
import os

import pytest
import tensorflow_model_analysis as tfma
from tfx.components.evaluator import executor as standard_executor

from components.blessing_evaluator import eval_config as ec
from components.blessing_evaluator import results
from pipeline import component_settings
from tests.helpers import blessing_evaluator as testing
from tests.helpers.keras_trainer import small_config


def test_model_spec_calls_the_example_signature_of_the_served_model():
    config = component_settings.eval_config(small_config())
    (spec,) = config.model_specs
    assert (spec.signature_name, spec.model_type, spec.label_key, spec.prediction_key) == (
        "serving_examples",
        "tf_generic",
        "label",
        "probabilities",
    )
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["genre"]]


def test_metrics_cover_counts_accuracy_crossentropy_per_genre_and_macro_f1():
    config = component_settings.eval_config(small_config())
    plain, binarized = config.metrics_specs
    assert [m.class_name for m in plain.metrics] == [
        "ExampleCount",
        "SparseCategoricalAccuracy",
        "SparseCategoricalCrossentropy",
        "MultiClassConfusionMatrixPlot",
    ]
    assert [json.loads(m.config)["name"] for m in plain.metrics[1:3]] == ["accuracy", "crossentropy"]
    assert [m.class_name for m in binarized.metrics] == ["Precision", "Recall", "F1Score"]
    assert all(json.loads(m.config) == {"top_k": 1, "thresholds": [0.0]} for m in binarized.metrics)
    assert list(binarized.binarize.class_ids.values) == list(range(8))


def test_thresholds_come_from_the_config_and_apply_to_the_overall_slice_only():
    config = component_settings.eval_config(
        small_config("evaluator.accuracy_floor=0.42", "evaluator.max_accuracy_drop=0.05")
    )
    assert ec.accuracy_thresholds(config) == (0.42, -0.05)
    (per_slice,) = ec.accuracy_metric(config).per_slice_thresholds
    assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]
    assert not ec.accuracy_metric(config).HasField("threshold")  # that one would apply to every genre slice
    assert per_slice.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    # Replacing keeps one threshold, and a zero drop is still a threshold (not an unset field).
    ec.set_accuracy_thresholds(config, 0.7, 0.0)
    assert ec.accuracy_thresholds(config) == (0.7, -0.0)
    assert len(ec.accuracy_metric(config).per_slice_thresholds) == 1


def test_a_config_without_the_accuracy_metric_is_refused_by_name():
    config = component_settings.eval_config(small_config())
    del config.metrics_specs[0].metrics[1]
    with pytest.raises(ValueError, match="no metric named 'accuracy'.*build_eval_config"):
        ec.accuracy_metric(config)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_artifact, trained):
    """TFX's standard Evaluator executor with build_eval_config on the tiny test split."""
    config = small_config()
    model_root = os.path.dirname(trained["serving_model_dir"])
    run = testing.run_evaluator(
        standard_executor.Executor(),
        str(tmp_path_factory.mktemp("standard")),
        tiny_artifact["examples"],
        model_root,
        component_settings.eval_config(config),
    )
    reference = testing.reference_metrics(
        trained["serving_model_dir"], os.path.join(tiny_artifact["examples"], "Split-test"), config.genres
    )
    return run, reference, config


def test_metric_values_match_the_served_models_own_predictions(tiny_run, tiny_artifact):
    run, reference, config = tiny_run
    evaluation = results.read_evaluation(run["evaluation"].uri, config.genres)
    overall = evaluation["overall"]
    assert overall["example_count"] == reference["example_count"] == tiny_artifact["counts"]["test"]
    assert overall["accuracy"] == pytest.approx(reference["accuracy"], abs=1e-6)
    assert overall["crossentropy"] == pytest.approx(reference["crossentropy"], rel=1e-4)
    assert overall["macro_f1"] == pytest.approx(reference["macro_f1"], abs=1e-9)
    assert evaluation["confusion_matrix"] == reference["confusion_matrix"]
    for genre in config.genres:
        for metric in ("precision", "recall", "f1"):
            expected, measured = reference["per_genre"][genre][metric], evaluation["per_genre"][genre][metric]
            assert (measured is None) == (expected is None), (genre, metric, measured, expected)
            if expected is not None:
                assert measured == pytest.approx(expected, abs=1e-9), (genre, metric)
    assert evaluation["baseline_diff"] is None


def test_genre_slices_match(tiny_run):
    run, reference, config = tiny_run
    slices = results.read_evaluation(run["evaluation"].uri, config.genres)["slices"]
    assert list(slices) == [g for g in config.genres if g in reference["slices"]]
    for genre, expected in reference["slices"].items():
        assert slices[genre]["example_count"] == expected["example_count"]
        assert slices[genre]["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-6)


def test_the_floor_is_checked_on_the_overall_slice_not_per_genre(tiny_run):
    """With the default floor a genre slice far below it (the misclassified real music) does not fail."""
    run, reference, config = tiny_run
    assert reference["accuracy"] >= config.evaluator.accuracy_floor, "the tiny model should beat the floor"
    ok, failures = results.read_validation(run["evaluation"].uri)
    assert ok and failures == []
    assert os.path.exists(os.path.join(run["blessing"].uri, "BLESSED"))
