"""A fitted baseline's metrics: segment-level and, nested, track-level (the metrics themselves are tested in
components/classification_metrics_test.py)."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from components.classification_metrics import classification_metrics
from components.sklearn_baseline_trainer.metrics import evaluate_split

GENRES = ("A", "B", "C", "D")


@pytest.mark.parametrize(
    "classifier, aggregation", [(LogisticRegression(), "mean_probability"), (SVC(), "mean_decision_function")]
)
def test_evaluate_split_nests_track_level_metrics(classifier, aggregation):
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2, 3], 30)
    features = labels[:, None] * 3.0 + rng.normal(size=(120, 2))
    track_ids = np.repeat(np.arange(40), 3)  # three segments per track, one genre each
    model = Pipeline([("classifier", classifier)]).fit(features, labels)
    result = evaluate_split(model, features, labels, track_ids, GENRES)
    assert result["examples"] == 120 and result["accuracy"] > 0.9
    assert result["track_level"]["aggregation"] == aggregation
    assert result["track_level"]["examples"] == 40 and result["track_level"]["accuracy"] > 0.9
    assert result["track_level"]["macro_f1"] > 0.9


class _Fixed:
    """A fitted "pipeline" with fixed outputs: predict_proba as given, predict its argmax."""

    classes_ = np.array([0, 1, 2])

    def __init__(self, probabilities):
        self.probabilities = np.asarray(probabilities)

    def predict(self, features):
        return self.classes_[self.probabilities.argmax(axis=1)]

    def predict_proba(self, features):
        return self.probabilities


def test_evaluate_split_track_level_by_hand():
    # Tracks 1, 2 rock; 3 jazz; 4 pop. Segment calls: rock jazz | rock rock | jazz rock | pop jazz.
    probabilities = [
        [0.9, 0.1, 0.0],
        [0.4, 0.6, 0.0],  # track 1: mean (0.65, 0.35, 0): rock
        [0.8, 0.2, 0.0],
        [0.7, 0.3, 0.0],  # track 2: rock
        [0.2, 0.7, 0.1],
        [0.6, 0.3, 0.1],  # track 3 (jazz): mean (0.4, 0.5, 0.1): jazz
        [0.1, 0.2, 0.7],
        [0.0, 0.9, 0.1],  # track 4 (pop): mean (0.05, 0.55, 0.4): jazz
    ]
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    genres = ("rock", "jazz", "pop")
    result = evaluate_split(_Fixed(probabilities), np.zeros((8, 1)), labels, np.repeat([1, 2, 3, 4], 2), genres)
    assert result["accuracy"] == pytest.approx(5 / 8)
    track = result["track_level"]
    assert track["aggregation"] == "mean_probability" and track["examples"] == 4
    assert track["accuracy"] == pytest.approx(3 / 4)
    assert track["confusion_matrix"]["matrix"] == [[2, 0, 0], [0, 1, 0], [0, 1, 0]]
    # rock F1 1, jazz P 1/2 R 1 F1 2/3, pop (present, never predicted) F1 0.
    assert track["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert track["per_genre"]["pop"]["precision"] is None
    # Same keys at both levels, as before the metrics moved to components/classification_metrics.py.
    assert set(track) == set(classification_metrics(labels, labels, genres)) | {"aggregation"}
    assert set(result) == set(track) - {"aggregation"} | {"track_level"}
