"""The executor on the tiny model, TFMA included: three real runs (a first run against real sklearn baselines,
a Kubeflow-style run against the push destination, a regression against a resolver-given model) and the
checks that fail before TFMA starts."""

import contextlib
import io
import json
import os

import pytest
from tfx.types import standard_component_specs as keys

from components.blessing_evaluator import results
from components.blessing_evaluator.executor import (
    BASELINE_MODELS_KEY,
    BLESSING_POLICY_KEY,
    NO_BASELINES,
    PUSHED_BASELINE_DIR,
    Executor,
    find_previous_model,
    read_best_baseline,
)
from pipeline import component_settings
from tests.helpers import blessing_evaluator as testing
from tests.helpers.keras_trainer import small_config

MODEL_ID = 42


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_artifact, trained):
    config = small_config()
    root = tmp_path_factory.mktemp("blessing")
    baselines = testing.run_sklearn_baselines(str(root / "sklearn"), config)
    with open(os.path.join(baselines.uri, "metrics.json")) as f:
        summary = json.load(f)
    return {
        "config": config,
        "root": root,
        "examples": tiny_artifact["examples"],
        "model_root": os.path.dirname(trained["serving_model_dir"]),
        "baselines": baselines,
        "summary": summary,
        "reference": testing.reference_metrics(
            trained["serving_model_dir"], os.path.join(tiny_artifact["examples"], "Split-test"), config.genres
        ),
    }


def _run(env, name, policy, model_root=None, baseline_model_uri=None, with_baselines=False):
    inputs = {BASELINE_MODELS_KEY: [env["baselines"]]} if with_baselines else {}
    return testing.run_evaluator(
        Executor(),
        str(env["root"] / name),
        env["examples"],
        model_root or env["model_root"],
        component_settings.eval_config(env["config"]),
        baseline_model_uri=baseline_model_uri,
        extra_inputs=inputs,
        extra_properties={BLESSING_POLICY_KEY: policy.model_dump_json()},
        model_id=MODEL_ID,
    )


def _policy(target="local", *overrides):
    return component_settings.blessing_policy(small_config(*overrides), target)


def _checks(decision):
    return {c["name"]: c for c in decision["checks"]}


def _agrees_with_tfma(run, decision, blessed):
    ok, failures = results.read_validation(run["evaluation"].uri)
    assert decision["blessed"] is ok is blessed
    assert decision["tfma_validation_ok"] is ok and decision["tfma_failures"] == failures
    assert os.path.exists(os.path.join(run["blessing"].uri, "BLESSED" if blessed else "NOT_BLESSED"))
    assert run["blessing"].get_int_custom_property("blessed") == int(blessed)
    assert results.read_decision(run["blessing"].uri) == decision


# -- a first run: no blessed model before, real SklearnBaselineTrainer output -----------------------------
@pytest.fixture(scope="module")
def first_run(env):
    # The baseline threshold (best + margin) just below the model's own accuracy: it must pass, and only
    # because the run-time threshold reached TFMA (the static config knows nothing of the baselines).
    best = env["summary"]["best_test_accuracy"]
    margin = round(env["reference"]["accuracy"] - best - 0.01, 6)
    policy = _policy("local", f"evaluator.baseline_margin={margin}")
    with contextlib.redirect_stderr(io.StringIO()) as progress_bar:  # the bar's thread writes where it started
        run = _run(env, "first", policy, with_baselines=True)
    run["progress"] = progress_bar.getvalue()
    return run, policy, results.read_decision(run["blessing"].uri)


