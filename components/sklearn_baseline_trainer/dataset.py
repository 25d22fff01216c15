"""Reads one feature set of SpectrogramTransform's Examples into arrays, and checks them.

The feature set is `baselines.feature_set`: "engineered" (the engineered vector, named by the names file at
the artifact root) or "musicnn" (the pretrained musicnn embedding, named musicnn/000, musicnn/001, ...; its
size is that of the first train example, and every other example must have as many values). Only four
features of each example are parsed (that vector, label, track and artist ids); the spectrograms and waveform
are skipped by the parser. Every problem found is an error that says what, where and how many, with the first
track ids: SpectrogramTransform should never write such examples, so training on what is left would hide a
bug upstream.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from typing import Optional

import numpy as np
import tensorflow as tf
from tfx.types import artifact_utils

from components.formats import SPLITS
from components.formats import examples as source
from components.formats.examples import ENGINEERED, ENGINEERED_NAMES_FILE, MUSICNN_EMBEDDING
from components.sklearn_baseline_trainer.serialization import read_json

_BATCH = 512
_SHOWN = 5  # how many track ids an error message lists

# baselines.feature_set -> the float list feature of the transformed examples it reads.
FEATURE_SETS = {"engineered": ENGINEERED, "musicnn": MUSICNN_EMBEDDING}
# What an example without the feature means, and which setting fixes the feature's size.
_MISSING_HINT = {
    "engineered": "were they written by SpectrogramTransform?",
    "musicnn": (
        "the transform did not compute the musicnn embedding, and baselines.feature_set=musicnn needs the "
        "transform to have run with it. SpectrogramTransform computes it (transform.musicnn: checkpoint and "
        "layer) only when the configuration reads it (baselines.feature_set=musicnn or "
        "trainer.model_family=musicnn_transfer): re-run SpectrogramTransform with this configuration (these "
        "examples come from a run without it), or set baselines.feature_set=engineered"
    ),
}
_SIZE_SETTING = {"engineered": "transform.engineered_preset", "musicnn": "transform.musicnn (model and embedding)"}


_log = logging.getLogger(__name__)


@dataclasses.dataclass
class SplitData:
    name: str
    features: np.ndarray  # float32 [examples, features]
    labels: np.ndarray  # int64 [examples]
    track_ids: np.ndarray
    artist_ids: np.ndarray  # -1 = unknown
    feature_names: Sequence[str] = ()  # one per column of `features`

    def __len__(self) -> int:
        return len(self.labels)

    def genre_counts(self, genres: Sequence[str]) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(genres))
        return {genre: int(n) for genre, n in zip(genres, counts)}


def read_feature_names(examples_uri: str) -> list[str]:
    path = os.path.join(examples_uri, ENGINEERED_NAMES_FILE)
    if not tf.io.gfile.exists(path):
        found = sorted(tf.io.gfile.listdir(examples_uri)) if tf.io.gfile.isdir(examples_uri) else []
        raise ValueError(
            f"{path} is missing, so the engineered features have no names: the examples must be "
            f"SpectrogramTransform's transformed_examples output (found at the artifact root: {found})"
        )
    names = read_json(path)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path} must hold a non-empty JSON list of feature names")
    return names


def musicnn_feature_names(size: int) -> list[str]:
    return [f"musicnn/{i:03d}" for i in range(size)]


def load_splits(
    examples, genres: Sequence[str], feature_set: str = "engineered"
) -> tuple[list[str], dict[str, SplitData]]:
    """(feature names, {split: data}) of a transformed Examples artifact, checked against each other.

    `feature_set` (baselines.feature_set) chooses the features: "engineered", named by the artifact's names
    file, or "musicnn", whose names and size come from the first train example (every other must match)."""
    _feature(feature_set)  # an unknown feature set fails before any reading
    names = read_feature_names(examples.uri) if feature_set == "engineered" else None
    available = artifact_utils.decode_split_names(examples.split_names) if examples.split_names else []
    missing = [s for s in SPLITS if s not in available]
    if missing:
        raise ValueError(
            f"the Examples artifact at {examples.uri} has splits {available}; "
            f"SklearnBaselineTrainer needs {list(SPLITS)} (missing {missing})"
        )
    splits = {}
    for split in SPLITS:
        started = time.monotonic()
        uri = artifact_utils.get_split_uri([examples], split)
        splits[split] = read_split(uri, split, names, len(genres), feature_set)
        names = list(splits[split].feature_names)  # musicnn: the first split (train) fixes them for the others
        _log.info(
            "SklearnBaselineTrainer: read %d %s examples x %d %s features in %.1f s",
            len(splits[split]),
            split,
            len(names),
            feature_set,
            time.monotonic() - started,
        )
    absent_from_train = [g for g, n in splits["train"].genre_counts(genres).items() if n == 0]
    if absent_from_train:
        raise ValueError(
            f"the train split has no examples of {absent_from_train}: a baseline could never predict "
            "them. Use more data, another split (split.*), or drop those genres from `genres`"
        )
    for split in ("eval", "test"):
        absent = [g for g, n in splits[split].genre_counts(genres).items() if n == 0]
        if absent:
            _log.warning(
                "SklearnBaselineTrainer: the %s split has no examples of %s; their recall is undefined "
                "and they are left out of its macro-F1 (listed as genres_absent in the metrics)",
                split,
                absent,
            )
    return names, splits


def read_split(
    split_uri: str, split: str, names: Optional[Sequence[str]], num_genres: int, feature_set: str = "engineered"
) -> SplitData:
    """One split's `feature_set` features; names=None (musicnn, the first split read): named and sized by
    the split's first example."""
    feature = _feature(feature_set)
    files = sorted(f for f in tf.io.gfile.glob(os.path.join(split_uri, "*")) if not tf.io.gfile.isdir(f))
    if not files:
        raise ValueError(f"Split-{split} ({split_uri}) holds no files")
    spec = {
        name: tf.io.RaggedFeature(tf.float32 if name == feature else tf.int64)
        for name in (feature, source.LABEL, source.TRACK_ID, source.ARTIST_ID)
    }
    dataset = (
        tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE)
        .batch(_BATCH)
        .map(lambda records: tf.io.parse_example(records, spec), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(2)
    )
    parts: dict[str, list] = {name: [] for name in spec}
    lengths: dict[str, list] = {name: [] for name in spec}
    for batch in dataset:
        for name, ragged in batch.items():
            parts[name].append(ragged.flat_values.numpy())
            lengths[name].append(ragged.row_lengths().numpy())
    if not parts[feature]:
        raise ValueError(f"Split-{split} holds no examples ({len(files)} files under {split_uri})")
    lengths = {name: np.concatenate(v) for name, v in lengths.items()}
    values = {name: np.concatenate(v) for name, v in parts.items()}
    for name in (source.LABEL, source.TRACK_ID, source.ARTIST_ID):
        if np.any(lengths[name] != 1):
            raise ValueError(
                f"Split-{split}: {int(np.sum(lengths[name] != 1))} of {len(lengths[name])} examples "
                f"lack a single {name!r} value; the examples do not follow the transformed-example "
                "contract (components/formats/examples.py)"
            )
    track_ids = values[source.TRACK_ID]
    size = _check_lengths(split, feature_set, lengths[feature], None if names is None else len(names), track_ids)
    data = SplitData(
        split,
        values[feature].reshape(len(track_ids), size),
        values[source.LABEL],
        track_ids,
        values[source.ARTIST_ID],
        list(names) if names is not None else musicnn_feature_names(size),
    )
    _check_finite(data, feature_set)
    _check_labels(data, num_genres)
    return data


