"""The one configuration object: defaults, YAML, overrides and clear errors."""
import pydantic
import pytest

from pipeline.config import CONFIG_ENV_VAR, FMA_SMALL_GENRES, PROJECT_ROOT, load_config


def test_defaults_describe_fma_small_and_the_demo_data():
    config = load_config()
    assert config.genres == FMA_SMALL_GENRES and len(config.genres) == 8
    assert config.dataset.uses_demo
    assert config.audio_root == str(PROJECT_ROOT / "data" / "demo" / "fma_small")
    assert config.audio.example_samples == 3 * 22050  # 3 s segments of the 30 s clips
    assert config.split.test_percent == 20
    assert "--direct_running_mode=multi_processing" in config.beam.pipeline_args()


def test_yaml_then_overrides(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("dataset:\n  audio_root: /data/fma_small\naudio:\n  segment_seconds: 3\n")
    config = load_config(str(path), ["audio.segment_seconds=5", "split.method=hash"])
    assert config.audio_root == "/data/fma_small"
    assert config.metadata_dir == "/data/fma_metadata"  # beside the audio, as FMA's archives unpack
    assert config.audio.example_samples == 5 * 22050
    monkeypatch.setenv(CONFIG_ENV_VAR, str(path))
    assert load_config().audio.segment_seconds == 3


@pytest.mark.parametrize("override,match", [
    ("audio.sample_rate=10", "greater than or equal"),
    ("audio.typo=1", "Extra inputs"),
    ("split.train_percent=90", "test split"),
    ("genres=[Rock, Rock]", "distinct"),
    ("dataset.layout=gtzan", "fma"),
])
def test_invalid_settings_are_rejected_with_a_reason(override, match):
    with pytest.raises(pydantic.ValidationError, match=match):
        load_config(overrides=[override])


def test_malformed_override_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="section.key=value"):
        load_config(overrides=["audio.sample_rate"])
    with pytest.raises(FileNotFoundError):
        load_config(str(tmp_path / "nope.yaml"))