def test_first_run_is_blessed_and_records_every_check(env, first_run):
    run, policy, decision = first_run
    _agrees_with_tfma(run, decision, blessed=True)
    assert decision["split"] == "test" and decision["reasons"] == []
    assert (decision["model_uri"], decision["model_id"]) == (env["model_root"], MODEL_ID)
    checks = _checks(decision)
    assert checks["accuracy_floor"]["threshold"] == policy.accuracy_floor and checks["accuracy_floor"]["passed"]
    regression = checks["no_regression"]
    assert regression["skipped"] and regression["detail"] == "no blessed model before"
    beats = checks["beats_baselines"]
    summary = env["summary"]
    assert (beats["baseline_algorithm"], beats["baseline_accuracy"]) == (
        summary["best_algorithm"],
        summary["best_test_accuracy"],
    )
    assert beats["threshold"] == pytest.approx(env["reference"]["accuracy"] - 0.01, abs=1e-6)
    assert beats["passed"] and not beats["skipped"] and beats["margin"] == policy.baseline_margin


def test_evaluated_examples_are_checked_against_the_transforms_record(env, first_run, tmp_path):

    from components.blessing_evaluator.executor import check_evaluated
    from components.ledger import LedgerMismatch

    run = first_run[0]
    with open(os.path.join(env["examples"], "summary.json")) as f:
        recorded = json.load(f)["examples_written"]
    with open(os.path.join(run["evaluation"].uri, results.LEDGER_FILE)) as f:
        rows = json.load(f)
    assert [(r["stage"], r["split"], r["counted"], r["expected"], r["balanced"]) for r in rows] == [
        ("Evaluator", "test", recorded["test"], recorded["test"], True)
    ]
    # The same evaluation against a record of more test examples than TFMA saw: refused, with both figures.
    examples = str(tmp_path / "examples")
    os.makedirs(examples)
    with open(os.path.join(examples, "summary.json"), "w") as f:
        json.dump({"examples_written": {**recorded, "test": recorded["test"] + 1}}, f)
    with pytest.raises(
        LedgerMismatch,
        match=rf"Evaluator, split 'test': evaluated {recorded['test']} examples, but "
        rf"SpectrogramTransform {examples} recorded {recorded['test'] + 1}",
    ):
        check_evaluated(run["evaluation"].uri, examples, "test", env["config"].genres)


def test_progress_counts_the_examples_tfma_evaluated(env, first_run):
    run, _, decision = first_run
    with open(os.path.join(env["examples"], "summary.json")) as f:
        total = json.load(f)["examples_written"]["test"]
    # The bar's last state: every example TFMA evaluated was counted, against SpectrogramTransform's record.
    assert decision["metrics"]["example_count"] == total
    assert "Evaluator: 100%" in run["progress"] and f"{total}/{total} [" in run["progress"]


def test_decision_metrics_are_the_models_own(env, first_run):
    _, _, decision = first_run
    metrics, reference = decision["metrics"], env["reference"]
    assert metrics["example_count"] == reference["example_count"]
    assert metrics["accuracy"] == pytest.approx(reference["accuracy"], abs=1e-6)
    assert metrics["crossentropy"] == pytest.approx(reference["crossentropy"], rel=1e-4)
    assert metrics["macro_f1"] == pytest.approx(reference["macro_f1"], abs=1e-9)
    assert _checks(decision)["accuracy_floor"]["measured"] == metrics["accuracy"]


def test_the_run_time_threshold_is_what_tfma_checked(env, first_run):
    run, policy, decision = first_run
    with open(os.path.join(run["evaluation"].uri, "eval_config.json")) as f:  # written by TFMA
        tfma_config = json.load(f)["evalConfig"]
    accuracy = next(m for m in tfma_config["metricsSpecs"][0]["metrics"] if "accuracy" in m.get("config", ""))
    lower = accuracy["perSliceThresholds"][0]["threshold"]["valueThreshold"]["lowerBound"]
    assert lower == pytest.approx(env["summary"]["best_test_accuracy"] + policy.baseline_margin)
    info = results.read_evaluation(run["evaluation"].uri)  # genres and split from evaluation_info.json
    assert info["split"] == "test" and list(info["per_genre"]) == list(env["config"].genres)


