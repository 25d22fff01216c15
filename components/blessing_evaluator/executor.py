"""BlessingEvaluator's executor: the standard Evaluator executor (TFMA does all the measuring and the
threshold checks), with run-time thresholds and regression baseline set before, and the decision recorded
after.

Before: the accuracy lower bound becomes max(accuracy_floor, best baseline test accuracy + margin), known
only now; the latest blessed model comes from the `baseline_model` input (resolver) or is copied from the
push destination (Kubeflow), and is dropped when it is not comparable with the candidate.
After: decision.json in the blessing's uri and the checks as custom properties of the blessing.
While TFMA runs: a progress bar with an ETA over the examples of the evaluated split, counted by a
pass-through step before TFMA's ExtractEvaluateAndWriteResults (components/progress.py, count_inputs).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from typing import Any, Optional

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as keys
from tfx.utils import io_utils, json_utils, path_utils, proto_utils

from components import beam_data_plane, ledger, progress
from components.blessing_evaluator import eval_config as eval_config_lib
from components.blessing_evaluator import policy as policy_lib
from components.blessing_evaluator.policy import BestBaseline, BlessingPolicy, PreviousModel
from components.blessing_evaluator.results import EVALUATION_INFO_FILE, LEDGER_FILE, read_evaluation, read_validation
from components.formats import BASELINE_SUMMARY_FILE
from components.formats.blessing import DECISION_FILE, write_decision
from components.formats.push import UnverifiedVersion, newest_version, verify_version
from components.formats.serving import load_serving_model
from components.json_files import read_json, write_json

BASELINE_MODELS_KEY = "baseline_models"
BLESSING_POLICY_KEY = "blessing_policy"
# Where a previous model taken from the push destination is copied, inside the evaluation artifact: a
# Model-artifact layout (<uri>/Format-Serving) so the standard executor loads it like any baseline_model.
PUSHED_BASELINE_DIR = "baseline_model"
NO_BASELINES = "baselines disabled (no SklearnBaselineTrainer model among the inputs)"
# The label TFX's Evaluator executor gives TFMA's transform; its input is every example to evaluate.
TFMA_STEP = "ExtractEvaluateAndWriteResults"

_log = logging.getLogger(__name__)


class Executor(evaluator_executor.Executor):
    """tfx.components.evaluator.executor.Executor with run-time thresholds, a recorded decision and progress."""

    _progress: Optional[tuple[str, str]] = None  # (progress directory, split) while TFMA runs

    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        beam_data_plane.install()  # TFMA runs a Beam pipeline in this process
        if not exec_properties.get(BLESSING_POLICY_KEY):
            raise ValueError(
                f"the {BLESSING_POLICY_KEY} execution property is missing: this executor runs inside "
                "BlessingEvaluator (components/blessing_evaluator/component.py), which sets it"
            )
        policy = BlessingPolicy.model_validate_json(exec_properties[BLESSING_POLICY_KEY])
        candidate = artifact_utils.get_single_instance(input_dict[keys.MODEL_KEY])
        evaluation = artifact_utils.get_single_instance(output_dict[keys.EVALUATION_KEY])
        blessing = artifact_utils.get_single_instance(output_dict[keys.BLESSING_KEY])
        baseline = read_best_baseline(input_dict.get(BASELINE_MODELS_KEY) or [])
        previous, previous_artifact = find_previous_model(
            policy, input_dict.get(keys.BASELINE_MODEL_KEY) or [], candidate, evaluation.uri
        )

        config = tfma.EvalConfig()
        proto_utils.json_to_proto(exec_properties[keys.EVAL_CONFIG_KEY], config)
        lower_bound = policy.accuracy_lower_bound(baseline)
        eval_config_lib.set_accuracy_thresholds(config, lower_bound, policy.max_accuracy_drop)
        _log.info(
            "Evaluator: bless when accuracy >= %.4f (floor %.4f%s) and %s",
            lower_bound,
            policy.accuracy_floor,
            f", baseline {baseline.algorithm} {baseline.accuracy:.4f} + margin {policy.baseline_margin:.4f}"
            if baseline
            else ", no baselines",
            f"accuracy drop <= {policy.max_accuracy_drop:.4f} vs {previous.uri}"
            if previous.uri
            else f"no regression check ({previous.skipped_reason})",
        )

        inputs = {k: v for k, v in input_dict.items() if k not in (BASELINE_MODELS_KEY, keys.BASELINE_MODEL_KEY)}
        if previous_artifact is not None:
            inputs[keys.BASELINE_MODEL_KEY] = [previous_artifact]
        properties = {k: v for k, v in exec_properties.items() if k != BLESSING_POLICY_KEY}
        properties[keys.EVAL_CONFIG_KEY] = proto_utils.proto_to_json(config)
        split = _split(exec_properties)
        write_json(
            os.path.join(evaluation.uri, EVALUATION_INFO_FILE),
            {
                "split": split,
                "genres": list(policy.genres),
                "model_uri": candidate.uri,
                "previous_model_uri": previous.uri,
                "accuracy_lower_bound": lower_bound,
            },
        )

        examples = artifact_utils.get_single_instance(input_dict[keys.EXAMPLES_KEY])
        with progress.monitored("Evaluator", {split: recorded_total(examples.uri, split)}) as directory:
            self._progress = (directory, split)
            try:
                super().Do(inputs, output_dict, properties)
            finally:
                self._progress = None
        entries = check_evaluated(evaluation.uri, examples.uri, split, policy.genres)
        write_json(os.path.join(evaluation.uri, LEDGER_FILE), entries)

        decision = record_decision(policy, evaluation.uri, blessing, candidate, split, previous, baseline)
        _log.info(
            "Evaluator: %s; decision in %s",
            "BLESSED" if decision["blessed"] else "NOT blessed: " + "; ".join(decision["reasons"]),
            os.path.join(blessing.uri, DECISION_FILE),
        )

    def _make_beam_pipeline(self):
        pipeline = super()._make_beam_pipeline()
        if self._progress:
            directory, split = self._progress
            progress.count_inputs(pipeline, functools.partial(tfma_input, split), directory)
        return pipeline


def tfma_input(split: str, transform, label: str) -> Optional[str]:
    """`split` for TFMA's transform (its input: the examples read, before any prediction), None for any
    other step. The count runs in the same fused Beam stage as the predictions (no reshuffle between),
    so it leads them by at most a batch per worker."""
    return split if label == TFMA_STEP else None


def recorded_total(examples_uri: str, split: str) -> Optional[int]:
    """Examples SpectrogramTransform recorded writing to the split ("a,b": both), None without a record."""
    recorded = ledger.recorded_examples(examples_uri)
    return None if recorded is None else sum(recorded.get(s, 0) for s in split.split(","))


def check_evaluated(evaluation_uri: str, examples_uri: str, split: str, genres) -> list[dict]:
    """TFMA's example count against the examples SpectrogramTransform recorded writing to the evaluated
    split(s); raises LedgerMismatch (nothing is blessed) when they differ."""
    counted = read_evaluation(evaluation_uri, genres)["overall"]["example_count"]
    return ledger.check(
        ledger.against_record(
            "Evaluator", examples_uri, "SpectrogramTransform", {split: ("evaluated", int(counted or 0))}, evaluation_uri
        )
    )


def read_best_baseline(baseline_models: list) -> Optional[BestBaseline]:
    """The best SklearnBaselineTrainer model from its metrics.json; None without that input."""
    if not baseline_models:
        return None
    artifact = artifact_utils.get_single_instance(baseline_models)
    path = os.path.join(artifact.uri, BASELINE_SUMMARY_FILE)
    summary = read_json(path)
    if summary is None:
        raise ValueError(
            f"{path} does not exist: the {BASELINE_MODELS_KEY} input must be the Model artifact of "
            "SklearnBaselineTrainer, which writes that summary (best_algorithm, best_test_accuracy)"
        )
    return policy_lib.best_baseline(summary, path)


def find_previous_model(
    policy: BlessingPolicy, baseline_model: list, candidate, evaluation_uri: str
) -> tuple[PreviousModel, Optional[Any]]:
    """(the latest blessed model or why none, the Model artifact to hand TFMA as baseline_model or None)."""
    if policy.regression_source == "push_destination":
        if baseline_model:
            _log.warning(
                "Evaluator: ignoring the baseline_model input: the blessing policy takes the latest "
                "blessed model from the push destination %s",
                policy.push_destination,
            )
        return _previous_from_destination(policy.push_destination, candidate, evaluation_uri)
    if not baseline_model:
        return PreviousModel(skipped_reason="no blessed model before"), None
    artifact = artifact_utils.get_single_instance(baseline_model)
    model_dir = path_utils.serving_model_path(artifact.uri, path_utils.is_old_model_artifact(artifact))
    problem = _incompatibility(candidate, model_dir)
    if problem:
        return PreviousModel(skipped_reason=problem), None
    return PreviousModel(uri=artifact.uri), artifact


def _previous_from_destination(destination: str, candidate, evaluation_uri: str) -> tuple[PreviousModel, Optional[Any]]:
    newest = newest_version(destination)
    if newest is None:
        return PreviousModel(skipped_reason=f"no blessed model before (nothing pushed to {destination})"), None
    artifact = standard_artifacts.Model()
    artifact.uri = os.path.join(evaluation_uri, PUSHED_BASELINE_DIR)
    # A copy, not a reference: the standard executor loads <uri>/Format-Serving, and the evaluation stays
    # reproducible when old versions are deleted from the destination.
    copy = path_utils.serving_model_path(artifact.uri)
    try:
        # Loading a SavedModel runs its graph: a version whose files do not match its manifest's model_digest
        # (planted, altered, or pushed before digests) is never loaded, and neither is a copy that does not
        # (changed while copied). It is no valid baseline: the check is skipped with the reason in
        # decision.json (floor and baselines still apply), and a blessed candidate is pushed above it.
        verify_version(newest)
        io_utils.copy_dir(newest.model_dir, copy)
        verify_version(dataclasses.replace(newest, model_dir=copy))
    except UnverifiedVersion as error:
        _log.warning("Evaluator: not loading the newest pushed version of %s: %s", destination, error)
        _remove(artifact.uri)
        return PreviousModel(
            skipped_reason=f"no valid blessed model in {destination}: {error}; not loaded, no regression check",
            version=newest.version,
        ), None
    problem = _incompatibility(candidate, copy)
    if problem:
        _remove(artifact.uri)
        return PreviousModel(skipped_reason=problem.replace(copy, newest.model_dir), version=newest.version), None
    _log.info("Evaluator: latest blessed model: version %d of %s", newest.version, destination)
    return PreviousModel(uri=newest.model_dir, version=newest.version), artifact


def _remove(directory: str) -> None:
    if tf.io.gfile.exists(directory):
        tf.io.gfile.rmtree(directory)


def _incompatibility(candidate, previous_model_dir: str) -> Optional[str]:
    """A skip reason when the previous model cannot be compared with the candidate on these examples."""
    candidate_dir = path_utils.serving_model_path(candidate.uri, path_utils.is_old_model_artifact(candidate))
    try:
        previous_info = load_serving_model(previous_model_dir)[1]
    except Exception as error:
        return f"the previous model {previous_model_dir} has no readable serving_info ({error}): skipped"
    problem = policy_lib.compatibility_problem(load_serving_model(candidate_dir)[1], previous_info)
    if problem:
        return f"the previous model {previous_model_dir} is not comparable ({problem}): skipped"
    return None


def record_decision(
    policy: BlessingPolicy,
    evaluation_uri: str,
    blessing,
    candidate,
    split: str,
    previous: PreviousModel,
    baseline: Optional[BestBaseline],
) -> dict:
    """Writes decision.json into the blessing and the checks as its custom properties; returns the decision."""
    evaluation = read_evaluation(evaluation_uri, policy.genres)
    metrics = evaluation["overall"]
    if metrics["accuracy"] is None:
        raise ValueError(f"the evaluation in {evaluation_uri} has no overall accuracy")
    diff = (evaluation["baseline_diff"] or {}).get("accuracy")
    checks = policy_lib.checks(policy, metrics["accuracy"], diff, previous, baseline, NO_BASELINES)
    tfma_ok, tfma_failures = read_validation(evaluation_uri)
    blessed, reasons = policy_lib.decide(checks, tfma_ok, tfma_failures)
    decision = policy_lib.decision_record(
        blessed=blessed,
        split=split,
        model_uri=candidate.uri,
        model_id=candidate.id,
        metrics=metrics,
        policy_checks=checks,
        reasons=reasons,
        tfma_validation_ok=tfma_ok,
        tfma_failures=tfma_failures,
        policy=policy,
    )
    write_decision(blessing.uri, decision)
    _record_on_blessing(blessing, decision, previous)
    return decision


def _record_on_blessing(blessing, decision: dict, previous: PreviousModel) -> None:
    """Beside the standard properties (blessed, current_model, current_model_id, baseline_model...)."""
    blessing.set_string_custom_property("decision_uri", os.path.join(blessing.uri, DECISION_FILE))
    blessing.set_string_custom_property("reasons", "; ".join(decision["reasons"]))
    blessing.set_string_custom_property("regression_source", decision["policy"]["regression_source"])
    if previous.uri:
        blessing.set_string_custom_property("previous_model_uri", previous.uri)
    if previous.version is not None:
        blessing.set_int_custom_property("previous_model_version", previous.version)
    for name, value in decision["metrics"].items():
        if value is not None:
            blessing.set_float_custom_property(f"metric_{name}", float(value))
    for check in decision["checks"]:
        name = check["name"]
        blessing.set_string_custom_property(f"{name}_status", policy_lib.check_status(check))
        for field in ("threshold", "measured"):
            if check[field] is not None:
                blessing.set_float_custom_property(f"{name}_{field}", float(check[field]))
        if check.get("baseline_algorithm"):
            blessing.set_string_custom_property("baseline_algorithm", check["baseline_algorithm"])


def _split(exec_properties: dict) -> str:
    splits = json_utils.loads(exec_properties.get(keys.EXAMPLE_SPLITS_KEY) or "null") or ["eval"]
    return ",".join(splits)
