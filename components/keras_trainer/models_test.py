"""The three model families: shapes, a few training steps on tiny data, the ImageNet fallback, fine-tuning."""

from __future__ import annotations

import glob
import logging
import os
import socket

import numpy as np
import pytest
import tensorflow as tf

from components.keras_trainer import dataset as data
from components.keras_trainer import models
from pipeline import component_settings
from pipeline.config import load_config
from tests.helpers.keras_trainer import small_config


def _train_a_few_steps(family, tiny_artifact, settings, steps=3, *extra):
    config = small_config(f"trainer.model_family={family}", *extra)
    built = models.build_model(config, settings)
    built.model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    files = sorted(glob.glob(os.path.join(tiny_artifact["examples"], "Split-train", "*")))
    dataset = data.make_dataset(files, data.input_spec(family, settings), 8, training=True, repeat=True)
    before = [w.numpy().copy() for w in built.model.trainable_weights]
    history = built.model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    after = [w.numpy() for w in built.model.trainable_weights]
    return built, history.history["loss"][0], before, after


@pytest.mark.parametrize("family", ["cnn1d_raw", "cnn2d_mel", "mobilenetv2_transfer"])
def test_every_family_builds_and_trains_on_tiny_data(family, tiny_artifact, settings):
    built, loss, before, after = _train_a_few_steps(family, tiny_artifact, settings)
    assert built.model.output_shape == (None, 8)
    assert np.isfinite(loss)
    assert any(not np.array_equal(b, a) for b, a in zip(before, after)), "training changed no weight"
    spec = data.input_spec(family, settings)
    assert built.model.input_shape == (None, *spec.shape)
    probabilities = built.model.predict_on_batch(np.zeros((2, *spec.shape), spec.dtype))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_cnn1d_layer_sequence_and_a_sane_flatten_on_3_second_input():
    config = load_config(None, ["trainer.model_family=cnn1d_raw"])
    settings = component_settings.spectrogram_settings(config)
    model = models.build_model(config, settings).model
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == [
        "Reshape",
        "AveragePooling1D",
        "Conv1D",
        "MaxPooling1D",
        "Conv1D",
        "MaxPooling1D",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
        "Dropout",
        "Dense",
    ]
    convs = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv1D)]
    assert [(c.filters, c.kernel_size) for c in convs] == [(128, (3,)), (64, (3,))]
    denses = [layer.units for layer in model.layers if isinstance(layer, tf.keras.layers.Dense)]
    assert denses == [100, 20, 8]
    # 66,150 samples / 4 -> 16,537; conv -> 16,535; /4 -> 4,133; conv -> 4,131; /4 -> 1,032 x 64 channels.
    flatten = next(layer for layer in model.layers if isinstance(layer, tf.keras.layers.Flatten))
    assert flatten.output_shape == (None, 1032 * 64)


def test_cnn2d_ignores_the_recording_level(settings):
    model = models.build_model(small_config(), settings).model
    log_mel = np.random.default_rng(0).normal(-40, 15, (3, *settings.log_mel_shape)).astype(np.float32)
    np.testing.assert_allclose(model(log_mel, training=False), model(log_mel + 20.0, training=False), atol=1e-5)


def test_per_example_standardization():
    x = np.random.default_rng(1).normal(-30, 12, (4, 10, 6)).astype(np.float32)
    y = models.PerExampleStandardization()(x).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1.0, atol=1e-3)


def test_imagenet_weights_fall_back_to_random_initialisation_with_a_warning(tmp_path, monkeypatch, caplog):
    # An empty Keras cache (get_file looks in ~/.keras) and no reachable network: the download must fail
    # fast, be logged, and the base must still be built.
    monkeypatch.setenv("HOME", str(tmp_path))
    for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # the discard port: connection refused, even with internet
    timeout_before = socket.getdefaulttimeout()
    with caplog.at_level(logging.WARNING, logger=models.__name__):
        base, notes = models.mobilenet_base((32, 32, 3), "imagenet", timeout_s=5.0)
    assert notes["mobilenet_weights"] == "random" and notes["mobilenet_weights_requested"] == "imagenet"
    assert notes["mobilenet_weights_fallback_reason"]
    assert "FALLING BACK TO RANDOM INITIALISATION" in caplog.text
    assert base.output_shape == (None, 1, 1, 1280)
    assert socket.getdefaulttimeout() == timeout_before
    assert not list((tmp_path / ".keras" / "models").glob("mobilenet_v2_*.h5"))


def test_random_weights_are_not_downloaded(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger=models.__name__):
        _, notes = models.mobilenet_base((32, 32, 3), "random")
    assert notes == {"mobilenet_weights": "random", "mobilenet_weights_requested": "random"}
    assert "FALLING BACK" not in caplog.text


def test_random_weights_train_the_whole_mobilenet_from_the_start(settings):
    built = models.build_model(small_config("trainer.model_family=mobilenetv2_transfer"), settings)
    base = models.mobilenet_base_of(built.model)
    assert base.trainable and built.notes["mobilenet_base_trainable_from_start"]
    assert not models.is_pretrained(built.notes)
    assert len(built.model.trainable_weights) == len(base.trainable_weights) + 4  # + two Dense layers
    norms = [layer for layer in base.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == models.BN_MOMENTUM for layer in norms)


def test_fine_tune_unfreezes_only_the_top_of_the_base_and_never_batchnorm(settings):
    model = models.build_model(small_config("trainer.model_family=mobilenetv2_transfer"), settings).model
    base = models.mobilenet_base_of(model)
    base.trainable = False  # as built on ImageNet weights (not available offline)
    head_only = len(model.trainable_weights)
    assert head_only == 4  # two Dense layers
    unfrozen = models.fine_tune(model, 12)
    trainable = [layer for layer in base.layers if layer.trainable]
    assert trainable and all(base.layers.index(layer) >= len(base.layers) - 12 for layer in trainable)
    assert not any(isinstance(layer, tf.keras.layers.BatchNormalization) for layer in trainable)
    assert unfrozen == sum(1 for layer in trainable if layer.weights)
    assert len(model.trainable_weights) > head_only
