"""Classification metrics from the confusion matrix, per segment and per track.

Computed here from the confusion matrix (tested against scikit-learn) so that the undefined cases are
explicit: a genre absent from a split has no recall (null) and is left out of the macro average; a genre
never predicted has no precision (null) and an F1 of 0 when it is present.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from components.sklearn_baseline_trainer.estimators import class_scores


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """[true, predicted] counts over label indices 0..num_classes-1."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return matrix


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, genres: Sequence[str]) -> dict:
    """Accuracy, macro-F1 over the genres present, per-genre precision/recall/F1 and the labelled matrix."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    if len(y_true) == 0:
        raise ValueError("no examples to evaluate")
    matrix = confusion_matrix(y_true, y_pred, len(genres))
    support, predicted, correct = matrix.sum(axis=1), matrix.sum(axis=0), np.diag(matrix)
    per_genre = {}
    for i, genre in enumerate(genres):
        errors = (predicted[i] - correct[i]) + (support[i] - correct[i])
        per_genre[genre] = {
            "support": int(support[i]),
            "predicted": int(predicted[i]),
            "correct": int(correct[i]),
            "precision": _ratio(correct[i], predicted[i]),
            "recall": _ratio(correct[i], support[i]),
            # 2TP / (2TP + FP + FN): defined whenever the genre is present or predicted.
            "f1": _ratio(2 * correct[i], 2 * correct[i] + errors),
        }
    present = [g for g in genres if per_genre[g]["support"] > 0]
    return {
        "examples": int(matrix.sum()),
        "correct": int(correct.sum()),
        "accuracy": float(correct.sum() / matrix.sum()),
        "macro_f1": float(np.mean([per_genre[g]["f1"] for g in present])),
        "macro_f1_over": present,
        "genres_absent": [g for g in genres if per_genre[g]["support"] == 0],
        "per_genre": per_genre,
        "confusion_matrix": {
            "rows": "true genre",
            "columns": "predicted genre",
            "labels": list(genres),
            "matrix": matrix.tolist(),
        },
    }


def track_predictions(
    track_ids: np.ndarray, y_true: np.ndarray, scores: np.ndarray, classes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(track ids, true label, predicted label) per track: the argmax of the mean score of its segments."""
    tracks, index = np.unique(track_ids, return_inverse=True)
    sums = np.zeros((len(tracks), scores.shape[1]))
    np.add.at(sums, index, scores)
    counts = np.bincount(index, minlength=len(tracks))
    true = np.full(len(tracks), -1, dtype=np.int64)
    true[index] = y_true
    disagreeing = np.unique(track_ids[true[index] != y_true])
    if len(disagreeing):
        raise ValueError(
            f"{len(disagreeing)} tracks have segments with different labels, e.g. track ids "
            f"{disagreeing[:5].tolist()}: the examples are inconsistent upstream"
        )
    predicted = np.asarray(classes)[np.argmax(sums / counts[:, None], axis=1)]
    return tracks, true, predicted


def evaluate_split(
    estimator, features: np.ndarray, labels: np.ndarray, track_ids: np.ndarray, genres: Sequence[str]
) -> dict:
    """Segment-level metrics of a fitted pipeline, with the track-level ones nested under `track_level`."""
    result = classification_metrics(labels, estimator.predict(features), genres)
    scores, aggregation = class_scores(estimator, features)
    _, track_true, track_predicted = track_predictions(track_ids, labels, scores, estimator.classes_)
    result["track_level"] = {"aggregation": aggregation, **classification_metrics(track_true, track_predicted, genres)}
    return result


def _ratio(numerator, denominator) -> Optional[float]:
    return float(numerator / denominator) if denominator else None
