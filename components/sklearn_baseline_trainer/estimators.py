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


def build_pipeline(algorithm: str, baselines: BaselinesConfig) -> Pipeline:
    steps: list[tuple[str, BaseEstimator]] = [(SCALER_STEP, StandardScaler())]
    pca = pca_step(baselines.pca_components, baselines.seed)
    if pca is not None:
        steps.append((PCA_STEP, pca))
    steps.append((CLASSIFIER_STEP, make_estimator(algorithm, baselines.hyperparameters.get(algorithm), baselines.seed)))
    return Pipeline(steps)


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


def fit_baseline(
    algorithm: str, baselines: BaselinesConfig, features: np.ndarray, labels: np.ndarray, groups: np.ndarray
) -> FittedBaseline:
    """Fits the pipeline on the train split; with grid search, GroupKFold over `groups` then a refit."""
    pipeline = build_pipeline(algorithm, baselines)
    _check_pca_fits(baselines.pca_components, features.shape)
    started = time.monotonic()
    grid = param_grid(algorithm, baselines) if baselines.grid_search else {}
    if baselines.grid_search and not grid:
        _log.warning(
            "SklearnBaselineTrainer: grid_search is on but baselines.param_grids has no grid for %s; "
            "fitting its configured hyperparameters",
            algorithm,
        )
    if not grid:
        pipeline.fit(features, labels)
        return FittedBaseline(algorithm, pipeline, time.monotonic() - started, None)

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
    return FittedBaseline(algorithm, search.best_estimator_, time.monotonic() - started, summary)


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
