"""Reading what the Evaluator wrote: TFMA's metrics, plots and validation result (decision.json, which the
Pusher reads too, is components/formats/blessing.py's; re-exported here).

TFMA's own loaders give protos (MetricsForSlice, PlotsForSlice, ValidationResult); these functions turn
them into plain dicts for decision.json and the run report. Metric names come from eval_config.py.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Optional

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.slicer import slicer_lib

from components.blessing_evaluator import eval_config as names
from components.formats.blessing import DECISION_FILE, read_decision  # noqa: F401  (re-exported)
from components.json_files import read_json

# Written by the executor beside TFMA's files: the split and genres TFMA's own output does not record.
EVALUATION_INFO_FILE = "evaluation_info.json"
# The evaluated example count against what the examples' producer recorded (components/ledger.py).
LEDGER_FILE = "ledger.json"
CANDIDATE_MODEL_NAMES = ("", tfma.CANDIDATE_KEY)  # unnamed when evaluated alone, "candidate" with a baseline


def read_evaluation(evaluation_uri: str, genres: Optional[Sequence[str]] = None) -> dict:
    """The candidate model's metrics in a ModelEvaluation artifact (see README.md for the layout).

    `genres` (label index i = genres[i]) defaults to those the executor recorded in evaluation_info.json.
    Undefined values (a genre's precision when it is never predicted) are None."""
    info = _read_info(evaluation_uri)
    genres = list(genres if genres is not None else info.get("genres") or [])
    if not genres:
        raise ValueError(
            f"{evaluation_uri} records no genres ({EVALUATION_INFO_FILE} is missing or empty): pass "
            "genres, label index order"
        )
    by_slice = _candidate_metrics(evaluation_uri)
    if () not in by_slice:
        raise ValueError(
            f"{evaluation_uri} holds no overall-slice metrics: not a TFMA evaluation of this project's "
            "eval_config (components/blessing_evaluator/eval_config.py)"
        )
    overall = by_slice[()]
    per_genre = {
        genre: {
            metric: _value(overall, name, class_id=i)
            for metric, name in (("precision", names.PRECISION), ("recall", names.RECALL), ("f1", names.F1))
        }
        for i, genre in enumerate(genres)
    }
    slices = {
        key[0][1]: {"example_count": _count(metrics), "accuracy": _value(metrics, names.ACCURACY)}
        for key, metrics in by_slice.items()
        if len(key) == 1 and key[0][0] == names.SLICE_FEATURE
    }
    diff = _value(overall, names.ACCURACY, diff=True)
    return {
        "split": info.get("split"),
        "overall": overall_metrics(overall, len(genres)),
        "per_genre": per_genre,
        "slices": dict(sorted(slices.items(), key=lambda item: _order(genres, item[0]))),
        "confusion_matrix": _confusion_matrix(evaluation_uri, len(genres)),
        "baseline_diff": None if diff is None else {"accuracy": diff},
    }


def overall_metrics(overall: dict, num_classes: int) -> dict:
    return {
        "example_count": _count(overall),
        "accuracy": _value(overall, names.ACCURACY),
        "crossentropy": _value(overall, names.CROSSENTROPY),
        "macro_f1": macro_f1([_value(overall, names.F1, class_id=i) for i in range(num_classes)]),
    }


def macro_f1(per_class_f1: Sequence[Optional[float]]) -> Optional[float]:
    """The unweighted mean over the genres whose F1 is defined: a genre neither in the split nor ever
    predicted has none (0/0) and is left out, as scikit-learn's macro average leaves out absent labels."""
    defined = [f for f in per_class_f1 if f is not None]
    return sum(defined) / len(defined) if defined else None


def read_validation(evaluation_uri: str) -> tuple[bool, list[str]]:
    """(validation_ok, one line per failed threshold) of TFMA's validation result."""
    result = tfma.load_validation_result(evaluation_uri)
    failures = []
    for per_slice in result.metric_validations_per_slice:
        where = slicer_lib.stringify_slice_key(slicer_lib.deserialize_slice_key(per_slice.slice_key))
        for failure in per_slice.failures:
            key = failure.metric_key
            what = f"{key.name}{' (change vs baseline)' if key.is_diff else ''}"
            value = failure.metric_value.double_value.value
            threshold = failure.metric_threshold
            bounds = (
                f"lower bound {threshold.value_threshold.lower_bound.value:g}"
                if threshold.HasField("value_threshold")
                else f"change >= {threshold.change_threshold.absolute.value:g}"
            )
            failures.append(
                f"{where}: {what} = {value:.6g} fails {bounds}" + (f" ({failure.message})" if failure.message else "")
            )
    if result.missing_thresholds:
        failures.append("some thresholds name metrics that were not computed")
    for missing in result.missing_slices:
        failures.append(f"a threshold's slice matched no examples: {missing}".strip())
    return bool(result.validation_ok), failures


def _read_info(evaluation_uri: str) -> dict:
    return read_json(os.path.join(evaluation_uri, EVALUATION_INFO_FILE)) or {}


def _candidate_metrics(evaluation_uri: str) -> dict[tuple, dict]:
    """{slice key: {(name, class_id, macro, is_diff): value}} of the candidate, unweighted metrics."""
    by_slice: dict[tuple, dict] = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        key = tuple(slicer_lib.deserialize_slice_key(metrics.slice_key))
        values = by_slice.setdefault(key, {})
        for item in metrics.metric_keys_and_values:
            k = item.key
            if k.model_name not in CANDIDATE_MODEL_NAMES or k.example_weighted.value:
                continue
            if not item.value.HasField("double_value"):
                continue
            class_id = k.sub_key.class_id.value if k.sub_key.HasField("class_id") else None
            values[(k.name, class_id, bool(k.aggregation_type.macro_average), bool(k.is_diff))] = (
                item.value.double_value.value
            )
    return by_slice


def _value(
    metrics: dict, name: str, class_id: Optional[int] = None, macro: bool = False, diff: bool = False
) -> Optional[float]:
    value = metrics.get((name, class_id, macro, diff))
    return None if value is None or math.isnan(value) else float(value)


def _count(metrics: dict) -> Optional[int]:
    value = _value(metrics, names.EXAMPLE_COUNT)
    return None if value is None else int(round(value))


def _confusion_matrix(evaluation_uri: str, num_classes: int) -> Optional[list[list[int]]]:
    """Rows: true genre, columns: predicted genre (the top prediction: TFMA's threshold 0.0 matrix)."""
    for plots in tfma.load_plots(evaluation_uri):
        if plots.slice_key.single_slice_keys:
            continue
        for item in plots.plot_keys_and_values:
            if item.key.name != names.CONFUSION_MATRIX or item.key.model_name not in CANDIDATE_MODEL_NAMES:
                continue
            matrices = item.value.multi_class_confusion_matrix_at_thresholds.matrices
            matrix = [[0] * num_classes for _ in range(num_classes)]
            for entry in matrices[0].entries if matrices else []:
                # At threshold 0.0 every example has a top prediction; NO_PREDICTED_CLASS_ID (-1) cannot occur.
                if 0 <= entry.actual_class_id < num_classes and 0 <= entry.predicted_class_id < num_classes:
                    matrix[entry.actual_class_id][entry.predicted_class_id] += int(round(entry.num_weighted_examples))
            return matrix
    return None


def _order(genres: Sequence[str], genre: str) -> tuple:
    return (genres.index(genre), "") if genre in genres else (len(genres), genre)
