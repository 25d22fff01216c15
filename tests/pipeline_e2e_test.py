"""End to end: the TFX pipeline on LocalDagRunner over demo clips, real music and broken files."""

import json
import os

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

from components.audio_example_gen import features
from pipeline import cli
from pipeline import runs as pipeline_runs
from pipeline.config import load_config
from pipeline.datasets.demo import ensure_demo_dataset
from tests.helpers import factories

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
        # Two epochs on a few clips: bless whatever trains, so the push, predict and report paths run. The
        # thresholds themselves are tested where they bite (components/blessing_evaluator, and the last test).
        "evaluator.accuracy_floor=0",
        "evaluator.baseline_margin=-1",
    ]
    args = ["run-local"] + [arg for o in overrides for arg in ("--set", o)]
    assert cli.main(args) == 0
    config = load_config(overrides=overrides)
    return config, pipeline_runs.latest_outputs(config), expected, audio_root


def test_every_component_produced_its_artifact(pipeline_run):
    _, outputs, _, _ = pipeline_run
    # All from the one run that run-local recorded, complete, every node executed.
    assert outputs.run is not None and outputs.run.status == "complete", outputs.run
    assert set(outputs.run.nodes.values()) == {"COMPLETE"}, outputs.run.nodes
    for key in (
        "AudioExampleGen.examples",
        "StatisticsGen.statistics",
        "SchemaGen.schema",
        "ExampleValidator.anomalies",
    ):
        assert key in outputs and os.path.isdir(outputs[key]), key
    for split in ("train", "eval", "test"):
        assert any(
            n.endswith(".gz") for n in os.listdir(os.path.join(outputs["AudioExampleGen.examples"], f"Split-{split}"))
        )
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
    from pipeline.report import data_validation

    _, outputs, _, _ = pipeline_run
    anomalies = data_validation.anomalies_by_split(outputs["ExampleValidator.anomalies"])
    assert set(anomalies) == {"train", "eval", "test"}
    # The schema is inferred from train: train itself cannot be anomalous against it.
    assert anomalies["train"] == []


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
    from pipeline.report import summary as run_summary
    from pipeline.report.collect import collect

    summary = "\n".join(run_summary.models(collect(config, outputs)))
    assert f"Keras {config.trainer.model_family}" in summary
    for algorithm in config.baselines.algorithms:
        assert f"sklearn {algorithm}" in summary


def test_the_ledger_balances_exactly_stage_by_stage(pipeline_run):
    """Every example of every split is accounted for, from the files on disk to the Evaluator, against
    what each upstream artifact recorded (not what the stage read), and the run summary shows it."""
    from pipeline.report import ledger

    _, outputs, _, _ = pipeline_run
    balance = ledger.build(outputs)
    assert balance["balanced"] and balance["mismatches"] == []
    with open(os.path.join(outputs["AudioExampleGen.examples"], "summary.json"), encoding="utf-8") as f:
        ingest = json.load(f)
    with open(
        os.path.join(outputs["SpectrogramTransform.transformed_examples"], "summary.json"), encoding="utf-8"
    ) as f:
        transform = json.load(f)
    for split in ("train", "eval", "test"):
        rows = {(r["stage"], r["what"]): r for r in balance["splits"][split]}
        written, out = ingest["examples_written"][split], transform["examples_written"][split]
        quarantined = transform["splits"][split]["quarantined"]
        assert written == ingest["examples_per_split"][split] > 0
        assert rows["StatisticsGen", "examples profiled"]["count"] == written
        assert rows["SpectrogramTransform", "examples read"]["count"] == written == out + quarantined
        scored = "trained on" if split == "train" else "scored"
        assert rows["Trainer", scored]["count"] == rows["SklearnBaselineTrainer", scored]["count"] == out
        assert all(r["status"] in ("ok", "-") for r in rows.values())
        assert all(
            r["status"] == "ok"
            for (stage, what), r in rows.items()
            if stage != "AudioExampleGen" or what.startswith("examples")
        )
    (evaluated,) = [r for r in balance["splits"]["test"] if r["stage"] == "Evaluator"]
    assert evaluated["count"] == transform["examples_written"]["test"] and evaluated["status"] == "ok"
    # Every file is in one row: with examples or quarantined, in a split or before one was known.
    files = sum(
        r["count"] + r["quarantined"]
        for table in balance["splits"].values()
        for r in table
        if r["stage"] == "AudioExampleGen" and r["what"].startswith("files")
    )
    assert files == ingest["counts"]["files_seen"]
    printed = "\n".join(ledger.lines(balance))
    assert "Ledger balances: every example is accounted for." in printed and "MISMATCH" not in printed


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


