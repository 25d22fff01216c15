"""Saving and safely loading the baselines: skops files inside a Model artifact layout of our own.

A pickle runs arbitrary code when loaded; a skops file only rebuilds the types it is allowed to. Loading
accepts skops' default-trusted types (scikit-learn estimators, numpy, builtins) plus TRUSTED_TYPES below,
an explicit list of the scikit-learn internals our pipelines contain, and refuses anything else by name.
Saving applies the same check, so the executor never writes a model that the loader would refuse.

Layout written under the Model artifact's uri:

    manifest.json                 format name and version, algorithms, genres, library versions
    metrics.json                  the summary of every algorithm (see executor.py)
    <algorithm>/model.skops       the fitted sklearn Pipeline
    <algorithm>/metadata.json     format version, versions, feature names, genres, settings, sha256 of the model
    <algorithm>/metrics.json      eval and test metrics
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import zipfile
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import sklearn
import skops
import skops.io as sio
from sklearn.pipeline import Pipeline

from components.formats import BASELINE_SUMMARY_FILE
from components.sklearn_baseline_trainer.estimators import ALGORITHMS

FORMAT = "fma-genre-sklearn-baselines"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
SUMMARY_FILE = BASELINE_SUMMARY_FILE  # read by the BlessingEvaluator
MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
METRICS_FILE = "metrics.json"

# Types outside skops' defaults that these pipelines legitimately hold: the neighbour trees and distance
# metrics of KNeighborsClassifier (for low-dimensional inputs, e.g. after PCA, or other metrics); the
# approximate SVM past baselines.svm_exact_max_examples (our own class, built of scikit-learn estimators)
# and, with probability=true, its Platt scaling's calibrators.
TRUSTED_TYPES = frozenset(
    {
        "components.sklearn_baseline_trainer.kernel_approximation.NystroemSVC",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.SEuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    }
)

_log = logging.getLogger(__name__)


class UntrustedModelError(ValueError):
    """A file that is not one of ours, was altered, or holds types outside the allowlist."""


class LoadedBaseline(NamedTuple):
    estimator: Pipeline
    metadata: dict


def library_versions() -> dict[str, str]:
    return {
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def save_baseline(
    model_dir: str, algorithm: str, estimator: Pipeline, metadata: dict[str, Any], metrics: dict[str, Any]
) -> dict:
    """Writes <algorithm>/model.skops, metadata.json and metrics.json; returns the metadata written."""
    _check_algorithm(algorithm)
    data = sio.dumps(estimator, compression=zipfile.ZIP_DEFLATED)  # KNN stores its whole training set
    _check_trusted(sio.get_untrusted_types(data=data), f"the fitted {algorithm} pipeline")
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "algorithm": algorithm,
        "model_file": MODEL_FILE,
        "model_sha256": hashlib.sha256(data).hexdigest(),
        "versions": library_versions(),
        **metadata,
    }
    folder = os.path.join(model_dir, algorithm)
    _write_bytes(os.path.join(folder, MODEL_FILE), data)
    write_json(os.path.join(folder, METADATA_FILE), full)
    write_json(os.path.join(folder, METRICS_FILE), metrics)
    return full


def write_manifest(model_dir: str, algorithms: Sequence[str], genres: Sequence[str], num_features: int) -> None:
    """Written last: an artifact without it (a failed run, a foreign folder) is refused by load_baseline."""
    write_json(
        os.path.join(model_dir, MANIFEST_FILE),
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "algorithms": list(algorithms),
            "genres": list(genres),
            "num_features": num_features,
            "summary_file": SUMMARY_FILE,
            "versions": library_versions(),
        },
    )


def load_baseline(model_dir: str, algorithm: str) -> LoadedBaseline:
    """The fitted pipeline of `algorithm` from a SklearnBaselineTrainer Model artifact, and its metadata.

    Refuses (UntrustedModelError) a folder without our manifest, an algorithm the manifest does not
    list, a model file whose digest differs from the one recorded at training, and any type outside
    skops' defaults and TRUSTED_TYPES.
    """
    manifest = read_manifest(model_dir)
    if algorithm not in manifest["algorithms"]:
        raise UntrustedModelError(f"{model_dir} holds no {algorithm!r} baseline; it holds {manifest['algorithms']}")
    _check_algorithm(algorithm)  # known names only: the path below cannot leave the artifact
    folder = os.path.join(model_dir, algorithm)
    metadata = read_json(os.path.join(folder, METADATA_FILE))
    if metadata.get("format") != FORMAT or metadata.get("algorithm") != algorithm:
        raise UntrustedModelError(f"{os.path.join(folder, METADATA_FILE)} is not {algorithm!r} metadata of {FORMAT}")
    data = _read_bytes(os.path.join(folder, MODEL_FILE))
    if hashlib.sha256(data).hexdigest() != metadata.get("model_sha256"):
        raise UntrustedModelError(
            f"{os.path.join(folder, MODEL_FILE)} differs from the file written at training "
            "(sha256 mismatch): refusing to load it"
        )
    untrusted = sio.get_untrusted_types(data=data)
    _check_trusted(untrusted, os.path.join(folder, MODEL_FILE))
    trained_with = metadata.get("versions", {}).get("scikit-learn")
    if trained_with != sklearn.__version__:
        _log.warning(
            "%s was trained with scikit-learn %s and is loaded with %s: predictions may differ",
            algorithm,
            trained_with,
            sklearn.__version__,
        )
    estimator = sio.loads(data, trusted=untrusted)
    if not isinstance(estimator, Pipeline):
        raise UntrustedModelError(
            f"{os.path.join(folder, MODEL_FILE)} holds a {type(estimator).__name__}, not a scikit-learn Pipeline"
        )
    return LoadedBaseline(estimator, metadata)


def read_manifest(model_dir: str) -> dict:
    path = os.path.join(model_dir, MANIFEST_FILE)
    if not _exists(path):
        raise UntrustedModelError(
            f"{model_dir} is not a SklearnBaselineTrainer Model artifact: {MANIFEST_FILE} "
            "is missing (only this pipeline's own artifacts are loaded)"
        )
    manifest = read_json(path)
    if manifest.get("format") != FORMAT:
        raise UntrustedModelError(f"{path} describes format {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UntrustedModelError(
            f"{path} has format version {manifest.get('format_version')}; this code reads "
            f"version {FORMAT_VERSION}: retrain, or load it with the matching release"
        )
    return manifest


def _check_trusted(types: Sequence[str], what: str) -> None:
    refused = sorted(set(types) - TRUSTED_TYPES)
    if refused:
        raise UntrustedModelError(
            f"{what} contains types outside the allowlist: {refused}. Only skops' default "
            "types and serialization.TRUSTED_TYPES are loaded"
        )


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise UntrustedModelError(f"unknown baseline algorithm {algorithm!r}; known: {list(ALGORITHMS)}")


# Local paths use plain files; remote ones (gs://, on Kubeflow/Vertex) go through TensorFlow's gfile,
# imported only then so that loading a local baseline does not pull in TensorFlow.
def _is_remote(path: str) -> bool:
    return "://" in path


def _exists(path: str) -> bool:
    if _is_remote(path):
        import tensorflow as tf

        return tf.io.gfile.exists(path)
    return os.path.isfile(path)


def _read_bytes(path: str) -> bytes:
    if _is_remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def _write_bytes(path: str, data: bytes) -> None:
    if _is_remote(path):
        import tensorflow as tf

        tf.io.gfile.makedirs(os.path.dirname(path))
        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(data)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read_json(path: str) -> Any:
    return json.loads(_read_bytes(path).decode("utf-8"))


def write_json(path: str, value: Any) -> None:
    _write_bytes(path, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
