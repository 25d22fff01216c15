"""musicnn_transfer: a head trained on the stored musicnn embedding, served as one graph from the waveform, and
the optional fine-tuning of the network's top."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.components.trainer.fn_args_utils import FnArgs

from components import musicnn
from components.featurizer import SpectrogramSettings
from components.formats.serving import PROBABILITIES, SERVING_DEFAULT
from components.keras_trainer import dataset as data
from components.keras_trainer import trainer
from components.keras_trainer.models import build_model
from tests.helpers.keras_trainer import VIBE_ACE, real_clip, run_trainer, serve_split, small_config


@pytest.fixture(scope="module")
def trained_head(musicnn_artifact, tmp_path_factory):
    out = run_trainer(musicnn_artifact, str(tmp_path_factory.mktemp("musicnn-run")), musicnn_artifact["config"])
    with open(os.path.join(out["model_run_dir"], trainer.METRICS_FILE)) as f:
        metrics = json.load(f)
    return out, metrics, tf.saved_model.load(out["serving_model_dir"])


def test_the_head_reads_the_stored_embedding_and_learns(trained_head, musicnn_artifact):
    _, metrics, _ = trained_head
    assert metrics["model_family"] == "musicnn_transfer"
    assert metrics["training"]["musicnn_model"] == "MSD_musicnn"
    assert metrics["training"]["musicnn_embedding"] == "mean_pool"
    # Tones of 8 pitches: the frozen embedding separates them, so the head alone gets the eval split right.
    assert metrics["eval"]["accuracy"] >= 0.9, metrics["eval"]
    assert metrics["examples"] == musicnn_artifact["counts"]


def test_served_model_embeds_the_waveform_with_the_wheels_network(trained_head, musicnn_artifact):
    """Raw audio in, genre out: the served graph runs musicnn on the waveform itself. Rebuilding the network from
    the installed wheel and applying the exported head to its embedding gives the served probabilities."""
    out, _, served = trained_head
    settings: SpectrogramSettings = musicnn_artifact["settings"]
    clip = real_clip(VIBE_ACE, 20.0, settings.num_samples)[None, :]
    probabilities = served.signatures[SERVING_DEFAULT](waveform=tf.constant(clip))[PROBABILITIES].numpy()
    embedder = musicnn.build_embedder(settings.sample_rate, settings.num_samples)
    embedding = embedder(clip)["mean_pool"].numpy().mean(axis=1)
    # The SavedModel's Keras model is the head alone: it takes the 753-value embedding.
    head = tf.keras.models.load_model(out["serving_model_dir"], compile=False)
    assert head.input_shape == (None, 753)
    np.testing.assert_allclose(probabilities, head(embedding).numpy(), atol=1e-5)
    assert probabilities.shape == (1, 8) and np.isclose(probabilities.sum(), 1.0, atol=1e-5)


def test_served_model_scores_the_stored_examples_as_the_trainer_did(trained_head, musicnn_artifact):
    _, metrics, served = trained_head
    probabilities, labels, _ = serve_split(served, musicnn_artifact["examples"], "test")
    assert np.mean(probabilities.argmax(axis=1) == labels) == pytest.approx(metrics["test"]["accuracy"])


def test_a_featurizer_without_the_embedding_is_refused_in_words(musicnn_artifact):
    settings = musicnn_artifact["settings"].replace(musicnn=None, spectra=("log_mel",))
    with pytest.raises(ValueError, match="trainer.model_family=musicnn_transfer"):
        data.input_spec("musicnn_transfer", settings)


def test_fine_tuning_trains_only_the_top_blocks_and_is_kept_only_when_it_helps(musicnn_artifact, tmp_path):
    config = small_config(
        "audio.segment_seconds=3",
        "trainer.model_family=musicnn_transfer",
        "trainer.musicnn.fine_tune_epochs=1",
        "trainer.musicnn.fine_tune_learning_rate=0.01",
        "trainer.steps_per_epoch=2",
    )
    settings = musicnn_artifact["settings"]

    def split(name):
        return [os.path.join(musicnn_artifact["examples"], f"Split-{name}", "*")]

    fn_args = FnArgs(train_files=split("train"), eval_files=split("eval"), model_run_dir=str(tmp_path), eval_steps=1)
    inputs = trainer.prepare_inputs(fn_args, config.trainer, settings, 1, False)
    head = build_model(config, settings).model
    trainer.compile_model(head, 0.01)
    recorder = trainer.HistoryRecorder(str(tmp_path))
    trainer.make_fit(head, inputs, 1, str(tmp_path), recorder, patience=2)("head", 0, 1)
    head_weights = [w.numpy() for w in head.weights]
    strategy = tf.distribute.get_strategy()

    def fine_tune(head_loss):
        return trainer.fine_tune_musicnn(
            head, settings, strategy, False, config.trainer, inputs, fn_args, recorder, head_loss, 0
        )

    # Nothing beats an eval loss of -1: the head alone is served, with its head-phase weights.
    served, served_inputs, loss, _ = fine_tune(-1.0)
    assert served is head and served_inputs is inputs and loss == -1.0
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(head_weights, head.weights))
    # Anything beats infinity: the whole network on the waveform is served; only midend_3 of musicnn moved.
    served, served_inputs, loss, _ = fine_tune(np.inf)
    assert served is not head and np.isfinite(loss)
    assert served_inputs.spec.feature == data.input_spec("cnn1d_raw", settings).feature
    network = served.get_layer("MSD_musicnn_embedder").get_layer("musicnn").network
    pretrained = musicnn.build_network()
    moved = {
        layer.name
        for layer, original in zip(network.layers, pretrained.layers)
        if any(not np.array_equal(a, b) for a, b in zip(layer.get_weights(), original.get_weights()))
    }
    assert moved == {"midend_3"}, moved
    assert [e["phase"] for e in recorder.epochs] == ["head", "fine_tune", "fine_tune"]


def test_run_fn_serves_the_fine_tuned_network_on_the_waveform_when_it_helps(musicnn_artifact, tmp_path):
    """A head that barely trained (one epoch at a tiny learning rate), then fine-tuning at a useful one: the eval
    loss drops, so the served model is the whole fine-tuned network, which takes the waveform itself."""
    config = small_config(
        "audio.segment_seconds=3",
        "trainer.model_family=musicnn_transfer",
        "trainer.epochs=1",
        "trainer.learning_rate=0.000001",
        "trainer.musicnn.fine_tune_epochs=2",
        "trainer.musicnn.fine_tune_learning_rate=0.001",
    )
    out = run_trainer(musicnn_artifact, str(tmp_path), config)
    with open(os.path.join(out["model_run_dir"], trainer.METRICS_FILE)) as f:
        metrics = json.load(f)
    assert metrics["training"]["musicnn_fine_tuned"] is True, metrics["training"]
    with open(os.path.join(out["model_run_dir"], trainer.HISTORY_FILE)) as f:
        phases = [e["phase"] for e in json.load(f)["epochs"]]
    assert phases == ["head", "fine_tune", "fine_tune"]
    served = tf.saved_model.load(out["serving_model_dir"])
    settings = musicnn_artifact["settings"]
    clip = real_clip(VIBE_ACE, 20.0, settings.num_samples)[None, :]
    probabilities = served.signatures[SERVING_DEFAULT](waveform=tf.constant(clip))[PROBABILITIES].numpy()
    network = tf.keras.models.load_model(out["serving_model_dir"], compile=False)
    assert network.input_shape == (None, settings.num_samples)  # the waveform, not the embedding
    np.testing.assert_allclose(probabilities, network(clip).numpy(), atol=1e-5)
    # Scored on the waveform by the fine-tuned network, as the served model scores the stored examples.
    scored, labels, _ = serve_split(served, musicnn_artifact["examples"], "test")
    assert np.mean(scored.argmax(axis=1) == labels) == pytest.approx(metrics["test"]["accuracy"])
