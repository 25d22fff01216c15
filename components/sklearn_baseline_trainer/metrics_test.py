"""Metrics against hand-computed values, scikit-learn's own functions, and the undefined cases."""

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from components.sklearn_baseline_trainer.metrics import (
    classification_metrics,
    confusion_matrix,
    evaluate_split,
    track_predictions,
)

GENRES = ("A", "B", "C", "D")


def test_hand_computed_example_with_an_absent_genre():
    # true A A A B B C, predicted A A B B C C; D is neither present nor predicted.
    result = classification_metrics(np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0, 1, 1, 2, 2]), GENRES)
    assert result["confusion_matrix"]["matrix"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert result["confusion_matrix"]["labels"] == list(GENRES)
    assert (result["confusion_matrix"]["rows"], result["confusion_matrix"]["columns"]) == (
        "true genre",
        "predicted genre",
    )
    assert result["examples"] == 6 and result["correct"] == 4
    assert result["accuracy"] == pytest.approx(4 / 6)
    a, b, c, d = (result["per_genre"][g] for g in GENRES)
    assert (a["support"], a["predicted"], a["correct"]) == (3, 2, 2)
    assert a["precision"] == 1.0 and a["recall"] == pytest.approx(2 / 3) and a["f1"] == pytest.approx(0.8)
    assert b["precision"] == 0.5 and b["recall"] == 0.5 and b["f1"] == pytest.approx(0.5)
    assert c["precision"] == 0.5 and c["recall"] == 1.0 and c["f1"] == pytest.approx(2 / 3)
    assert d == {"support": 0, "predicted": 0, "correct": 0, "precision": None, "recall": None, "f1": None}
    assert result["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert result["macro_f1_over"] == ["A", "B", "C"] and result["genres_absent"] == ["D"]


def test_genre_present_but_never_predicted_has_no_precision_and_zero_f1():
    result = classification_metrics(np.array([0, 1]), np.array([0, 0]), ("A", "B"))
    assert result["per_genre"]["B"]["precision"] is None
    assert result["per_genre"]["B"]["recall"] == 0.0 and result["per_genre"]["B"]["f1"] == 0.0
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)


def test_agrees_with_scikit_learn_on_random_predictions():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    result = classification_metrics(y_true, y_pred, GENRES)
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert result["macro_f1"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    np.testing.assert_array_equal(result["confusion_matrix"]["matrix"], skm.confusion_matrix(y_true, y_pred))
    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred)
    for i, genre in enumerate(GENRES):
        got = result["per_genre"][genre]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx(
            (precision[i], recall[i], f1[i], support[i])
        )


def test_confusion_matrix_rows_are_true_labels():
    assert confusion_matrix(np.array([2]), np.array([0]), 3).tolist() == [[0, 0, 0], [0, 0, 0], [1, 0, 0]]


def test_empty_or_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="no examples"):
        classification_metrics(np.array([], dtype=int), np.array([], dtype=int), GENRES)
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        classification_metrics(np.array([0, 1]), np.array([0]), GENRES)


def test_track_prediction_averages_segment_scores_rather_than_voting():
    # Track 10: two segments lean weakly to B, one strongly to A; the mean says A, a vote would say B.
    scores = np.array([[0.4, 0.6], [0.4, 0.6], [0.95, 0.05], [0.2, 0.8], [0.3, 0.7]])
    tracks, true, predicted = track_predictions(
        np.array([10, 10, 10, 20, 20]), np.array([0, 0, 0, 1, 1]), scores, np.array([0, 1])
    )
    assert tracks.tolist() == [10, 20] and true.tolist() == [0, 1] and predicted.tolist() == [0, 1]


def test_track_with_inconsistent_labels_is_an_error():
    with pytest.raises(ValueError, match=r"1 tracks have segments with different labels, e.g. track ids \[7\]"):
        track_predictions(np.array([7, 7]), np.array([0, 1]), np.ones((2, 2)), np.array([0, 1]))


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
