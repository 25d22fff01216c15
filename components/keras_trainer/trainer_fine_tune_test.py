"""run_fn's MobileNetV2 fine-tuning phase: kept only when it lowers the eval loss."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from tfx.components.trainer.fn_args_utils import FnArgs

from components.keras_trainer import trainer
from components.keras_trainer.models import build_model, mobilenet_base_of
from tests.helpers.keras_trainer import small_config


def test_fine_tuning_is_kept_only_when_it_lowers_the_eval_loss(tiny_artifact, settings, tmp_path):
    """The fine-tuning phase on a frozen base (ImageNet weights cannot be had offline: a random base
    frozen by hand stands in for them)."""
    config = small_config(
        "trainer.model_family=mobilenetv2_transfer", "trainer.mobilenet.fine_tune_epochs=1", "trainer.steps_per_epoch=2"
    )

    def split(name):
        return [os.path.join(tiny_artifact["examples"], f"Split-{name}", "*")]

    fn_args = FnArgs(train_files=split("train"), eval_files=split("eval"))
    inputs = trainer.prepare_inputs(fn_args, config.trainer, settings, 1, False)
    model = build_model(config, settings).model
    base = mobilenet_base_of(model)
    base.trainable = False
    trainer.compile_model(model, 0.01)
    recorder = trainer.HistoryRecorder(str(tmp_path))
    fit = trainer.make_fit(model, inputs, 1, str(tmp_path), recorder, patience=2)
    fit("head", 0, 1)
    head = {w.name: w.numpy() for w in model.weights}
    strategy = tf.distribute.get_strategy()

    # Nothing beats an eval loss of -1: the head-only weights come back.
    assert trainer.fine_tune_phase(model, strategy, config.trainer.mobilenet, fit, recorder, -1.0, 0) == (-1.0, 0)
    assert all(np.array_equal(head[w.name], w.numpy()) for w in model.weights)
    # Anything beats infinity: the fine-tuned weights stay, and the top of the base moved.
    loss, epoch = trainer.fine_tune_phase(model, strategy, config.trainer.mobilenet, fit, recorder, np.inf, 0)
    assert np.isfinite(loss) and epoch == 2
    changed = [w.name for w in base.weights if not np.array_equal(head[w.name], w.numpy())]
    assert changed and all("Conv_1" in name or "block_16" in name or "block_15" in name for name in changed), changed
    assert [e["phase"] for e in recorder.epochs] == ["head", "fine_tune", "fine_tune"]
