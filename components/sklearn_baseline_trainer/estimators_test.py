"""Pipelines, hyperparameter checks, PCA options and the artist-grouped grid search on synthetic arrays."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.svm import SVC

from components.sklearn_baseline_trainer import cost_model, estimators, kernel_approximation
from components.sklearn_baseline_trainer.kernel_approximation import NystroemSVC
from components.sklearn_baseline_trainer.settings import BaselinesConfig, BaselineSettings
from pipeline.config import load_config


def _blobs(classes=4, per_class=40, features=10, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    means = rng.normal(0, 3, size=(classes, features))
    return means[labels] + rng.normal(size=(len(labels), features)), labels


def test_default_pipelines_are_scaler_then_classifier_with_configured_hyperparameters():
    baselines = BaselinesConfig()
    for algorithm in estimators.ALGORITHMS:
        pipeline = estimators.build_pipeline(algorithm, baselines)
        assert [name for name, _ in pipeline.steps] == ["scale", "classifier"]
        params = pipeline.named_steps["classifier"].get_params()
        for name, value in baselines.hyperparameters[algorithm].items():
            assert params[name] == value
    svm = estimators.build_pipeline("svm", BaselinesConfig(seed=7)).named_steps["classifier"]
    assert svm.random_state == 7 and svm.probability is False


@pytest.mark.parametrize("pca_components, expected", [(3, 3), (3.0, 3)])
def test_pca_with_a_count_keeps_that_many_components(pca_components, expected):
    features, labels = _blobs()
    pipeline = estimators.build_pipeline("logistic_regression", BaselinesConfig(pca_components=pca_components))
    assert [name for name, _ in pipeline.steps] == ["scale", "pca", "classifier"]
    pipeline.fit(features, labels)
    assert pipeline.named_steps["pca"].n_components_ == expected


def test_pca_with_a_fraction_keeps_that_share_of_variance():
    features, labels = _blobs()
    pipeline = estimators.build_pipeline("knn", BaselinesConfig(pca_components=0.9)).fit(features, labels)
    pca = pipeline.named_steps["pca"]
    kept = np.cumsum(pca.explained_variance_ratio_)
    assert kept[-1] >= 0.9 and (pca.n_components_ == 1 or kept[-2] < 0.9)
    assert pca.n_components_ < features.shape[1]


def test_pca_values_that_mean_nothing_are_refused():
    with pytest.raises(ValueError, match=r"pca_components=2.5: give a whole number"):
        estimators.build_pipeline("svm", BaselinesConfig(pca_components=2.5))
    features, labels = _blobs(features=10)
    with pytest.raises(ValueError, match=r"pca_components=50 exceeds .* 10 features and 160 examples"):
        estimators.fit_baseline(
            "svm", BaselinesConfig(pca_components=50), features, labels, np.arange(len(labels)).astype(str)
        )


def test_unknown_hyperparameter_names_the_algorithm_and_the_valid_names():
    config = load_config(overrides=["baselines.hyperparameters.knn.neighbours=3"])
    with pytest.raises(ValueError) as error:
        estimators.validate(config.baselines)
    message = str(error.value)
    assert "baselines.hyperparameters.knn" in message and "['neighbours']" in message
    assert "KNeighborsClassifier" in message and "'n_neighbors'" in message and "'weights'" in message


def test_invalid_hyperparameter_value_is_caught_before_fitting():
    with pytest.raises(ValueError, match=r"hyperparameters.svm: The 'kernel' parameter of SVC must be"):
        estimators.validate(load_config(overrides=["baselines.hyperparameters.svm.kernel=cubic"]).baselines)


def test_param_grid_is_checked_and_prefixed_for_the_pipeline():
    baselines = BaselinesConfig(grid_search=True)
    assert estimators.param_grid("svm", baselines) == {
        "classifier__C": [1.0, 10.0, 100.0],
        "classifier__gamma": ["scale", 0.001, 0.01],
    }
    bad_name = BaselinesConfig(grid_search=True, param_grids={"gaussian_nb": {"smoothing": [1e-9]}})
    with pytest.raises(ValueError, match=r"param_grids.gaussian_nb: unknown hyperparameter\(s\) \['smoothing'\]"):
        estimators.validate(bad_name)
    empty = BaselinesConfig(grid_search=True, param_grids={"knn": {"n_neighbors": []}})
    with pytest.raises(ValueError, match=r"param_grids.knn.n_neighbors is an empty list"):
        estimators.validate(empty)


def test_cv_groups_fall_back_to_the_track_and_never_collide():
    groups = estimators.cv_groups(np.array([5, 5, -1, -1]), np.array([1, 2, 5, 5]))
    assert groups.tolist() == ["artist:5", "artist:5", "track:5", "track:5"]
    assert len(set(groups)) == 2


def test_grid_search_records_best_params_and_cv_accuracy():
    features, labels = _blobs(per_class=30)
    groups = np.array([f"artist:{i // 5}" for i in range(len(labels))])
    baselines = BaselinesConfig(grid_search=True, cv_folds=3, param_grids={"knn": {"n_neighbors": [1, 3, 5]}})
    fitted = estimators.fit_baseline("knn", baselines, features, labels, groups)
    search = fitted.grid_search
    assert search["best_params"]["n_neighbors"] in (1, 3, 5)
    assert [c["params"] for c in search["candidates"]] == [{"n_neighbors": k} for k in (1, 3, 5)]
    assert search["best_cv_accuracy"] == max(c["mean_cv_accuracy"] for c in search["candidates"])
    assert fitted.estimator.named_steps["classifier"].n_neighbors == search["best_params"]["n_neighbors"]
    assert fitted.fit_seconds > 0


def test_grid_search_keeps_each_artist_in_one_fold():
    # Labels are random per artist and each artist's segments are near-identical: 1-NN scores ~1.0 if an
    # artist's segments straddle folds (it finds its twin), and about chance when they do not.
    rng = np.random.default_rng(3)
    artists = np.repeat(np.arange(60), 4)
    centres = rng.normal(size=(60, 6))
    features = centres[artists] + 0.01 * rng.normal(size=(len(artists), 6))
    labels = rng.integers(0, 4, 60)[artists]
    baselines = BaselinesConfig(grid_search=True, cv_folds=3, param_grids={"knn": {"n_neighbors": [1]}})
    grouped = estimators.fit_baseline(
        "knn", baselines, features, labels, estimators.cv_groups(artists, np.arange(len(artists)))
    )
    assert grouped.grid_search["best_cv_accuracy"] < 0.5
    leaky = estimators.fit_baseline("knn", baselines, features, labels, np.arange(len(artists)).astype(str))
    assert leaky.grid_search["best_cv_accuracy"] > 0.9  # the same search with one group per segment leaks


def test_grid_search_needs_as_many_artists_as_folds():
    features, labels = _blobs(classes=2, per_class=10)
    with pytest.raises(ValueError, match=r"cv_folds=3 needs at least that many distinct artists .* found 2"):
        estimators.fit_baseline(
            "gaussian_nb",
            BaselinesConfig(grid_search=True),
            features,
            labels,
            np.array(["artist:1"] * 10 + ["artist:2"] * 10),
        )


def test_class_scores_use_probabilities_when_the_classifier_has_them():
    features, labels = _blobs()
    svm = estimators.build_pipeline("svm", BaselinesConfig()).fit(features, labels)
    scores, kind = estimators.class_scores(svm, features)
    assert kind == "mean_decision_function" and scores.shape == (160, 4)
    np.testing.assert_array_equal(np.argmax(scores, axis=1), svm.predict(features))
    probable = BaselinesConfig(hyperparameters={"svm": {"probability": True}})
    svm = estimators.build_pipeline("svm", probable).fit(features, labels)
    scores, kind = estimators.class_scores(svm, features)
    assert kind == "mean_probability" and np.allclose(scores.sum(axis=1), 1.0)


def test_two_class_decision_function_becomes_two_columns():
    features, labels = _blobs(classes=2)
    svm = estimators.build_pipeline("svm", BaselinesConfig()).fit(features, labels)
    scores, _ = estimators.class_scores(svm, features)
    np.testing.assert_array_equal(np.argmax(scores, axis=1), svm.predict(features))


def test_settings_refuse_no_algorithms_or_repeats():
    with pytest.raises(ValueError, match="baselines.algorithms is empty"):
        BaselineSettings(genres=("a", "b"), baselines=BaselinesConfig(algorithms=()))
    with pytest.raises(ValueError, match="lists an algorithm twice"):
        BaselineSettings(genres=("a", "b"), baselines=BaselinesConfig(algorithms=("knn", "knn")))


def test_estimator_classes_are_the_ones_documented():
    assert isinstance(estimators.make_estimator("svm"), SVC)
    assert isinstance(estimators.pca_step(0.5, 0), PCA) and estimators.pca_step(None, 0) is None
    with pytest.raises(ValueError, match="unknown baseline algorithm 'xgboost'"):
        estimators.make_estimator("xgboost")


# -- the SVM past baselines.svm_exact_max_examples: Nyström features and a linear SVM -----------------------
def test_svm_is_approximated_above_the_threshold_and_exact_up_to_it():
    features, labels = _blobs()  # 160 examples
    groups = np.arange(len(labels)).astype(str)
    above = estimators.fit_baseline("svm", BaselinesConfig(svm_exact_max_examples=50), features, labels, groups)
    assert isinstance(above.estimator.named_steps["classifier"], NystroemSVC)
    assert above.variant == (
        "svm (RBF via Nyström, 160 components: 160 training examples > baselines.svm_exact_max_examples=50)"
    )
    assert above.approximation["kernel"] == "rbf" and above.approximation["n_components"] == 160
    assert above.approximation["svm_exact_max_examples"] == 50
    at = estimators.fit_baseline("svm", BaselinesConfig(svm_exact_max_examples=160), features, labels, groups)
    assert isinstance(at.estimator.named_steps["classifier"], SVC) and at.approximation is None
    assert at.variant == "svm (exact SVC: 160 training examples <= baselines.svm_exact_max_examples=160)"
    other = estimators.fit_baseline("knn", BaselinesConfig(svm_exact_max_examples=50), features, labels, groups)
    assert other.variant == "knn" and other.approximation is None
    # The component count is the setting's when the train split has more examples.
    variant, approximation = estimators.describe(
        "svm", BaselinesConfig(svm_exact_max_examples=10_000, svm_nystroem_components=1000), 64_000
    )
    assert variant == (
        "svm (RBF via Nyström, 1,000 components: 64,000 training examples > baselines.svm_exact_max_examples=10,000)"
    )
    assert approximation["n_components"] == 1000


def test_knn_above_its_cap_uses_a_stratified_sample_as_neighbours():
    features, labels = _blobs()  # 160 examples, 4 classes
    groups = np.arange(len(labels)).astype(str)
    capped = estimators.fit_baseline("knn", BaselinesConfig(knn_max_neighbour_examples=40), features, labels, groups)
    knn = capped.estimator.named_steps["classifier"]
    assert knn.n_samples_fit_ == 40  # the reference set is the sample, not all 160
    assert np.bincount(knn._y).tolist() == [10, 10, 10, 10]  # stratified: each class in proportion
    assert capped.variant == "knn (40 of 160 examples as neighbours: > baselines.knn_max_neighbour_examples=40)"
    assert capped.approximation["train_examples"] == 160
    assert (capped.estimator.predict(features) == labels).mean() > 0.9  # separable blobs: still learns
    whole = estimators.fit_baseline("knn", BaselinesConfig(knn_max_neighbour_examples=160), features, labels, groups)
    assert whole.estimator.named_steps["classifier"].n_samples_fit_ == 160 and whole.approximation is None
    # so kNN's scoring cost stops growing with the train split past the cap
    config = BaselinesConfig(knn_max_neighbour_examples=10_000)
    assert cost_model.predicted_seconds("knn", config, 64_000, 1000, 518) == pytest.approx(
        cost_model.predicted_seconds("knn", config, 10_000, 1000, 518)
    )


def test_the_default_threshold_keeps_small_data_exact():
    assert BaselinesConfig().svm_exact_max_examples == 10_000 and BaselinesConfig().svm_nystroem_components == 1000
    assert isinstance(estimators.build_pipeline("svm", BaselinesConfig(), 10_000)[-1], SVC)
    assert isinstance(estimators.build_pipeline("svm", BaselinesConfig(), 10_001)[-1], NystroemSVC)
    assert isinstance(estimators.build_pipeline("svm", BaselinesConfig())[-1], SVC)  # size unknown: exact


def test_approximate_svm_keeps_the_configured_svc_parameters():
    baselines = BaselinesConfig(
        svm_exact_max_examples=0,
        svm_nystroem_components=40,
        seed=5,
        hyperparameters={"svm": {"C": 3.0, "gamma": 0.02, "class_weight": "balanced"}},
    )
    classifier = estimators.build_pipeline("svm", baselines, 100).named_steps["classifier"]
    assert isinstance(classifier, NystroemSVC)
    assert (classifier.C, classifier.gamma, classifier.kernel) == (3.0, 0.02, "rbf")
    assert (classifier.class_weight, classifier.random_state, classifier.n_components) == ("balanced", 5, 40)


def test_approximate_svm_learns_separable_data_with_svcs_gamma_and_c():
    features, labels = _blobs(classes=4, per_class=150, features=10, seed=1)
    test_features, test_labels = _blobs(classes=4, per_class=50, features=10, seed=1)
    baselines = BaselinesConfig(svm_exact_max_examples=50, svm_nystroem_components=200)
    fitted = estimators.fit_baseline("svm", baselines, features, labels, np.arange(len(labels)).astype(str))
    pipeline = fitted.estimator
    assert np.mean(pipeline.predict(test_features) == test_labels) >= 0.95  # chance is 0.25
    classifier = pipeline.named_steps["classifier"]
    scaled = pipeline.named_steps["scale"].transform(features)
    assert classifier.gamma_ == pytest.approx(1 / (scaled.shape[1] * scaled.var()))  # SVC's gamma="scale"
    assert classifier.feature_map_.gamma == classifier.gamma_ and classifier.n_components_ == 200
    assert classifier.linear_.loss == "hinge"
    assert classifier.linear_.alpha == pytest.approx(1 / (10.0 * len(labels)))  # C=10 on 600 examples
    scores, kind = estimators.class_scores(pipeline, test_features)
    assert kind == "mean_decision_function" and scores.shape == (200, 4)
    np.testing.assert_array_equal(np.argmax(scores, axis=1), pipeline.predict(test_features))


def test_approximate_svm_gamma_follows_svcs_rules():
    rng = np.random.default_rng(0)
    features = rng.normal(0, 3, size=(50, 4))
    assert kernel_approximation.kernel_gamma("scale", features) == pytest.approx(1 / (4 * features.var()))
    assert kernel_approximation.kernel_gamma("auto", features) == 0.25
    assert kernel_approximation.kernel_gamma(0.5, features) == 0.5


def test_approximate_svm_with_probabilities_and_with_a_linear_kernel():
    features, labels = _blobs(per_class=60)
    probable = BaselinesConfig(svm_exact_max_examples=50, hyperparameters={"svm": {"probability": True}})
    pipeline = estimators.build_pipeline("svm", probable, len(labels)).fit(features, labels)
    scores, kind = estimators.class_scores(pipeline, features)
    assert kind == "mean_probability" and np.allclose(scores.sum(axis=1), 1.0)
    assert not hasattr(
        estimators.build_pipeline("svm", BaselinesConfig(svm_exact_max_examples=50), 240), "predict_proba"
    )
    linear = BaselinesConfig(svm_exact_max_examples=50, hyperparameters={"svm": {"kernel": "linear"}})
    fitted = estimators.fit_baseline("svm", linear, features, labels, np.arange(len(labels)).astype(str))
    assert fitted.estimator.named_steps["classifier"].n_components_ == 0
    assert fitted.variant.startswith("svm (linear kernel, SGD hinge loss: 240 training examples >")
    assert np.mean(fitted.estimator.predict(features) == labels) >= 0.9


def test_grid_search_tunes_the_approximation_with_the_svm_grid():
    features, labels = _blobs(per_class=30)
    groups = np.array([f"artist:{i // 5}" for i in range(len(labels))])
    baselines = BaselinesConfig(grid_search=True, svm_exact_max_examples=50, svm_nystroem_components=50)
    fitted = estimators.fit_baseline("svm", baselines, features, labels, groups)
    classifier = fitted.estimator.named_steps["classifier"]
    assert isinstance(classifier, NystroemSVC) and fitted.approximation is not None
    assert len(fitted.grid_search["candidates"]) == 9
    assert (classifier.C, classifier.gamma) == (
        fitted.grid_search["best_params"]["C"],
        fitted.grid_search["best_params"]["gamma"],
    )
    solver_only = BaselinesConfig(
        grid_search=True, svm_exact_max_examples=50, param_grids={"svm": {"C": [1.0], "shrinking": [True, False]}}
    )
    with pytest.raises(ValueError, match=r"param_grids.svm: \['shrinking'\] are settings of the exact SVC's solver"):
        estimators.fit_baseline("svm", solver_only, features, labels, groups)
    estimators.fit_baseline(
        "svm", solver_only.model_copy(update={"svm_exact_max_examples": 1000}), features, labels, groups
    )


def test_svc_solver_settings_are_ignored_by_the_approximation_with_a_warning(caplog):
    features, labels = _blobs()
    baselines = BaselinesConfig(svm_exact_max_examples=50, hyperparameters={"svm": {"C": 1.0, "cache_size": 500}})
    with caplog.at_level("WARNING"):
        estimators.fit_baseline("svm", baselines, features, labels, np.arange(len(labels)).astype(str))
    assert "['cache_size'] are settings of the exact SVC's solver" in caplog.text


def test_threshold_and_components_settings_are_checked():
    with pytest.raises(ValueError, match="svm_exact_max_examples"):
        BaselinesConfig(svm_exact_max_examples=-1)
    with pytest.raises(ValueError, match="svm_nystroem_components"):
        BaselinesConfig(svm_nystroem_components=0)
    with pytest.raises(ValueError, match=r"hyperparameters.svm: The 'kernel' parameter of NystroemSVC must be"):
        estimators.build_pipeline(
            "svm", BaselinesConfig(svm_exact_max_examples=0, hyperparameters={"svm": {"kernel": "precomputed"}}), 10
        )
