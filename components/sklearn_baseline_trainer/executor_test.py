"""The executor end to end: TFRecords of separable engineered features in, four fitted baselines out."""

import json
import os
import re

import numpy as np
import pytest
from tfx.types import standard_artifacts

from components.sklearn_baseline_trainer import executor, serialization
from components.sklearn_baseline_trainer.dataset import load_splits
from components.sklearn_baseline_trainer.dataset_test import write_musicnn_examples
from pipeline import component_settings
from pipeline.config import load_config
from tests.helpers import sklearn_data as testdata

NUM_FEATURES = 12
EMBEDDING_SIZE = 50  # e.g. the taggram; the size is read from the examples
ALGORITHMS = ("logistic_regression", "knn", "gaussian_nb", "svm")


def _separable_splits(genres, eval_genres=None, num_features=NUM_FEATURES):
    n = len(genres)
    return {
        "train": testdata.separable_rows(
            n, artists_per_genre=3, tracks_per_artist=2, segments=3, num_features=num_features, seed=1, first_artist=0
        ),
        "eval": testdata.separable_rows(
            eval_genres or n,
            artists_per_genre=1,
            tracks_per_artist=2,
            segments=3,
            num_features=num_features,
            seed=2,
            first_artist=1000,
        ),
        "test": testdata.separable_rows(
            n,
            artists_per_genre=1,
            tracks_per_artist=2,
            segments=3,
            num_features=num_features,
            seed=3,
            first_artist=2000,
        ),
    }


def _examples(tmp_path, genres, eval_genres=None):
    splits = _separable_splits(genres, eval_genres)
    return testdata.write_examples(str(tmp_path / "examples"), splits, testdata.feature_names(NUM_FEATURES))


def _musicnn_examples(tmp_path, genres):
    """Only the musicnn embedding separates the genres; the engineered features are noise."""
    splits = _separable_splits(genres, num_features=EMBEDDING_SIZE)
    return write_musicnn_examples(str(tmp_path / "examples"), splits, num_engineered=NUM_FEATURES)


def _run(tmp_path, overrides, eval_genres=None, examples=None):
    config = load_config(overrides=overrides)
    examples = examples or _examples(tmp_path, config.genres, eval_genres)
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    os.makedirs(model.uri)
    executor.Executor().Do(
        {executor.EXAMPLES_KEY: [examples]},
        {executor.MODEL_KEY: [model]},
        {executor.BASELINE_CONFIG_KEY: component_settings.baseline_settings(config).model_dump_json()},
    )
    return config, examples, model


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("grid"), ["baselines.grid_search=true"])


def _read(model, *parts):
    with open(os.path.join(model.uri, *parts)) as f:
        return json.load(f)


def test_every_baseline_beats_chance_by_far(grid_run):
    _, _, model = grid_run
    summary = _read(model, "metrics.json")
    assert tuple(summary["algorithms"]) == ALGORITHMS
    for algorithm, result in summary["algorithms"].items():
        for split in ("eval", "test"):  # chance is 1/8
            assert result[f"{split}_accuracy"] >= 0.6, (algorithm, split, result)
            assert result[f"{split}_macro_f1"] >= 0.6 and result[f"{split}_track_accuracy"] >= 0.6


def test_artifact_holds_models_metadata_metrics_summary_and_manifest(grid_run):
    config, _, model = grid_run
    manifest = _read(model, serialization.MANIFEST_FILE)
    assert manifest["algorithms"] == list(ALGORITHMS) and manifest["genres"] == list(config.genres)
    assert manifest["num_features"] == NUM_FEATURES
    summary = _read(model, "metrics.json")
    assert summary["feature_set"] == "engineered" and summary["num_features"] == NUM_FEATURES
    for algorithm in ALGORITHMS:
        for name in (serialization.MODEL_FILE, serialization.METADATA_FILE, serialization.METRICS_FILE):
            assert os.path.isfile(os.path.join(model.uri, algorithm, name)), (algorithm, name)
        metadata = _read(model, algorithm, serialization.METADATA_FILE)
        assert metadata["feature_names"] == testdata.feature_names(NUM_FEATURES)
        assert metadata["feature_set"] == "engineered"
        assert metadata["genres"] == list(config.genres) and metadata["steps"] == ["scale", "classifier"]
        assert metadata["train_examples"] == 8 * 3 * 2 * 3


