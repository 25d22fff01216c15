"""create_pipeline() and its helpers, without running anything."""
import os

from components.audio_example_gen import features
from pipeline.config import load_config
from pipeline.pipeline import create_pipeline, input_fingerprint
from tests import factories


def _config(tmp_path):
    return load_config(overrides=[f"dataset.audio_root={tmp_path / 'fma_small'}",
                                  f"dataset.metadata_dir={tmp_path / 'fma_metadata'}",
                                  f"output_root={tmp_path / 'runs'}"])


def test_pipeline_wires_validation_transform_and_both_trainers(tmp_path):
    pipeline = create_pipeline(_config(tmp_path))
    by_id = {c.id: c for c in pipeline.components}
    assert set(by_id) == {"AudioExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                          "SpectrogramTransform", "Trainer", "SklearnBaselineTrainer"}
    transform, trainer = by_id["SpectrogramTransform"], by_id["Trainer"]
    # The transform waits for data validation; both trainers read the transformed examples.
    assert by_id["ExampleValidator"] in transform.upstream_nodes
    assert trainer.inputs["examples"] is transform.outputs["transformed_examples"]
    assert trainer.inputs["transform_graph"] is transform.outputs["featurizer"]
    assert by_id["SklearnBaselineTrainer"].inputs["examples"] is transform.outputs["transformed_examples"]
    assert trainer.exec_properties["run_fn"] == "components.keras_trainer.trainer.run_fn"
    stats = by_id["StatisticsGen"]
    assert features.AUDIO not in stats.exec_properties["stats_options_json"]
    assert f'"{features.RMS_DBFS}"' in stats.exec_properties["stats_options_json"]
    assert pipeline.pipeline_info.pipeline_root == str(tmp_path / "runs" / "fma-genre" / "pipeline_root")


def test_input_fingerprint_changes_with_the_dataset(tmp_path):
    config = _config(tmp_path)
    audio = factories.write_audio(tmp_path / "fma_small" / "000" / "000002.mp3", seconds=0.2)
    (tmp_path / "fma_metadata").mkdir()
    (tmp_path / "fma_metadata" / "tracks.csv").write_text("x")
    first = input_fingerprint(config)
    assert first == input_fingerprint(config)
    factories.write_audio(tmp_path / "fma_small" / "000" / "000005.mp3", seconds=0.2)
    second = input_fingerprint(config)
    assert second != first
    os.utime(audio, ns=(1, 1))
    assert input_fingerprint(config) != second


def test_remote_datasets_have_no_fingerprint():
    config = load_config(overrides=["dataset.audio_root=gs://b/fma_small"])
    assert input_fingerprint(config) == ""


def test_baselines_can_be_left_out(tmp_path):
    config = load_config(overrides=[f"output_root={tmp_path}", "baselines.enabled=false"])
    assert "SklearnBaselineTrainer" not in [c.id for c in create_pipeline(config).components]
