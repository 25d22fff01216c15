"""Exporting the served model: raw audio in, genre probabilities and name out, featurizer included.

The signatures and serving_info this writes are the served model's contract, shared with the Evaluator,
the Pusher and the predict command: `components/formats/serving.py` (which also loads such a model).

The featurizer is the SavedModel SpectrogramTransform exported (the TransformGraph artifact), loaded and
attached to the Keras model, so its graph and constants are saved again inside this model: the served
spectrogram is computed by the very graph that computed the training examples. `serving_info` carries
the featurizer settings, the genre vocabulary and the model family (track_prediction reads them).
"""

from __future__ import annotations

import tensorflow as tf

from components.featurizer import IMAGE_OUTPUT, LOG_MEL_OUTPUT, MUSICNN_OUTPUT, LoadedFeaturizer
from components.formats import examples as raw_features
from components.formats.serving import (
    EXAMPLES_INPUT,
    FEATURIZE,
    GENRE,
    PROBABILITIES,
    SERVING_DEFAULT,
    SERVING_EXAMPLES,
    WAVEFORM_INPUT,
)

# What each family's Keras model takes: the waveform itself or one of the featurizer's outputs.
_MODEL_INPUT = {
    "cnn1d_raw": None,
    "cnn2d_mel": LOG_MEL_OUTPUT,
    "mobilenetv2_transfer": IMAGE_OUTPUT,
    "musicnn_transfer": MUSICNN_OUTPUT,
}


def _after(check, tensor):
    """`tensor`, usable only once `check` has passed. Without the edge, graph execution may run the ops
    that consume `tensor` first, and their own error (a reshape's, say) reaches the caller instead of
    the check's message."""
    with tf.control_dependencies([check]):
        return tf.identity(tensor)


class ServingInfo(tf.Module):
    """Facts about the served model that travel inside it (string variables, so they are saved)."""

    def __init__(self, featurizer_settings_json: str, genres, model_family: str):
        super().__init__(name="serving_info")
        self.featurizer_settings = tf.Variable(featurizer_settings_json, trainable=False, name="featurizer_settings")
        self.genres = tf.Variable(list(genres), trainable=False, name="genres")
        self.model_family = tf.Variable(model_family, trainable=False, name="model_family")


def export_serving_model(
    model: tf.keras.Model,
    featurizer: LoadedFeaturizer,
    genres,
    model_family: str,
    directory: str,
    reads_waveform: bool = False,
) -> str:
    """Save `model` with the three signatures above into `directory` (a SavedModel); returns the directory.
    reads_waveform: the model takes the waveform whatever its family's usual input (a fine-tuned
    musicnn_transfer model contains its own copy of the network)."""
    settings = featurizer.settings
    if model_family not in _MODEL_INPUT:
        raise ValueError(f"unknown model family {model_family!r}")
    # Attached after training: tracked attributes are saved with the model (and travel with the graph).
    model.featurizer = featurizer.module
    model.serving_info = ServingInfo(settings.to_json(), genres, model_family)
    vocabulary = tf.constant(list(genres))
    model_input = None if reads_waveform else _MODEL_INPUT[model_family]

    def checked(waveform):
        # Loaded signatures do not enforce the static input shape: check the length in the graph. (Via
        # the size: Grappler would fold tf.shape(waveform)[1] to the declared constant.)
        check = tf.debugging.assert_equal(
            tf.size(waveform),
            tf.shape(waveform)[0] * settings.num_samples,
            message=f"waveform must be float32 [batch, {settings.num_samples}]: "
            f"{settings.num_samples / settings.sample_rate:g} s of mono audio at {settings.sample_rate} Hz; "
            "predict longer audio with track_prediction.predict_track",
        )
        return _after(check, waveform)

    def predict(waveform):
        waveform = checked(waveform)
        inputs = waveform if model_input is None else model.featurizer.featurize(waveform)[model_input]
        probabilities = model(inputs, training=False)
        return {PROBABILITIES: probabilities, GENRE: tf.gather(vocabulary, tf.argmax(probabilities, axis=1))}

    @tf.function(input_signature=[tf.TensorSpec([None, settings.num_samples], tf.float32, name=WAVEFORM_INPUT)])
    def serve_waveform(waveform):
        return predict(waveform)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def serve_examples(examples):
        parsed = tf.io.parse_example(examples, {raw_features.AUDIO: tf.io.FixedLenFeature([], tf.string)})
        pcm = parsed[raw_features.AUDIO]
        lengths = tf.strings.length(pcm) // 2
        check = tf.debugging.assert_equal(
            lengths,
            tf.cast(settings.num_samples, lengths.dtype),
            message=f"{raw_features.AUDIO} must hold {settings.num_samples} samples (the length this model was "
            "trained on: audio.segment_seconds x sample_rate)",
        )
        waveform = tf.reshape(raw_features.decode_waveform(_after(check, pcm)), (-1, settings.num_samples))
        return predict(waveform)

    @tf.function(input_signature=[tf.TensorSpec([None, settings.num_samples], tf.float32, name=WAVEFORM_INPUT)])
    def featurize(waveform):
        return model.featurizer.featurize(checked(waveform))

    signatures = {
        SERVING_DEFAULT: serve_waveform.get_concrete_function(),
        SERVING_EXAMPLES: serve_examples.get_concrete_function(),
        FEATURIZE: featurize.get_concrete_function(),
    }
    # The optimizer's slots are of no use to serving or evaluation and would double the artifact.
    model.save(directory, save_format="tf", signatures=signatures, include_optimizer=False)
    return directory