def test_metrics_reconcile_with_the_example_counts(grid_run):
    config, examples, model = grid_run
    _, splits = load_splits(examples, config.genres)
    summary = _read(model, "metrics.json")
    assert summary["examples"] == {name: len(split) for name, split in splits.items()}
    for algorithm in ALGORITHMS:
        metrics = _read(model, algorithm, serialization.METRICS_FILE)
        for split in ("eval", "test"):
            result, data = metrics[split], splits[split]
            matrix = np.array(result["confusion_matrix"]["matrix"])
            assert result["examples"] == len(data) == matrix.sum()
            assert result["correct"] == np.trace(matrix) and result["accuracy"] == result["correct"] / len(data)
            assert {g: v["support"] for g, v in result["per_genre"].items()} == data.genre_counts(config.genres)
            assert result["track_level"]["examples"] == len(np.unique(data.track_ids))
            assert summary["algorithms"][algorithm][f"{split}_accuracy"] == result["accuracy"]


def test_ledger_rows_balance_against_the_transforms_record(grid_run):
    _, examples, model = grid_run
    with open(os.path.join(examples.uri, "summary.json")) as f:
        recorded = json.load(f)["examples_written"]
    rows = _read(model, "metrics.json")["ledger"]
    assert [(r["split"], r["what"], r["counted"], r["expected"], r["balanced"]) for r in rows] == [
        (split, "trained on" if split == "train" else "scored", n, n, True) for split, n in recorded.items()
    ]


def test_examples_missing_against_the_transforms_record_fail_before_fitting(tmp_path):
    from components.ledger import LedgerMismatch

    config = load_config(overrides=[])
    examples = _examples(tmp_path, config.genres)
    with open(os.path.join(examples.uri, "summary.json")) as f:
        recorded = json.load(f)["examples_written"]
    with open(os.path.join(examples.uri, "summary.json"), "w") as f:
        json.dump({"examples_written": {**recorded, "test": recorded["test"] + 3}}, f)
    _assert_refused_before_fitting(
        tmp_path,
        examples,
        config,
        LedgerMismatch,
        rf"SklearnBaselineTrainer, split 'test': scored {recorded['test']} "
        rf"examples, but SpectrogramTransform .* recorded {recorded['test'] + 3} "
        r"\(3 missing\)",
    )


def test_grid_search_records_best_params_within_the_grid(grid_run):
    config, _, model = grid_run
    for algorithm in ALGORITHMS:
        search = _read(model, algorithm, serialization.METRICS_FILE)["grid_search"]
        grid = config.baselines.param_grids[algorithm]
        assert set(search["best_params"]) == set(grid)
        assert all(search["best_params"][name] in values for name, values in grid.items())
        assert len(search["candidates"]) == np.prod([len(v) for v in grid.values()])
        assert 0.6 <= search["best_cv_accuracy"] <= 1.0
        metadata = _read(model, algorithm, serialization.METADATA_FILE)
        assert metadata["grid_search_best_params"] == search["best_params"]
        for name, value in search["best_params"].items():
            assert metadata["classifier_params"][name] == value


def test_best_algorithm_is_the_best_on_eval_and_is_on_the_artifact(grid_run):
    _, _, model = grid_run
    summary = _read(model, "metrics.json")
    eval_accuracy = {a: r["eval_accuracy"] for a, r in summary["algorithms"].items()}
    best = summary["best_algorithm"]
    assert eval_accuracy[best] == max(eval_accuracy.values())
    assert best == next(a for a in ALGORITHMS if eval_accuracy[a] == max(eval_accuracy.values()))  # ties: first
    assert summary["best_test_accuracy"] == summary["algorithms"][best]["test_accuracy"]
    assert model.get_string_custom_property("best_algorithm") == best
    assert model.get_float_custom_property("best_test_accuracy") == pytest.approx(summary["best_test_accuracy"])
    assert model.get_string_custom_property("algorithms") == ",".join(ALGORITHMS)
    for algorithm in ALGORITHMS:
        assert model.get_float_custom_property(f"test_accuracy_{algorithm}") == pytest.approx(
            summary["algorithms"][algorithm]["test_accuracy"]
        )


def test_loaded_models_reproduce_the_recorded_test_accuracy(grid_run):
    config, examples, model = grid_run
    _, splits = load_splits(examples, config.genres)
    test = splits["test"]
    for algorithm in ALGORITHMS:
        estimator, metadata = serialization.load_baseline(model.uri, algorithm)
        accuracy = float(np.mean(estimator.predict(test.features) == test.labels))
        assert accuracy == _read(model, algorithm, serialization.METRICS_FILE)["test"]["accuracy"]


