"""Decoding, resampling, segmenting and every bad-input kind of one file."""
import numpy as np
import pytest

from components.audio_example_gen import audio
from components.audio_example_gen.audio import Quarantined, Reason
from pipeline.config import AudioConfig
from tests import factories

CONFIG = AudioConfig()


@pytest.mark.parametrize(
    "fmt,subtype,rate,channels",
    [
        ("WAV", "PCM_16", 44100, 2),
        ("WAV", "PCM_24", 48000, 1),
        ("WAV", "FLOAT", 8000, 2),
        ("WAV", "PCM_U8", 11025, 1),
        ("FLAC", "PCM_16", 96000, 2),
        ("FLAC", "PCM_24", 22050, 1),
        ("OGG", "VORBIS", 32000, 2),
        ("MP3", None, 44100, 2),
        ("MP3", None, 48000, 1),
    ],
)
def test_decodes_any_format_rate_depth_and_channels_to_mono_at_target_rate(fmt, subtype, rate, channels):
    data = factories.encoded(3.0, rate, channels, fmt, subtype, freq=440.0)
    ext = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "MP3": ".mp3"}[fmt]
    clip = audio.decode(data, "x" + ext, CONFIG)
    assert not isinstance(clip, Quarantined), clip
    assert clip.samples.ndim == 1 and clip.samples.dtype == np.float32
    assert clip.source_sample_rate == rate and clip.source_channels == channels
    # Length at the target rate (MP3 encoders add up to a few ms of priming/padding).
    assert abs(clip.duration(CONFIG.sample_rate) - 3.0) < 0.08
    # The tone survives: its spectral peak is at 440 Hz after resampling.
    spectrum = np.abs(np.fft.rfft(clip.samples))
    peak_hz = np.argmax(spectrum) * CONFIG.sample_rate / len(clip.samples)
    assert abs(peak_hz - 440.0) < 2.0


def test_real_fma_mp3_excerpt_decodes():
    clip = audio.decode(factories.FMA_EXCERPT.read_bytes(), str(factories.FMA_EXCERPT), CONFIG)
    assert clip.source_format == "MP3" and clip.source_sample_rate == 44100 and clip.source_channels == 2
    assert abs(clip.duration(22050) - 2.0) < 0.05
    assert np.abs(clip.samples).max() > 0.05


def test_resample_preserves_frequency_and_length():
    t = np.arange(44100) / 44100
    x = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    y = audio.resample(x, 44100, 22050)
    assert len(y) == 22050
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins over one second


def test_to_mono_averages_channels():
    stereo = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    np.testing.assert_allclose(audio.to_mono(stereo), [0.5, 0.5])


@pytest.mark.parametrize("name", sorted(factories.broken_inputs()))
def test_every_broken_input_kind_is_quarantined_with_its_reason(name):
    data, expected_reason = factories.broken_inputs()[name]
    if not audio.is_supported_extension(name):
        assert expected_reason == Reason.UNSUPPORTED_EXTENSION
        return
    result = audio.decode(data, name, CONFIG)
    if not isinstance(result, Quarantined):
        result = audio.validate(result, CONFIG)
    assert isinstance(result, Quarantined), f"{name} was accepted"
    assert result.reason == expected_reason, result
    assert result.detail and "0x" not in result.detail


def test_extension_mismatch_can_be_allowed():
    wav = factories.encoded(3.0, 22050, 1, "WAV", "PCM_16")
    clip = audio.decode(wav, "song.mp3", AudioConfig(allow_extension_mismatch=True))
    assert not isinstance(clip, Quarantined) and clip.source_format == "WAV"


def test_non_finite_samples_are_quarantined():
    x = factories.tone(3.0, 22050)
    x[100] = np.nan
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, x, 22050, format="WAV", subtype="FLOAT")
    result = audio.decode(buffer.getvalue(), "nan.wav", CONFIG)
    assert isinstance(result, Quarantined) and result.reason == Reason.NON_FINITE


def test_thresholds_come_from_config():
    clip = audio.decode(factories.encoded(1.5, 22050, 1, "WAV"), "a.wav", CONFIG)
    assert audio.validate(clip, AudioConfig(min_duration_seconds=2.0)).reason == Reason.TOO_SHORT
    assert not isinstance(audio.validate(clip, AudioConfig(min_duration_seconds=1.0)), Quarantined)
    quiet = 0.0007 * np.sin(np.arange(66150) * 0.1).astype(np.float32)  # about -66 dBFS
    decoded = audio.DecodedClip(quiet, "WAV", 22050, 1, "PCM_16")
    assert audio.validate(decoded, AudioConfig(silence_threshold_dbfs=-60)).reason == Reason.SILENT
    assert not isinstance(audio.validate(decoded, AudioConfig(silence_threshold_dbfs=-80)), Quarantined)


def test_descriptors_measure_level_and_silence():
    x = np.concatenate([np.full(22050, 0.5, np.float32), np.zeros(22050, np.float32)])
    assert audio.rms_dbfs(x) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)
    assert audio.silent_fraction(x, -60.0) == pytest.approx(0.5, abs=0.03)
    assert audio.rms_dbfs(np.zeros(10, np.float32)) == -200.0


def test_whole_clip_mode_pads_short_and_centres_long_clips():
    config = AudioConfig(sample_rate=1000, clip_seconds=0.3, segment_seconds=None)
    short = np.ones(150, np.float32)
    (only,) = audio.segment(short, config)
    assert len(only) == 300 and only[:150].sum() == 150 and only[150:].sum() == 0
    long = np.arange(500, dtype=np.float32)
    (centre,) = audio.segment(long, config)
    assert len(centre) == 300 and centre[0] == 100 and centre[-1] == 399


def test_segment_mode_cuts_consecutive_segments_and_drops_the_tail():
    config = AudioConfig(sample_rate=1000, segment_seconds=0.1, min_duration_seconds=0.05)
    segments = audio.segment(np.arange(350, dtype=np.float32), config)
    assert [s[0] for s in segments] == [0, 100, 200] and all(len(s) == 100 for s in segments)
    (padded,) = audio.segment(np.ones(60, np.float32), config)
    assert len(padded) == 100 and padded[60:].sum() == 0


def test_pcm16_round_trip_is_within_quantisation():
    x = np.linspace(-1, 1, 1001, dtype=np.float32)
    y = audio.from_pcm16(audio.to_pcm16(x))
    assert np.max(np.abs(x - y)) <= 1 / 32767
    assert len(audio.to_pcm16(x)) == 2 * len(x)
    assert audio.from_pcm16(audio.to_pcm16(np.array([2.0, -3.0]))).tolist() == [1.0, -1.0]


def test_unreadable_path_is_quarantined(tmp_path):
    result = audio.read_bytes(str(tmp_path / "does-not-exist.mp3"), 100)
    assert isinstance(result, Quarantined) and result.reason == Reason.READ_ERROR


def test_oversized_file_is_quarantined_unread(tmp_path):
    path = tmp_path / "huge.wav"
    path.write_bytes(bytes(3 * 2**20))
    result = audio.read_bytes(str(path), max_megabytes=2)
    assert isinstance(result, Quarantined) and result.reason == Reason.TOO_LARGE and "3 MiB" in result.detail
    assert audio.read_bytes(str(path), max_megabytes=4) == bytes(3 * 2**20)
