"""tf.data input: per-family parsing, values, ordering, seeding, caching decisions and clear errors."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from components.formats import examples as raw
from components.formats import examples as transformed
from components.formats.examples import from_pcm16
from components.keras_trainer import dataset as data
from tests.helpers import keras_data as testdata


def _files(artifact, split):
    return sorted(glob.glob(os.path.join(artifact["examples"], f"Split-{split}", "*")))


def _parsed(files):
    return [tf.train.Example.FromString(r).features.feature for r in testdata.read_records(files)]


def raw_example(waveform: np.ndarray, label: int = 3, track_id: int = 7) -> bytes:
    """An AudioExampleGen example (its own encoder), every feature present."""
    from components.formats.examples import to_pcm16

    values = dict.fromkeys(raw.INT_FEATURES, 0)
    values.update(dict.fromkeys(raw.FLOAT_FEATURES, 0.0))
    values.update(dict.fromkeys(raw.BYTES_FEATURES, b""))
    values.update(
        {
            raw.AUDIO: to_pcm16(waveform),
            raw.AUDIO_NUM_SAMPLES: len(waveform),
            raw.LABEL: label,
            raw.TRACK_ID: track_id,
            raw.GENRE: b"Hip-Hop",
            raw.SAMPLE_RATE: 22050,
        }
    )
    return raw.encode_example(values)


def test_input_spec_per_family(settings):
    assert data.input_spec("cnn2d_mel", settings).shape == (44, 32)
    assert data.input_spec("cnn2d_mel", settings).feature == transformed.LOG_MEL
    assert data.input_spec("mobilenetv2_transfer", settings).shape == (32, 32, 3)
    assert data.input_spec("cnn1d_raw", settings).shape == (22050,)
    assert data.input_spec("cnn1d_raw", settings).cached_bytes == 22050 * 2 + 8
    with pytest.raises(ValueError, match="unknown model family"):
        data.input_spec("resnet", settings)


def test_a_family_whose_spectrum_the_featurizer_does_not_compute_is_refused_in_words(settings):
    with pytest.raises(ValueError, match="cnn2d_mel reads log_mel, but the featurizer was exported without it"):
        data.input_spec("cnn2d_mel", settings.replace(spectra=("mel_image",)))
    with pytest.raises(ValueError, match="trainer.model_family=mobilenetv2_transfer"):
        data.input_spec("mobilenetv2_transfer", settings.replace(spectra=("log_mel",)))


@pytest.mark.parametrize("family", ["cnn2d_mel", "mobilenetv2_transfer", "cnn1d_raw"])
def test_eval_input_holds_every_example_with_its_stored_values_in_file_order(tiny_artifact, settings, family):
    spec = data.input_spec(family, settings)
    files = _files(tiny_artifact, "test")
    batches = list(data.make_dataset(files, spec, 4, training=False))
    inputs = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    assert inputs.shape == (tiny_artifact["counts"]["test"], *spec.shape)
    assert inputs.dtype == np.dtype(spec.dtype)
    stored = _parsed(files)
    assert labels.tolist() == [f[raw.LABEL].int64_list.value[0] for f in stored]
    for value, feature in zip(inputs, stored):
        if family == "cnn2d_mel":
            expected = np.asarray(feature[transformed.LOG_MEL].float_list.value, np.float32).reshape(spec.shape)
        elif family == "mobilenetv2_transfer":
            expected = np.frombuffer(feature[transformed.MEL_IMAGE].bytes_list.value[0], np.uint8).reshape(spec.shape)
        else:
            expected = from_pcm16(feature[raw.AUDIO].bytes_list.value[0])
        np.testing.assert_allclose(value, expected, atol=1e-6)


def test_training_input_is_shuffled_reproducibly_by_the_seed(tiny_artifact, settings):
    spec = data.input_spec("cnn2d_mel", settings)
    files = _files(tiny_artifact, "train")

    def order(seed, cache=False):
        dataset = data.make_dataset(files, spec, 8, training=True, seed=seed, shuffle_buffer=64, cache=cache)
        return np.concatenate([y.numpy() for _, y in dataset]).tolist()

    first = order(1)
    assert first == order(1)
    assert first != order(2)
    assert len(first) == tiny_artifact["counts"]["train"]
    assert sorted(first) == sorted(order(1, cache=True)) == sorted(order(3))
    in_file_order = [f[raw.LABEL].int64_list.value[0] for f in _parsed(files)]
    assert first != in_file_order


def test_cached_input_gives_the_same_examples_every_epoch(tiny_artifact, settings):
    spec = data.input_spec("mobilenetv2_transfer", settings)
    dataset = data.make_dataset(_files(tiny_artifact, "eval"), spec, 5, training=False, cache=True)
    first = np.concatenate([x.numpy() for x, _ in dataset])
    second = np.concatenate([x.numpy() for x, _ in dataset])
    np.testing.assert_array_equal(first, second)


def test_drop_remainder_gives_static_batch_shapes(tiny_artifact, settings):
    spec = data.input_spec("cnn2d_mel", settings)
    dataset = data.make_dataset(_files(tiny_artifact, "test"), spec, 4, training=False, drop_remainder=True)
    assert dataset.element_spec[0].shape.as_list() == [4, 44, 32]
    assert sum(1 for _ in dataset) == tiny_artifact["counts"]["test"] // 4


def test_repeat_makes_the_input_endless(tiny_artifact, settings):
    spec = data.input_spec("cnn2d_mel", settings)
    dataset = data.make_dataset(_files(tiny_artifact, "eval"), spec, 4, training=True, repeat=True)
    assert sum(1 for _ in dataset.take(3 * tiny_artifact["counts"]["eval"])) == 3 * tiny_artifact["counts"]["eval"]


def test_track_ids_ride_along_for_evaluation(tiny_artifact, settings):
    spec = data.input_spec("cnn2d_mel", settings)
    files = _files(tiny_artifact, "test")
    dataset = data.make_dataset(files, spec, 4, training=False, with_track_ids=True)
    tracks = np.concatenate([t.numpy() for _, _, t in dataset]).tolist()
    assert tracks == [f[raw.TRACK_ID].int64_list.value[0] for f in _parsed(files)]


def test_cache_decision_follows_the_budget(tiny_artifact, settings):
    spec = data.input_spec("cnn2d_mel", settings)
    examples = tiny_artifact["counts"]["train"]
    size_mb = examples * spec.cached_bytes / 2**20
    assert data.should_cache(examples, spec, size_mb * 2)
    assert data.should_cache(examples, spec, size_mb)
    assert not data.should_cache(examples, spec, size_mb / 2)
    assert not data.should_cache(examples, spec, 0)


def test_no_files_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TFRecord files match"):
        data.list_files([str(tmp_path / "Split-train" / "*")])


def test_raw_examples_feed_cnn1d_but_are_refused_for_spectrogram_models(tmp_path, settings):
    waveform = 0.5 * np.sin(np.linspace(0, 2000, settings.num_samples)).astype(np.float32)
    files = testdata.write_split(str(tmp_path), "train", [raw_example(waveform)] * 3)
    with pytest.raises(ValueError, match="no \\['log_mel'\\] feature.*transformed examples"):
        data.check_examples(files, data.input_spec("cnn2d_mel", settings), "cnn2d_mel")
    spec = data.input_spec("cnn1d_raw", settings)
    data.check_examples(files, spec, "cnn1d_raw")
    ((x, y),) = list(data.make_dataset(files, spec, 3, training=False))
    np.testing.assert_allclose(x.numpy()[0], waveform, atol=1.0 / 32767)
    assert y.numpy().tolist() == [3, 3, 3]


def test_examples_from_other_settings_are_refused_in_words(tiny_artifact, settings):
    other = settings.replace(n_mels=64)
    message = "log_mel of the examples .* has 1408 values but the featurizer settings give 2816"
    with pytest.raises(ValueError, match=message):
        data.check_examples(_files(tiny_artifact, "eval"), data.input_spec("cnn2d_mel", other), "cnn2d_mel")