def test_blessing_custom_properties_hold_each_threshold_and_measured_value(first_run):
    run, _, decision = first_run
    blessing = run["blessing"]
    assert blessing.get_string_custom_property("current_model") == decision["model_uri"]
    assert blessing.get_int_custom_property("current_model_id") == MODEL_ID
    for check in decision["checks"]:
        status = "skipped" if check["skipped"] else "passed"
        assert blessing.get_string_custom_property(f"{check['name']}_status") == status
    beats = _checks(decision)["beats_baselines"]
    assert blessing.get_float_custom_property("beats_baselines_threshold") == beats["threshold"]
    assert blessing.get_float_custom_property("accuracy_floor_measured") == decision["metrics"]["accuracy"]
    assert blessing.get_string_custom_property("baseline_algorithm") == decision["checks"][2]["baseline_algorithm"]
    assert blessing.get_string_custom_property("decision_uri") == os.path.join(blessing.uri, "decision.json")


# -- Kubeflow: the latest blessed model comes from the push destination -----------------------------------
@pytest.fixture(scope="module")
def kubeflow_run(env, first_run):
    from components.formats.push import newest_version
    from tests.helpers.versioned_pusher import run_pusher

    destination = str(env["root"] / "serving")
    blessing = first_run[0]["blessing"]  # the real blessing of the first run lets the real pusher push
    for n in range(2):
        run_pusher(env["model_root"], blessing, destination, str(env["root"] / f"pushed{n}"))
    newest = newest_version(destination)
    os.makedirs(os.path.join(destination, str(newest.version + 10)))  # unfinished push: no manifest, ignored
    floor = round(env["reference"]["accuracy"] + 0.1, 4)  # above what the model reaches
    assert floor <= 1.0, "the tiny model's test accuracy should stay below 0.9 (its real music is misread)"
    policy = _policy("kubeflow", f"pusher.destination={destination}", f"evaluator.accuracy_floor={floor}")
    run = _run(env, "kubeflow", policy)
    return run, policy, results.read_decision(run["blessing"].uri), newest


def test_kubeflow_run_compares_with_the_newest_pushed_version(kubeflow_run):
    run, _, decision, newest = kubeflow_run
    regression = _checks(decision)["no_regression"]
    assert not regression["skipped"] and regression["passed"]
    assert regression["measured"] == pytest.approx(0.0, abs=1e-9)  # the same model was pushed
    assert (regression["previous_model_uri"], regression["previous_version"]) == (newest.model_dir, newest.version)
    copied = os.path.join(run["evaluation"].uri, PUSHED_BASELINE_DIR, "Format-Serving", "saved_model.pb")
    assert os.path.isfile(copied)
    assert run["blessing"].get_string_custom_property("baseline_model") == os.path.dirname(os.path.dirname(copied))
    assert run["blessing"].get_int_custom_property("previous_model_version") == newest.version
    assert results.read_evaluation(run["evaluation"].uri)["baseline_diff"] == {"accuracy": regression["measured"]}


def test_floor_above_the_reachable_accuracy_is_not_blessed(kubeflow_run):
    run, policy, decision, _ = kubeflow_run
    _agrees_with_tfma(run, decision, blessed=False)
    accuracy = decision["metrics"]["accuracy"]
    assert decision["reasons"] == [f"accuracy {accuracy:.4f} < floor {policy.accuracy_floor:.4f}"]
    assert any("accuracy" in failure and "lower bound" in failure for failure in decision["tfma_failures"])
    checks = _checks(decision)
    assert checks["accuracy_floor"]["passed"] is False
    assert checks["beats_baselines"]["skipped"] and checks["beats_baselines"]["detail"] == NO_BASELINES
    assert run["blessing"].get_string_custom_property("accuracy_floor_status") == "failed"
    assert run["blessing"].get_string_custom_property("reasons") == decision["reasons"][0]


