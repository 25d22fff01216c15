"""The relative cost model behind the executor's ETA."""

import pytest

from components.sklearn_baseline_trainer import cost_model
from components.sklearn_baseline_trainer.settings import BaselinesConfig

FMA_SMALL = {"train_examples": 64_000, "scored_examples": 16_000, "num_features": 518}


def _cost(algorithm, baselines=None, **sizes):
    return cost_model.predicted_seconds(algorithm, baselines or BaselinesConfig(), **{**FMA_SMALL, **sizes})


def test_the_exact_svm_grows_faster_than_linearly_and_its_approximation_linearly():
    exact = BaselinesConfig(svm_exact_max_examples=10**9)
    small = {"train_examples": 8_000, "scored_examples": 2_000}
    assert _cost("svm", exact) / _cost("svm", exact, **small) > 8 * 4  # quadratic fit, scoring too
    approximate = BaselinesConfig(svm_exact_max_examples=0)
    assert _cost("svm", approximate) / _cost("svm", approximate, **small) == pytest.approx(8)
    assert cost_model.model_key("svm", BaselinesConfig(), 64_000) == "svm_approximate"
    assert cost_model.model_key("svm", BaselinesConfig(), 8_000) == "svm"
    assert _cost("svm") < _cost("svm", exact) / 10  # the default switches to the approximation on fma_small
    # brute-force kNN scoring, each scored row x reference row: costly, past its cap growing with the scored rows only
    assert _cost("knn", BaselinesConfig(knn_max_neighbour_examples=10**9)) > 10 * _cost("logistic_regression")
    quarter = {"train_examples": 16_000, "scored_examples": 4_000}  # both past the 10,000 cap
    assert 3.5 < _cost("knn") / _cost("knn", **quarter) <= 4.0


def test_grid_search_costs_its_candidates_and_folds():
    single = _cost("gaussian_nb")
    searched = _cost("gaussian_nb", BaselinesConfig(grid_search=True))  # 3 candidates x 3 folds on 2/3 of the data
    assert single * (1 + 9 / 3) < searched < single * (1 + 9)
    no_grid = BaselinesConfig(grid_search=True, param_grids={})
    assert _cost("gaussian_nb", no_grid) == single


def test_eta_scales_the_remaining_cost_by_the_speed_so_far():
    assert cost_model.eta_seconds(elapsed=10.0, predicted_done=5.0, predicted_remaining=20.0) == 40.0
    assert cost_model.eta_seconds(elapsed=10.0, predicted_done=5.0, predicted_remaining=0.0) == 0.0
