"""What each baseline costs relative to the others, for the executor's ETA of the algorithms still to run.

The model, per algorithm (n = train examples, m = examples scored: eval + test, d = features):

    fit:   FIT[algorithm]   * n ** FIT_EXPONENT[algorithm] * d
    score: SCORE[algorithm] * m * n ** SCORE_EXPONENT[algorithm] * d

Fitting is linear in n (`FIT_EXPONENT` 1) except the exact SVC (libsvm: measured n^1.85 on hard data).
Scoring is linear in m; kNN (brute force: each scored example against every train example) and the exact SVC
(against its support vectors, on hard data nearly every train example) also grow with n. A grid search adds
`candidates x folds` fits on (folds - 1)/folds of the examples, each scoring the held-out fold.

The coefficients are seconds measured by `make bench-baselines` (benchmarks/bench_baselines.py: synthetic
8-class data, 518 features) on this project's 2-core machine, at 64,000 train examples (the exact SVC at
8,000 and its exponent from 1,000 -> 8,000). Only their ratios matter: the ETA scales the predicted cost of
the remaining algorithms by the speed this run has shown so far (seconds taken / cost predicted for the
algorithms done), so a faster or slower machine, or easier data, moves every estimate together.
"""

from __future__ import annotations

from components.sklearn_baseline_trainer import estimators
from components.sklearn_baseline_trainer.settings import BaselinesConfig

# Seconds per (train example ** exponent x feature), and per (scored example x train example ** exponent x
# feature); "svm" is the exact SVC, "svm_approximate" its Nyström approximation. From `make bench-baselines`.
FIT = {
    "logistic_regression": 6.88e-08,
    "knn": 3.04e-08,
    "gaussian_nb": 5.6e-08,
    "svm": 1.92e-09,
    "svm_approximate": 2.35e-06,
}
FIT_EXPONENT = {"svm": 1.85}
SCORE = {
    "logistic_regression": 1.12e-08,
    "knn": 1.38e-10,
    "gaussian_nb": 6.63e-08,
    "svm": 1.6e-09,
    "svm_approximate": 5.58e-07,
}
SCORE_EXPONENT = {"knn": 1.0, "svm": 1.0}


def model_key(algorithm: str, baselines: BaselinesConfig, train_examples: int) -> str:
    if estimators.svm_approximated(algorithm, baselines, train_examples):
        return "svm_approximate"
    return algorithm


def predicted_seconds(
    algorithm: str, baselines: BaselinesConfig, train_examples: int, scored_examples: int, num_features: int
) -> float:
    """The cost of fitting `algorithm` (with its grid search, when on) and scoring eval and test, in the
    bench machine's seconds: a relative figure (module doc)."""
    key = model_key(algorithm, baselines, train_examples)

    def fit(n: float) -> float:
        return FIT[key] * n ** FIT_EXPONENT.get(key, 1.0) * num_features

    def score(m: float, n: float) -> float:
        return SCORE[key] * m * n ** SCORE_EXPONENT.get(key, 0.0) * num_features

    n = float(train_examples)
    if estimators.knn_sampled(algorithm, baselines, train_examples):
        n = float(baselines.knn_max_neighbour_examples)
    total = fit(n) + score(scored_examples, n)
    grid = baselines.param_grids.get(algorithm) or {}
    if baselines.grid_search and grid:
        candidates = 1
        for values in grid.values():
            candidates *= len(values)
        folds = baselines.cv_folds
        total += candidates * folds * (fit(n * (folds - 1) / folds) + score(n / folds, n * (folds - 1) / folds))
    return total


def eta_seconds(elapsed: float, predicted_done: float, predicted_remaining: float) -> float:
    """The remaining algorithms' predicted cost at the speed seen so far (elapsed / predicted_done)."""
    if predicted_remaining <= 0:
        return 0.0
    return elapsed * predicted_remaining / max(predicted_done, 1e-9)
