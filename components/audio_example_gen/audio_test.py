"""Decoding, resampling, segmenting and every bad-input kind of one file."""

import numpy as np
import pydantic
import pytest

from components.audio_example_gen import audio
from components.audio_example_gen.audio import Quarantined, Reason
from components.audio_example_gen.settings import AudioConfig
from components.formats.examples import from_pcm16, to_pcm16
from pipeline import component_settings
from tests.helpers import factories

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
    y = from_pcm16(to_pcm16(x))
    assert np.max(np.abs(x - y)) <= 1 / 32767
    assert len(to_pcm16(x)) == 2 * len(x)
    assert from_pcm16(to_pcm16(np.array([2.0, -3.0]))).tolist() == [1.0, -1.0]


def test_unreadable_path_is_quarantined(tmp_path):
    result = audio.read_bytes(str(tmp_path / "does-not-exist.mp3"), 100)
    assert isinstance(result, Quarantined) and result.reason == Reason.READ_ERROR


def test_oversized_file_is_quarantined_unread(tmp_path):
    path = tmp_path / "huge.wav"
    path.write_bytes(bytes(3 * 2**20))
    result = audio.read_bytes(str(path), max_megabytes=2)
    assert isinstance(result, Quarantined) and result.reason == Reason.TOO_LARGE and "3 MiB" in result.detail
    assert audio.read_bytes(str(path), max_megabytes=4) == bytes(3 * 2**20)


# -- streaming (issue 11, item 1): block-wise decode, validation and segmenting give the whole-file results
def _whole_file_decode(data: bytes, rate: int) -> np.ndarray:
    """What decode() did before it streamed: every frame at once, downmixed, resampled in one call."""
    import io

    import soundfile as sf

    samples, source_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return audio.resample(audio.to_mono(samples), source_rate, rate)


@pytest.mark.parametrize(
    "fmt,rate,channels", [("WAV", 44100, 2), ("FLAC", 48000, 1), ("OGG", 22050, 2), ("MP3", 44100, 2)]
)
def test_block_wise_decode_equals_decoding_the_whole_file(fmt, rate, channels, monkeypatch):
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 5000)  # many blocks, none aligned with anything
    monkeypatch.setattr(audio, "DECODE_BLOCK_FRAMES", 5000)
    data = factories.encoded(4.0, rate, channels, fmt)
    clip = audio.decode(data, "x." + fmt.lower(), CONFIG)
    expected = _whole_file_decode(data, CONFIG.sample_rate)
    assert clip.samples.dtype == np.float32 and len(clip.samples) == len(expected)
    np.testing.assert_allclose(clip.samples, expected, atol=1e-6)


def test_streaming_segments_equal_whole_clip_segments():
    config = AudioConfig(segment_seconds=3.0)
    clip = audio.decode(factories.FMA_EXCERPT.read_bytes(), "x.mp3", CONFIG).samples  # 2 s: one padded segment
    long = np.concatenate([clip] * 6)  # 12 s: four segments, no tail
    tail = np.concatenate([long, clip[:5000]])  # and a dropped partial tail
    rng = np.random.default_rng(0)
    for samples in (clip, long, tail, clip[:10]):
        cuts = np.sort(rng.integers(0, len(samples), 7))
        blocks = np.split(samples, cuts)  # uneven blocks, some empty
        streamed = list(audio.iter_segments(blocks, config))
        whole = audio.segment(samples, config)
        assert len(streamed) == len(whole)
        for a, b in zip(streamed, whole):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="segment mode"):
        list(audio.iter_segments([clip], AudioConfig(segment_seconds=None)))