# -- a regression against the resolver's latest blessed model ---------------------------------------------
@pytest.fixture(scope="module")
def regression_run(env, tiny_artifact):
    untrained = testing.export_untrained_model(
        tiny_artifact["featurizer"], str(env["root"] / "untrained"), env["config"]
    )
    reference = testing.reference_metrics(
        os.path.join(untrained, "Format-Serving"), os.path.join(env["examples"], "Split-test"), env["config"].genres
    )
    assert reference["accuracy"] < env["reference"]["accuracy"] - 0.02, "an untrained model should be worse"
    # Floor 0 and margin -1: only the regression check can fail.
    policy = _policy("local", "evaluator.accuracy_floor=0", "evaluator.baseline_margin=-1")
    run = _run(
        env, "regression", policy, model_root=untrained, baseline_model_uri=env["model_root"], with_baselines=True
    )
    return run, results.read_decision(run["blessing"].uri), reference


def test_a_worse_model_than_the_latest_blessed_one_is_not_blessed(env, regression_run):
    run, decision, reference = regression_run
    _agrees_with_tfma(run, decision, blessed=False)
    regression = _checks(decision)["no_regression"]
    expected = reference["accuracy"] - env["reference"]["accuracy"]
    assert regression["measured"] == pytest.approx(expected, abs=1e-6) and regression["passed"] is False
    assert regression["previous_model_uri"] == env["model_root"]
    assert decision["reasons"] == [
        f"accuracy dropped by {-regression['measured']:.4f} against the latest blessed model {env['model_root']} "
        "(at most 0.0200 allowed)"
    ]
    assert any("change" in failure for failure in decision["tfma_failures"])
    assert [c["passed"] for c in decision["checks"]] == [True, False, True]


# -- before TFMA: inputs that cannot be used ----------------------------------------------------------------
def test_baseline_models_without_metrics_json_is_a_clear_error(env, tmp_path):
    empty = testing.model_artifact(str(tmp_path / "not-baselines"))
    os.makedirs(empty.uri)
    with pytest.raises(ValueError, match=r"not-baselines/metrics.json does not exist.*SklearnBaselineTrainer"):
        read_best_baseline([empty])
    with pytest.raises(ValueError, match="SklearnBaselineTrainer"):  # the executor stops before TFMA runs
        testing.run_evaluator(
            Executor(),
            str(tmp_path / "run"),
            env["examples"],
            env["model_root"],
            component_settings.eval_config(env["config"]),
            extra_inputs={BASELINE_MODELS_KEY: [empty]},
            extra_properties={BLESSING_POLICY_KEY: _policy().model_dump_json()},
        )
    assert not os.listdir(tmp_path / "run" / "evaluation")


def test_an_incompatible_previous_model_is_skipped_with_the_reason(env, tiny_artifact, tmp_path):
    other = testing.export_untrained_model(
        tiny_artifact["featurizer"], str(tmp_path / "other"), env["config"], genres=list(reversed(env["config"].genres))
    )
    candidate = testing.model_artifact(env["model_root"])
    previous, artifact = find_previous_model(
        _policy(), [testing.model_artifact(other)], candidate, str(tmp_path / "evaluation")
    )
    assert artifact is None and previous.uri is None
    assert "is not comparable (genres" in previous.skipped_reason and previous.skipped_reason.endswith("skipped")


def test_an_empty_push_destination_means_no_previous_model(env, tmp_path):
    policy = _policy("kubeflow", f"pusher.destination={tmp_path / 'nothing-yet'}")
    previous, artifact = find_previous_model(
        policy, [], testing.model_artifact(env["model_root"]), str(tmp_path / "evaluation")
    )
    assert artifact is None and previous.uri is None
    assert previous.skipped_reason == f"no blessed model before (nothing pushed to {tmp_path / 'nothing-yet'})"


def test_the_policy_property_is_required(env, tmp_path):
    with pytest.raises(ValueError, match=f"the {BLESSING_POLICY_KEY} execution property is missing"):
        testing.run_evaluator(
            Executor(), str(tmp_path), env["examples"], env["model_root"], component_settings.eval_config(env["config"])
        )
    assert keys.BASELINE_MODEL_KEY == "baseline_model"  # the resolver's channel name the pipeline wires
