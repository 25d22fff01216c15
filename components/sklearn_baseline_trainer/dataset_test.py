"""Reading transformed Examples back, and a clear error for every kind of bad feature data."""

import logging
import os

import numpy as np
import pytest

from components.sklearn_baseline_trainer.dataset import load_splits
from tests.helpers import sklearn_data as testdata

GENRES = ("a", "b", "c")
NAMES = testdata.feature_names(4)


def _rows(seed, artists_per_genre=2, genres=3, features=4):
    return testdata.separable_rows(
        genres,
        artists_per_genre,
        tracks_per_artist=1,
        segments=2,
        num_features=features,
        seed=seed,
        first_artist=100 * seed,
    )


def _splits(**replaced):
    splits = {"train": _rows(1), "eval": _rows(2, artists_per_genre=1), "test": _rows(3, artists_per_genre=1)}
    splits.update(replaced)
    return splits


def test_reads_every_split_in_written_order(tmp_path):
    splits = _splits()
    names, data = load_splits(testdata.write_examples(str(tmp_path), splits, NAMES), GENRES)
    assert names == NAMES
    for split, rows in splits.items():
        np.testing.assert_allclose(data[split].features, np.array(rows.features, dtype=np.float32))
        np.testing.assert_array_equal(data[split].labels, rows.labels)
        np.testing.assert_array_equal(data[split].track_ids, rows.track_ids)
        np.testing.assert_array_equal(data[split].artist_ids, rows.artist_ids)
    assert data["train"].genre_counts(GENRES) == {"a": 4, "b": 4, "c": 4}


def test_missing_names_file_says_where_the_examples_must_come_from(tmp_path):
    with pytest.raises(ValueError, match=r"engineered_feature_names.json is missing.*SpectrogramTransform"):
        load_splits(testdata.write_examples(str(tmp_path), _splits(), None), GENRES)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_features_name_the_count_tracks_and_features(tmp_path, bad_value):
    rows = _rows(2, artists_per_genre=1)
    rows.features[1][2] = bad_value
    rows.features[4][2] = bad_value
    rows.features[4][0] = bad_value
    with pytest.raises(ValueError) as error:
        load_splits(testdata.write_examples(str(tmp_path), _splits(eval=rows), NAMES), GENRES)
    message = str(error.value)
    assert "Split-eval: 2 of 6 examples have NaN or infinite" in message
    assert f"track ids {[int(rows.track_ids[1]), int(rows.track_ids[4])]}" in message
    assert "synthetic/mean/02 (2), synthetic/mean/00 (1)" in message


def test_feature_count_mismatch_between_splits_is_an_error(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"Split-test: 6 of 6 examples have \[3\] engineered features where "
        r"engineered_feature_names.json lists 4",
    ):
        load_splits(testdata.write_examples(str(tmp_path), _splits(test=_rows(3, 1, features=3)), NAMES), GENRES)


def test_missing_engineered_feature_is_an_error(tmp_path):
    splits = _splits()
    examples = testdata.write_examples(str(tmp_path), splits, NAMES, omit_engineered=(3,))
    with pytest.raises(
        ValueError,
        match=r"Split-train: 1 of 12 examples have no 'engineered_features' feature, "
        rf"e.g. track ids \[{splits['train'].track_ids[3]}\]",
    ):
        load_splits(examples, GENRES)


def test_empty_split_is_an_error(tmp_path):
    empty = testdata.Rows([], np.array([], dtype=int), np.array([], dtype=int), np.array([], dtype=int))
    with pytest.raises(ValueError, match="Split-eval holds no examples"):
        load_splits(testdata.write_examples(str(tmp_path), _splits(eval=empty), NAMES), GENRES)


def test_missing_split_is_an_error(tmp_path):
    splits = _splits()
    del splits["test"]
    with pytest.raises(ValueError, match=r"needs \['train', 'eval', 'test'\] \(missing \['test'\]\)"):
        load_splits(testdata.write_examples(str(tmp_path), splits, NAMES), GENRES)


def test_train_split_without_a_genre_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"the train split has no examples of \['c'\]"):
        load_splits(testdata.write_examples(str(tmp_path), _splits(train=_rows(1, genres=2)), NAMES), GENRES)


def test_eval_split_without_a_genre_is_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        _, data = load_splits(
            testdata.write_examples(str(tmp_path), _splits(eval=_rows(2, 1, genres=2)), NAMES), GENRES
        )
    assert data["eval"].genre_counts(GENRES)["c"] == 0
    assert "the eval split has no examples of ['c']" in caplog.text


def test_labels_outside_the_genre_list_are_an_error(tmp_path):
    rows = _rows(1)
    rows.labels[0] = 7
    with pytest.raises(ValueError, match=r"Split-train: 1 examples have labels outside 0..2 \(values \[7\]\)"):
        load_splits(testdata.write_examples(str(tmp_path), _splits(train=rows), NAMES), GENRES)


def test_split_folder_without_files_is_an_error(tmp_path):
    examples = testdata.write_examples(str(tmp_path), _splits(), NAMES)
    os.remove(os.path.join(examples.uri, "Split-test", "data_tfrecord-00000-of-00001.gz"))
    with pytest.raises(ValueError, match=r"Split-test \(.*\) holds no files"):
        load_splits(examples, GENRES)
