"""The baseline models: scikit-learn Pipelines (StandardScaler -> optional PCA -> classifier).

Hyperparameters and grid values are checked against each estimator's own `get_params()` and parameter
constraints when the pipeline is built, so a typo in the configuration fails when the TFX pipeline is
created, not after an hour of upstream work.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Optional

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from components.sklearn_baseline_trainer import kernel_approximation
from components.sklearn_baseline_trainer.kernel_approximation import NystroemSVC
from components.sklearn_baseline_trainer.settings import BaselinesConfig

SCALER_STEP, PCA_STEP, CLASSIFIER_STEP = "scale", "pca", "classifier"

# SVC keeps scikit-learn's default probability=False: Platt scaling runs an internal 5-fold
# cross-validation (about 5x the fit time, the dominant cost on fma_small) and its probabilities can
# disagree with predict(). Track-level scores fall back to the decision function (see class_scores);
# `baselines.hyperparameters.svm.probability=true` turns probabilities on.
_ESTIMATORS: dict[str, Callable[[], BaseEstimator]] = {
    "logistic_regression": LogisticRegression,
    "knn": KNeighborsClassifier,
    "gaussian_nb": GaussianNB,
    "svm": SVC,
}
ALGORITHMS = tuple(_ESTIMATORS)

_log = logging.getLogger(__name__)


def make_estimator(algorithm: str, hyperparameters: Optional[dict[str, Any]] = None, seed: int = 0) -> BaseEstimator:
    """The classifier of `algorithm` with `hyperparameters` checked (names and values) and the seed applied."""
    if algorithm not in _ESTIMATORS:
        raise ValueError(f"unknown baseline algorithm {algorithm!r}; choose from {list(ALGORITHMS)}")
    estimator = _ESTIMATORS[algorithm]()
    params = dict(hyperparameters or {})
    check_parameter_names(algorithm, estimator, params, "baselines.hyperparameters")
    if "random_state" in estimator.get_params() and "random_state" not in params:
        params["random_state"] = seed
    estimator.set_params(**params)
    _check_values(algorithm, estimator, "baselines.hyperparameters")
    return estimator


def check_parameter_names(algorithm: str, estimator: BaseEstimator, params: dict[str, Any], where: str) -> None:
    valid = sorted(estimator.get_params(deep=False))
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"{where}.{algorithm}: unknown hyperparameter(s) {unknown} for "
            f"{type(estimator).__name__}; valid names: {valid}"
        )


def _check_values(algorithm: str, estimator: BaseEstimator, where: str) -> None:
    # scikit-learn checks parameter constraints only in fit(); run the same (private) check now. Without
    # it (another scikit-learn release) a bad value still fails, in fit().
    check = getattr(estimator, "_validate_params", None)
    if check is None:
        return
    try:
        check()
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}.{algorithm}: {error}") from None


def pca_step(pca_components: Optional[float], seed: int) -> Optional[PCA]:
    """None: no PCA. A whole number >= 1: that many components. A fraction in (0, 1): the variance kept."""
    if pca_components is None:
        return None
    if 0 < pca_components < 1:
        # A variance fraction needs the full SVD (scikit-learn's rule).
        return PCA(n_components=float(pca_components), svd_solver="full", random_state=seed)
    if pca_components >= 1 and float(pca_components).is_integer():
        return PCA(n_components=int(pca_components), random_state=seed)
    raise ValueError(
        f"baselines.pca_components={pca_components}: give a whole number of components (e.g. 64) "
        "or a fraction of variance in (0, 1) (e.g. 0.95)"
    )


def build_pipeline(algorithm: str, baselines: BaselinesConfig, train_examples: Optional[int] = None) -> Pipeline:
    """The pipeline of `algorithm`; for the SVM on more than `baselines.svm_exact_max_examples` train
    examples, its near-linear approximation (`kernel_approximation.NystroemSVC`) in place of `SVC`."""
    steps: list[tuple[str, BaseEstimator]] = [(SCALER_STEP, StandardScaler())]
    pca = pca_step(baselines.pca_components, baselines.seed)
    if pca is not None:
        steps.append((PCA_STEP, pca))
    classifier = make_estimator(algorithm, baselines.hyperparameters.get(algorithm), baselines.seed)
    if svm_approximated(algorithm, baselines, train_examples):
        classifier = kernel_approximation.from_svc(classifier, baselines.svm_nystroem_components)
        _check_values(algorithm, classifier, "baselines.hyperparameters")  # e.g. kernel="precomputed"
    steps.append((CLASSIFIER_STEP, classifier))
    return Pipeline(steps)


def svm_approximated(algorithm: str, baselines: BaselinesConfig, train_examples: Optional[int]) -> bool:
    """Whether `algorithm` on `train_examples` is the approximate SVM (None: not known yet, the exact one)."""
    return algorithm == "svm" and train_examples is not None and train_examples > baselines.svm_exact_max_examples


def knn_sampled(algorithm: str, baselines: BaselinesConfig, train_examples: Optional[int]) -> bool:
    """Whether `algorithm` on `train_examples` is kNN on a sample of them (baselines.knn_max_neighbour_examples)."""
    return algorithm == "knn" and train_examples is not None and train_examples > baselines.knn_max_neighbour_examples


def neighbour_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a stratified random sample of `size` of the examples (plain random when a genre has
    too few examples to stratify)."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    try:
        sample, _ = train_test_split(indices, train_size=size, stratify=labels, random_state=seed)
    except ValueError:
        sample, _ = train_test_split(indices, train_size=size, random_state=seed)
    return np.sort(sample)


def describe(algorithm: str, baselines: BaselinesConfig, train_examples: int) -> tuple[str, Optional[dict]]:
    """(variant, approximation): the model actually trained, in words, and the approximation's details
    (None for an exact model). E.g. "svm (RBF via Nyström, 1,000 components: 64,000 training examples >
    baselines.svm_exact_max_examples=10,000)"."""
    if knn_sampled(algorithm, baselines, train_examples):
        cap = baselines.knn_max_neighbour_examples
        text = f"{cap:,} of {train_examples:,} examples as neighbours"
        approximation = {
            "label": text,
            "method": "a stratified random sample of the train split as the reference set",
            "train_examples": train_examples,
            "knn_max_neighbour_examples": cap,
        }
        return f"knn ({text}: > baselines.knn_max_neighbour_examples={cap:,})", approximation
    if algorithm != "svm":
        return algorithm, None
    limit = baselines.svm_exact_max_examples
    if not svm_approximated(algorithm, baselines, train_examples):
        return (
            f"svm (exact SVC: {train_examples:,} training examples <= baselines.svm_exact_max_examples={limit:,})",
            None,
        )
    kernel = build_pipeline(algorithm, baselines, train_examples).named_steps[CLASSIFIER_STEP].kernel
    components = 0 if kernel == "linear" else min(baselines.svm_nystroem_components, train_examples)
    text = kernel_approximation.label(kernel, components)
    approximation = {
        "label": text,
        "method": (
            "linear SVM (SGDClassifier, hinge loss, alpha = 1 / (C * n))"
            if kernel == "linear"
            else "Nystroem kernel features, then a linear SVM (SGDClassifier, hinge loss, alpha = 1 / (C * n))"
        ),
        "kernel": kernel,
        "n_components": components,
        "train_examples": train_examples,
        "svm_exact_max_examples": limit,
    }
    return (
        f"svm ({text}: {train_examples:,} training examples > baselines.svm_exact_max_examples={limit:,})",
        approximation,
    )


