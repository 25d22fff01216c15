"""The four model families (config.trainer.model_family). Each takes the one input its family reads
(see dataset.py) and ends in a softmax over len(config.genres) genres.

cnn1d_raw: the article's 1D CNN on the raw waveform
    Conv1D 128/3 -> MaxPool -> Conv1D 64/3 -> MaxPool -> Flatten -> Dense 100 -> Dropout 0.5 -> Dense 20
    -> Dropout 0.5 -> Dense softmax. Flatten makes the first Dense layer's size proportional to the input
    length: on 66,150 samples (3 s at 22.05 kHz) with the article's pooling of 2, the flattened tensor has
    16,535 x 64 = 1.06 M values and Dense 100 alone 106 M weights (400 MB of float32, more than a GPU batch
    wants and hopeless on ~10^4 examples). Two knobs keep it sane without changing the layer sequence:
    `cnn1d.downsample` average-pools the waveform first (4 -> an effective 5.5 kHz rate: an anti-aliased
    decimation that keeps everything below ~2.7 kHz, where rhythm, bass and most harmonic energy of
    music are) and `cnn1d.pool_size` (4) pools harder: 1,032 x 64 = 66 K flattened values, 6.6 M weights.

cnn2d_mel: a compact 2D CNN on the log-mel spectrogram [frames, n_mels] (dB)
    - Per-example standardisation of the dB input (zero mean, unit variance over the whole spectrogram):
      removes the recording level, which says little about the genre, and puts the input on the scale the
      initialisers expect, with nothing to fit on the data first and nothing that differs between
      training and serving.
    - 4 blocks of Conv2D 3x3 (16, 32, 64, 128 filters) + BatchNorm (momentum 0.9: its moving statistics
      keep up on small datasets) + ReLU + MaxPool 2x2: each block halves
      time and frequency, so a unit of the last block sees 31 frames (0.7 s at hop 512) x 31 mel bands:
      onsets, beat intervals, chord and timbre shapes. Filters grow as resolution falls, keeping each
      block's cost similar.
    - Global average pooling (no Flatten: the head does not depend on the clip length, and 128 features
      cannot memorise ~1,300 training examples the way a 16 K-wide Flatten could), Dropout 0.3, Dense softmax.
    - ~100 K weights and ~60 M multiply-adds per 3 s example: an epoch of ~1,300 examples takes seconds on
      a GPU and well under a minute on two CPU cores.

mobilenetv2_transfer: tf.keras.applications.MobileNetV2 (include_top=False) on the uint8 mel image
    [S, S, 3] (224 by default, the size its ImageNet weights were trained at), with
    mobilenet_v2.preprocess_input (to [-1, 1]), global average pooling, Dropout, Dense(head_units, ReLU),
    Dropout, Dense softmax. The base runs in inference mode (training=False) so its BatchNorm statistics
    stay ImageNet's while the head trains and during fine-tuning (the usual Keras transfer-learning
    recipe). Weights: "imagenet" first (Keras' own download into ~/.keras/models, with a bounded network
    timeout); when they cannot be had, a logged fallback to random initialisation, recorded in the
    build notes (and so in metrics.json). With random weights there is nothing to transfer: the whole
    network trains from the start (BatchNorm in training mode) and fine-tuning is skipped.

musicnn_transfer: a head on the pretrained musicnn embedding (components/musicnn.py; weights from the musicnn
    wheel, never downloaded). The network is frozen, so SpectrogramTransform computes the embedding once per
    example (the featurizer's `musicnn_embedding` output) and the model trained here is only the head:
    BatchNorm on the embedding (its scale differs per dimension: mean_pool values run from 0 to ~9), Dropout,
    Dense(head_units, ReLU), Dropout, Dense softmax (~100 K weights; an epoch on the demo data takes about a
    second). The served model runs the featurizer's copy of the network on the waveform and this head on its
    output: one graph from raw audio to genre. With trainer.musicnn.fine_tune_epochs > 0 the top mid-end
    blocks of the network are unfrozen afterwards and trained on the waveform (see fine_tune_musicnn in
    trainer.py), and the served model is then the whole fine-tuned network with this head.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
from typing import Optional

import tensorflow as tf

from components.featurizer import SpectrogramSettings
from components.keras_trainer.dataset import input_spec

_log = logging.getLogger(__name__)

CNN2D_FILTERS = (16, 32, 64, 128)
CNN2D_DROPOUT = 0.3
# BatchNorm momentum of the layers trained from scratch. Keras' default 0.99 lets the moving statistics
# lag the weights by ~100 steps: on ~40 steps per epoch (the demo data) cnn2d_mel's first ten epochs
# evaluated at chance and early stopping read noise. 0.9 follows within ~20 steps.
BN_MOMENTUM = 0.9
# Bounded network wait for the ImageNet weights: an offline worker must fall back, not hang.
WEIGHTS_DOWNLOAD_TIMEOUT_S = 30.0

INPUT_NAMES = {
    "cnn1d_raw": "waveform",
    "cnn2d_mel": "log_mel",
    "mobilenetv2_transfer": "mel_image",
    "musicnn_transfer": "musicnn_embedding",
}


@dataclasses.dataclass
class BuiltModel:
    model: tf.keras.Model
    family: str
    notes: dict  # facts worth reporting (e.g. which MobileNetV2 weights were used)


@tf.keras.utils.register_keras_serializable(package="keras_trainer")
class PerExampleStandardization(tf.keras.layers.Layer):
    """(x - mean) / std over all axes but the batch, per example."""

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        axes = list(range(1, inputs.shape.rank))
        mean, variance = tf.nn.moments(inputs, axes=axes, keepdims=True)
        return (inputs - mean) / tf.sqrt(variance + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def build_model(config, settings: SpectrogramSettings) -> BuiltModel:
    """The config's model family for the featurizer's settings (uncompiled). `config`: the TrainerSettings
    (settings.py; what it reads is `trainer` and `genres`)."""
    family = config.trainer.model_family
    classes = len(config.genres)
    spec = input_spec(family, settings)
    inputs = tf.keras.Input(shape=spec.shape, dtype=spec.dtype, name=INPUT_NAMES[family])
    if family == "cnn1d_raw":
        return BuiltModel(_cnn1d_raw(inputs, classes, config.trainer.cnn1d), family, {})
    if family == "cnn2d_mel":
        return BuiltModel(_cnn2d_mel(inputs, classes), family, {})
    if family == "musicnn_transfer":
        notes = {"musicnn_model": settings.musicnn.model, "musicnn_embedding": settings.musicnn.embedding}
        return BuiltModel(_musicnn_head(inputs, classes, config.trainer.musicnn), family, notes)
    model, notes = _mobilenet(inputs, classes, config.trainer.mobilenet)
    return BuiltModel(model, family, notes)


def _cnn1d_raw(inputs, classes: int, cnn1d) -> tf.keras.Model:
    layers = tf.keras.layers
    x = layers.Reshape((inputs.shape[1], 1))(inputs)
    if cnn1d.downsample > 1:
        x = layers.AveragePooling1D(cnn1d.downsample, name="downsample")(x)
    x = layers.Conv1D(128, 3, activation="relu")(x)
    x = layers.MaxPooling1D(cnn1d.pool_size)(x)
    x = layers.Conv1D(64, 3, activation="relu")(x)
    x = layers.MaxPooling1D(cnn1d.pool_size)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(100, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return tf.keras.Model(inputs, outputs, name="cnn1d_raw")


def _cnn2d_mel(inputs, classes: int) -> tf.keras.Model:
    layers = tf.keras.layers
    x = PerExampleStandardization(name="standardize")(inputs)
    x = layers.Reshape((*inputs.shape[1:], 1))(x)
    for filters in CNN2D_FILTERS:
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(CNN2D_DROPOUT)(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return tf.keras.Model(inputs, outputs, name="cnn2d_mel")


def _musicnn_head(inputs, classes: int, options) -> tf.keras.Model:
    layers = tf.keras.layers
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="embedding_bn")(inputs)
    x = layers.Dropout(options.dropout)(x)
    x = layers.Dense(options.head_units, activation="relu")(x)
    x = layers.Dropout(options.dropout)(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return tf.keras.Model(inputs, outputs, name="musicnn_head")


def musicnn_fine_tune_model(head: tf.keras.Model, settings: SpectrogramSettings, blocks: int) -> tf.keras.Model:
    """waveform [batch, num_samples] -> the pretrained network (a fresh copy from the wheel, its last `blocks`
    mid-end convolutions trainable, everything else frozen) -> mean over patches -> the trained `head` (shared,
    so its weights keep training). The network's batch norms stay in inference mode (components/musicnn.py)."""
    from components import musicnn

    waveform = tf.keras.Input((settings.num_samples,), name="waveform")
    embedder = musicnn.build_embedder(
        settings.sample_rate,
        settings.num_samples,
        settings.musicnn.model,
        outputs=(settings.musicnn.embedding,),
        trainable=True,
    )
    network = embedder.get_layer("musicnn").network
    unfrozen = {f"midend_{i}" for i in range(4 - blocks, 4)}
    for layer in network.layers:
        layer.trainable = layer.name in unfrozen
    patches = embedder(waveform)[settings.musicnn.embedding]
    embedding = musicnn.clip_embedding(patches)
    return tf.keras.Model(waveform, head(embedding), name="musicnn_transfer_fine_tuned")


