"""The one configuration object: defaults, YAML, overrides and clear errors."""

import pytest

from pipeline.config import CONFIG_ENV_VAR, FMA_SMALL_GENRES, PROJECT_ROOT, load_config
from pipeline.config_errors import ConfigError


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


@pytest.mark.parametrize(
    "override,match",
    [
        ("audio.sample_rate=10", "greater than or equal"),
        ("audio.typo=1", "unknown setting"),
        ("split.train_percent=90", "test split"),
        ("genres=[Rock, Rock]", "distinct"),
        ("dataset.layout=gtzan", "fma"),
    ],
)
def test_invalid_settings_are_rejected_with_a_reason(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(overrides=[override])


def test_malformed_override_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="section.key=value"):
        load_config(overrides=["audio.sample_rate"])
    with pytest.raises(FileNotFoundError):
        load_config(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize(
    "override,unknown,suggestion",
    [
        ("audio.segmnt_seconds=3", "audio.segmnt_seconds", "audio.segment_seconds"),
        ("audoi.sample_rate=16000", "audoi", "audio"),
        ("trainer.learning_rat=0.1", "trainer.learning_rat", "trainer.learning_rate"),
        (
            "deploy.resources.Trainer.cpu_limt=4",
            "deploy.resources.Trainer.cpu_limt",
            "deploy.resources.Trainer.cpu_limit",
        ),
    ],
)
def test_a_misspelled_key_suggests_the_closest_valid_one(override, unknown, suggestion):
    with pytest.raises(ConfigError) as raised:
        load_config(overrides=[override])
    assert str(raised.value) == f"--set {override}: {unknown}: unknown setting; did you mean {suggestion}?"


def test_an_unknown_key_far_from_any_lists_the_section(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("split:\n  zzz: 1\n")
    with pytest.raises(
        ConfigError,
        match=rf"^config file {path}: split.zzz: unknown setting; the section split "
        r"has: method, train_percent, eval_percent",
    ):
        load_config(str(path))


def test_a_wrong_type_names_the_key_the_value_and_where_it_came_from(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("audio:\n  sample_rate: fast\n")
    with pytest.raises(ConfigError) as raised:
        load_config(str(path), ["trainer.epochs=many"])
    lines = str(raised.value).splitlines()
    assert lines == [
        f"config file {path}: audio.sample_rate: Input should be a valid integer, unable to parse string as an "
        "integer (got 'fast')",
        "--set trainer.epochs=many: trainer.epochs: Input should be a valid integer, unable to parse string as an "
        "integer (got 'many')",
    ]


def test_yaml_syntax_error_in_a_file_is_one_line_with_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("audio:\n  segment_seconds: [3\n")
    with pytest.raises(ConfigError) as raised:
        load_config(str(path))
    message = str(raised.value)
    assert "\n" not in message
    assert message == (
        f"config file {path}, line 3, column 1: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence that starts at line 2, column 20)"
    )


def test_yaml_syntax_error_in_an_override_counts_columns_in_what_was_typed():
    with pytest.raises(ConfigError) as raised:
        load_config(overrides=["genres=[Rock, Pop"])
    assert str(raised.value).startswith("--set genres=[Rock, Pop, line 1, column 18: expected ',' or ']'")


def test_a_directory_or_a_binary_file_as_config_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(str(tmp_path))
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(str(binary))


def test_the_direct_runner_skips_tfxs_package_build_and_remote_runners_keep_it(monkeypatch):
    """TFX builds an sdist of itself (~3 s, 44 MB left in /tmp) for every Beam component unless a dependency
    flag is set; the DirectRunner gets one it ignores, a remote runner gets none (its workers need TFX)."""
    from tfx.utils import dependency_utils

    def build():
        raise AssertionError("TFX's ephemeral package was built")

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", build)
    local = load_config().beam.pipeline_args()
    assert dependency_utils.make_beam_dependency_flags(local) == local
    remote = load_config(overrides=["beam.extra_args=[--runner=DataflowRunner]"]).beam.pipeline_args()
    assert not any(arg.startswith("--sdk_container_image") for arg in remote)
    with pytest.raises(AssertionError, match="ephemeral package was built"):
        dependency_utils.make_beam_dependency_flags(remote)