def param_grid(algorithm: str, baselines: BaselinesConfig) -> dict[str, list[Any]]:
    """The configured grid of `algorithm`, keyed for the pipeline (`classifier__C`); every value checked."""
    grid = baselines.param_grids.get(algorithm) or {}
    base = build_pipeline(algorithm, baselines).named_steps[CLASSIFIER_STEP]
    check_parameter_names(algorithm, base, grid, "baselines.param_grids")
    for name, values in grid.items():
        if not values:
            raise ValueError(f"baselines.param_grids.{algorithm}.{name} is an empty list: give at least one value")
        for value in values:
            _check_values(algorithm, clone(base).set_params(**{name: value}), "baselines.param_grids")
    return {f"{CLASSIFIER_STEP}__{name}": list(values) for name, values in grid.items()}


def validate(baselines: BaselinesConfig) -> None:
    """Build every configured pipeline and grid: raises on the first bad setting."""
    for algorithm in baselines.algorithms:
        build_pipeline(algorithm, baselines)
        if baselines.grid_search:
            param_grid(algorithm, baselines)


def cv_groups(artist_ids: np.ndarray, track_ids: np.ndarray) -> np.ndarray:
    """Cross-validation groups: the artist, or the track when the artist is unknown (-1).

    Prefixed strings, because artist and track ids are separate numbering spaces that can collide.
    """
    return np.array([f"artist:{a}" if a != -1 else f"track:{t}" for a, t in zip(artist_ids, track_ids)])


@dataclasses.dataclass
class FittedBaseline:
    algorithm: str
    estimator: Pipeline
    fit_seconds: float
    grid_search: Optional[dict]  # None when no search ran
    variant: str = ""  # the model trained, in words (describe())
    approximation: Optional[dict] = None  # None: the exact model