def test_subset_with_pca_and_a_genre_missing_from_eval(tmp_path):
    # Eval holds only the first 6 genres: the run goes on and the metrics say which genres were absent.
    config, _, model = _run(
        tmp_path, ["baselines.algorithms=[gaussian_nb, knn]", "baselines.pca_components=0.9"], eval_genres=6
    )
    summary = _read(model, "metrics.json")
    assert list(summary["algorithms"]) == ["gaussian_nb", "knn"]
    assert not os.path.exists(os.path.join(model.uri, "svm"))
    eval_metrics = _read(model, "knn", serialization.METRICS_FILE)["eval"]
    assert eval_metrics["genres_absent"] == list(config.genres[6:])
    assert eval_metrics["per_genre"][config.genres[7]]["recall"] is None
    metadata = _read(model, "knn", serialization.METADATA_FILE)
    assert (
        metadata["steps"] == ["scale", "pca", "classifier"] and 1 <= metadata["pca_components_fitted"] <= NUM_FEATURES
    )
    assert _read(model, "knn", serialization.METRICS_FILE)["grid_search"] is None


def test_bad_hyperparameter_fails_before_reading_data(tmp_path):
    config = load_config(overrides=["baselines.hyperparameters.gaussian_nb.smoothing=1"])
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"hyperparameters.gaussian_nb: unknown hyperparameter\(s\) \['smoothing'\]"):
        executor.Executor().Do(
            {executor.EXAMPLES_KEY: [examples]},
            {executor.MODEL_KEY: [model]},
            {executor.BASELINE_CONFIG_KEY: component_settings.baseline_settings(config).model_dump_json()},
        )


# -- baselines.feature_set=musicnn -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def feature_set_runs(tmp_path_factory):
    """The same examples (genres told apart by the musicnn embedding only) under both feature sets."""
    root = tmp_path_factory.mktemp("feature_sets")
    examples = _musicnn_examples(root, load_config(overrides=[]).genres)
    return {
        feature_set: _run(root / feature_set, [f"baselines.feature_set={feature_set}"], examples=examples)
        for feature_set in ("musicnn", "engineered")
    }


def test_musicnn_feature_set_trains_on_the_embedding_not_the_engineered_features(feature_set_runs):
    accuracies = {}
    for feature_set, (_, _, model) in feature_set_runs.items():
        summary = _read(model, "metrics.json")
        accuracies[feature_set] = [
            result[f"{split}_accuracy"] for result in summary["algorithms"].values() for split in ("eval", "test")
        ]
    assert min(accuracies["musicnn"]) >= 0.9, accuracies  # chance is 1/8
    assert max(accuracies["engineered"]) <= 0.35, accuracies  # noise: about chance


def test_the_feature_set_and_its_size_are_recorded(feature_set_runs):
    names = [f"musicnn/{i:03d}" for i in range(EMBEDDING_SIZE)]
    for feature_set, count, feature_names in (
        ("musicnn", EMBEDDING_SIZE, names),
        ("engineered", NUM_FEATURES, testdata.feature_names(NUM_FEATURES)),
    ):
        _, _, model = feature_set_runs[feature_set]
        summary = _read(model, "metrics.json")
        assert summary["feature_set"] == feature_set and summary["num_features"] == count
        assert summary["settings"]["baselines"]["feature_set"] == feature_set
        assert _read(model, serialization.MANIFEST_FILE)["num_features"] == count
        assert model.get_string_custom_property("feature_set") == feature_set
        assert model.get_int_custom_property("num_features") == count
        for algorithm in ALGORITHMS:
            metadata = _read(model, algorithm, serialization.METADATA_FILE)
            assert metadata["feature_set"] == feature_set and metadata["feature_names"] == feature_names


def test_loaded_musicnn_models_reproduce_the_recorded_test_accuracy(feature_set_runs):
    config, examples, model = feature_set_runs["musicnn"]
    _, splits = load_splits(examples, config.genres, "musicnn")
    test = splits["test"]
    assert test.features.shape[1] == EMBEDDING_SIZE
    for algorithm in ALGORITHMS:
        estimator, metadata = serialization.load_baseline(model.uri, algorithm)
        assert len(metadata["feature_names"]) == estimator.n_features_in_ == EMBEDDING_SIZE
        accuracy = float(np.mean(estimator.predict(test.features) == test.labels))
        assert accuracy == _read(model, algorithm, serialization.METRICS_FILE)["test"]["accuracy"]