def _rerun(config):
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline

    pipeline = create_pipeline(
        config,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
        beam_pipeline_args=config.beam.pipeline_args(),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return pipeline_runs.latest_outputs(config)


def _read(directory, name="metrics.json"):
    with open(os.path.join(directory, name), encoding="utf-8") as f:
        return json.load(f)


def test_evaluator_measured_the_model_on_test_and_recorded_every_check(pipeline_run):
    from components.blessing_evaluator.results import read_decision, read_evaluation

    config, outputs, _, _ = pipeline_run
    evaluation = read_evaluation(outputs["Evaluator.evaluation"], config.genres)
    keras = _read(outputs["Trainer.model_run"])
    examples = evaluation["overall"]["example_count"]
    # TFMA ran the served graph (featurizer included) on raw audio; the Trainer scored its precomputed log-mels.
    assert examples == keras["test"]["examples"]
    assert abs(evaluation["overall"]["accuracy"] - keras["test"]["accuracy"]) <= 1 / examples + 1e-6
    assert sum(map(sum, evaluation["confusion_matrix"])) == examples
    assert set(evaluation["per_genre"]) == set(config.genres)

    decision = read_decision(outputs["Evaluator.blessing"])
    assert decision["blessed"] is True and decision["reasons"] == []
    checks = {check["name"]: check for check in decision["checks"]}
    assert set(checks) == {"accuracy_floor", "no_regression", "beats_baselines"}
    assert checks["accuracy_floor"]["measured"] == pytest.approx(evaluation["overall"]["accuracy"])
    assert checks["no_regression"]["skipped"] and checks["no_regression"]["detail"] == "no blessed model before"
    best = _read(outputs["SklearnBaselineTrainer.model"])
    assert checks["beats_baselines"]["baseline_algorithm"] == best["best_algorithm"]
    assert checks["beats_baselines"]["threshold"] == pytest.approx(best["best_test_accuracy"] - 1)


def test_pusher_published_the_blessed_model_with_its_manifest(pipeline_run):
    import tensorflow as tf

    from components.versioned_pusher import versions

    config, outputs, _, _ = pipeline_run
    pushed = versions.list_versions(config.push_destination)
    assert len(pushed) == 1
    manifest = pushed[0].manifest
    assert manifest["source_model_uri"] == outputs["Trainer.model"]
    assert manifest["model_family"] == config.trainer.model_family
    assert manifest["metrics"]["accuracy"] == pytest.approx(
        _read(outputs["Evaluator.blessing"], "decision.json")["metrics"]["accuracy"]
    )
    assert manifest["data_fingerprint"]["examples_uri"] == outputs["SpectrogramTransform.transformed_examples"]
    assert manifest["config"]["evaluator"]["baseline_margin"] == -1
    assert manifest["code_version"]["package_version"]
    served = tf.saved_model.load(pushed[0].model_dir)
    assert "serving_default" in served.signatures


def test_predict_command_uses_the_pushed_model_and_reports_broken_files(pipeline_run, tmp_path, capsys):
    from pipeline import predict

    config, _, _, _ = pipeline_run
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3 this is no audio")
    capsys.readouterr()
    status = predict.main(
        ["--set", f"output_root={config.output_root}", "--format", "jsonl", str(factories.DRUM_BASS), str(broken)]
    )
    out = capsys.readouterr()
    assert status == 1
    records = {os.path.basename(r["file"]): r for r in map(json.loads, out.out.splitlines())}
    good = records[factories.DRUM_BASS.name]
    assert good["genre"] in config.genres
    assert sum(good["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert good["segments"] >= 16  # a 25 s clip in the model's 1.5 s segments
    assert "error" in records["broken.mp3"] and "broken.mp3" in out.err


@pytest.mark.browser
def test_run_report_opens_offline_with_the_runs_numbers(pipeline_run, tmp_path):
    from components.blessing_evaluator.results import read_evaluation
    from tests.helpers import browser

    config, outputs, expected, _ = pipeline_run
    # run-local ended by writing it.
    assert os.path.exists(config.report_path)
    rendered = browser.render_page(config.report_path, str(tmp_path / "report.png"))
    assert rendered.requests == []
    text = rendered.text
    assert "BLESSED" in text and "NOT BLESSED" not in text
    assert f"run {outputs.run.run_id} (started {outputs.run.started})" in text
    accuracy = read_evaluation(outputs["Evaluator.evaluation"], config.genres)["overall"]["accuracy"]
    assert f"{100 * accuracy:.1f}%" in text
    for name in ("Logistic regression", "k-nearest neighbours", "Gaussian naive Bayes", "SVM"):
        assert name in text
    for reason in set(expected.values()):
        assert reason in text
    assert os.path.getsize(tmp_path / "report.png") > 50_000


def test_second_run_is_cached_and_compares_with_the_model_it_blessed(pipeline_run):
    from components.blessing_evaluator.results import read_decision
    from components.versioned_pusher import versions

    config, outputs, _, _ = pipeline_run
    latest = _rerun(config)
    assert latest.run.run_id != outputs.run.run_id and latest.run.status == "complete"
    assert latest.run.nodes["Trainer"] == "CACHED"  # a run of cached steps is complete: it reads the reused model
    for key in ("AudioExampleGen.examples", "SpectrogramTransform.transformed_examples", "Trainer.model"):
        assert latest[key] == outputs[key], key
    # The resolver now finds this model as the latest blessed one: the Evaluator ran again, against it.
    assert latest["Evaluator.blessing"] != outputs["Evaluator.blessing"]
    regression = {c["name"]: c for c in read_decision(latest["Evaluator.blessing"])["checks"]}["no_regression"]
    assert not regression["skipped"] and regression["passed"]
    assert regression["measured"] == pytest.approx(0.0, abs=1e-6)
    assert regression["previous_model_uri"] == outputs["Trainer.model"]
    # Blessing the same model again publishes no second copy of it.
    assert len(versions.list_versions(config.push_destination)) == 1


def test_a_model_below_the_bar_is_not_blessed_and_not_pushed(pipeline_run):
    from components.blessing_evaluator.results import read_decision
    from components.versioned_pusher import versions

    config, outputs, _, _ = pipeline_run
    strict = config.model_copy(
        update={"evaluator": config.evaluator.model_copy(update={"accuracy_floor": 1.0, "baseline_margin": 1.0})}
    )
    latest = _rerun(strict)
    assert latest["Trainer.model"] == outputs["Trainer.model"]  # blessing settings do not retrain
    decision = read_decision(latest["Evaluator.blessing"])
    assert decision["blessed"] is False
    assert any(reason.startswith("accuracy") for reason in decision["reasons"])
    assert len(versions.list_versions(config.push_destination)) == 1
    from pipeline.report import summary as run_summary
    from pipeline.report.collect import collect

    summary = "\n".join(run_summary.blessing(collect(strict, latest)))
    assert "NOT BLESSED" in summary and "Pushed:          nothing" in summary
