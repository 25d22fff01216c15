"""The blessing rules without TFMA: thresholds, checks, reasons and agreement with TFMA's verdict."""

import json

import pytest
from pydantic import ValidationError

from components.blessing_evaluator import policy as p
from pipeline import component_settings
from pipeline.config import load_config

SVM = p.BestBaseline("svm", 0.79, "/baselines/metrics.json")
NO_BASELINES = "baselines disabled"


def _policy(**overrides) -> p.BlessingPolicy:
    return p.BlessingPolicy(
        **{"accuracy_floor": 0.3, "max_accuracy_drop": 0.02, "baseline_margin": 0.0, "genres": ("a", "b"), **overrides}
    )


@pytest.mark.parametrize(
    "target, source", [("local", "resolver"), ("vertex", "resolver"), ("kubeflow", "push_destination")]
)
def test_from_pipeline_config_picks_the_regression_source_by_target(target, source):
    config = load_config(
        overrides=[
            "evaluator.accuracy_floor=0.4",
            "evaluator.max_accuracy_drop=0.05",
            "evaluator.baseline_margin=0.01",
            "pusher.destination=gs://bucket/serving",
        ]
    )
    policy = component_settings.blessing_policy(config, target)
    assert policy.regression_source == source
    assert (policy.accuracy_floor, policy.max_accuracy_drop, policy.baseline_margin) == (0.4, 0.05, 0.01)
    assert policy.push_destination == "gs://bucket/serving" and policy.genres == config.genres
    assert p.BlessingPolicy.model_validate_json(policy.model_dump_json()) == policy


def test_local_push_destination_defaults_to_the_runs_folder():
    config = load_config()
    assert component_settings.blessing_policy(config, "kubeflow").push_destination == config.push_destination


def test_unknown_target_and_missing_destination_are_refused():
    with pytest.raises(ValueError, match="unknown target 'airflow'"):
        component_settings.blessing_policy(load_config(), "airflow")
    with pytest.raises(ValidationError, match="needs push_destination"):
        _policy(regression_source="push_destination")
    with pytest.raises(ValidationError):
        _policy(accuracy_floor=1.5)


def test_lower_bound_is_the_stricter_of_floor_and_best_baseline_plus_margin():
    assert _policy().accuracy_lower_bound(None) == 0.3
    assert _policy().accuracy_lower_bound(SVM) == 0.79
    assert _policy(baseline_margin=0.05).accuracy_lower_bound(SVM) == pytest.approx(0.84)
    assert _policy(accuracy_floor=0.9).accuracy_lower_bound(SVM) == 0.9
    assert _policy(baseline_margin=-0.6).accuracy_lower_bound(SVM) == 0.3


def test_best_baseline_reads_the_summary_and_names_the_file_when_it_is_not_one():
    summary = {"best_algorithm": "knn", "best_test_accuracy": 0.5, "algorithms": {}}
    assert p.best_baseline(summary, "/m/metrics.json") == p.BestBaseline("knn", 0.5, "/m/metrics.json")
    with pytest.raises(ValueError, match="/m/metrics.json lacks best_algorithm.*SklearnBaselineTrainer"):
        p.best_baseline({"accuracy": 0.5}, "/m/metrics.json")


def _by_name(checks):
    return {c["name"]: c for c in checks}


def test_all_checks_pass_with_their_thresholds_and_measured_values():
    previous = p.PreviousModel(uri="/models/7")
    checks = _by_name(p.checks(_policy(), 0.81, -0.01, previous, SVM, NO_BASELINES))
    assert checks["accuracy_floor"] | {"detail": ""} == {
        "name": "accuracy_floor",
        "metric": "accuracy",
        "comparison": ">=",
        "threshold": 0.3,
        "measured": 0.81,
        "passed": True,
        "skipped": False,
        "detail": "",
    }
    regression = checks["no_regression"]
    assert (regression["threshold"], regression["measured"], regression["passed"]) == (-0.02, -0.01, True)
    assert regression["previous_model_uri"] == "/models/7"
    beats = checks["beats_baselines"]
    assert (beats["threshold"], beats["measured"], beats["passed"]) == (0.79, 0.81, True)
    assert (beats["baseline_algorithm"], beats["baseline_accuracy"], beats["margin"]) == ("svm", 0.79, 0.0)
    assert p.decide(list(checks.values()), True, []) == (True, [])