def test_musicnn_feature_set_without_the_embedding_fails_before_fitting(tmp_path):
    config = load_config(overrides=["baselines.feature_set=musicnn"])
    examples = _examples(tmp_path, config.genres)  # a transform run that did not compute the embedding
    _assert_refused_before_fitting(
        tmp_path,
        examples,
        config,
        ValueError,
        r"Split-train: 144 of 144 examples have no 'musicnn_embedding' feature, .*the transform did not "
        r"compute the musicnn embedding, and baselines.feature_set=musicnn needs the transform to have run with "
        r"it.*transform.musicnn",
    )


def _assert_refused_before_fitting(tmp_path, examples, config, error, match: str) -> None:
    """The executor raises `error` matching `match`, and writes no metrics.json."""
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    with pytest.raises(error, match=match):
        executor.Executor().Do(
            {executor.EXAMPLES_KEY: [examples]},
            {executor.MODEL_KEY: [model]},
            {executor.BASELINE_CONFIG_KEY: component_settings.baseline_settings(config).model_dump_json()},
        )
    assert not os.path.exists(os.path.join(model.uri, "metrics.json"))


# -- the SVM past baselines.svm_exact_max_examples, and progress -------------------------------------------
def test_the_approximate_svm_is_recorded_and_progress_has_an_eta(tmp_path, caplog):
    overrides = ["baselines.svm_exact_max_examples=50", "baselines.algorithms=[gaussian_nb, knn, svm]"]
    with caplog.at_level("INFO", logger="components.sklearn_baseline_trainer"):
        _, _, model = _run(tmp_path, overrides)  # 144 train examples
    variant = "svm (RBF via Nyström, 144 components: 144 training examples > baselines.svm_exact_max_examples=50)"
    metrics = _read(model, "svm", serialization.METRICS_FILE)
    assert metrics["variant"] == variant
    assert metrics["approximation"]["label"] == "RBF via Nyström, 144 components"
    assert metrics["eval"]["accuracy"] >= 0.6 and metrics["test"]["accuracy"] >= 0.6  # chance is 1/8
    summary = _read(model, "metrics.json")
    assert summary["algorithms"]["svm"]["variant"] == variant
    assert summary["algorithms"]["svm"]["approximation"] == "RBF via Nyström, 144 components"
    assert summary["algorithms"]["knn"]["variant"] == "knn" and summary["algorithms"]["knn"]["approximation"] is None
    assert summary["settings"]["baselines"]["svm_exact_max_examples"] == 50
    metadata = _read(model, "svm", serialization.METADATA_FILE)
    assert metadata["classifier"] == "NystroemSVC" and metadata["variant"] == variant
    serialization.load_baseline(model.uri, "svm")  # the allowlist admits it

    lines = [r.getMessage() for r in caplog.records]
    assert "SklearnBaselineTrainer: baseline 1/3 gaussian_nb: fitting on 144 examples x 12 engineered features" in lines
    assert f"SklearnBaselineTrainer: baseline 3/3 {variant}: fitting on 144 examples x 12 engineered features" in lines
    done = [line for line in lines if " fitted in " in line]
    assert len(done) == 3
    assert re.fullmatch(
        r"SklearnBaselineTrainer: baseline 1/3 gaussian_nb fitted in \d+\.\d s, scored eval\+test in \d+\.\d s; "
        r"ETA for the remaining 2 algorithms ~\d+ s",
        done[0],
    ), done[0]
    assert re.search(r"baseline 2/3 knn fitted in .*; ETA for the remaining algorithm ~\d+ s$", done[1]), done[1]
    assert re.search(r"baseline 3/3 svm fitted in .*; all 3 algorithms done in \d+ s$", done[2]), done[2]


def test_the_exact_svm_is_recorded_as_exact(grid_run):
    _, _, model = grid_run  # 144 train examples, the default threshold of 10,000
    variant = "svm (exact SVC: 144 training examples <= baselines.svm_exact_max_examples=10,000)"
    assert _read(model, "svm", serialization.METRICS_FILE)["variant"] == variant
    assert _read(model, "metrics.json")["algorithms"]["svm"]["approximation"] is None


def test_eta_uses_the_cost_model_scaled_by_the_speed_so_far():
    # 10 s for algorithms predicted at 2 s: the remaining 6 s predicted take ~30 s.
    assert executor._eta(10.0, [1.0, 1.0], [2.0, 4.0]) == "ETA for the remaining 2 algorithms ~30 s"
    assert executor._eta(10.0, [1.0], [400.0]) == "ETA for the remaining algorithm ~1 h 06 min"
    assert executor._eta(75.0, [1.0, 2.0], []) == "all 2 algorithms done in 1 min 15 s"
