"""The served model, as run_fn exported it: answers on real music, and train/serve parity at the
signature level (raw audio vs serialized examples) and at the feature level (embedded featurizer)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.featurizer import load_featurizer
from components.formats import examples as transformed
from components.formats.examples import from_pcm16, to_pcm16
from components.formats.serving import read_serving_info
from components.keras_trainer import serving
from components.keras_trainer.dataset_test import raw_example
from tests.helpers import keras_data as testdata
from tests.helpers.keras_trainer import DRUM_BASS, VIBE_ACE, real_clip, small_config

GENRES = small_config().genres


@pytest.fixture(scope="module")
def clips():
    """Two real music clips of 1 s, as int16 round trips (what the examples hold)."""
    waveforms = np.stack([real_clip(VIBE_ACE, 10.0), real_clip(DRUM_BASS, 3.0)])
    return np.stack([from_pcm16(to_pcm16(w)) for w in waveforms])


def test_serving_default_answers_on_real_music(served, clips):
    outputs = served.signatures[serving.SERVING_DEFAULT](waveform=tf.constant(clips))
    probabilities = outputs[serving.PROBABILITIES].numpy()
    genres = [g.decode() for g in outputs[serving.GENRE].numpy()]
    assert probabilities.shape == (2, 8) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert all(g in GENRES for g in genres)
    assert genres == [GENRES[i] for i in probabilities.argmax(axis=1)]


def test_serving_examples_equals_serving_default_on_raw_and_transformed_examples(served, clips, settings):
    expected = served.signatures[serving.SERVING_DEFAULT](waveform=tf.constant(clips))
    raw_records = [raw_example(w) for w in clips]
    segments = [testdata.Segment(w, 0, GENRES[0], 1) for w in clips]
    for records in (raw_records, testdata.transform_segments(segments, settings)):
        outputs = served.signatures[serving.SERVING_EXAMPLES](examples=tf.constant(records))
        np.testing.assert_allclose(
            outputs[serving.PROBABILITIES].numpy(), expected[serving.PROBABILITIES].numpy(), atol=1e-6
        )
        assert outputs[serving.GENRE].numpy().tolist() == expected[serving.GENRE].numpy().tolist()


def test_served_featurizer_equals_the_exported_featurizer_and_the_training_examples(
    served, clips, tiny_artifact, settings
):
    inside = served.signatures[serving.FEATURIZE](waveform=tf.constant(clips))
    own = load_featurizer(tiny_artifact["featurizer"]).featurize(tf.constant(clips))
    np.testing.assert_array_equal(inside["log_mel"].numpy(), own["log_mel"].numpy())
    np.testing.assert_array_equal(inside["mel_image"].numpy(), own["mel_image"].numpy())
    # What a training example stores for this audio is what the served model computes from it.
    record = testdata.transform_segments([testdata.Segment(clips[0], 0, GENRES[0], 1)], settings)[0]
    feature = tf.train.Example.FromString(record).features.feature
    stored = np.asarray(feature[transformed.LOG_MEL].float_list.value, np.float32).reshape(settings.log_mel_shape)
    np.testing.assert_allclose(inside["log_mel"].numpy()[0], stored, atol=1e-3)
    image = np.frombuffer(feature[transformed.MEL_IMAGE].bytes_list.value[0], np.uint8).reshape(settings.image_shape)
    assert np.abs(inside["mel_image"].numpy()[0].astype(int) - image).max() <= 1


def test_examples_of_another_length_are_refused_in_words(served):
    record = raw_example(np.zeros(1000, np.float32))
    # Repeated: without an edge from the check to the reshape, graph execution picks either error.
    for _ in range(100):
        with pytest.raises(tf.errors.InvalidArgumentError, match="must hold 22050 samples"):
            served.signatures[serving.SERVING_EXAMPLES](examples=tf.constant([record]))


def test_serving_default_rejects_a_wrong_waveform_length(served):
    for signature in (serving.SERVING_DEFAULT, serving.FEATURIZE):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"waveform must be float32 \[batch, 22050\]"):
            served.signatures[signature](waveform=tf.zeros([2, 1000]))


def test_serving_info_travels_with_the_model(served, settings):
    info = read_serving_info(served)
    assert info["genres"] == list(GENRES)
    assert info["model_family"] == "cnn2d_mel"
    assert info["featurizer_settings"]["num_samples"] == settings.num_samples == 22050
    assert info["featurizer_settings"]["n_mels"] == 32


def test_the_serving_model_also_loads_as_keras(trained, served, clips):
    """TFMA loads a Keras SavedModel as Keras: the same weights must answer the same."""
    model = tf.keras.models.load_model(trained["serving_model_dir"])
    log_mel = served.signatures[serving.FEATURIZE](waveform=tf.constant(clips))["log_mel"]
    expected = served.signatures[serving.SERVING_DEFAULT](waveform=tf.constant(clips))[serving.PROBABILITIES]
    np.testing.assert_allclose(model.predict_on_batch(log_mel), expected.numpy(), atol=1e-6)


@pytest.mark.parametrize("family", ["mobilenetv2_transfer", "cnn1d_raw"])
def test_each_family_is_served_from_the_right_input(family, tmp_path, tiny_artifact, clips):
    """The serving graph feeds each family what it trained on: the image, or the waveform itself."""
    from components.keras_trainer.models import build_model

    featurizer = load_featurizer(tiny_artifact["featurizer"])
    model = build_model(small_config(f"trainer.model_family={family}"), featurizer.settings).model
    model_input = clips if family == "cnn1d_raw" else featurizer.featurize(tf.constant(clips))["mel_image"]
    expected = model.predict_on_batch(model_input)
    serving.export_serving_model(model, featurizer, GENRES, family, str(tmp_path / "served"))
    loaded = tf.saved_model.load(str(tmp_path / "served"))
    outputs = loaded.signatures[serving.SERVING_DEFAULT](waveform=tf.constant(clips))
    np.testing.assert_allclose(outputs[serving.PROBABILITIES].numpy(), expected, atol=1e-5)
    assert read_serving_info(loaded)["model_family"] == family
