"""The in-graph resampler against soxr HQ (what ingestion and librosa.load use) on real music."""

import numpy as np
import pytest
import soundfile as sf
import soxr
import tensorflow as tf

from components import resampling
from tests.helpers.factories import DRUM_BASS, VIBE_ACE


@pytest.fixture(scope="module")
def music():
    # 10 s of each clip (22.05 kHz mono), from 5 s in.
    return np.stack([sf.read(path, dtype="float32", start=110250, frames=220500)[0] for path in (VIBE_ACE, DRUM_BASS)])


@pytest.mark.parametrize("rates", [(22050, 16000), (44100, 16000), (48000, 16000)])
def test_matches_soxr_hq_on_music(music, rates):
    source, target = rates
    # The clips at the source rate (soxr's own upsampling of the 22.05 kHz originals where needed).
    clips = np.stack([soxr.resample(c, 22050, source, quality="HQ") for c in music]).astype(np.float32)
    ours = resampling.resample(tf.constant(clips), source, target).numpy()
    # soxr's one-shot resample() bends its first two output samples (by 2e-3 here): it is compared with silence
    # (0.2 s) around the clip, which is what the graph's zero padding means.
    pad, out_pad = source // 5, target // 5
    padded = np.pad(clips, [(0, 0), (pad, pad)])
    reference = np.stack([soxr.resample(c, source, target, quality="HQ")[out_pad:-out_pad] for c in padded])
    assert ours.shape == reference.shape == (2, resampling.resampled_length(clips.shape[1], source, target))
    # Measured 3.2e-5 (22.05 and 44.1 kHz) and 5.1e-5 (48 kHz) on 30 s of three clips peaking at 0.7-0.8:
    # ~ -90 dB, the filters' difference in the 7.3-8 kHz transition band.
    np.testing.assert_allclose(ours, reference, rtol=0, atol=6e-5)


def test_any_length_at_run_time_and_identity(music):
    clip = music[:, :12345]  # a length that ends inside a block
    static = resampling.resample(tf.constant(clip), 22050, 16000).numpy()
    dynamic = tf.function(
        lambda w: resampling.resample(w, 22050, 16000), input_signature=[tf.TensorSpec([None, None], tf.float32)]
    )(tf.constant(clip)).numpy()
    assert static.shape == (2, 8958) == (2, len(soxr.resample(clip[0], 22050, 16000)))
    np.testing.assert_array_equal(static, dynamic)
    np.testing.assert_array_equal(resampling.resample(tf.constant(clip), 16000, 16000).numpy(), clip)
