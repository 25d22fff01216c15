"""What it takes to bless the Keras model, and the recorded decision: pure logic, no TFMA, no files.

Three checks, all on the accuracy of the Evaluator's split (overall slice):
- accuracy_floor:  accuracy >= accuracy_floor.
- no_regression:   accuracy - accuracy of the latest blessed model >= -max_accuracy_drop (both measured by
                   this run's TFMA on the same examples); skipped when there is none, or it is incompatible.
- beats_baselines: accuracy >= best SklearnBaselineTrainer test accuracy + baseline_margin; skipped when
                   the pipeline has no baselines.
TFMA checks floor and baselines as one value threshold (their maximum) and the regression as a change
threshold; this module splits them again so that each is recorded with its own threshold and reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from components.blessing_evaluator.settings import EvaluatorConfig

REGRESSION_SOURCES = ("resolver", "push_destination")
TARGETS = ("local", "kubeflow", "vertex")
ACCURACY_FLOOR, NO_REGRESSION, BEATS_BASELINES = "accuracy_floor", "no_regression", "beats_baselines"


class BlessingPolicy(BaseModel):
    """The blessing rules, carried to the executor as one JSON execution property."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accuracy_floor: float = Field(ge=0, le=1)
    max_accuracy_drop: float = Field(ge=0, le=1)
    baseline_margin: float = Field(ge=-1, le=1)
    # Where the latest blessed model comes from: the `baseline_model` input (a LatestBlessedModelStrategy
    # resolver: local and Vertex runs), or the newest version under push_destination (open-source Kubeflow,
    # whose backend rejects resolver tasks).
    regression_source: Literal["resolver", "push_destination"] = "resolver"
    push_destination: str = ""
    genres: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _destination_when_needed(self) -> BlessingPolicy:
        if self.regression_source == "push_destination" and not self.push_destination:
            raise ValueError(
                "regression_source 'push_destination' needs push_destination (the Pusher's "
                "destination, pusher.destination in the pipeline config)"
            )
        return self

    @classmethod
    def for_target(
        cls, evaluator: EvaluatorConfig, target: str, push_destination: str, genres: Sequence[str]
    ) -> BlessingPolicy:
        """The policy of the `evaluator` settings where the pipeline runs on `target` (which decides where the
        latest blessed model comes from: open-source Kubeflow has no resolver)."""
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; choose from {list(TARGETS)}")
        return cls(
            accuracy_floor=evaluator.accuracy_floor,
            max_accuracy_drop=evaluator.max_accuracy_drop,
            baseline_margin=evaluator.baseline_margin,
            regression_source="push_destination" if target == "kubeflow" else "resolver",
            push_destination=push_destination,
            genres=tuple(genres),
        )

    def accuracy_lower_bound(self, baseline: Optional[BestBaseline]) -> float:
        """The one value threshold TFMA checks: floor and baselines together."""
        if baseline is None:
            return self.accuracy_floor
        return max(self.accuracy_floor, baseline.accuracy + self.baseline_margin)


@dataclass(frozen=True)
class BestBaseline:
    algorithm: str
    accuracy: float  # test accuracy
    source: str  # the metrics.json it was read from


def best_baseline(summary: dict, source: str) -> BestBaseline:
    """The best SklearnBaselineTrainer model (chosen by eval accuracy there) and its test accuracy."""
    try:
        return BestBaseline(str(summary["best_algorithm"]), float(summary["best_test_accuracy"]), source)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{source} lacks best_algorithm / best_test_accuracy ({error!r}): it is not the summary "
            "SklearnBaselineTrainer writes (components/sklearn_baseline_trainer/executor.py)"
        ) from error


@dataclass(frozen=True)
class PreviousModel:
    """The latest blessed model the candidate is compared with, or why there is no comparison."""

    uri: Optional[str] = None  # the model compared with (None: no comparison)
    skipped_reason: Optional[str] = None
    version: Optional[int] = None  # push_destination: the pushed version


def compatibility_problem(candidate_info: dict, previous_info: dict) -> Optional[str]:
    """Why two serving models' accuracies are not comparable on the same examples, or None.

    Both must take the same input (sample rate and segment length: serving_examples asserts the length)
    and predict the same genres in the same order; their featurizers may differ otherwise."""
    problems = []
    for key in ("sample_rate", "num_samples"):
        new, old = candidate_info["featurizer_settings"].get(key), previous_info["featurizer_settings"].get(key)
        if new != old:
            problems.append(f"{key} {old} -> {new}")
    if list(candidate_info["genres"]) != list(previous_info["genres"]):
        problems.append(f"genres {list(previous_info['genres'])} -> {list(candidate_info['genres'])}")
    return "; ".join(problems) or None


def _check(
    name: str,
    threshold: Optional[float],
    measured: Optional[float],
    skipped_reason: Optional[str] = None,
    detail: str = "",
    **extra: Any,
) -> dict:
    skipped = skipped_reason is not None
    passed = None if skipped else bool(measured >= threshold)
    return {
        "name": name,
        "metric": "accuracy",
        "comparison": ">=",
        "threshold": threshold,
        "measured": measured,
        "passed": passed,
        "skipped": skipped,
        "detail": skipped_reason if skipped else detail,
        **extra,
    }


