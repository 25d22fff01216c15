"""Band-limited resampling inside the TensorFlow graph, so a model can take the pipeline's waveform (22.05 kHz
by default) and still see the rate its pretrained weights expect (musicnn: 16 kHz) in the one graph that
training and serving share.

A polyphase Kaiser-windowed sinc: for a rate change up/down (in lowest terms), output block j (`up` samples)
is a fixed linear map of the input samples around input block j (`down` samples), so the whole resampler is
`tf.signal.frame` plus one matmul with a constant matrix built here in numpy. The filter imitates soxr's "HQ"
recipe, which ingestion (components/audio_example_gen/audio.py) and librosa.load use: linear phase, output
sample 0 aligned with input sample 0, flat to ~0.92 of the lower rate's Nyquist, -6 dB at ~0.957, below
-50 dB from ~0.99 (soxr HQ's response, measured on white noise). Its parameters were fitted to soxr on real
music (22.05 -> 16 kHz, 25 s of three fixture clips): max abs difference 3.2e-5 on a [-1, 1] signal (~ -90 dB;
components/resampling_test.py); 11 ms per 30 s clip on one core (soxr: 4 ms). Outside the clip the signal is
zero, as for soxr's one-shot resample() (which also bends its own first two output samples when a clip starts
abruptly; the graph does not).
"""

from __future__ import annotations

import functools
import math

import numpy as np

# -6 dB point as a fraction of the lower rate's Nyquist, Kaiser beta and half-length of the filter in seconds
# (5.8 ms = 128 taps each side at 22.05 kHz): the fit to soxr HQ described above.
CUTOFF = 0.9568
KAISER_BETA = 11.5
HALF_WIDTH_SECONDS = 128 / 22050


def _tf():
    import tensorflow as tf  # imported lazily, like components/featurizer.py

    return tf


def rate_ratio(source_rate: int, target_rate: int) -> tuple[int, int]:
    """(up, down): target / source in lowest terms."""
    g = math.gcd(int(source_rate), int(target_rate))
    return int(target_rate) // g, int(source_rate) // g


def resampled_length(num_samples: int, source_rate: int, target_rate: int) -> int:
    """ceil(num_samples * target / source): what soxr and librosa.resample return."""
    up, down = rate_ratio(source_rate, target_rate)
    return -(-num_samples * up // down)


@functools.lru_cache(maxsize=8)
def polyphase_matrix(source_rate: int, target_rate: int) -> tuple[np.ndarray, int]:
    """([down + 2 * half_width, up] float32, half_width): column p holds the taps of output phase p over one
    input frame that starts half_width samples before its input block."""
    up, down = rate_ratio(source_rate, target_rate)
    half_width = int(round(HALF_WIDTH_SECONDS * source_rate))
    # Cutoff in cycles per input sample, times 2: the sinc's scale (its sum over the taps is ~1, unit DC gain).
    scale = CUTOFF * min(source_rate, target_rate) / source_rate
    taps = np.arange(-half_width + 1, half_width + 1)
    matrix = np.zeros((down + 2 * half_width, up), np.float64)
    for phase in range(up):
        position = phase * down / up  # where output sample `phase` falls, in input samples from the block start
        base = math.floor(position)
        offset = taps - (position - base)
        window = np.i0(KAISER_BETA * np.sqrt(np.clip(1.0 - (offset / half_width) ** 2, 0.0, None))) / np.i0(KAISER_BETA)
        matrix[base + taps + half_width, phase] = scale * np.sinc(scale * offset) * window
    return matrix.astype(np.float32), half_width


def resample(waveform, source_rate: int, target_rate: int):
    """float32 [batch, samples] at source_rate -> [batch, resampled_length(samples)] at target_rate."""
    tf = _tf()
    if source_rate == target_rate:
        return waveform
    up, down = rate_ratio(source_rate, target_rate)
    matrix, half_width = polyphase_matrix(source_rate, target_rate)
    static = waveform.shape[1]
    # Lengths in int64 when only known at run time: samples * up overflows int32 beyond ~2 min at 22.05 kHz.
    samples = static if static is not None else tf.shape(waveform, out_type=tf.int64)[1]
    out_samples = (samples * up + down - 1) // down
    blocks = (out_samples + up - 1) // up
    right = blocks * down + half_width - samples  # >= half_width: every block's frame lies inside the padding
    padded = tf.pad(waveform, [[0, 0], [half_width, right]])
    frames = tf.signal.frame(padded, matrix.shape[0], down, axis=-1)  # [batch, blocks, down + 2 * half_width]
    out = tf.reshape(tf.tensordot(frames, tf.constant(matrix), axes=1), [tf.shape(waveform)[0], -1])
    out = out[:, :out_samples]
    if static is not None:
        out.set_shape([waveform.shape[0], out_samples])
    return out
