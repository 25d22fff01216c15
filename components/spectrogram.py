"""The spectrogram maths both TensorFlow front ends share: the log-mel featurizer (components/featurizer.py) and
musicnn's front end (components/musicnn.py). A mel filter bank in numpy (librosa's, Slaney or HTK scale), and
the mel power of a waveform in TensorFlow (librosa's `melspectrogram(power=2)` defaults). TensorFlow is
imported only when a graph is built.
"""

from __future__ import annotations

import numpy as np


def hz_to_mel(frequencies, scale: str) -> np.ndarray:
    f = np.asarray(frequencies, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    # Slaney's Auditory Toolbox: linear below 1 kHz, logarithmic above.
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(mels, scale: str) -> np.ndarray:
    m = np.asarray(mels, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filter_bank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, scale: str = "slaney"
) -> np.ndarray:
    """[n_fft // 2 + 1, n_mels] triangular filters, area-normalised (Slaney), float32: librosa.filters.mel."""
    fft_frequencies = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges_mel = np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), n_mels + 2)
    edges = mel_to_hz(edges_mel, scale)
    widths = np.diff(edges)
    distance = edges[:, None] - fft_frequencies[None, :]
    rising = -distance[:-2] / widths[:-1, None]
    falling = distance[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.T.astype(np.float32)


def mel_power(waveform, mel_matrix, n_fft: int, hop_length: int):
    """float32 [batch, samples] -> mel power [batch, 1 + samples // hop_length, n_mels]: librosa's
    `melspectrogram(power=2)` with its defaults (centred frames, zero padding, periodic Hann window).
    The log-mel featurizer (components/featurizer.py) and musicnn's front end (components/musicnn.py) both
    compute their spectrograms here."""
    import tensorflow as tf  # lazily: Beam workers and the CLI import the settings that import this module

    pad = n_fft // 2
    padded = tf.pad(waveform, [[0, 0], [pad, pad]])
    stft = tf.signal.stft(
        padded, frame_length=n_fft, frame_step=hop_length, fft_length=n_fft, window_fn=tf.signal.hann_window
    )
    power = tf.math.square(tf.math.real(stft)) + tf.math.square(tf.math.imag(stft))
    return tf.tensordot(power, mel_matrix, axes=1)
