"""run_fn end to end through the standard TFX Trainer executor, on a tiny transformed artifact."""

from __future__ import annotations

import glob
import json
import os
import shutil

import numpy as np
import pytest

from components import ledger
from components.json_files import write_json
from components.keras_trainer import trainer
from components.keras_trainer.settings import TrainerSettings
from pipeline import component_settings
from tests.helpers import keras_data as testdata
from tests.helpers.keras_trainer import run_trainer, serve_split, small_config, track_accuracy

PATIENCE = 2
EPOCH_LIMIT = 12


def _read(path):
    with open(path) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def early_stopped(tmp_path_factory, tiny_artifact, settings):
    """run_fn on an artifact whose eval and test splits hold, beside correctly labelled tone tracks, tone
    tracks labelled as another genre. The better the model knows the tones, the higher those tracks' loss:
    the eval loss falls, then rises for good, so early stopping triggers whatever the exact trajectory; and
    no model gets every test track right."""
    root = tmp_path_factory.mktemp("early-stopped")
    examples = str(root / "examples")
    shutil.copytree(os.path.join(tiny_artifact["examples"], "Split-train"), os.path.join(examples, "Split-train"))
    genres = small_config().genres

    def tones(per_genre, seed, first_track_id):
        return testdata.tone_segments(genres, per_genre, settings, seed=seed, first_track_id=first_track_id)

    splits = {
        "eval": tones(4, 2, 50000) + testdata.relabeled(tones(2, 4, 60000), genres),
        "test": tones(2, 3, 90000) + testdata.relabeled(tones(2, 5, 70000), genres),
    }
    for split, segments in splits.items():
        testdata.write_split(examples, split, testdata.transform_segments(segments, settings))
    counts = {"train": tiny_artifact["counts"]["train"], **{split: len(s) for split, s in splits.items()}}
    write_json(os.path.join(examples, ledger.SUMMARY_FILE), {ledger.EXAMPLES_WRITTEN: counts})
    artifact = dict(tiny_artifact, examples=examples, counts=counts)
    config = small_config(f"trainer.epochs={EPOCH_LIMIT}", f"trainer.early_stopping_patience={PATIENCE}")
    return {"artifact": artifact, **run_trainer(artifact, str(root / "out"), config)}


def test_training_stops_patience_epochs_after_the_best_and_serves_the_best_epochs_weights(early_stopped):
    import tensorflow as tf

    history = _read(os.path.join(early_stopped["model_run_dir"], trainer.HISTORY_FILE))["epochs"]
    training = _read(os.path.join(early_stopped["model_run_dir"], trainer.METRICS_FILE))["training"]
    val_losses = [e["val_loss"] for e in history]
    best = int(np.argmin(val_losses))  # the first of equal minima: a tie is no improvement
    assert training["stopped_early"] and len(history) < EPOCH_LIMIT, val_losses
    assert len(history) == training["epochs_run"] == best + 1 + PATIENCE, val_losses
    assert training["best_epoch"] == best + 1 and training["best_eval_loss"] == pytest.approx(val_losses[best])

    # The served model is the best epoch's, not the last one's (which is measurably worse here).
    assert val_losses[-1] > val_losses[best] + 1e-2, val_losses
    loaded = tf.saved_model.load(early_stopped["serving_model_dir"])
    probabilities, labels, _ = serve_split(loaded, early_stopped["artifact"]["examples"], "eval")
    assert len(labels) == early_stopped["artifact"]["counts"]["eval"]
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    assert float(np.mean(-np.log(picked))) == pytest.approx(val_losses[best], rel=1e-4, abs=1e-5), val_losses
    recorded_eval = _read(os.path.join(early_stopped["model_run_dir"], trainer.METRICS_FILE))["eval"]
    assert recorded_eval["loss"] == pytest.approx(val_losses[best], rel=1e-4, abs=1e-5)


def test_track_accuracy_is_the_served_models_call_from_mean_segment_probabilities(
    early_stopped, trained, served, tiny_artifact
):
    import tensorflow as tf

    runs = [
        (early_stopped, tf.saved_model.load(early_stopped["serving_model_dir"]), early_stopped["artifact"]),
        (trained, served, tiny_artifact),
    ]
    called = {}
    for run, loaded, artifact in runs:
        recorded = _read(os.path.join(run["model_run_dir"], trainer.METRICS_FILE))
        for split in ("eval", "test"):
            accuracy, tracks = track_accuracy(*serve_split(loaded, artifact["examples"], split))
            assert (recorded[split]["track_accuracy"], recorded[split]["tracks"]) == (pytest.approx(accuracy), tracks)
            called[run["model_run_dir"], split] = accuracy, tracks
    # Half the early-stopped run's test tracks (8 + 8) carry another genre's label: no model gets all right.
    accuracy, tracks = called[early_stopped["model_run_dir"], "test"]
    assert tracks == 8 + 8 and 0 < accuracy < 1


