"""SklearnBaselineTrainer's settings: the `baselines` section of the pipeline configuration (with its
defaults), and BaselineSettings, what the executor receives as one typed JSON execution property."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from components.settings_base import Section

BASELINE_ALGORITHMS = ("logistic_regression", "knn", "gaussian_nb", "svm")


def _default_hyperparameters() -> dict[str, dict[str, Any]]:
    return {
        "logistic_regression": {"C": 1.0, "max_iter": 2000},
        "knn": {"n_neighbors": 5, "weights": "distance"},
        "gaussian_nb": {"var_smoothing": 1e-9},
        "svm": {"C": 10.0, "kernel": "rbf", "gamma": "scale"},
    }


def _default_param_grids() -> dict[str, dict[str, list[Any]]]:
    return {
        "logistic_regression": {"C": [0.01, 0.1, 1.0, 10.0]},
        "knn": {"n_neighbors": [3, 5, 9, 15], "weights": ["uniform", "distance"]},
        "gaussian_nb": {"var_smoothing": [1e-9, 1e-6, 1e-3]},
        "svm": {"C": [1.0, 10.0, 100.0], "gamma": ["scale", 0.001, 0.01]},
    }


class BaselinesConfig(Section):
    """SklearnBaselineTrainer: classic models on the engineered features."""

    enabled: bool = True
    # "engineered": the 518 engineered features (FMA's features.csv set); "musicnn": the pretrained musicnn
    # embedding (transform.musicnn: which checkpoint and layer), so the blessing compares like with like.
    feature_set: Literal["engineered", "musicnn"] = "engineered"
    algorithms: tuple[Literal["logistic_regression", "knn", "gaussian_nb", "svm"], ...] = BASELINE_ALGORITHMS
    pca_components: Optional[float] = Field(
        None, gt=0, description="None = no PCA; an integer = components; a fraction in (0, 1) = variance kept."
    )
    hyperparameters: dict[str, dict[str, Any]] = Field(default_factory=_default_hyperparameters)
    grid_search: bool = Field(False, description="Cross-validated grid search on the train split (groups = artist).")
    param_grids: dict[str, dict[str, list[Any]]] = Field(default_factory=_default_param_grids)
    cv_folds: int = Field(3, ge=2)
    seed: int = 0
    svm_exact_max_examples: int = Field(
        10_000,
        ge=0,
        description=(
            "The svm baseline is scikit-learn's exact kernel SVC (time quadratic to cubic in the examples) up "
            "to this many train examples; above it, a near-linear approximation of the same kernel: Nystroem "
            "features then a linear SVM (SGD, hinge loss). The model trained is recorded (`variant`)."
        ),
    )
    svm_nystroem_components: int = Field(
        1000, ge=1, description="Nystroem components (kernel features) of the approximate SVM; at most the examples."
    )
    knn_max_neighbour_examples: int = Field(
        10_000,
        ge=1,
        description=(
            "kNN compares every scored example with every reference example, so its cost grows with the square "
            "of the data; above this many train examples, a stratified random sample (baselines.seed) of this "
            "many is its reference set. The model trained is recorded (`variant`)."
        ),
    )

    @field_validator("hyperparameters", "param_grids")
    @classmethod
    def _known_algorithms(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - set(BASELINE_ALGORITHMS)
        if unknown:
            raise ValueError(f"unknown algorithms {sorted(unknown)}; choose from {list(BASELINE_ALGORITHMS)}")
        return value


class BaselineSettings(BaseModel):
    """The `baselines` section of the pipeline configuration and the label vocabulary (index i = genres[i]).

    Built from the pipeline configuration by pipeline/component_settings.py (baseline_settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    genres: tuple[str, ...]
    baselines: BaselinesConfig

    @model_validator(mode="after")
    def _algorithms_listed_once(self) -> BaselineSettings:
        algorithms = self.baselines.algorithms
        if not algorithms:
            raise ValueError(
                "baselines.algorithms is empty: list at least one algorithm, or set "
                "baselines.enabled=false to leave SklearnBaselineTrainer out of the pipeline"
            )
        if len(set(algorithms)) != len(algorithms):
            raise ValueError(f"baselines.algorithms lists an algorithm twice: {list(algorithms)}")
        return self