def check_status(check: dict) -> str:
    """ "skipped", "passed" or "failed": one word for a recorded check."""
    return "skipped" if check.get("skipped") else "passed" if check.get("passed") else "failed"


def checks(
    policy: BlessingPolicy,
    accuracy: float,
    accuracy_diff: Optional[float],
    previous: PreviousModel,
    baseline: Optional[BestBaseline],
    baselines_skipped_reason: str,
) -> list[dict]:
    """The three checks. A skipped check has passed=None and skipped=True, with the reason in detail."""
    floor = _check(
        ACCURACY_FLOOR,
        policy.accuracy_floor,
        accuracy,
        detail=f"accuracy {accuracy:.4f} vs absolute floor {policy.accuracy_floor:.4f}",
    )
    if previous.uri is None:
        regression = _check(
            NO_REGRESSION,
            -policy.max_accuracy_drop,
            None,
            previous.skipped_reason or "no blessed model before",
            previous_model_uri=None,
        )
    else:
        if accuracy_diff is None:
            raise ValueError(
                f"the evaluation has no accuracy difference against {previous.uri}, though it was "
                "evaluated as the baseline: TFMA did not compare the two models"
            )
        regression = _check(
            NO_REGRESSION,
            -policy.max_accuracy_drop,
            accuracy_diff,
            detail=f"accuracy {accuracy:.4f} - previous {accuracy - accuracy_diff:.4f} = "
            f"{accuracy_diff:+.4f}, allowed drop {policy.max_accuracy_drop:.4f}",
            previous_model_uri=previous.uri,
            previous_version=previous.version,
        )
    if baseline is None:
        beats = _check(
            BEATS_BASELINES,
            None,
            accuracy,
            baselines_skipped_reason,
            baseline_algorithm=None,
            baseline_accuracy=None,
            margin=policy.baseline_margin,
        )
    else:
        threshold = baseline.accuracy + policy.baseline_margin
        beats = _check(
            BEATS_BASELINES,
            threshold,
            accuracy,
            detail=f"accuracy {accuracy:.4f} vs best baseline {baseline.algorithm} "
            f"{baseline.accuracy:.4f} + margin {policy.baseline_margin:.4f}",
            baseline_algorithm=baseline.algorithm,
            baseline_accuracy=baseline.accuracy,
            margin=policy.baseline_margin,
            baseline_metrics=baseline.source,
        )
    return [floor, regression, beats]


def reason(check: dict) -> str:
    """One line on why a failed check failed."""
    if check["name"] == ACCURACY_FLOOR:
        return f"accuracy {check['measured']:.4f} < floor {check['threshold']:.4f}"
    if check["name"] == NO_REGRESSION:
        return (
            f"accuracy dropped by {-check['measured']:.4f} against the latest blessed model "
            f"{check['previous_model_uri']} (at most {-check['threshold']:.4f} allowed)"
        )
    return (
        f"accuracy {check['measured']:.4f} < best baseline {check['baseline_algorithm']} "
        f"{check['baseline_accuracy']:.4f} + margin {check['margin']:.4f}"
    )


def decide(
    policy_checks: Sequence[dict], tfma_validation_ok: bool, tfma_failures: Sequence[str]
) -> tuple[bool, list[str]]:
    """(blessed, reasons). TFMA's verdict is the blessing (the standard executor wrote it); the checks must
    agree with it, since they evaluate the same thresholds on the same measured values."""
    failed = [c for c in policy_checks if c["passed"] is False]
    reasons = [reason(c) for c in failed]
    if tfma_validation_ok and failed:
        raise RuntimeError(
            f"TFMA blessed the model but these checks fail: {reasons}. The eval_config's thresholds "
            "differ from the blessing policy's (was the accuracy threshold changed elsewhere?)"
        )
    if not tfma_validation_ok and not failed:
        # Thresholds TFMA checked that the policy does not model (e.g. added to the eval_config by hand).
        reasons = [f"TFMA validation failed: {failure}" for failure in tfma_failures] or ["TFMA validation failed"]
    return tfma_validation_ok, reasons


def decision_record(
    *,
    blessed: bool,
    split: str,
    model_uri: str,
    model_id: int,
    metrics: dict,
    policy_checks: Sequence[dict],
    reasons: Sequence[str],
    tfma_validation_ok: bool,
    tfma_failures: Sequence[str],
    policy: BlessingPolicy,
) -> dict:
    """decision.json: the verdict, what was measured and every check with its threshold."""
    return _json_safe(
        {
            "blessed": blessed,
            "split": split,
            "model_uri": model_uri,
            "model_id": model_id,
            "metrics": metrics,
            "checks": list(policy_checks),
            "reasons": list(reasons),
            "tfma_validation_ok": tfma_validation_ok,
            "tfma_failures": list(tfma_failures),
            "policy": policy.model_dump(mode="json"),
        }
    )


def _json_safe(value: Any) -> Any:
    """NaN (e.g. an undefined metric) becomes null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
