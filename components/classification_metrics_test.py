"""The shared metrics against hand-computed values, scikit-learn's own functions, and the undefined cases."""

import numpy as np
import pytest
from sklearn import metrics as skm

from components.classification_metrics import (
    classification_metrics,
    confusion_matrix,
    from_confusion,
    track_metrics,
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


def test_three_genres_from_a_small_confusion_matrix_by_hand():
    # rows true, columns predicted:   rock  jazz  pop
    matrix = [[4, 1, 0], [2, 3, 0], [1, 0, 1]]  # 12 examples, 8 correct
    result = from_confusion(matrix, ("rock", "jazz", "pop"))
    assert result["examples"] == 12 and result["correct"] == 8 and result["accuracy"] == pytest.approx(8 / 12)
    rock, jazz, pop = (result["per_genre"][g] for g in ("rock", "jazz", "pop"))
    # rock: TP 4, FP 3 (2 jazz + 1 pop called rock), FN 1 -> P 4/7, R 4/5, F1 8/12
    assert (rock["precision"], rock["recall"], rock["f1"]) == pytest.approx((4 / 7, 4 / 5, 8 / 12))
    # jazz: TP 3, FP 1, FN 2 -> P 3/4, R 3/5, F1 6/9
    assert (jazz["precision"], jazz["recall"], jazz["f1"]) == pytest.approx((3 / 4, 3 / 5, 6 / 9))
    # pop: TP 1, FP 0, FN 1 -> P 1, R 1/2, F1 2/3
    assert (pop["precision"], pop["recall"], pop["f1"]) == pytest.approx((1.0, 1 / 2, 2 / 3))
    assert result["macro_f1"] == pytest.approx((8 / 12 + 6 / 9 + 2 / 3) / 3)
    assert [rock["support"], jazz["support"], pop["support"]] == [5, 5, 2]
    assert [rock["predicted"], jazz["predicted"], pop["predicted"]] == [7, 4, 1]
    assert result["confusion_matrix"]["matrix"] == matrix


def test_from_confusion_is_classification_metrics_of_the_same_predictions():
    rng = np.random.default_rng(2)
    y_true, y_pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    direct = classification_metrics(y_true, y_pred, GENRES)
    assert from_confusion(direct["confusion_matrix"]["matrix"], GENRES) == direct


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


def test_empty_mismatched_or_out_of_range_inputs_are_refused():
    with pytest.raises(ValueError, match="no examples"):
        classification_metrics(np.array([], dtype=int), np.array([], dtype=int), GENRES)
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        classification_metrics(np.array([0, 1]), np.array([0]), GENRES)
    # A label of -1 would silently count as the last genre through numpy's negative indexing.
    with pytest.raises(ValueError, match=r"label indices \[-1, 4\] are outside 0..3"):
        classification_metrics(np.array([0, -1]), np.array([4, 0]), GENRES)
    with pytest.raises(ValueError, match=r"shape \(2, 2\) for 4 genres"):
        from_confusion([[1, 0], [0, 1]], GENRES)
    with pytest.raises(ValueError, match="no examples"):
        from_confusion(np.zeros((4, 4)), GENRES)


def test_track_prediction_averages_segment_scores_rather_than_voting():
    # Track 10: two segments lean weakly to B, one strongly to A; the mean says A, a vote would say B.
    scores = np.array([[0.4, 0.6], [0.4, 0.6], [0.95, 0.05], [0.2, 0.8], [0.3, 0.7]])
    tracks, true, predicted = track_predictions(
        np.array([10, 10, 10, 20, 20]), np.array([0, 0, 0, 1, 1]), scores, np.array([0, 1])
    )
    assert tracks.tolist() == [10, 20] and true.tolist() == [0, 1] and predicted.tolist() == [0, 1]


def test_track_prediction_maps_score_columns_to_classes_and_defaults_to_their_index():
    scores = np.array([[0.9, 0.1], [0.2, 0.8]])
    _, _, by_index = track_predictions(np.array([1, 2]), np.array([0, 0]), scores)
    _, _, by_class = track_predictions(np.array([1, 2]), np.array([3, 3]), scores, np.array([3, 1]))
    assert by_index.tolist() == [0, 1] and by_class.tolist() == [3, 1]


def test_track_with_inconsistent_labels_is_an_error():
    with pytest.raises(ValueError, match=r"1 tracks have segments with different labels, e.g. track ids \[7\]"):
        track_predictions(np.array([7, 7]), np.array([0, 1]), np.ones((2, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="3 track ids, 2 labels and 2 score rows"):
        track_predictions(np.array([7, 7, 8]), np.array([0, 1]), np.ones((2, 2)))


def test_track_metrics_by_hand_differ_from_the_segments():
    """Three genres, five tracks of two segments: per segment 6/10 right, per track 4/5 (the mean of the
    probabilities decides a track whose segments disagree)."""
    genres = ("rock", "jazz", "pop")
    track_ids = np.repeat([1, 2, 3, 4, 5], 2)
    labels = np.repeat([0, 0, 1, 1, 2], 2)
    probabilities = np.array(
        [
            [0.8, 0.1, 0.1],  # track 1 (rock): both segments rock
            [0.7, 0.2, 0.1],
            [0.3, 0.6, 0.1],  # track 2 (rock): one jazz segment, one confident rock: mean rock
            [0.9, 0.05, 0.05],
            [0.2, 0.7, 0.1],  # track 3 (jazz): both jazz
            [0.1, 0.8, 0.1],
            [0.6, 0.3, 0.1],  # track 4 (jazz): both rock
            [0.5, 0.4, 0.1],
            [0.1, 0.2, 0.7],  # track 5 (pop): one pop, one jazz: mean pop (0.45 vs 0.4)
            [0.1, 0.5, 0.4],
        ]
    )
    segments = classification_metrics(labels, probabilities.argmax(axis=1), genres)
    tracks = track_metrics(track_ids, labels, probabilities, genres)
    assert segments["accuracy"] == pytest.approx(6 / 10)
    assert tracks["examples"] == 5 and tracks["accuracy"] == pytest.approx(4 / 5)
    assert tracks["confusion_matrix"]["matrix"] == [[2, 0, 0], [1, 1, 0], [0, 0, 1]]
    # per track: rock P 2/3 R 1 F1 4/5; jazz P 1 R 1/2 F1 2/3; pop 1.
    assert tracks["macro_f1"] == pytest.approx((4 / 5 + 2 / 3 + 1) / 3)
    # per segment: rock TP 3 FP 2 FN 1 -> 6/9; jazz TP 2 FP 2 FN 2 -> 4/8; pop TP 1 FP 0 FN 1 -> 2/3.
    assert segments["macro_f1"] == pytest.approx((6 / 9 + 4 / 8 + 2 / 3) / 3)
