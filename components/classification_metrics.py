"""Classification metrics, per segment and per track, in one place for every model: the Keras trainer's
metrics.json, the sklearn baselines' metrics and the run report all compute them here. Pure numpy.

From the confusion matrix, so that the undefined cases are explicit: a genre absent from a split has no
recall (null) and is left out of the macro average; a genre never predicted has no precision (null) and an F1
of 0 when it is present. With every genre present, macro_f1 is scikit-learn's f1_score(average="macro").

Per track: a track is called for the argmax of its segments' mean score (probabilities, or the SVM's decision
function), as `keras_trainer/track_prediction.py` calls a whole file, and scored like segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """[true, predicted] counts over label indices 0..num_classes-1."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    outside = [int(v) for v in np.unique(np.concatenate([y_true, y_pred])) if not 0 <= v < num_classes]
    if outside:
        raise ValueError(f"label indices {outside[:5]} are outside 0..{num_classes - 1}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, genres: Sequence[str]) -> dict:
    """Accuracy, macro-F1 over the genres present, per-genre precision/recall/F1 and the labelled matrix
    of label indices (genres[i] is label i)."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    return from_confusion(confusion_matrix(y_true, y_pred, len(genres)), genres)


def from_confusion(matrix, genres: Sequence[str]) -> dict:
    """classification_metrics() of a confusion matrix (rows: true genre, columns: predicted genre)."""
    matrix = np.asarray(matrix, dtype=np.int64)
    if matrix.shape != (len(genres), len(genres)):
        raise ValueError(f"a confusion matrix of shape {matrix.shape} for {len(genres)} genres")
    if (matrix < 0).any():
        raise ValueError("a confusion matrix with negative counts")
    if matrix.sum() == 0:
        raise ValueError("no examples to evaluate")
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
    track_ids: np.ndarray, y_true: np.ndarray, scores: np.ndarray, classes: Optional[np.ndarray] = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(track ids, true label, predicted label) per track, sorted by track id: the argmax of the mean score
    of its segments. `scores`: [segments, classes]; `classes`: the label of each score column (default
    0..classes-1). Segments of one track with different labels are an error (inconsistent examples)."""
    track_ids, y_true = np.asarray(track_ids), np.asarray(y_true, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if not len(track_ids) == len(y_true) == len(scores):
        raise ValueError(f"{len(track_ids)} track ids, {len(y_true)} labels and {len(scores)} score rows")
    classes = np.arange(scores.shape[1]) if classes is None else np.asarray(classes)
    tracks, index = np.unique(track_ids, return_inverse=True)
    index = index.reshape(-1)
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
    predicted = classes[np.argmax(sums / counts[:, None], axis=1)]
    return tracks, true, predicted


def track_metrics(
    track_ids: np.ndarray,
    y_true: np.ndarray,
    scores: np.ndarray,
    genres: Sequence[str],
    classes: Optional[np.ndarray] = None,
) -> dict:
    """classification_metrics() per track (track_predictions()' calls): `examples` counts tracks."""
    _, true, predicted = track_predictions(track_ids, y_true, scores, classes)
    return classification_metrics(true, predicted, genres)


def _ratio(numerator, denominator) -> Optional[float]:
    return float(numerator / denominator) if denominator else None
