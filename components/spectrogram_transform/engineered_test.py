"""Engineered features: FMA's names and column order, the values behind the names, and bad input."""

import re

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy import stats

from components.spectrogram_transform import engineered
from tests.helpers import factories

SR = 22050


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    """3 s of real music (the Vibe Ace fixture, 22.05 kHz mono)."""
    samples, rate = sf.read(str(factories.VIBE_ACE), dtype="float32", frames=13 * SR)
    assert rate == SR
    return samples[10 * SR :]


def fma_columns() -> list[str]:
    """FMA's features.csv columns, built the way FMA's `features.columns()` builds them."""
    moments = ("mean", "std", "skew", "kurtosis", "median", "min", "max")
    columns = [
        (name, moment, f"{i + 1:02d}")
        for name, size in engineered.FMA_FEATURE_SIZES.items()
        for moment in moments
        for i in range(size)
    ]
    index = pd.MultiIndex.from_tuples(columns, names=("feature", "statistics", "number")).sort_values()
    return ["/".join(c) for c in index]


def test_fma_preset_has_fmas_518_columns_in_fmas_order():
    names = engineered.feature_names("fma")
    assert len(names) == 518 == len(set(names))
    assert names == fma_columns()
    assert names[0] == "chroma_cens/kurtosis/01" and names[-1] == "zcr/std/01"
    assert all(re.fullmatch(r"[a-z_]+/(kurtosis|max|mean|median|min|skew|std)/\d\d", n) for n in names)
    assert "rmse/mean/01" in names and not any(n.startswith("rms/") for n in names)
    assert sum(n.startswith("mfcc/") for n in names) == 20 * 7


def test_quick_preset_is_fmas_stft_part_in_the_same_order():
    quick, fma = engineered.feature_names("quick"), engineered.feature_names("fma")
    assert len(quick) == 308 == len(set(quick))
    assert quick == [n for n in fma if n.split("/")[0] not in ("chroma_cqt", "chroma_cens", "tonnetz")]


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown engineered preset 'full'"):
        engineered.feature_names("full")


@pytest.mark.parametrize("preset", ["fma", "quick"])
def test_values_are_finite_and_plausible_on_real_music(music, preset):
    vector = engineered.compute(music, SR, preset)
    assert vector.dtype == np.float32 and vector.shape == (len(engineered.feature_names(preset)),)
    assert np.all(np.isfinite(vector))
    values = dict(zip(engineered.feature_names(preset), vector))
    assert 200 < values["spectral_centroid/mean/01"] < SR / 2
    assert 0 < values["rmse/mean/01"] < 1 and 0 < values["zcr/mean/01"] < 1
    assert (
        values["spectral_rolloff/min/01"] <= values["spectral_rolloff/median/01"] <= values["spectral_rolloff/max/01"]
    )


def test_each_name_holds_that_statistic_of_that_librosa_feature(music):
    """Recompute a sample of columns directly with librosa + numpy/scipy, as FMA's code does."""
    values = dict(zip(engineered.feature_names("fma"), engineered.compute(music, SR, "fma")))
    stft = np.abs(librosa.stft(music, n_fft=2048, hop_length=512))
    cqt = np.abs(librosa.cqt(music, sr=SR, hop_length=512, bins_per_octave=12, n_bins=84, tuning=None))
    cens = librosa.feature.chroma_cens(C=cqt, n_chroma=12, n_octaves=7, bins_per_octave=12)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(librosa.feature.melspectrogram(sr=SR, S=stft**2)), n_mfcc=20)
    expected = {
        "mfcc/mean/01": np.mean(mfcc[0]),
        "mfcc/std/20": np.std(mfcc[19]),
        "spectral_contrast/median/07": np.median(librosa.feature.spectral_contrast(S=stft, n_bands=6)[6]),
        "zcr/max/01": np.max(librosa.feature.zero_crossing_rate(music, frame_length=2048, hop_length=512)),
        "chroma_cqt/mean/10": np.mean(librosa.feature.chroma_cqt(C=cqt, n_chroma=12, bins_per_octave=12)[9]),
        "tonnetz/kurtosis/06": stats.kurtosis(librosa.feature.tonnetz(chroma=cens)[5].astype(np.float64)),
        "rmse/skew/01": stats.skew(librosa.feature.rms(S=stft)[0].astype(np.float64)),
        "chroma_stft/min/03": np.min(librosa.feature.chroma_stft(S=stft**2, n_chroma=12)[2]),
    }
    for name, value in expected.items():
        assert values[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name


@pytest.mark.parametrize("frequency, pitch_class", [(440.0, 9), (261.63, 0), (392.0, 7)])  # A4, C4, G4
def test_chroma_peaks_at_the_pitch_class_of_a_pure_tone(frequency, pitch_class):
    t = np.arange(3 * SR) / SR
    tone = (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    values = dict(zip(engineered.feature_names("fma"), engineered.compute(tone, SR, "fma")))
    for chroma in ("chroma_stft", "chroma_cqt", "chroma_cens"):
        means = [values[f"{chroma}/mean/{k + 1:02d}"] for k in range(12)]
        assert int(np.argmax(means)) == pitch_class, (chroma, np.round(means, 2))


@pytest.mark.parametrize("preset", ["fma", "quick"])
def test_silence_gives_finite_features_with_zero_skew_and_kurtosis(preset):
    vector = engineered.compute(np.zeros(3 * SR, np.float32), SR, preset)
    assert np.all(np.isfinite(vector))
    values = dict(zip(engineered.feature_names(preset), vector))
    assert values["rmse/max/01"] == 0 and values["zcr/mean/01"] == 0
    # Every feature of silence is constant over time: its shape statistics are defined as 0.
    assert all(v == 0 for n, v in values.items() if "/skew/" in n or "/kurtosis/" in n)


def test_statistics_match_scipy_and_replace_nan_of_constant_rows():
    rows = np.array([[1.0, 2.0, 4.0, 8.0, 3.0], [5.0, 5.0, 5.0, 5.0, 5.0]])
    result = engineered.row_statistics(rows)
    assert result["skew"][0] == pytest.approx(stats.skew(rows[0]))
    assert result["kurtosis"][0] == pytest.approx(stats.kurtosis(rows[0]))
    assert result["skew"][1] == 0 and result["kurtosis"][1] == 0
    assert result["std"][1] == 0 and result["median"][0] == 3.0 and result["max"][0] == 8.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_refused_with_their_quarantine_reason(music, bad):
    corrupt = music.copy()
    corrupt[[100, 5000]] = bad
    with pytest.raises(engineered.NonFiniteAudio, match="2 of 66150 samples are NaN or infinite") as error:
        engineered.compute(corrupt, SR, "quick")
    assert error.value.reason == "non_finite_audio"


def test_audio_shorter_than_one_window_is_refused():
    with pytest.raises(engineered.AudioTooShort, match="fewer than one 2048-sample analysis window") as error:
        engineered.compute(np.ones(1000, np.float32), SR, "fma")
    assert error.value.reason == "too_short"


def test_short_but_usable_audio_gives_finite_features(music):
    vector = engineered.compute(music[: SR // 2], SR, "fma")  # 0.5 s: transform.min_seconds' default
    assert np.all(np.isfinite(vector))
