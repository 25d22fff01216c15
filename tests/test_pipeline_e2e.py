"""End to end: the TFX pipeline on LocalDagRunner over demo clips, real music and broken files."""
import json
import os

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

from components.audio_example_gen import features
from pipeline import cli, local_runner
from pipeline.config import load_config
from pipeline.demo_data import ensure_demo_dataset
from tests import factories

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    demo_settings = ["demo.tracks_per_genre=3", "demo.clip_seconds=3", f"demo.root={tmp / 'demo'}"]
    demo_config = load_config(overrides=demo_settings)
    ensure_demo_dataset(demo_config.demo, demo_config.genres, demo_config.resolve(demo_config.demo.root))
    audio_root, metadata_dir = demo_config.audio_root, demo_config.metadata_dir
    expected = factories.add_broken_and_real_files(audio_root, metadata_dir)
    overrides = [
        f"dataset.audio_root={audio_root}",
        f"dataset.metadata_dir={metadata_dir}",
        f"output_root={tmp / 'runs'}",
        "audio.segment_seconds=1.5",
        "beam.direct_num_workers=2",
        # Small and quick downstream: the chain is what is tested here, not the models' quality.
        "transform.engineered_preset=quick",
        "transform.spectrogram.n_mels=64",
        "trainer.epochs=2",
    ]
    args = ["run-local"] + [arg for o in overrides for arg in ("--set", o)]
    assert cli.main(args) == 0
    config = load_config(overrides=overrides)
    return config, local_runner.latest_outputs(config), expected, audio_root


def test_every_component_produced_its_artifact(pipeline_run):
    _, outputs, _, _ = pipeline_run
    for key in ("AudioExampleGen.examples", "StatisticsGen.statistics", "SchemaGen.schema",
                "ExampleValidator.anomalies"):
        assert key in outputs and os.path.isdir(outputs[key]), key
    for split in ("train", "eval", "test"):
        assert any(n.endswith(".gz") for n in os.listdir(os.path.join(outputs["AudioExampleGen.examples"], f"Split-{split}")))
        assert os.path.exists(os.path.join(outputs["StatisticsGen.statistics"], f"Split-{split}", "FeatureStats.pb"))


def test_quarantine_record_lists_each_broken_file_with_its_reason(pipeline_run):
    _, outputs, expected, audio_root = pipeline_run
    with open(os.path.join(outputs["AudioExampleGen.examples"], "quarantine.jsonl"), encoding="utf-8") as f:
        got = {os.path.relpath(r["path"], audio_root): r["reason"] for r in map(json.loads, f)}
    assert got == expected
    with open(os.path.join(outputs["AudioExampleGen.examples"], "summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    counts = summary["counts"]
    assert summary["reconciles"]
    # 24 demo clips + 3 real music clips produced examples; every broken input is quarantined.
    assert counts["files_with_examples"] == 24 + 3
    assert counts["files_seen"] == counts["files_with_examples"] + counts["files_quarantined"] == 27 + len(expected)


def test_schema_covers_descriptors_but_not_the_waveform(pipeline_run):
    _, outputs, _, _ = pipeline_run
    schema = io_utils.parse_pbtxt_file(os.path.join(outputs["SchemaGen.schema"], "schema.pbtxt"), schema_pb2.Schema())
    names = {f.name for f in schema.feature}
    assert names == set(features.STATISTICS_FEATURES)
    assert features.AUDIO not in names
    genre_domain = {d.name: list(d.value) for d in schema.string_domain}
    assert set(genre_domain[features.GENRE]) <= set(load_config().genres)
    assert set(genre_domain[features.SOURCE_FORMAT]) == {"MP3", "OGG"}


def test_anomalies_were_computed_for_every_split(pipeline_run):
    _, outputs, _, _ = pipeline_run
    anomalies = local_runner.anomalies_by_split(outputs["ExampleValidator.anomalies"])
    assert set(anomalies) == {"train", "eval", "test"}
    # The schema is inferred from train: train itself cannot be anomalous against it.
    assert anomalies["train"] == []


def test_second_run_is_served_from_the_cache(pipeline_run):
    config, outputs, _, _ = pipeline_run
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline

    pipeline = create_pipeline(
        config,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
        beam_pipeline_args=config.beam.pipeline_args(),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    assert local_runner.latest_outputs(config)["AudioExampleGen.examples"] == outputs["AudioExampleGen.examples"]


def test_transform_and_both_trainers_ran_on_the_validated_examples(pipeline_run):
    config, outputs, _, _ = pipeline_run
    transformed = outputs["SpectrogramTransform.transformed_examples"]
    with open(os.path.join(transformed, "summary.json"), encoding="utf-8") as f:
        transform_summary = json.load(f)
    with open(os.path.join(outputs["AudioExampleGen.examples"], "summary.json"), encoding="utf-8") as f:
        ingest_summary = json.load(f)
    assert transform_summary["reconciles"]
    for split, count in ingest_summary["examples_per_split"].items():
        split_counts = transform_summary["splits"][split]
        assert split_counts["examples_in"] == count == split_counts["examples_out"] + split_counts["quarantined"]
    with open(os.path.join(outputs["Trainer.model_run"], "metrics.json"), encoding="utf-8") as f:
        keras_metrics = json.load(f)
    assert keras_metrics["model_family"] == config.trainer.model_family
    assert keras_metrics["test"]["examples"] == transform_summary["splits"]["test"]["examples_out"]
    with open(os.path.join(outputs["SklearnBaselineTrainer.model"], "metrics.json"), encoding="utf-8") as f:
        baselines = json.load(f)
    assert set(baselines["algorithms"]) == set(config.baselines.algorithms)
    # The run summary prints every model's test accuracy.
    summary = "\n".join(local_runner.describe_models(outputs))
    assert f"Keras {config.trainer.model_family}" in summary
    for algorithm in config.baselines.algorithms:
        assert f"sklearn {algorithm}" in summary


def test_served_model_answers_raw_audio_of_a_real_clip(pipeline_run):
    import numpy as np
    import soundfile as sf
    import tensorflow as tf

    config, outputs, _, _ = pipeline_run
    model = tf.saved_model.load(os.path.join(outputs["Trainer.model"], "Format-Serving"))
    samples, rate = sf.read(str(factories.DRUM_BASS), dtype="float32")
    assert rate == config.audio.sample_rate
    window = samples[: config.audio.example_samples][None]
    result = model.signatures["serving_default"](waveform=tf.constant(window))
    probabilities = result["probabilities"].numpy()
    assert probabilities.shape == (1, len(config.genres))
    assert np.isclose(probabilities.sum(), 1.0, atol=1e-4)
    assert result["genre"].numpy()[0].decode() == config.genres[int(probabilities.argmax())]