def _mobilenet(inputs, classes: int, options) -> tuple[tf.keras.Model, dict]:
    layers = tf.keras.layers
    base, notes = mobilenet_base(tuple(inputs.shape[1:]), options.weights)
    x = tf.keras.applications.mobilenet_v2.preprocess_input(tf.cast(inputs, tf.float32))
    if is_pretrained(notes):
        base.trainable = False  # the head trains first; fine_tune() unfreezes the top of the base later
        x = base(x, training=False)
    else:
        # Random weights hold nothing to keep: frozen, they give near-constant features (the head cannot
        # learn: measured, the loss stays at ln(8)). The whole network trains from the start, BatchNorm
        # in training mode; there is no separate fine-tuning phase. MobileNetV2's BatchNorm momentum of
        # 0.999 suits ImageNet's million images; from scratch on a few thousand, its moving statistics
        # would stay at their initial values for a thousand steps and evaluation at chance.
        for layer in base.layers:
            if isinstance(layer, tf.keras.layers.BatchNormalization):
                layer.momentum = BN_MOMENTUM
        x = base(x)
    notes["mobilenet_base_trainable_from_start"] = not is_pretrained(notes)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(options.dropout)(x)
    x = layers.Dense(options.head_units, activation="relu")(x)
    x = layers.Dropout(options.dropout)(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return tf.keras.Model(inputs, outputs, name="mobilenetv2_transfer"), notes


def is_pretrained(notes: dict) -> bool:
    return notes.get("mobilenet_weights") == "imagenet"


def mobilenet_base(input_shape: tuple, weights: str, timeout_s: float = WEIGHTS_DOWNLOAD_TIMEOUT_S):
    """(MobileNetV2 without its top, notes). "imagenet" tries Keras' own weights download first and
    falls back to random initialisation, with a warning, when they cannot be had."""

    def build(weights_argument: Optional[str]):
        return tf.keras.applications.MobileNetV2(input_shape=input_shape, include_top=False, weights=weights_argument)

    if weights == "random":
        return build(None), {"mobilenet_weights": "random", "mobilenet_weights_requested": "random"}
    try:
        with _socket_timeout(timeout_s):
            base = build("imagenet")
        return base, {"mobilenet_weights": "imagenet", "mobilenet_weights_requested": "imagenet"}
    except Exception as e:  # get_file wraps network errors in a bare Exception; any failure means no weights
        reason = " ".join(str(e).split())[:300]
        _log.warning(
            "MobileNetV2 ImageNet weights could not be loaded (%s); FALLING BACK TO RANDOM "
            "INITIALISATION: expect much lower accuracy. To use them offline, put Keras' "
            "mobilenet_v2 *_no_top.h5 file into ~/.keras/models/ (or the image) beforehand.",
            reason,
        )
        return build(None), {
            "mobilenet_weights": "random",
            "mobilenet_weights_requested": "imagenet",
            "mobilenet_weights_fallback_reason": reason,
        }


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """urllib (which Keras' get_file uses) waits forever by default on a network that drops packets."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def fine_tune(model: tf.keras.Model, layers_to_unfreeze: int) -> int:
    """Unfreeze the last `layers_to_unfreeze` layers of the MobileNetV2 base (BatchNorm layers stay frozen:
    their statistics are ImageNet's and the base runs in inference mode). Returns how many layers now train.
    The model must be compiled again afterwards for the change to take effect."""
    base = mobilenet_base_of(model)
    base.trainable = True
    unfrozen = 0
    for index, layer in enumerate(base.layers):
        train = index >= len(base.layers) - layers_to_unfreeze and not isinstance(
            layer, tf.keras.layers.BatchNormalization
        )
        layer.trainable = train
        unfrozen += int(train and bool(layer.weights))
    return unfrozen


def mobilenet_base_of(model: tf.keras.Model) -> tf.keras.Model:
    """The MobileNetV2 base inside a mobilenetv2_transfer model (its only nested model)."""
    bases = [layer for layer in model.layers if isinstance(layer, tf.keras.Model)]
    if len(bases) != 1:
        raise ValueError(f"{model.name} is not a mobilenetv2_transfer model (nested models: {len(bases)})")
    return bases[0]