def test_skipped_checks_say_why_and_do_not_block():
    checks = _by_name(p.checks(_policy(), 0.5, None, p.PreviousModel(), None, NO_BASELINES))
    for name, reason in (("no_regression", "no blessed model before"), ("beats_baselines", NO_BASELINES)):
        assert checks[name]["skipped"] and checks[name]["passed"] is None and checks[name]["detail"] == reason
    assert checks["no_regression"]["measured"] is None and checks["beats_baselines"]["threshold"] is None
    incompatible = p.PreviousModel(skipped_reason="genres differ: skipped")
    assert (
        _by_name(p.checks(_policy(), 0.5, None, incompatible, None, ""))["no_regression"]["detail"]
        == "genres differ: skipped"
    )
    assert p.decide(list(checks.values()), True, []) == (True, [])


def test_each_failure_gives_a_reason_and_the_verdict_follows_tfma():
    previous = p.PreviousModel(uri="/models/7")
    checks = p.checks(_policy(accuracy_floor=0.5, baseline_margin=0.05), 0.21, -0.1, previous, SVM, "")
    assert [c["passed"] for c in checks] == [False, False, False]
    blessed, reasons = p.decide(checks, False, ["accuracy = 0.21 fails lower bound 0.84"])
    assert not blessed
    assert reasons == [
        "accuracy 0.2100 < floor 0.5000",
        "accuracy dropped by 0.1000 against the latest blessed model /models/7 (at most 0.0200 allowed)",
        "accuracy 0.2100 < best baseline svm 0.7900 + margin 0.0500",
    ]


def test_boundaries_pass_as_tfma_compares_them():
    """TFMA passes value >= lower bound and diff >= -max_drop: equality blesses."""
    checks = p.checks(_policy(accuracy_floor=0.5), 0.5, -0.02, p.PreviousModel(uri="/m"), None, "")
    assert [c["passed"] for c in checks[:2]] == [True, True]


def test_disagreement_with_tfma_is_an_error_or_reported():
    failing = p.checks(_policy(accuracy_floor=0.9), 0.5, None, p.PreviousModel(), None, "")
    with pytest.raises(RuntimeError, match="TFMA blessed the model but these checks fail"):
        p.decide(failing, True, [])
    passing = p.checks(_policy(), 0.5, None, p.PreviousModel(), None, "")
    assert p.decide(passing, False, ["Overall: crossentropy = 3 fails upper bound 2"]) == (
        False,
        ["TFMA validation failed: Overall: crossentropy = 3 fails upper bound 2"],
    )


def test_a_previous_model_without_a_measured_difference_is_an_error():
    with pytest.raises(ValueError, match="no accuracy difference against /m"):
        p.checks(_policy(), 0.5, None, p.PreviousModel(uri="/m"), None, "")


def test_compatibility_needs_the_same_input_and_genres():
    info = {"featurizer_settings": {"sample_rate": 22050, "num_samples": 66150, "n_mels": 128}, "genres": ["a", "b"]}
    assert (
        p.compatibility_problem(info, {**info, "featurizer_settings": {**info["featurizer_settings"], "n_mels": 64}})
        is None
    )
    other = {"featurizer_settings": {"sample_rate": 22050, "num_samples": 22050}, "genres": ["b", "a"]}
    assert p.compatibility_problem(info, other) == "num_samples 22050 -> 66150; genres ['b', 'a'] -> ['a', 'b']"


def test_decision_record_is_json_with_nan_as_null():
    checks = p.checks(_policy(), 0.5, None, p.PreviousModel(), None, NO_BASELINES)
    record = p.decision_record(
        blessed=True,
        split="test",
        model_uri="/m",
        model_id=3,
        metrics={"example_count": 4, "accuracy": 0.5, "crossentropy": float("nan"), "macro_f1": 0.4},
        policy_checks=checks,
        reasons=[],
        tfma_validation_ok=True,
        tfma_failures=[],
        policy=_policy(),
    )
    assert json.loads(json.dumps(record, allow_nan=False))["metrics"]["crossentropy"] is None
    assert record["policy"]["accuracy_floor"] == 0.3 and [c["name"] for c in record["checks"]] == [
        "accuracy_floor",
        "no_regression",
        "beats_baselines",
    ]