@pytest.mark.parametrize(
    "samples",
    [
        factories.tone(7.3, 22050)[:, 0],
        np.concatenate([np.zeros(22050 * 5, np.float32), factories.tone(0.2, 22050)[:, 0]]),  # silent
        factories.tone(1.0, 22050)[:, 0],  # too short
        0.0007 * np.sin(np.arange(66150) * 0.1).astype(np.float32),  # quiet: silent at -60 dBFS
    ],
)
def test_running_validation_gives_validates_verdict_block_by_block(samples):
    whole = audio.validate(audio.DecodedClip(samples, "WAV", 22050, 1, "PCM_16"), CONFIG)
    checks = audio.RunningValidation(CONFIG)
    for block in np.split(samples, [1, 3000, 3001, 50000, 50000, 90001]):
        checks.add(block)
    streamed = checks.result()
    assert type(streamed) is type(whole)
    if isinstance(whole, Quarantined):
        assert streamed == whole
    else:
        assert streamed.duration_seconds == whole.duration_seconds
        assert streamed.silent_fraction == whole.silent_fraction
        assert streamed.rms_dbfs == pytest.approx(whole.rms_dbfs, abs=1e-4)


def test_audio_longer_than_the_bound_is_quarantined_too_long():
    data = factories.encoded(5.0, 8000, 1, "FLAC")
    result = audio.decode(data, "long.flac", AudioConfig(max_decoded_seconds=4.0))
    assert isinstance(result, Quarantined) and result.reason == Reason.TOO_LONG == "too_long"
    assert "5 s" in result.detail and "4 s" in result.detail
    assert not isinstance(audio.decode(data, "long.flac", AudioConfig(max_decoded_seconds=5.0)), Quarantined)
    with pytest.raises(pydantic.ValidationError, match="greater than 0"):
        AudioConfig(max_decoded_seconds=0)


def test_decoding_stops_at_the_bound_even_when_the_header_does_not_declare_the_length(monkeypatch):
    """A stream whose header declares no (or a wrong) length is cut off just past the bound, not decoded."""
    import io

    import soundfile as sf

    monkeypatch.setattr(audio, "BLOCK_FRAMES", 1000)
    sound = sf.SoundFile(io.BytesIO(factories.encoded(5.0, 8000, 1, "WAV")))
    stream = audio.DecodeStream(sound, AudioConfig(), max_frames=2 * 8000, max_seconds=2.0)
    with stream, pytest.raises(audio.Refused) as refused:
        for _ in stream:
            pass
    assert refused.value.quarantined.reason == Reason.TOO_LONG
    assert stream.frames_read == 2 * 8000 + 1  # one frame past the bound, never the rest of the file


def test_ingestion_quarantines_a_file_over_the_decoded_length_bound(tmp_path):
    """AudioExampleGen's per-file step (ingest.process_item): a 61.5 s track is too_long under a 60 s bound,
    with no examples, and ingested under the default bound."""
    from components.audio_example_gen import ingest
    from components.audio_example_gen.sources import SourceItem
    from pipeline.config import load_config

    item = SourceItem(str(factories.VIBE_ACE), factories.VIBE_ACE.name, 7, 3, "Rock", 1, "train")
    config = load_config(None, [])
    bounded = component_settings.ingest_settings(load_config(None, ["audio.max_decoded_seconds=60"]))
    outcome, examples = ingest.process_item(item, bounded)
    assert (outcome.status, outcome.reason, examples) == ("quarantined", "too_long", [])
    assert "over the 60 s limit (audio.max_decoded_seconds)" in outcome.detail
    outcome, examples = ingest.process_item(item, component_settings.ingest_settings(config))
    assert outcome.status == "ok" and len(examples) == 20  # 61.5 s in 3 s segments


def test_a_stream_opens_from_bytes_a_path_or_a_file_object(tmp_path):
    path = tmp_path / "x.flac"
    path.write_bytes(factories.encoded(2.5, 44100, 2, "FLAC"))
    decoded = []
    with open(path, "rb") as handle:
        for source in (path.read_bytes(), str(path), handle):
            with audio.open_stream(source, str(path), CONFIG) as stream:
                decoded.append(np.concatenate(list(stream)))
    assert len(decoded[0]) == int(2.5 * CONFIG.sample_rate)
    for other in decoded[1:]:
        np.testing.assert_array_equal(other, decoded[0])
    (tmp_path / "empty.wav").write_bytes(b"")
    assert audio.open_stream(str(tmp_path / "empty.wav"), "empty.wav", CONFIG).reason == Reason.EMPTY_FILE
