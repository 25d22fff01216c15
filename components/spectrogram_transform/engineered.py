"""Engineered features: FMA's `features.csv` set (librosa), and a cheaper preset without the CQT.

Preset "fma" follows FMA's `compute_features` (fma/features.py): zero-crossing rate; a CQT magnitude
(hop 512, 12 bins per octave, 7 octaves from C1, tuning estimated) feeding chroma_cqt, chroma_cens and
tonnetz (of chroma_cens); an STFT magnitude (n_fft 2048, hop 512) feeding chroma_stft (of its power),
rms, spectral centroid, bandwidth, contrast (6 bands = 7 values) and rolloff; MFCC (20) of the dB of a
128-band mel spectrogram of the STFT power. Each feature row is summarised by 7 statistics (mean, std,
skew, kurtosis, median, min, max): 74 rows x 7 = 518 values.

Names are "feature/statistic/NN" (NN from 01) in the order of FMA's features.csv columns: FMA builds a
(feature, statistics, number) MultiIndex and sorts it, so features, then statistics, are in alphabetical
order ("chroma_cens/kurtosis/01" first, "zcr/std/01" last). RMS keeps FMA's name "rmse".

Where this differs from FMA (see README.md):
- the audio is the example's, at the pipeline's sample rate (22.05 kHz), not the full track at its
  native rate (mostly 44.1 kHz);
- librosa 0.11 instead of 0.5/0.6: `rmse` became `rms`; chroma_cqt/chroma_cens now assume 36 CQT
  bins per octave unless told, so `bins_per_octave=12` is passed to keep FMA's 12-bin CQT mapping; cqt's
  default tuning became 0.0, so `tuning=None` (estimated, as FMA's librosa did) is passed;
- statistics are taken in float64 (FMA: float32), and where a row is constant (silence, for example)
  skew and kurtosis are 0 instead of NaN (scipy gives NaN for zero variance).

Preset "quick" keeps the STFT-based rows (chroma_stft, mfcc, rmse, zcr and the spectral descriptors:
44 rows x 7 = 308 values) and skips the CQT, which is most of the cost.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

N_FFT = 2048
HOP_LENGTH = 512
STATISTICS = ("mean", "std", "skew", "kurtosis", "median", "min", "max")

# FMA's feature rows (features.csv names and sizes).
FMA_FEATURE_SIZES = {
    "chroma_stft": 12,
    "chroma_cqt": 12,
    "chroma_cens": 12,
    "tonnetz": 6,
    "mfcc": 20,
    "rmse": 1,
    "zcr": 1,
    "spectral_centroid": 1,
    "spectral_bandwidth": 1,
    "spectral_contrast": 7,
    "spectral_rolloff": 1,
}
_CQT_FEATURES = ("chroma_cqt", "chroma_cens", "tonnetz")
PRESETS = {
    "fma": tuple(FMA_FEATURE_SIZES),
    "quick": tuple(f for f in FMA_FEATURE_SIZES if f not in _CQT_FEATURES),
}


class EngineeredFeatureError(ValueError):
    """The input cannot give a finite feature vector; `reason` is the quarantine reason."""

    reason = "engineered_features_failed"


class NonFiniteAudio(EngineeredFeatureError):
    reason = "non_finite_audio"


class AudioTooShort(EngineeredFeatureError):
    reason = "too_short"


class NonFiniteFeatures(EngineeredFeatureError):
    reason = "non_finite_features"


def _check_preset(preset: str) -> None:
    if preset not in PRESETS:
        raise ValueError(f"unknown engineered preset {preset!r}; choose from {sorted(PRESETS)}")


@functools.cache
def _columns(preset: str) -> tuple[tuple[str, str, int], ...]:
    """(feature, statistic, row index) in FMA's sorted column order."""
    _check_preset(preset)
    columns = [(f, s, f"{i + 1:02d}") for f in PRESETS[preset] for s in STATISTICS for i in range(FMA_FEATURE_SIZES[f])]
    return tuple((f, s, int(n) - 1) for f, s, n in sorted(columns))


def feature_names(preset: str) -> list[str]:
    """["chroma_cens/kurtosis/01", ...]: one name per value of `compute(..., preset)`, FMA's order."""
    return [f"{f}/{s}/{i + 1:02d}" for f, s, i in _columns(preset)]


