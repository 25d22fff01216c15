"""Whole-track prediction: segments cut as AudioExampleGen cuts them, probabilities averaged."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.keras_trainer import serving
from components.keras_trainer.track_prediction import predict_track, segment_config
from components.waveform import segment
from tests.helpers.keras_trainer import VIBE_ACE, real_clip, small_config

GENRES = small_config().genres
N = 22050  # the tiny model's segment: 1 s at 22.05 kHz


def _serve(served, waveforms):
    return served.signatures[serving.SERVING_DEFAULT](waveform=tf.constant(np.asarray(waveforms, np.float32)))


def test_a_track_is_the_mean_of_its_segments(served):
    track = real_clip(VIBE_ACE, 20.0, samples=int(3.6 * N))  # 3 whole segments and a dropped partial tail
    prediction = predict_track(served, track, batch_size=2)  # several batches
    manual = _serve(served, [track[i * N : (i + 1) * N] for i in range(3)])[serving.PROBABILITIES].numpy()
    assert prediction.segment_probabilities.shape == (3, 8)
    np.testing.assert_allclose(prediction.segment_probabilities, manual, atol=1e-6)
    np.testing.assert_allclose(prediction.probabilities, manual.mean(axis=0), atol=1e-6)
    assert prediction.genre == GENRES[int(np.argmax(manual.mean(axis=0)))]
    assert prediction.segment_genres == [GENRES[i] for i in manual.argmax(axis=1)]
    np.testing.assert_allclose(prediction.probabilities.sum(), 1.0, rtol=1e-5)


def test_segments_are_audio_example_gens(served):
    config = segment_config(22050, N)
    assert config.example_samples == N
    track = real_clip(VIBE_ACE, 0.0, samples=int(2.5 * N))
    expected = np.stack(segment(track, config))
    assert expected.shape == (2, N)
    np.testing.assert_allclose(
        predict_track(served, track).segment_probabilities,
        _serve(served, expected)[serving.PROBABILITIES].numpy(),
        atol=1e-6,
    )


def test_a_track_shorter_than_a_segment_is_zero_padded_into_one(served):
    short = real_clip(VIBE_ACE, 5.0, samples=9000)
    prediction = predict_track(served, short)
    padded = np.zeros(N, np.float32)
    padded[:9000] = short
    expected = _serve(served, [padded])[serving.PROBABILITIES].numpy()
    assert prediction.segment_probabilities.shape == (1, 8)
    np.testing.assert_allclose(prediction.probabilities, expected[0], atol=1e-6)


def test_stereo_is_downmixed_like_audio_example_gen(served):
    left = real_clip(VIBE_ACE, 30.0, samples=2 * N)
    right = real_clip(VIBE_ACE, 40.0, samples=2 * N)
    stereo = predict_track(served, np.stack([left, right], axis=1))
    mono = predict_track(served, (left + right) / 2)
    np.testing.assert_allclose(stereo.probabilities, mono.probabilities, atol=1e-6)


@pytest.mark.parametrize(
    "bad, message", [(np.zeros(0), "non-empty"), (np.full(N, np.nan), "NaN"), (np.zeros((2, 3, 4)), "mono")]
)
def test_unusable_waveforms_are_refused(served, bad, message):
    with pytest.raises(ValueError, match=message):
        predict_track(served, bad)


def test_segments_streamed_from_a_generator_give_the_same_track_prediction(served):
    """predict_segments keeps a running sum (issue 11): fed a generator, without keeping per-segment
    outputs, it gives predict_track's mean, and it never needs the whole track."""
    from components.keras_trainer.track_prediction import predict_segments
    from components.waveform import iter_segments

    track = real_clip(VIBE_ACE, 0.0, samples=int(7.5 * N))
    whole = predict_track(served, track, batch_size=3)
    blocks = (track[i : i + 5000] for i in range(0, len(track), 5000))
    streamed = predict_segments(
        served, iter_segments(blocks, segment_config(22050, N)), batch_size=3, keep_segments=False
    )
    assert streamed.num_segments == whole.num_segments == 7
    assert streamed.segment_probabilities is None and streamed.segment_genres is None
    np.testing.assert_allclose(streamed.probabilities, whole.probabilities, atol=1e-6)
    assert streamed.genre == whole.genre
    with pytest.raises(ValueError, match="no segments"):
        predict_segments(served, iter([]))
