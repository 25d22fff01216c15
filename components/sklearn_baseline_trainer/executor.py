"""SklearnBaselineTrainer executor: fit each configured baseline on the train split, evaluate on eval and
test, save every model with skops, and summarise which is best. The features are those baselines.feature_set
names: the engineered vector or the musicnn embedding (dataset.py).

Plain Python, no Beam: the engineered features of fma_small (about 64,000 segments x 518 floats, 130 MB;
the musicnn embedding is at most 753 floats) fit in memory, and every algorithm needs all of them at once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import numpy as np
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.types.standard_component_specs import EXAMPLES_KEY, MODEL_KEY

from components import ledger
from components.progress import format_duration
from components.sklearn_baseline_trainer import cost_model, estimators
from components.sklearn_baseline_trainer.dataset import SplitData, load_splits
from components.sklearn_baseline_trainer.metrics import evaluate_split
from components.sklearn_baseline_trainer.serialization import (
    FORMAT_VERSION,
    METRICS_FILE,
    MODEL_FILE,
    SUMMARY_FILE,
    save_baseline,
    write_json,
    write_manifest,
)
from components.sklearn_baseline_trainer.settings import BaselineSettings

BASELINE_CONFIG_KEY = "baseline_config"

EVALUATED_SPLITS = ("eval", "test")
SELECTION_RULE = (
    "best_algorithm has the highest accuracy on the eval split (ties: the first in "
    "baselines.algorithms); test accuracy is reported, never used to choose"
)

_log = logging.getLogger(__name__)


class Executor(base_executor.BaseExecutor):
    """Writes one skops model, metadata and metrics file per algorithm, metrics.json and manifest.json."""

    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        settings = BaselineSettings.model_validate_json(exec_properties[BASELINE_CONFIG_KEY])
        estimators.validate(settings.baselines)  # before reading any data
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        model = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
        summary = train_and_evaluate(examples, settings, model.uri)
        record_on_artifact(model, summary)


def train_and_evaluate(examples, settings: BaselineSettings, model_dir: str) -> dict:
    """Fits, evaluates and saves every configured algorithm; returns the summary written to metrics.json."""
    feature_set = settings.baselines.feature_set
    names, splits = load_splits(examples, settings.genres, feature_set)
    entries = ledger_entries(examples.uri, {name: len(split) for name, split in splits.items()}, model_dir)
    train = splits["train"]
    groups = estimators.cv_groups(train.artist_ids, train.track_ids)
    algorithms = settings.baselines.algorithms
    scored = sum(len(splits[split]) for split in EVALUATED_SPLITS)
    # The ETA: each algorithm's cost from cost_model (relative costs measured by `make bench-baselines`),
    # scaled by the speed this run has shown so far: seconds taken / cost predicted for the algorithms done.
    predicted = {
        algorithm: cost_model.predicted_seconds(algorithm, settings.baselines, len(train), scored, len(names))
        for algorithm in algorithms
    }
    started_all = time.monotonic()
    results = {}
    for number, algorithm in enumerate(algorithms, 1):
        variant, _ = estimators.describe(algorithm, settings.baselines, len(train))
        _log.info(
            "SklearnBaselineTrainer: baseline %d/%d %s: fitting on %s examples x %d %s features",
            number,
            len(algorithms),
            variant,
            f"{len(train):,}",
            len(names),
            feature_set,
        )
        fitted = estimators.fit_baseline(algorithm, settings.baselines, train.features, train.labels, groups)
        started = time.monotonic()
        evaluated = {split: _evaluate(fitted.estimator, splits[split], settings.genres) for split in EVALUATED_SPLITS}
        metrics = {
            "algorithm": algorithm,
            "variant": fitted.variant,
            "approximation": fitted.approximation,
            "fit_seconds": round(fitted.fit_seconds, 3),
            "evaluate_seconds": round(time.monotonic() - started, 3),
            "train_examples": len(train),
            "grid_search": fitted.grid_search,
            **evaluated,
        }
        save_baseline(model_dir, algorithm, fitted.estimator, _metadata(fitted, settings, names, train), metrics)
        results[algorithm] = metrics
        _log.info(
            "SklearnBaselineTrainer: baseline %d/%d %s fitted in %.1f s, scored eval+test in %.1f s; %s",
            number,
            len(algorithms),
            algorithm,
            metrics["fit_seconds"],
            metrics["evaluate_seconds"],
            _eta(
                time.monotonic() - started_all,
                [predicted[a] for a in algorithms[:number]],
                [predicted[a] for a in algorithms[number:]],
            ),
        )
        _log.info(
            "SklearnBaselineTrainer: %s: eval accuracy %.4f, test accuracy %.4f (macro-F1 %.4f / %.4f)",
            algorithm,
            metrics["eval"]["accuracy"],
            metrics["test"]["accuracy"],
            metrics["eval"]["macro_f1"],
            metrics["test"]["macro_f1"],
        )
    summary = summarise(results, settings, splits, len(names))
    summary["ledger"] = entries
    write_json(os.path.join(model_dir, SUMMARY_FILE), summary)
    write_manifest(model_dir, algorithms, settings.genres, len(names))
    _log.info(
        "SklearnBaselineTrainer: best by eval accuracy: %s (eval %.4f, test %.4f); summary in %s",
        summary["best_algorithm"],
        summary["best_eval_accuracy"],
        summary["best_test_accuracy"],
        os.path.join(model_dir, SUMMARY_FILE),
    )
    return summary


def _eta(elapsed: float, predicted_done: list[float], predicted_remaining: list[float]) -> str:
    if not predicted_remaining:
        return f"all {len(predicted_done)} algorithms done in {format_duration(elapsed)}"
    eta = cost_model.eta_seconds(elapsed, sum(predicted_done), sum(predicted_remaining))
    which = (
        "the remaining algorithm"
        if len(predicted_remaining) == 1
        else f"the remaining {len(predicted_remaining)} algorithms"
    )
    return f"ETA for {which} ~{format_duration(eta)}"


def ledger_entries(examples_uri: str, read: dict[str, int], output: str = "") -> list[dict]:
    """What each split gave the baselines (train: fitted on; eval, test: scored on) against what
    SpectrogramTransform recorded writing; raises before any fitting when they differ."""
    counts = {split: ("trained on" if split == "train" else "scored", n) for split, n in read.items()}
    return ledger.check(
        ledger.against_record("SklearnBaselineTrainer", examples_uri, "SpectrogramTransform", counts, output)
    )


def _evaluate(estimator, split: SplitData, genres) -> dict:
    return evaluate_split(estimator, split.features, split.labels, split.track_ids, genres)


def _metadata(
    fitted: estimators.FittedBaseline, settings: BaselineSettings, names: list[str], train: SplitData
) -> dict:
    pipeline = fitted.estimator
    classifier = pipeline.named_steps[estimators.CLASSIFIER_STEP]
    pca = pipeline.named_steps.get(estimators.PCA_STEP)
    return {
        "feature_set": settings.baselines.feature_set,
        "feature_names": names,
        "genres": list(settings.genres),
        "label_encoding": "label index i is genres[i]; predict() returns label indices",
        "steps": [name for name, _ in pipeline.steps],
        "pca_components": settings.baselines.pca_components,
        "pca_components_fitted": int(pca.n_components_) if pca is not None else None,
        "configured_hyperparameters": settings.baselines.hyperparameters.get(fitted.algorithm, {}),
        "variant": fitted.variant,
        "approximation": fitted.approximation,
        "grid_search_best_params": (fitted.grid_search or {}).get("best_params"),
        "classifier": type(classifier).__name__,
        "classifier_params": {k: _jsonable(v) for k, v in classifier.get_params(deep=False).items()},
        "train_examples": len(train),
        "train_examples_per_genre": train.genre_counts(settings.genres),
        "seed": settings.baselines.seed,
    }


def summarise(
    results: dict[str, dict], settings: BaselineSettings, splits: dict[str, SplitData], num_features: int
) -> dict:
    # max() keeps the first of equal values, so ties go to the earlier algorithm in the configuration.
    best = max(results, key=lambda a: results[a]["eval"]["accuracy"])
    return {
        "format_version": FORMAT_VERSION,
        "selection": SELECTION_RULE,
        "best_algorithm": best,
        "best_eval_accuracy": results[best]["eval"]["accuracy"],
        "best_test_accuracy": results[best]["test"]["accuracy"],
        "genres": list(settings.genres),
        "feature_set": settings.baselines.feature_set,  # what the features are: engineered or musicnn
        "num_features": num_features,
        "examples": {name: len(split) for name, split in splits.items()},
        "examples_per_genre": {name: split.genre_counts(settings.genres) for name, split in splits.items()},
        "algorithms": {
            algorithm: {
                **{f"{split}_{key}": r[split][key] for split in EVALUATED_SPLITS for key in ("accuracy", "macro_f1")},
                **{
                    f"{split}_track_{key}": r[split]["track_level"][key]
                    for split in EVALUATED_SPLITS
                    for key in ("accuracy", "macro_f1")
                },
                "variant": r["variant"],
                # the approximation in a few words ("RBF via Nyström, 1,000 components"), None for an exact model
                "approximation": (r["approximation"] or {}).get("label"),
                "fit_seconds": r["fit_seconds"],
                "grid_search_best_params": (r["grid_search"] or {}).get("best_params"),
                "grid_search_best_cv_accuracy": (r["grid_search"] or {}).get("best_cv_accuracy"),
                "model_file": f"{algorithm}/{MODEL_FILE}",
                "metrics_file": f"{algorithm}/{METRICS_FILE}",
            }
            for algorithm, r in results.items()
        },
        "settings": json.loads(settings.model_dump_json()),
    }


def record_on_artifact(model, summary: dict) -> None:
    """The headline numbers as custom properties, so downstream reads them from MLMD without opening files."""
    model.set_string_custom_property("best_algorithm", summary["best_algorithm"])
    model.set_float_custom_property("best_eval_accuracy", summary["best_eval_accuracy"])
    model.set_float_custom_property("best_test_accuracy", summary["best_test_accuracy"])
    model.set_string_custom_property("algorithms", ",".join(summary["algorithms"]))
    model.set_string_custom_property("feature_set", summary["feature_set"])
    model.set_int_custom_property("num_features", summary["num_features"])
    for algorithm, result in summary["algorithms"].items():
        for split in EVALUATED_SPLITS:
            model.set_float_custom_property(f"{split}_accuracy_{algorithm}", result[f"{split}_accuracy"])
    model.set_int_custom_property("baseline_format_version", FORMAT_VERSION)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)