def _feature(feature_set: str) -> str:
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown baselines.feature_set {feature_set!r}; choose from {list(FEATURE_SETS)}")
    return FEATURE_SETS[feature_set]


def _check_lengths(
    split: str, feature_set: str, lengths: np.ndarray, expected: Optional[int], track_ids: np.ndarray
) -> int:
    """The number of values every example has; expected=None: that of the first example."""
    feature = FEATURE_SETS[feature_set]
    missing = lengths == 0
    if np.any(missing):
        raise ValueError(
            f"Split-{split}: {int(missing.sum())} of {len(lengths)} examples have no {feature!r} "
            f"feature, e.g. track ids {_first(track_ids[missing])}; {_MISSING_HINT[feature_set]}"
        )
    if expected is None:
        expected, source_of_size = int(lengths[0]), f"the first example of Split-{split} has"
    else:
        source_of_size = f"{ENGINEERED_NAMES_FILE} lists" if feature_set == "engineered" else "the train examples have"
    wrong = lengths != expected
    if np.any(wrong):
        seen = sorted(int(n) for n in np.unique(lengths[wrong]))
        raise ValueError(
            f"Split-{split}: {int(wrong.sum())} of {len(lengths)} examples have {seen} {feature_set} "
            f"features where {source_of_size} {expected}, e.g. track ids {_first(track_ids[wrong])}; the "
            f"splits must come from one SpectrogramTransform run with one {_SIZE_SETTING[feature_set]}"
        )
    return expected


def _check_finite(data: SplitData, feature_set: str) -> None:
    names = data.feature_names
    bad = ~np.isfinite(data.features)
    rows = bad.any(axis=1)
    if np.any(rows):
        per_feature = bad.sum(axis=0)
        worst = [f"{names[i]} ({int(per_feature[i])})" for i in np.argsort(-per_feature)[:_SHOWN] if per_feature[i]]
        raise ValueError(
            f"Split-{data.name}: {int(rows.sum())} of {len(data)} examples have NaN or infinite "
            f"{feature_set} features, e.g. track ids {_first(data.track_ids[rows])}; features affected "
            f"(examples): {', '.join(worst)}. SpectrogramTransform should quarantine such audio"
        )


def _check_labels(data: SplitData, num_genres: int) -> None:
    wrong = (data.labels < 0) | (data.labels >= num_genres)
    if np.any(wrong):
        raise ValueError(
            f"Split-{data.name}: {int(wrong.sum())} examples have labels outside 0..{num_genres - 1} "
            f"(values {sorted(set(data.labels[wrong].tolist()))[:_SHOWN]}), e.g. track ids "
            f"{_first(data.track_ids[wrong])}; the pipeline's `genres` changed since ingestion?"
        )


def _first(track_ids: np.ndarray) -> list[int]:
    """The first distinct track ids (a track's segments share one)."""
    return [int(t) for t in dict.fromkeys(track_ids.tolist())][:_SHOWN]
