"""Builders of small transformed-Examples artifacts for SklearnBaselineTrainer's tests (tf.train.Example, GZIP).

Only the features SklearnBaselineTrainer reads are written: the engineered vector, label, track and artist
ids, in SpectrogramTransform's layout (Split-<name>/*.gz plus the names file at the artifact root).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Optional

import numpy as np
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from components.formats import examples as source
from components.formats.examples import ENGINEERED, ENGINEERED_NAMES_FILE


@dataclasses.dataclass
class Rows:
    features: list  # one sequence of floats per example (lengths may differ, to test the checks)
    labels: np.ndarray
    track_ids: np.ndarray
    artist_ids: np.ndarray


def separable_rows(
    num_genres: int,
    artists_per_genre: int,
    tracks_per_artist: int,
    segments: int,
    num_features: int,
    seed: int,
    first_artist: int = 0,
    spread: float = 0.9,
) -> Rows:
    """Class-dependent means plus unit noise: every genre has its own mean vector (same for all seeds).

    With the default spread and 12 features, the four baselines reach about 0.9 accuracy: separable, but
    not so easily that every algorithm ties at 1.0."""
    means = np.random.default_rng(1234).normal(0.0, spread, size=(num_genres, num_features))
    rng = np.random.default_rng(seed)
    features, labels, tracks, artists = [], [], [], []
    for genre in range(num_genres):
        for a in range(artists_per_genre):
            artist = first_artist + genre * artists_per_genre + a
            for t in range(tracks_per_artist):
                track = artist * 100 + t
                for _ in range(segments):
                    features.append(means[genre] + rng.normal(0.0, 1.0, num_features))
                    labels.append(genre)
                    tracks.append(track)
                    artists.append(artist)
    return Rows(features, np.array(labels), np.array(tracks), np.array(artists))


def write_examples(
    uri: str, splits: dict[str, Rows], names: Optional[Sequence[str]], omit_engineered: Sequence[int] = ()
) -> standard_artifacts.Examples:
    """Writes the artifact; `names=None` leaves the names file out, `omit_engineered` drops the feature
    from those example indices (of every split)."""
    examples = standard_artifacts.Examples()
    examples.uri = uri
    examples.split_names = artifact_utils.encode_split_names(list(splits))
    os.makedirs(uri, exist_ok=True)
    if names is not None:
        with open(os.path.join(uri, ENGINEERED_NAMES_FILE), "w") as f:
            json.dump(list(names), f)
    for split, rows in splits.items():
        folder = artifact_utils.get_split_uri([examples], split)
        os.makedirs(folder, exist_ok=True)
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        with tf.io.TFRecordWriter(os.path.join(folder, "data_tfrecord-00000-of-00001.gz"), options) as writer:
            for i, values in enumerate(rows.features):
                feature = {
                    source.LABEL: _int(rows.labels[i]),
                    source.TRACK_ID: _int(rows.track_ids[i]),
                    source.ARTIST_ID: _int(rows.artist_ids[i]),
                }
                if i not in omit_engineered:
                    feature[ENGINEERED] = tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    # What SpectrogramTransform records beside its splits (components/ledger.py).
    with open(os.path.join(uri, "summary.json"), "w") as f:
        json.dump({"examples_written": {split: len(rows.labels) for split, rows in splits.items()}}, f)
    return examples


def feature_names(count: int) -> list[str]:
    return [f"synthetic/mean/{i:02d}" for i in range(count)]


def _int(value) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