def fit_baseline(
    algorithm: str, baselines: BaselinesConfig, features: np.ndarray, labels: np.ndarray, groups: np.ndarray
) -> FittedBaseline:
    """Fits the pipeline on the train split; with grid search, GroupKFold over `groups` then a refit.

    The SVM past `baselines.svm_exact_max_examples` train examples is the approximate one, in every fold
    too (the choice follows the train split's size, so the search tunes the model that is refitted)."""
    pipeline = build_pipeline(algorithm, baselines, len(features))
    variant, approximation = describe(algorithm, baselines, len(features))
    if knn_sampled(algorithm, baselines, len(features)):
        kept = neighbour_sample(labels, baselines.knn_max_neighbour_examples, baselines.seed)
        features, labels, groups = features[kept], labels[kept], groups[kept]
    _check_pca_fits(baselines.pca_components, features.shape)
    if approximation is not None:
        _log_unmatched_svc_parameters(baselines)
    started = time.monotonic()
    grid = param_grid(algorithm, baselines) if baselines.grid_search else {}
    if grid and approximation is not None:
        _check_grid_applies(pipeline.named_steps[CLASSIFIER_STEP], grid, variant)
    if baselines.grid_search and not grid:
        _log.warning(
            "SklearnBaselineTrainer: grid_search is on but baselines.param_grids has no grid for %s; "
            "fitting its configured hyperparameters",
            algorithm,
        )
    if not grid:
        pipeline.fit(features, labels)
        return FittedBaseline(algorithm, pipeline, time.monotonic() - started, None, variant, approximation)

    distinct_groups = len(np.unique(groups))
    if distinct_groups < baselines.cv_folds:
        raise ValueError(
            f"grid search with baselines.cv_folds={baselines.cv_folds} needs at least that many "
            f"distinct artists in the train split, found {distinct_groups}; lower cv_folds or "
            "set baselines.grid_search=false"
        )
    candidates = math.prod(len(v) for v in grid.values())
    _log.info(
        "SklearnBaselineTrainer: %s grid search, %d candidates x %d folds grouped by artist",
        algorithm,
        candidates,
        baselines.cv_folds,
    )
    search = GridSearchCV(
        pipeline, grid, scoring="accuracy", cv=GroupKFold(n_splits=baselines.cv_folds), refit=True, error_score="raise"
    )
    search.fit(features, labels, groups=groups)
    results = search.cv_results_
    prefix = f"{CLASSIFIER_STEP}__"
    summary = {
        "scoring": "accuracy",
        "cv": f"GroupKFold(n_splits={baselines.cv_folds}) by artist (track when the artist is unknown)",
        "best_params": {k.removeprefix(prefix): _plain(v) for k, v in search.best_params_.items()},
        "best_cv_accuracy": float(search.best_score_),
        "best_cv_accuracy_std": float(results["std_test_score"][search.best_index_]),
        "candidates": [
            {
                "params": {k.removeprefix(prefix): _plain(v) for k, v in params.items()},
                "mean_cv_accuracy": float(mean),
                "std_cv_accuracy": float(std),
            }
            for params, mean, std in zip(results["params"], results["mean_test_score"], results["std_test_score"])
        ],
    }
    return FittedBaseline(
        algorithm, search.best_estimator_, time.monotonic() - started, summary, variant, approximation
    )


def _log_unmatched_svc_parameters(baselines: BaselinesConfig) -> None:
    ignored = sorted(set(baselines.hyperparameters.get("svm") or {}) - set(kernel_approximation.SHARED_PARAMS))
    if ignored:
        _log.warning(
            "SklearnBaselineTrainer: baselines.hyperparameters.svm %s are settings of the exact SVC's solver, "
            "with no counterpart in the approximation trained here: ignored",
            ignored,
        )


def _check_grid_applies(classifier: NystroemSVC, grid: dict[str, list[Any]], variant: str) -> None:
    valid = set(classifier.get_params(deep=False))
    unknown = sorted(
        name.removeprefix(f"{CLASSIFIER_STEP}__")
        for name in grid
        if name.removeprefix(f"{CLASSIFIER_STEP}__") not in valid
    )
    if unknown:
        raise ValueError(
            f"baselines.param_grids.svm: {unknown} are settings of the exact SVC's solver, which the SVM "
            f"trained here does not have: {variant}. Grid over {sorted(kernel_approximation.SHARED_PARAMS)} "
            "only, or raise baselines.svm_exact_max_examples"
        )


def _check_pca_fits(pca_components: Optional[float], shape: tuple[int, int]) -> None:
    if pca_components is not None and pca_components >= 1 and int(pca_components) > min(shape):
        raise ValueError(
            f"baselines.pca_components={int(pca_components)} exceeds what the train split allows: "
            f"{shape[1]} features and {shape[0]} examples; use at most {min(shape)} or a fraction"
        )


def class_scores(estimator: Pipeline, features: np.ndarray) -> tuple[np.ndarray, str]:
    """Per-class scores [n, classes] for averaging over a track's segments, and what they are."""
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(features), "mean_probability"
    scores = estimator.decision_function(features)
    if scores.ndim == 1:  # two classes: one signed score for the second class
        scores = np.stack([-scores, scores], axis=1)
    return scores, "mean_decision_function"


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