def _feature_rows(y: np.ndarray, sr: int, preset: str) -> dict[str, np.ndarray]:
    """FMA's recipe: each feature as a [rows, frames] matrix."""
    import librosa

    rows = {"zcr": librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP_LENGTH)}
    if preset == "fma":
        cqt = np.abs(librosa.cqt(y, sr=sr, hop_length=HOP_LENGTH, bins_per_octave=12, n_bins=7 * 12, tuning=None))
        rows["chroma_cqt"] = librosa.feature.chroma_cqt(C=cqt, n_chroma=12, n_octaves=7, bins_per_octave=12)
        rows["chroma_cens"] = librosa.feature.chroma_cens(C=cqt, n_chroma=12, n_octaves=7, bins_per_octave=12)
        rows["tonnetz"] = librosa.feature.tonnetz(chroma=rows["chroma_cens"])
    stft = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH))
    rows["chroma_stft"] = librosa.feature.chroma_stft(S=stft**2, n_chroma=12)
    rows["rmse"] = librosa.feature.rms(S=stft)
    rows["spectral_centroid"] = librosa.feature.spectral_centroid(S=stft)
    rows["spectral_bandwidth"] = librosa.feature.spectral_bandwidth(S=stft)
    rows["spectral_contrast"] = librosa.feature.spectral_contrast(S=stft, n_bands=6)
    rows["spectral_rolloff"] = librosa.feature.spectral_rolloff(S=stft)
    # librosa.feature.melspectrogram(sr=sr, S=stft**2) with its filter bank built once per rate, not per example
    mel = np.einsum("...ft,mf->...mt", stft**2, _mel_basis(sr), optimize=True)
    rows["mfcc"] = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20)
    return rows


@functools.cache
def _mel_basis(sr: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=N_FFT)


def row_statistics(values: np.ndarray) -> dict[str, np.ndarray]:
    """The 7 statistics of each row of a [rows, frames] matrix: scipy's biased skew and Fisher kurtosis (as
    FMA), computed from the central moments directly (scipy.stats' wrappers cost ~25 ms an example). Skew and
    kurtosis are 0 for rows that are constant to within float precision: scipy returns NaN there (its
    "catastrophic cancellation" rule, applied here the same way), the only way a finite row makes them
    non-finite."""
    values = np.asarray(values, dtype=np.float64)
    mean = np.mean(values, axis=1)
    centred = values - mean[:, None]
    squared = centred * centred
    m2 = np.mean(squared, axis=1)
    m3 = np.mean(squared * centred, axis=1)
    m4 = np.mean(squared * squared, axis=1)
    constant = m2 <= (np.finfo(np.float64).resolution * mean) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = m3 / m2**1.5
        kurtosis = m4 / m2**2 - 3.0
    return {
        "mean": mean,
        "std": np.std(values, axis=1),
        "skew": np.where(constant | ~np.isfinite(skew), 0.0, skew),
        "kurtosis": np.where(constant | ~np.isfinite(kurtosis), 0.0, kurtosis),
        "median": np.median(values, axis=1),
        "min": np.min(values, axis=1),
        "max": np.max(values, axis=1),
    }


def compute(waveform: np.ndarray, sample_rate: int, preset: str) -> np.ndarray:
    """The feature vector (float32, one value per `feature_names(preset)`) of a mono waveform.

    Raises NonFiniteAudio for NaN/Inf samples, AudioTooShort under one FFT window (2048 samples), and
    NonFiniteFeatures if a value still comes out non-finite; the transform quarantines on these.
    """
    _check_preset(preset)
    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected a mono waveform (1-D), got shape {y.shape}")
    bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
    if bad:
        raise NonFiniteAudio(f"{bad} of {y.size} samples are NaN or infinite")
    if y.size < N_FFT:
        raise AudioTooShort(f"{y.size} samples, fewer than one {N_FFT}-sample analysis window")
    with warnings.catch_warnings():
        # librosa warns when a CQT octave's filters are longer than the (short) signal; the result stays valid.
        warnings.simplefilter("ignore", UserWarning)
        rows = _feature_rows(y, sample_rate, preset)
    statistics = {name: row_statistics(matrix) for name, matrix in rows.items()}
    vector = np.array([statistics[f][s][i] for f, s, i in _columns(preset)], dtype=np.float32)
    if not np.all(np.isfinite(vector)):
        names = [n for n, v in zip(feature_names(preset), vector) if not np.isfinite(v)]
        raise NonFiniteFeatures(f"{len(names)} non-finite values, e.g. {names[:5]}")
    return vector
