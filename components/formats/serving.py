"""The served model's contract: what the Trainer exports (components/keras_trainer/serving.py) and what the
Evaluator, the Pusher and the predict command load.

Signatures of a serving SavedModel:

    serving_default   waveform float32 [batch, num_samples] (mono, the featurizer's sample rate, [-1, 1])
                      -> {"probabilities": float32 [batch, len(genres)], "genre": string [batch]}
    serving_examples  examples string [batch]: serialized tf.Examples holding AUDIO (int16 PCM), raw
                      (AudioExampleGen) or transformed (SpectrogramTransform) alike -> the same outputs;
                      what TFMA's Evaluator feeds
    featurize         waveform -> the embedded featurizer's own outputs (log_mel, mel_image)

and `serving_info`, a tracked module of string variables: the featurizer settings (JSON), the genre
vocabulary and the model family. TensorFlow is imported only to load a model: the predict command
imports this module to answer usage errors without it.
"""

from __future__ import annotations

import json

SERVING_DEFAULT = "serving_default"
SERVING_EXAMPLES = "serving_examples"
FEATURIZE = "featurize"
PROBABILITIES = "probabilities"
GENRE = "genre"
WAVEFORM_INPUT = "waveform"
EXAMPLES_INPUT = "examples"
SERVING_INFO = "serving_info"  # the tracked module's attribute name on the saved model


class NotAServingModel(ValueError):
    """A SavedModel that export_serving_model did not write: it lacks serving_info or serving_default."""


def load_serving_model(directory: str):
    """(the loaded SavedModel, its read_serving_info); NotAServingModel when export_serving_model did not
    write it, so callers need not check the loaded object themselves."""
    import tensorflow as tf  # at call time: see the module's docstring

    loaded = tf.saved_model.load(directory)
    if not hasattr(loaded, SERVING_INFO) or SERVING_DEFAULT not in loaded.signatures:
        raise NotAServingModel(
            f"{directory} is not a genre model exported by components.keras_trainer.serving.export_serving_model "
            f"(it lacks serving_info, which holds model family, genres and featurizer settings, or the "
            f"{SERVING_DEFAULT} signature)"
        )
    return loaded, read_serving_info(loaded)


def read_serving_info(loaded) -> dict:
    """{"featurizer_settings": dict, "genres": [str], "model_family": str} of a loaded serving model."""
    info = getattr(loaded, SERVING_INFO)
    return {
        "featurizer_settings": json.loads(info.featurizer_settings.numpy().decode("utf-8")),
        "genres": [g.decode("utf-8") for g in info.genres.numpy()],
        "model_family": info.model_family.numpy().decode("utf-8"),
    }
