"""Helpers of the BlessingEvaluator's tests (components/blessing_evaluator/) and the benchmarks: run the
(standard or blessing) Evaluator executor as the pipeline does, compute reference metrics straight from a
served model, export an untrained model, and produce a real
SklearnBaselineTrainer artifact."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from typing import Optional

import numpy as np
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as keys
from tfx.utils import json_utils, proto_utils

from components.formats import SPLITS
from components.formats import examples as raw
from components.formats.serving import PROBABILITIES, SERVING_EXAMPLES
from pipeline import component_settings


def examples_artifact(uri: str, splits: Sequence[str] = SPLITS) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = uri
    examples.split_names = artifact_utils.encode_split_names(list(splits))
    return examples


def model_artifact(uri: str, artifact_id: int = 0) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = uri
    if artifact_id:
        model.id = artifact_id
    return model


def run_evaluator(
    executor,
    output_dir: str,
    examples_uri: str,
    model_uri: str,
    eval_config,
    split: str = "test",
    baseline_model_uri: Optional[str] = None,
    extra_inputs: Optional[dict] = None,
    extra_properties: Optional[dict] = None,
    model_id: int = 0,
) -> dict:
    """Runs `executor.Do` with the inputs, outputs and properties TFX gives the Evaluator; returns
    {"evaluation", "blessing", "model"} artifacts."""
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = os.path.join(output_dir, "evaluation"), os.path.join(output_dir, "blessing")
    os.makedirs(evaluation.uri)
    os.makedirs(blessing.uri)
    model = model_artifact(model_uri, model_id)
    inputs = {keys.EXAMPLES_KEY: [examples_artifact(examples_uri)], keys.MODEL_KEY: [model]}
    if baseline_model_uri:
        inputs[keys.BASELINE_MODEL_KEY] = [model_artifact(baseline_model_uri)]
    inputs.update(extra_inputs or {})
    properties = {
        keys.EVAL_CONFIG_KEY: proto_utils.proto_to_json(eval_config),
        keys.EXAMPLE_SPLITS_KEY: json_utils.dumps([split]),
        **(extra_properties or {}),
    }
    executor.Do(inputs, {keys.EVALUATION_KEY: [evaluation], keys.BLESSING_KEY: [blessing]}, properties)
    return {"evaluation": evaluation, "blessing": blessing, "model": model}


def reference_metrics(serving_model_dir: str, split_dir: str, genres: Sequence[str]) -> dict:
    """What the evaluation must say, computed here from the served model's own outputs on the split."""
    records = [
        r.numpy()
        for r in tf.data.TFRecordDataset(sorted(glob.glob(os.path.join(split_dir, "*"))), compression_type="GZIP")
    ]
    parsed = tf.io.parse_example(
        tf.constant(records),
        {raw.LABEL: tf.io.FixedLenFeature([], tf.int64), raw.GENRE: tf.io.FixedLenFeature([], tf.string)},
    )
    labels = parsed[raw.LABEL].numpy()
    assert [g.decode() for g in parsed[raw.GENRE].numpy()] == [genres[i] for i in labels]
    loaded = tf.saved_model.load(serving_model_dir)
    probabilities = loaded.signatures[SERVING_EXAMPLES](examples=tf.constant(records))[PROBABILITIES].numpy()
    predicted = probabilities.argmax(axis=1)
    n = len(genres)
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    per_genre = {}
    for i, genre in enumerate(genres):
        tp, fp, fn = matrix[i, i], matrix[:, i].sum() - matrix[i, i], matrix[i, :].sum() - matrix[i, i]
        per_genre[genre] = {
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        }
    # Keras' sparse categorical crossentropy clips probabilities to [1e-7, 1 - 1e-7].
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1 - 1e-7)
    return {
        "example_count": len(labels),
        "accuracy": float((predicted == labels).mean()),
        "crossentropy": float(-np.log(picked).mean()),
        "macro_f1": float(np.mean([v["f1"] for v in per_genre.values() if v["f1"] is not None])),
        "per_genre": per_genre,
        "confusion_matrix": matrix.tolist(),
        "slices": {
            genres[i]: {
                "example_count": int((labels == i).sum()),
                "accuracy": float((predicted[labels == i] == i).mean()),
            }
            for i in sorted(set(labels.tolist()))
        },
    }


def export_untrained_model(
    featurizer_dir: str, model_root: str, config, genres: Optional[Sequence[str]] = None, seed: int = 0
) -> str:
    """A Model artifact root (<root>/Format-Serving) holding the config's model family with random weights,
    exported exactly as the Trainer exports a trained one; returns the root."""
    from tfx.utils import path_utils

    from components.featurizer import load_featurizer
    from components.keras_trainer.models import build_model
    from components.keras_trainer.serving import export_serving_model

    tf.keras.utils.set_random_seed(seed)
    featurizer = load_featurizer(featurizer_dir)
    built = build_model(config, featurizer.settings)
    export_serving_model(
        built.model,
        featurizer,
        list(genres or config.genres),
        config.trainer.model_family,
        path_utils.serving_model_dir(model_root),
    )
    return model_root


def run_sklearn_baselines(root: str, config) -> standard_artifacts.Model:
    """SklearnBaselineTrainer's real executor on its own separable synthetic features (the tiny Keras
    examples have no engineered_features): a Model artifact with the metrics.json the Evaluator reads."""
    from components.sklearn_baseline_trainer import executor
    from tests.helpers import sklearn_data as testdata

    n, features = len(config.genres), 12
    splits = {
        split: testdata.separable_rows(
            n,
            artists_per_genre=artists,
            tracks_per_artist=2,
            segments=3,
            num_features=features,
            seed=seed,
            first_artist=first,
        )
        for split, artists, seed, first in (("train", 3, 1, 0), ("eval", 1, 2, 1000), ("test", 1, 3, 2000))
    }
    examples = testdata.write_examples(os.path.join(root, "examples"), splits, testdata.feature_names(features))
    model = model_artifact(os.path.join(root, "model"), artifact_id=0)
    os.makedirs(model.uri)
    executor.Executor().Do(
        {executor.EXAMPLES_KEY: [examples]},
        {executor.MODEL_KEY: [model]},
        {executor.BASELINE_CONFIG_KEY: component_settings.baseline_settings(config).model_dump_json()},
    )
    return model
