"""Reads the engineered features of SpectrogramTransform's Examples into arrays, and checks them.

Only four features of each example are parsed (the engineered vector, label, track and artist ids); the
spectrograms and waveform are skipped by the parser. Every problem found is an error that says what,
where and how many, with the first track ids: SpectrogramTransform should never write such examples,
so training on what is left would hide a bug upstream.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from tfx.types import artifact_utils

from components.formats import SPLITS
from components.formats import examples as source
from components.formats.examples import ENGINEERED, ENGINEERED_NAMES_FILE
from components.sklearn_baseline_trainer.serialization import read_json

_BATCH = 512
_SHOWN = 5  # how many track ids an error message lists

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class SplitData:
    name: str
    features: np.ndarray  # float32 [examples, features]
    labels: np.ndarray  # int64 [examples]
    track_ids: np.ndarray
    artist_ids: np.ndarray  # -1 = unknown

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


def load_splits(examples, genres: Sequence[str]) -> tuple[list[str], dict[str, SplitData]]:
    """(feature names, {split: data}) of a transformed Examples artifact, checked against each other."""
    names = read_feature_names(examples.uri)
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
        splits[split] = read_split(artifact_utils.get_split_uri([examples], split), split, names, len(genres))
        _log.info(
            "SklearnBaselineTrainer: read %d %s examples x %d features in %.1f s",
            len(splits[split]),
            split,
            len(names),
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


def read_split(split_uri: str, split: str, names: Sequence[str], num_genres: int) -> SplitData:
    files = sorted(f for f in tf.io.gfile.glob(os.path.join(split_uri, "*")) if not tf.io.gfile.isdir(f))
    if not files:
        raise ValueError(f"Split-{split} ({split_uri}) holds no files")
    spec = {
        name: tf.io.RaggedFeature(tf.float32 if name == ENGINEERED else tf.int64)
        for name in (ENGINEERED, source.LABEL, source.TRACK_ID, source.ARTIST_ID)
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
    if not parts[ENGINEERED]:
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
    _check_lengths(split, lengths[ENGINEERED], len(names), track_ids)
    data = SplitData(
        split,
        values[ENGINEERED].reshape(len(track_ids), len(names)),
        values[source.LABEL],
        track_ids,
        values[source.ARTIST_ID],
    )
    _check_finite(data, names)
    _check_labels(data, num_genres)
    return data


def _check_lengths(split: str, lengths: np.ndarray, expected: int, track_ids: np.ndarray) -> None:
    missing = lengths == 0
    if np.any(missing):
        raise ValueError(
            f"Split-{split}: {int(missing.sum())} of {len(lengths)} examples have no {ENGINEERED!r} "
            f"feature, e.g. track ids {_first(track_ids[missing])}; were they written by "
            "SpectrogramTransform?"
        )
    wrong = lengths != expected
    if np.any(wrong):
        seen = sorted(int(n) for n in np.unique(lengths[wrong]))
        raise ValueError(
            f"Split-{split}: {int(wrong.sum())} of {len(lengths)} examples have {seen} engineered "
            f"features where {ENGINEERED_NAMES_FILE} lists {expected}, e.g. track ids "
            f"{_first(track_ids[wrong])}; the splits must come from one SpectrogramTransform run "
            "with one transform.engineered_preset"
        )


def _check_finite(data: SplitData, names: Sequence[str]) -> None:
    bad = ~np.isfinite(data.features)
    rows = bad.any(axis=1)
    if np.any(rows):
        per_feature = bad.sum(axis=0)
        worst = [f"{names[i]} ({int(per_feature[i])})" for i in np.argsort(-per_feature)[:_SHOWN] if per_feature[i]]
        raise ValueError(
            f"Split-{data.name}: {int(rows.sum())} of {len(data)} examples have NaN or infinite "
            f"engineered features, e.g. track ids {_first(data.track_ids[rows])}; features affected "
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
