"""run_fn end to end through the standard TFX Trainer executor, on a tiny transformed artifact."""

from __future__ import annotations

import glob
import json
import os
import shutil

import pytest

from components.keras_trainer import trainer
from components.keras_trainer.settings import TrainerSettings
from pipeline import component_settings
from tests.helpers.keras_trainer import run_trainer, small_config


def _read(path):
    with open(path) as f:
        return json.load(f)


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
