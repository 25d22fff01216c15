"""skops round trips, and refusal of foreign folders, altered files and types outside the allowlist."""

import hashlib
import json
import os

import numpy as np
import pytest
import sklearn
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from components.sklearn_baseline_trainer import estimators, serialization
from components.sklearn_baseline_trainer.serialization import UntrustedModelError, load_baseline, save_baseline
from components.sklearn_baseline_trainer.settings import BaselinesConfig

GENRES = ("a", "b", "c")
NAMES = ["f/0", "f/1", "f/2"]


class Sneaky(BaseEstimator, TransformerMixin):
    """Stands for any class an attacker could name in a model file."""

    def fit(self, features, labels=None):
        return self

    def transform(self, features):
        return features


def _data(seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], 20)
    return labels[:, None] * 2.0 + rng.normal(size=(60, 3)), labels


def _save(model_dir, algorithm="logistic_regression", baselines=None, estimator=None):
    features, labels = _data()
    estimator = estimator or estimators.build_pipeline(algorithm, baselines or BaselinesConfig()).fit(features, labels)
    save_baseline(
        str(model_dir), algorithm, estimator, {"feature_names": NAMES, "genres": list(GENRES)}, {"algorithm": algorithm}
    )
    serialization.write_manifest(str(model_dir), [algorithm], GENRES, len(NAMES))
    return estimator


@pytest.mark.parametrize("algorithm", estimators.ALGORITHMS)
def test_round_trip_predicts_identically_and_keeps_metadata(tmp_path, algorithm):
    # Three features: KNN builds a KD-tree with a distance metric, the types the allowlist exists for.
    fitted = _save(tmp_path, algorithm)
    loaded, metadata = load_baseline(str(tmp_path), algorithm)
    features, _ = _data(seed=1)
    np.testing.assert_array_equal(loaded.predict(features), fitted.predict(features))
    assert metadata["format_version"] == serialization.FORMAT_VERSION and metadata["algorithm"] == algorithm
    assert metadata["versions"]["scikit-learn"] == sklearn.__version__ and "skops" in metadata["versions"]
    assert metadata["feature_names"] == NAMES and metadata["genres"] == list(GENRES)
    assert json.loads((tmp_path / algorithm / "metrics.json").read_text()) == {"algorithm": algorithm}


def test_knn_model_holds_allowlisted_types_only(tmp_path):
    _save(tmp_path, "knn")
    found = sio.get_untrusted_types(file=str(tmp_path / "knn" / serialization.MODEL_FILE))
    assert found and set(found) <= serialization.TRUSTED_TYPES


def test_folder_without_manifest_is_refused(tmp_path):
    _save(tmp_path)
    os.remove(tmp_path / serialization.MANIFEST_FILE)
    with pytest.raises(UntrustedModelError, match="manifest.json is missing"):
        load_baseline(str(tmp_path), "logistic_regression")


def test_other_format_version_is_refused(tmp_path):
    _save(tmp_path)
    manifest = json.loads((tmp_path / serialization.MANIFEST_FILE).read_text())
    (tmp_path / serialization.MANIFEST_FILE).write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(UntrustedModelError, match="format version 99"):
        load_baseline(str(tmp_path), "logistic_regression")


def test_algorithm_not_in_the_manifest_is_refused(tmp_path):
    _save(tmp_path)
    with pytest.raises(UntrustedModelError, match=r"holds no 'svm' baseline; it holds \['logistic_regression'\]"):
        load_baseline(str(tmp_path), "svm")
    with pytest.raises(UntrustedModelError, match="holds no '../elsewhere'"):
        load_baseline(str(tmp_path), "../elsewhere")


def test_replaced_model_file_is_refused_by_its_digest(tmp_path):
    _save(tmp_path)
    other = estimators.build_pipeline("logistic_regression", BaselinesConfig(seed=1)).fit(*_data(seed=5))
    sio.dump(other, str(tmp_path / "logistic_regression" / serialization.MODEL_FILE))
    with pytest.raises(UntrustedModelError, match="sha256 mismatch"):
        load_baseline(str(tmp_path), "logistic_regression")


def test_untrusted_type_is_never_saved(tmp_path):
    sneaky = Pipeline([("scale", StandardScaler()), ("sneaky", Sneaky())]).fit(*_data())
    with pytest.raises(UntrustedModelError, match=r"types outside the allowlist: \[.*serialization_test.Sneaky'\]"):
        save_baseline(str(tmp_path), "knn", sneaky, {}, {})
    assert not (tmp_path / "knn").exists()


def test_untrusted_type_in_a_file_with_matching_digest_is_refused_at_load(tmp_path):
    # A file crafted with a matching digest in its metadata: the type allowlist is the last line of defence.
    _save(tmp_path)
    folder = tmp_path / "logistic_regression"
    data = sio.dumps(Pipeline([("sneaky", Sneaky())]))
    (folder / serialization.MODEL_FILE).write_bytes(data)
    metadata = json.loads((folder / serialization.METADATA_FILE).read_text())
    metadata["model_sha256"] = hashlib.sha256(data).hexdigest()
    (folder / serialization.METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(UntrustedModelError, match=r"outside the allowlist: \[.*Sneaky'\]"):
        load_baseline(str(tmp_path), "logistic_regression")


@pytest.mark.parametrize("probability", [False, True])
def test_approximate_svm_round_trips_with_allowlisted_types_only(tmp_path, probability):
    baselines = BaselinesConfig(
        svm_exact_max_examples=10, svm_nystroem_components=20, hyperparameters={"svm": {"probability": probability}}
    )
    features, labels = _data()
    fitted = _save(tmp_path, "svm", estimator=estimators.build_pipeline("svm", baselines, 60).fit(features, labels))
    found = sio.get_untrusted_types(file=str(tmp_path / "svm" / serialization.MODEL_FILE))
    assert "components.sklearn_baseline_trainer.kernel_approximation.NystroemSVC" in found
    assert set(found) <= serialization.TRUSTED_TYPES
    loaded, _ = load_baseline(str(tmp_path), "svm")
    features, _ = _data(seed=1)
    np.testing.assert_array_equal(loaded.predict(features), fitted.predict(features))
    np.testing.assert_allclose(loaded.decision_function(features), fitted.decision_function(features))
