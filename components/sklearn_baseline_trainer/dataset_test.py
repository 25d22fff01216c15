"""Reading transformed Examples back, and a clear error for every kind of bad feature data."""

import dataclasses
import logging
import os
from collections.abc import Sequence

import numpy as np
import pytest
import tensorflow as tf

from components.formats.examples import ENGINEERED_NAMES_FILE, MUSICNN_EMBEDDING
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


# -- baselines.feature_set=musicnn -------------------------------------------------------------------------
def write_musicnn_examples(
    uri: str, splits: dict[str, testdata.Rows], num_engineered: int, omit_musicnn: Sequence[int] = ()
):
    """Transformed examples whose musicnn embedding is each row's `features` and whose engineered features
    are noise (same for every genre): only the embedding tells the genres apart. `omit_musicnn` drops the
    embedding from those example indices (of every split)."""
    rng = np.random.default_rng(99)
    noise = {
        split: dataclasses.replace(rows, features=list(rng.normal(0.0, 1.0, (len(rows.labels), num_engineered))))
        for split, rows in splits.items()
    }
    examples = testdata.write_examples(uri, noise, testdata.feature_names(num_engineered))
    for split, rows in splits.items():  # the helper writes one file per split; add the embedding to it
        (path,) = tf.io.gfile.glob(os.path.join(uri, f"Split-{split}", "*.gz"))
        records = [bytes(r.numpy()) for r in tf.data.TFRecordDataset(path, compression_type="GZIP")]
        with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
            for i, record in enumerate(records):
                example = tf.train.Example.FromString(record)
                if i not in omit_musicnn:
                    example.features.feature[MUSICNN_EMBEDDING].float_list.value.extend(rows.features[i])
                writer.write(example.SerializeToString())
    return examples


def _musicnn_splits(size=6, **replaced):
    splits = {
        "train": _rows(1, features=size),
        "eval": _rows(2, artists_per_genre=1, features=size),
        "test": _rows(3, artists_per_genre=1, features=size),
    }
    splits.update(replaced)
    return splits


def test_musicnn_feature_set_reads_the_embedding_named_by_its_size(tmp_path):
    splits = _musicnn_splits(size=6)
    examples = write_musicnn_examples(str(tmp_path), splits, num_engineered=4)
    os.remove(os.path.join(examples.uri, ENGINEERED_NAMES_FILE))  # the engineered names are not needed
    names, data = load_splits(examples, GENRES, "musicnn")
    assert names == [f"musicnn/{i:03d}" for i in range(6)] and names[5] == "musicnn/005"
    for split, rows in splits.items():
        assert data[split].features.shape == (len(rows.labels), 6)
        np.testing.assert_allclose(data[split].features, np.array(rows.features, dtype=np.float32))
        np.testing.assert_array_equal(data[split].labels, rows.labels)
        np.testing.assert_array_equal(data[split].track_ids, rows.track_ids)
        assert list(data[split].feature_names) == names
    # The same artifact read as engineered gives the (noise) engineered vector, named by the names file.
    engineered = write_musicnn_examples(str(tmp_path / "engineered"), splits, num_engineered=4)
    names, data = load_splits(engineered, GENRES, "engineered")
    assert names == NAMES and data["train"].features.shape == (12, 4)


def test_examples_without_the_musicnn_embedding_say_to_rerun_the_transform_with_it(tmp_path):
    splits = _musicnn_splits()
    examples = testdata.write_examples(str(tmp_path), splits, NAMES)  # a transform run without musicnn
    with pytest.raises(ValueError) as error:
        load_splits(examples, GENRES, "musicnn")
    message = str(error.value)
    assert message.startswith(
        f"Split-train: 12 of 12 examples have no 'musicnn_embedding' feature, e.g. track ids "
        f"{list(dict.fromkeys(splits['train'].track_ids.tolist()))[:5]}; "
        "the transform did not compute the musicnn embedding"
    )
    assert "baselines.feature_set=musicnn needs the transform to have run with it" in message
    assert "transform.musicnn" in message and "re-run SpectrogramTransform" in message


def test_one_example_without_the_musicnn_embedding_is_an_error(tmp_path):
    splits = _musicnn_splits()
    examples = write_musicnn_examples(str(tmp_path), splits, num_engineered=4, omit_musicnn=(7,))
    with pytest.raises(
        ValueError,
        match=rf"Split-train: 1 of 12 examples have no 'musicnn_embedding' feature, "
        rf"e.g. track ids \[{splits['train'].track_ids[7]}\]; the transform did not compute",
    ):
        load_splits(examples, GENRES, "musicnn")


def test_the_first_train_example_defines_the_musicnn_size(tmp_path):
    rows = _rows(1, features=6)
    rows.features[0] = rows.features[0][:4]  # the first example decides, even when it is the odd one out
    with pytest.raises(
        ValueError,
        match=r"Split-train: 11 of 12 examples have \[6\] musicnn features where the first example of "
        r"Split-train has 4, .*one transform.musicnn \(model and embedding\)",
    ):
        load_splits(write_musicnn_examples(str(tmp_path), _musicnn_splits(train=rows), 4), GENRES, "musicnn")
    other_layer = _rows(3, artists_per_genre=1, features=5)  # e.g. test from a run with another embedding
    with pytest.raises(
        ValueError, match=r"Split-test: 6 of 6 examples have \[5\] musicnn features where the train examples have 6"
    ):
        load_splits(
            write_musicnn_examples(str(tmp_path / "two_runs"), _musicnn_splits(test=other_layer), 4), GENRES, "musicnn"
        )


def test_non_finite_musicnn_values_name_the_embedding_dimensions(tmp_path):
    rows = _rows(2, artists_per_genre=1, features=6)
    rows.features[3][4] = np.nan
    with pytest.raises(
        ValueError,
        match=r"Split-eval: 1 of 6 examples have NaN or infinite musicnn features, .*musicnn/004 \(1\)",
    ):
        load_splits(write_musicnn_examples(str(tmp_path), _musicnn_splits(eval=rows), 4), GENRES, "musicnn")


def test_unknown_feature_set_is_an_error(tmp_path):
    with pytest.raises(
        ValueError, match=r"unknown baselines.feature_set 'mfcc'; choose from \['engineered', 'musicnn'\]"
    ):
        load_splits(testdata.write_examples(str(tmp_path), _splits(), NAMES), GENRES, "mfcc")