def test_run_fn_writes_serving_model_history_metrics_and_tensorboard_logs(trained, tiny_artifact):
    import tensorflow as tf

    serving_dir, run_dir = trained["serving_model_dir"], trained["model_run_dir"]
    assert os.path.exists(os.path.join(serving_dir, "saved_model.pb"))
    loaded = tf.saved_model.load(serving_dir)
    assert {"serving_default", "serving_examples", "featurize"} <= set(loaded.signatures)

    history = _read(os.path.join(run_dir, trainer.HISTORY_FILE))["epochs"]
    assert [e["epoch"] for e in history] == list(range(1, len(history) + 1))
    assert 1 <= len(history) <= 3
    for entry in history:
        assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds", "learning_rate"} <= set(entry)
        assert entry["phase"] == "train"

    metrics = _read(os.path.join(run_dir, trainer.METRICS_FILE))
    counts = tiny_artifact["counts"]
    assert metrics["model_family"] == "cnn2d_mel"
    assert metrics["eval"]["examples"] == counts["eval"]
    assert metrics["test"]["examples"] == counts["test"]
    for split in ("eval", "test"):
        assert 0.0 <= metrics[split]["accuracy"] <= 1.0 and metrics[split]["loss"] > 0
        assert sum(map(sum, metrics[split]["confusion_matrix"])) == metrics[split]["examples"]
    # 8 tone tracks x 2 segments... the tone generator gives 2 segments per track; test adds one music track.
    assert metrics["test"]["tracks"] == 8 + 1
    assert metrics["training"]["epochs_run"] == len(history)
    assert metrics["training"]["strategy"] == "default" and metrics["training"]["replicas"] == 1
    assert metrics["training"]["cached"] == {"train": True, "eval": True}
    # Counted exactly, and checked against what the (fixture's) transform recorded.
    assert metrics["examples"] == counts and metrics["training"]["train_examples"] == counts["train"]
    assert [(r["split"], r["what"], r["counted"], r["expected"], r["balanced"]) for r in metrics["ledger"]] == [
        ("train", "trained on", counts["train"], counts["train"], True),
        ("eval", "scored", counts["eval"], counts["eval"], True),
        ("test", "scored", counts["test"], counts["test"], True),
    ]
    # The tones are one pitch per genre: a few epochs must beat chance (1/8) clearly.
    assert metrics["eval"]["accuracy"] > 0.4, metrics["eval"]
    assert glob.glob(os.path.join(run_dir, "train", "events.out.tfevents.*"))
    assert glob.glob(os.path.join(run_dir, "validation", "events.out.tfevents.*"))


def test_metrics_skip_a_missing_test_split_and_train_steps_bound_the_epochs(tmp_path, tiny_artifact):
    artifact = dict(tiny_artifact, examples=str(tmp_path / "examples"))
    for split in ("train", "eval"):
        shutil.copytree(
            os.path.join(tiny_artifact["examples"], f"Split-{split}"),
            os.path.join(artifact["examples"], f"Split-{split}"),
        )
    config = small_config("trainer.epochs=2", "trainer.model_family=cnn1d_raw")
    out = run_trainer(artifact, str(tmp_path / "out"), config, splits=("train", "eval"), train_steps=3)
    metrics = _read(os.path.join(out["model_run_dir"], trainer.METRICS_FILE))
    assert metrics["test"] is None and "no test split" in metrics["test_skipped"]
    assert metrics["training"]["steps_per_epoch"] == 2  # ceil(3 steps / 2 epochs)
    assert metrics["model_family"] == "cnn1d_raw"


