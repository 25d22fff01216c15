"""A fitted baseline's metrics on one split, per segment and per track.

The metrics themselves (accuracy, macro-F1 over the genres present, per-genre precision/recall/F1, the
confusion matrix, the per-track call from the mean of the segments' scores) are computed in
`components/classification_metrics.py`, shared with the Keras trainer, so every model is scored alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from components.classification_metrics import classification_metrics, track_predictions
from components.sklearn_baseline_trainer.estimators import class_scores


def evaluate_split(
    estimator, features: np.ndarray, labels: np.ndarray, track_ids: np.ndarray, genres: Sequence[str]
) -> dict:
    """Segment-level metrics of a fitted pipeline (accuracy, macro_f1, per_genre, confusion_matrix, ...),
    with the same metrics per track nested under `track_level` (its `examples` count tracks)."""
    result = classification_metrics(labels, estimator.predict(features), genres)
    scores, aggregation = class_scores(estimator, features)
    _, track_true, track_predicted = track_predictions(track_ids, labels, scores, estimator.classes_)
    result["track_level"] = {"aggregation": aggregation, **classification_metrics(track_true, track_predicted, genres)}
    return result