def test_examples_missing_against_the_transforms_record_fail_before_training(tmp_path, tiny_artifact):
    from components.ledger import LedgerMismatch

    artifact = dict(tiny_artifact, examples=str(tmp_path / "examples"))
    shutil.copytree(tiny_artifact["examples"], artifact["examples"])
    counts = tiny_artifact["counts"]
    with open(os.path.join(artifact["examples"], "summary.json"), "w") as f:
        json.dump({"examples_written": {**counts, "train": counts["train"] + 2}}, f)
    with pytest.raises(
        LedgerMismatch,
        match=rf"Trainer, split 'train': read {counts['train']} examples, but "
        rf"SpectrogramTransform {artifact['examples']} recorded "
        rf"{counts['train'] + 2} \(2 missing\); this stage's output: "
        rf"{tmp_path / 'out' / 'model_run'}",
    ):
        run_trainer(artifact, str(tmp_path / "out"), small_config())
    assert not os.path.exists(os.path.join(tmp_path, "out", "model_run", trainer.HISTORY_FILE))  # nothing trained


def test_resolve_steps_per_epoch():
    assert trainer.resolve_steps_per_epoch(None, None, 40) is None
    assert trainer.resolve_steps_per_epoch(None, 100, 40) == 3
    assert trainer.resolve_steps_per_epoch(7, 100, 40) == 7


def test_test_split_pattern_is_beside_the_train_split(tiny_artifact):
    pattern, reason = trainer.test_split_pattern([os.path.join(tiny_artifact["examples"], "Split-train", "*")])
    assert pattern == os.path.join(tiny_artifact["examples"], "Split-test", "*") and reason == ""
    pattern, reason = trainer.test_split_pattern(["/data/somewhere/*.gz"])
    assert pattern is None and "Split-<name>" in reason


def test_custom_config_must_hold_the_trainer_settings():
    with pytest.raises(ValueError, match="custom_config must be"):
        TrainerSettings.from_custom_config({"epochs": 3})
    with pytest.raises(ValueError, match="custom_config must be"):  # the whole config, as before TrainerSettings
        TrainerSettings.from_custom_config({"config": small_config().model_dump(mode="json")})
    custom_config = json.loads(json.dumps(component_settings.trainer_settings(small_config()).to_custom_config()))
    settings = TrainerSettings.from_custom_config(custom_config)
    assert settings.featurizer.num_samples == 22050 and settings.featurizer.n_mels == 32
    assert settings == component_settings.trainer_settings(small_config())


def test_macro_f1_per_genre_and_track_confusion_are_scikit_learns_on_the_served_models_outputs(early_stopped):
    """metrics.json's macro-F1 (over the genres present), per-genre F1 and per-track confusion matrix and
    macro-F1, recomputed by scikit-learn from what the served model outputs: the early-stopped run's eval and
    test splits, where relabelled tracks make every figure fall short of 1."""
    import tensorflow as tf
    from sklearn import metrics as skm

    loaded = tf.saved_model.load(early_stopped["serving_model_dir"])
    recorded = _read(os.path.join(early_stopped["model_run_dir"], trainer.METRICS_FILE))
    genres = recorded["genres"]
    every = list(range(len(genres)))
    for split in ("eval", "test"):
        got = recorded[split]
        probabilities, labels, tracks = serve_split(loaded, early_stopped["artifact"]["examples"], split)
        predicted = probabilities.argmax(axis=1)
        present = sorted(set(labels.tolist()))
        assert got["macro_f1"] == pytest.approx(skm.f1_score(labels, predicted, labels=present, average="macro"))
        f1 = skm.f1_score(labels, predicted, labels=every, average=None, zero_division=0.0)
        for i, genre in enumerate(genres):
            assert got["per_genre"][genre]["support"] == int(np.sum(labels == i))
            if i in present:
                assert got["per_genre"][genre]["f1"] == pytest.approx(f1[i]), genre
        assert got["confusion_matrix"] == skm.confusion_matrix(labels, predicted, labels=every).tolist()

        ids = sorted(set(tracks.tolist()))
        track_true = [int(labels[tracks == t][0]) for t in ids]
        track_called = [int(np.argmax(probabilities[tracks == t].mean(axis=0))) for t in ids]
        assert got["track_confusion_matrix"] == skm.confusion_matrix(track_true, track_called, labels=every).tolist()
        assert got["track_macro_f1"] == pytest.approx(
            skm.f1_score(track_true, track_called, labels=sorted(set(track_true)), average="macro")
        )
        assert sum(map(sum, got["track_confusion_matrix"])) == got["tracks"] == len(ids)
    assert 0 < recorded["test"]["track_macro_f1"] < 1 and 0 < recorded["test"]["macro_f1"] < 1
