"""The run report from real artifacts: TFDV statistics, schema and anomalies made by TFX's own executors on the
tiny Examples artifact, the Keras model trained on it, the sklearn baselines' executor output, a real push,
and the Evaluator's results in their documented format. The page must hold the right numbers, say
"not available" for what is missing, and reference nothing outside itself."""

import json
import os
import re

import numpy as np
import pytest

from pipeline import component_settings
from tests.helpers.keras_trainer import small_config

ALGORITHMS = ("logistic_regression", "knn", "gaussian_nb", "svm")
SCORES = ("accuracy", "macro_f1", "track_accuracy", "track_macro_f1")  # per split, in the tables' order
INGEST_QUARANTINE = [
    ("fma_small/099/099134.mp3", 99134, "decode_error", "mp3 stream fails to decode: lost sync"),
    ("fma_small/098/098567.mp3", 98567, "too_short", "0.5 s of audio, under the 2 s minimum"),
]


# -- building a run's artifacts ------------------------------------------------------------------------------


def _ingest_artifact(uri: str, config, counts: dict) -> str:
    """AudioExampleGen's summary.json and quarantine.jsonl, written by its own summarise/_write_outputs."""
    from components.audio_example_gen import executor
    from components.audio_example_gen.ingest import Outcome

    outcomes = []
    for split, count in counts.items():
        for k, genre in enumerate(config.genres):
            outcomes.append(
                Outcome(
                    f"{split}/{genre}.mp3",
                    1000 * k,
                    "ok",
                    split,
                    genre,
                    examples=count // len(config.genres) + (k == 0) * (count % len(config.genres)),
                    content=f"{split}-{genre}",
                )
            )
    outcomes += [
        Outcome(path, track, "quarantined", reason=reason, detail=detail)
        for path, track, reason, detail in INGEST_QUARANTINE
    ]
    settings = component_settings.ingest_settings(config)
    summary = executor.summarise(outcomes, len(outcomes), [], settings, written=dict(counts))
    os.makedirs(uri, exist_ok=True)
    executor._write_outputs(uri, outcomes, summary)
    return uri


def _transform_artifact(uri: str, config, counts: dict) -> str:
    """SpectrogramTransform's summary.json and quarantine.jsonl with one silent segment in test."""
    from components.spectrogram_transform import executor

    quarantine = [
        {
            "split": "test",
            "track_id": 90001,
            "segment_index": 3,
            "source_path": "test/silent.mp3",
            "reason": "silent",
            "detail": "every sample is 0",
        }
    ]
    tallies = []
    for split, count in counts.items():
        extra = 1 if split == "test" else 0
        tallies += [["examples_in", split, "", count + extra], ["examples_out", split, "", count]]
    tallies.append(["quarantined", "test", "silent", 1])
    upstream = {split: count + (1 if split == "test" else 0) for split, count in counts.items()}
    summary = executor.summarise(
        tallies,
        quarantine,
        list(counts),
        component_settings.transform_settings(config),
        upstream=upstream,
        written=dict(counts),
        csv=dict(counts),
    )
    os.makedirs(uri, exist_ok=True)
    executor.write_outputs(uri, quarantine, summary)
    return uri


def _tfdv_artifacts(root: str, examples_uri: str) -> dict:
    """StatisticsGen, SchemaGen and ExampleValidator, the TFX executors the pipeline runs."""
    import tensorflow_data_validation as tfdv
    from tfx.components.example_validator import executor as validator
    from tfx.components.schema_gen import executor as schema_gen
    from tfx.components.statistics_gen import executor as statistics_gen
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.types import standard_component_specs as keys

    from components.audio_example_gen import features

    splits = artifact_utils.encode_split_names(["train", "eval", "test"])
    examples = standard_artifacts.Examples()
    examples.uri, examples.split_names = examples_uri, splits
    stats = standard_artifacts.ExampleStatistics()
    stats.uri = os.path.join(root, "statistics")
    options = tfdv.StatsOptions(feature_allowlist=list(features.STATISTICS_FEATURES))
    statistics_gen.Executor().Do(
        {keys.EXAMPLES_KEY: [examples]},
        {keys.STATISTICS_KEY: [stats]},
        {keys.STATS_OPTIONS_JSON_KEY: options.to_json(), keys.EXCLUDE_SPLITS_KEY: "[]"},
    )
    schema = standard_artifacts.Schema()
    schema.uri = os.path.join(root, "schema")
    schema_gen.Executor().Do(
        {keys.STATISTICS_KEY: [stats]},
        {keys.SCHEMA_KEY: [schema]},
        {keys.INFER_FEATURE_SHAPE_KEY: True, keys.EXCLUDE_SPLITS_KEY: "[]"},
    )
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = os.path.join(root, "anomalies")
    validator.Executor().Do(
        {keys.STATISTICS_KEY: [stats], keys.SCHEMA_KEY: [schema]},
        {keys.ANOMALIES_KEY: [anomalies]},
        {keys.EXCLUDE_SPLITS_KEY: "[]"},
    )
    return {
        "StatisticsGen.statistics": stats.uri,
        "SchemaGen.schema": schema.uri,
        "ExampleValidator.anomalies": anomalies.uri,
    }


def _baselines(root: str, config) -> str:
    """The SklearnBaselineTrainer executor on separable engineered features (no grid search: quick)."""
    from tfx.types import standard_artifacts

    from components.sklearn_baseline_trainer import executor
    from tests.helpers import sklearn_data as testdata

    n = len(config.genres)
    splits = {
        split: testdata.separable_rows(
            n, artists_per_genre=a, tracks_per_artist=2, segments=2, num_features=12, seed=seed, first_artist=first
        )
        for split, a, seed, first in (("train", 3, 1, 0), ("eval", 1, 2, 1000), ("test", 1, 3, 2000))
    }
    examples = testdata.write_examples(os.path.join(root, "baseline_examples"), splits, testdata.feature_names(12))
    model = standard_artifacts.Model()
    model.uri = os.path.join(root, "baselines")
    os.makedirs(model.uri)
    executor.Executor().Do(
        {executor.EXAMPLES_KEY: [examples]},
        {executor.MODEL_KEY: [model]},
        {executor.BASELINE_CONFIG_KEY: component_settings.baseline_settings(config).model_dump_json()},
    )
    return model.uri


def _evaluation(genres, trainer_metrics: dict) -> dict:
    """read_evaluation's format, on the Trainer's own test confusion matrix, with recognisable values."""
    matrix = trainer_metrics["test"]["confusion_matrix"]
    return {
        "split": "test",
        "overall": {
            "example_count": int(np.sum(matrix)),
            "accuracy": trainer_metrics["test"]["accuracy"],
            "crossentropy": 0.6543,
            "macro_f1": 0.7311,
        },
        "per_genre": {
            g: {"precision": 0.51 + i / 100, "recall": 0.61 + i / 100, "f1": 0.71 + i / 100}
            for i, g in enumerate(genres)
        },
        "slices": {g: {"example_count": int(np.sum(matrix[i])), "accuracy": 0.5} for i, g in enumerate(genres)},
        "confusion_matrix": matrix,
        "baseline_diff": None,
    }


def _decision(model_uri: str, accuracy: float, best_baseline: tuple[str, float]) -> dict:
    algorithm, baseline_accuracy = best_baseline
    blessed = accuracy >= baseline_accuracy
    return {
        "blessed": blessed,
        "split": "test",
        "model_uri": model_uri,
        "model_id": 11,
        "metrics": {"example_count": 20, "accuracy": accuracy, "crossentropy": 0.6543, "macro_f1": 0.7311},
        "checks": [
            {
                "name": "accuracy_floor",
                "metric": "accuracy",
                "comparison": ">=",
                "threshold": 0.3,
                "measured": accuracy,
                "passed": accuracy >= 0.3,
                "skipped": False,
                "detail": "absolute floor",
            },
            {
                "name": "no_regression",
                "metric": "accuracy",
                "comparison": ">=",
                "threshold": -0.02,
                "measured": None,
                "previous_model_uri": None,
                "passed": True,
                "skipped": True,
                "detail": "no blessed model before",
            },
            {
                "name": "beats_baselines",
                "metric": "accuracy",
                "comparison": ">=",
                "threshold": baseline_accuracy,
                "measured": accuracy,
                "baseline_algorithm": algorithm,
                "baseline_accuracy": baseline_accuracy,
                "margin": 0.0,
                "passed": blessed,
                "skipped": False,
                "detail": "best baseline plus margin",
            },
        ],
        "reasons": [] if blessed else [f"accuracy {accuracy:.4f} < best baseline {algorithm} {baseline_accuracy:.4f}"],
        "tfma_validation_ok": blessed,
        "tfma_failures": [],
    }


def _read(path):
    with open(path) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_artifact, trained):
    """A whole run's outputs (keyed as runs.latest_outputs keys them) plus what the test checks."""
    from tests.helpers.versioned_pusher import make_blessing, run_pusher

    root = str(tmp_path_factory.mktemp("report-run"))
    config = small_config(f"output_root={root}")
    model_uri = os.path.dirname(trained["serving_model_dir"])
    outputs = {
        # Ingestion wrote one test example more than the transform passed on: it quarantined one.
        "AudioExampleGen.examples": _ingest_artifact(
            os.path.join(root, "ingest"),
            config,
            {**tiny_artifact["counts"], "test": tiny_artifact["counts"]["test"] + 1},
        ),
        "SpectrogramTransform.transformed_examples": _transform_artifact(
            os.path.join(root, "transform"), config, tiny_artifact["counts"]
        ),
        **_tfdv_artifacts(root, tiny_artifact["examples"]),
        "Trainer.model": model_uri,
        "Trainer.model_run": trained["model_run_dir"],
        "SklearnBaselineTrainer.model": _baselines(root, config),
    }
    trainer_metrics = _read(os.path.join(trained["model_run_dir"], "metrics.json"))
    summary = _read(os.path.join(outputs["SklearnBaselineTrainer.model"], "metrics.json"))
    # The candidate just clears the best baseline: blessed, and pushed by the real pusher.
    best = (summary["best_algorithm"], summary["best_test_accuracy"] - 0.01)
    accuracy = trainer_metrics["test"]["accuracy"]
    decision = _decision(model_uri, accuracy, (best[0], min(best[1], accuracy)))
    blessing_uri = os.path.join(root, "blessing")
    blessing = make_blessing(blessing_uri, True, model_uri, with_decision=False)
    with open(os.path.join(blessing_uri, "decision.json"), "w") as f:
        json.dump(decision, f)
    pushed = run_pusher(model_uri, blessing, config.push_destination, os.path.join(root, "pushed"))
    outputs.update({"Evaluator.blessing": blessing_uri, "Pusher.pushed_model": pushed.uri})
    return {
        "config": config,
        "outputs": outputs,
        "root": root,
        "examples_root": tiny_artifact["examples"],
        "trainer": trainer_metrics,
        "baselines": summary,
        "evaluation": _evaluation(config.genres, trainer_metrics),
        "decision": decision,
    }


@pytest.fixture(scope="module")
def page(run):
    from pipeline.report import write_report

    path = write_report(
        run["config"],
        os.path.join(run["root"], "out", "report.html"),
        outputs=run["outputs"],
        evaluation=run["evaluation"],
    )
    with open(path, encoding="utf-8") as f:
        html = f.read()
    text = _text(html)
    # "body": the sections, after the header and the navigation (whose links repeat the headings).
    return {"path": path, "html": html, "text": text, "body": text[text.index("Run overview") :]}


def _text(html: str) -> str:
    from tests.helpers.browser import visible_text  # the extraction the browser test applies to Chromium's DOM

    return re.sub(r"\s+", " ", visible_text(html))


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _section(text: str, start: str, end: str) -> str:
    """The text from `start` to `end`; a report's body text from the first section on (see `page`)."""
    if "Run overview" in text and start != "run report":
        text = text[text.index("Run overview") :]
    assert start in text and end in text, (start, end)
    return text[text.index(start) : text.index(end, text.index(start))]


EXTERNAL = re.compile(
    r"""(?:src|href|xlink:href|action|poster|srcset)\s*=\s*["']?\s*(?!#)([^"'\s>]+)|url\(\s*["']?([^)"']+)""",
    re.IGNORECASE,
)


def assert_self_contained(html: str) -> None:
    """Nothing the browser would fetch: no external scheme anywhere, links only to fragments, no scripts."""
    assert not re.search(r"https?://|ftp://", html, re.IGNORECASE), re.search(r".{60}https?://.{60}", html)
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html.lower()
    assert "<img" not in html.lower() and "<iframe" not in html.lower()
    offending = [m.group(1) or m.group(2) for m in EXTERNAL.finditer(html)]
    assert offending == [], offending


# -- the full report -----------------------------------------------------------------------------------------


def test_header_shows_the_verdict_and_the_keras_results(page, run):
    header = _section(page["text"], "run report", "Overview")
    assert "BLESSED" in header and "NOT BLESSED" not in header
    assert _pct(run["trainer"]["test"]["accuracy"]) in header and "73.1%" in header
    assert "<title>fma-genre run report – BLESSED</title>" in page["html"]
    assert re.search(r'<div class="verdict blessed">\s*BLESSED', page["html"])


def test_dataset_section_counts_splits_genres_and_quarantine(page, run):
    text = _section(page["text"], "Dataset", "Data statistics (TFDV)")
    summary = _read(os.path.join(run["outputs"]["AudioExampleGen.examples"], "summary.json"))
    total = summary["counts"]["examples"]
    assert f"{summary['counts']['files_seen']} audio files seen" in text and f"gave {total} examples" in text
    for genre in run["config"].genres:
        row = summary["examples_per_split_and_genre"]
        expected = " ".join(str(row[s][genre]) for s in ("train", "eval", "test"))
        assert f"{genre} {expected} " in text, genre
    assert "all genres " + " ".join(str(summary["examples_per_split"][s]) for s in ("train", "eval", "test")) in text
    assert "Quarantined files (2)" in text
    for path, track, reason, detail in INGEST_QUARANTINE:
        assert f"{path} {track} {reason} {detail}" in text
    assert "decode_error 1" in text and "too_short 1" in text
    # The transform's per-split reconciliation and its quarantined segment.
    assert "silent 1" in text and "test/silent.mp3 silent every sample is 0" in text


def test_ledger_section_shows_each_split_stage_by_stage_and_flags_a_mismatch(page, run):
    """Here StatisticsGen profiled the transformed examples (one test example fewer than ingestion
    recorded): that row must be flagged, while the transform's and the Trainer's rows balance."""
    from components.run_reporter import ledger

    text = _section(page["text"], "Example ledger", "Data statistics (TFDV)")
    assert "does not balance" in text
    counts = run["trainer"]["examples"]
    for split in ("train", "eval", "test"):
        assert f" {split} Stage What count" in text
    assert f"SpectrogramTransform examples read {counts['test'] + 1} 0 {counts['test'] + 1} AudioExampleGen ok" in text
    assert (
        f"SpectrogramTransform examples written (counted in its files) {counts['test']} 1 {counts['test'] + 1} "
        "AudioExampleGen ok"
    ) in text
    assert f"Trainer trained on {counts['train']} 0 {counts['train']} SpectrogramTransform ok" in text
    assert f"StatisticsGen examples profiled {counts['test']} 0 {counts['test'] + 1} AudioExampleGen mismatch" in text
    balance = ledger.build(run["outputs"])
    flagged = [
        (split, r["stage"]) for split, rows in balance["splits"].items() for r in rows if r["status"] == "MISMATCH"
    ]
    assert (
        f"test: StatisticsGen examples profiled {counts['test']} != {counts['test'] + 1} (AudioExampleGen)"
        in balance["mismatches"]
    )
    # This fixture's baselines trained on their own synthetic examples, not the transform's: flagged too.
    assert set(flagged) == {
        ("test", "StatisticsGen"),
        *((s, "SklearnBaselineTrainer") for s in ("train", "eval", "test")),
    }
    assert text.count("mismatch") == len(flagged) == len(balance["mismatches"])


def test_statistics_section_matches_tfdv_and_the_example_validator(page, run):
    from components.run_reporter import data_validation

    text = _section(page["text"], "Data statistics (TFDV)", "Train / eval / test skew")
    stats = data_validation.load_statistics(run["outputs"]["StatisticsGen.statistics"])
    for split, expected in (("train", 50), ("eval", 16), ("test", 18)):
        assert stats[split].num_examples == expected
        assert f"{split} split · {expected} examples" in text
    # The genre feature's most frequent value in train: Electronic (6 tones + 2 music segments).
    assert "Electronic (8)" in text
    for split, found in data_validation.anomalies_by_split(run["outputs"]["ExampleValidator.anomalies"]).items():
        assert f"{split} {'; '.join(found) if found else 'none'}" in text


def test_console_summary_shows_the_collected_reports_figures(run):
    """The summary run-local and `make outputs` print is rendered from collect()'s dict (the report's data): the
    same counts, anomalies, accuracies, blessing, push and ledger, and only this run's artifacts."""
    from components.run_reporter import data_validation, summary
    from pipeline.report import collect

    report = collect(run["config"], run["outputs"], evaluation=run["evaluation"])
    text = summary.text(report)
    ingest = _read(os.path.join(run["outputs"]["AudioExampleGen.examples"], "summary.json"))
    counts = ingest["counts"]
    assert (
        f"Ingestion: {counts['files_seen']} files seen = {counts['files_with_examples']} with examples + "
        f"{counts['files_quarantined']} quarantined; {counts['examples']} examples "
        f"{ingest['examples_per_split']}"
    ) in text
    found = data_validation.anomalies_by_split(run["outputs"]["ExampleValidator.anomalies"])
    assert found and report["anomalies"]["by_split"] == found
    for split, anomalies in found.items():
        assert f"  anomalies in {split}: " + ("; ".join(anomalies) if anomalies else "none") in text
    assert "Transform: " in text and "1 quarantined {'silent': 1}" in text
    trainer = run["trainer"]
    # eval then test: accuracy and macro-F1 per segment, then per track.
    keras_figures = [trainer[split][key] for split in ("eval", "test") for key in SCORES]
    assert re.search(rf"Keras {trainer['model_family']} +" + " +".join(map(re.escape, map(_pct, keras_figures))), text)
    for algorithm in ALGORITHMS:
        r = run["baselines"]["algorithms"][algorithm]
        figures = [r[f"{split}_{key}"] for split in ("eval", "test") for key in SCORES]
        assert re.search(rf"sklearn {algorithm}(?: \(best baseline\))? +" + " +".join(map(_pct, figures)), text)
    assert re.search(r" -+ eval split -+ -+ test split -+\nModel +(acc +macro-F1 +track acc +track F1 *){2}\n", text)
    assert f"sklearn {run['baselines']['best_algorithm']} (best baseline)" in text
    assert "Blessing:        BLESSED" in text and "Pushed:          version " in text
    assert "LEDGER DOES NOT BALANCE: " + "; ".join(report["ledger"]["mismatches"]) in text
    for key in (
        "AudioExampleGen.examples",
        "SpectrogramTransform.transformed_examples",
        "Trainer.model_run",
        "SklearnBaselineTrainer.model",
        "ExampleValidator.anomalies",
    ):
        assert run["outputs"][key] in text, key


def test_skew_and_drift_are_tfdvs_values_for_each_split(page, run):
    import tensorflow as tf

    from tests.helpers import keras_data as testdata

    text = _section(page["text"], "Train / eval / test skew", "Model comparison")
    # L-infinity distance of the genre distribution, counted here from the TFRecords themselves.

    def shares(split):
        files = tf.io.gfile.glob(os.path.join(run["examples_root"], f"Split-{split}", "*.gz"))
        genres = [
            tf.train.Example.FromString(r).features.feature["genre"].bytes_list.value[0].decode()
            for r in testdata.read_records(files)
        ]
        return {g: genres.count(g) / len(genres) for g in run["config"].genres}

    train, test, eval_ = shares("train"), shares("test"), shares("eval")
    linf_test = max(abs(train[g] - test[g]) for g in train)
    linf_eval = max(abs(train[g] - eval_[g]) for g in train)
    row = re.search(r"genre L-infinity distance 0\.1000 (\S+) (\S+) ok (\S+) (\S+) ok", text)
    assert row, text
    eval_skew, eval_drift, test_skew, test_drift = (float(v) for v in row.groups())
    assert eval_skew == pytest.approx(linf_eval, abs=1e-4) and eval_drift == pytest.approx(linf_eval, abs=1e-4)
    assert test_skew == pytest.approx(linf_test, abs=1e-4) and test_drift == pytest.approx(linf_test, abs=1e-4)
    assert "eval vs train: skew" in text and "test vs train: skew" in text
    # label: integer statistics (StatisticsGen runs without a schema), so Jensen-Shannon, like the numbers.
    assert "label Jensen-Shannon divergence" in text and "segment_index Jensen-Shannon divergence" in text
    assert "artist_id (splits are drawn by artist" in text


def test_model_comparison_lists_keras_and_every_baseline(page, run):
    text = _section(page["text"], "Model comparison", "Per-genre metrics")
    columns = " accuracy macro-F1 track accuracy track macro-F1"
    assert "Model Measured by test split eval split test examples" + columns * 2 in text
    keras = run["trainer"]
    # Test accuracy and macro-F1 are the Evaluator's (macro-F1 73.1%); per track, and on eval, the Trainer's.
    figures = [keras["test"]["accuracy"], 0.7311, keras["test"]["track_accuracy"], keras["test"]["track_macro_f1"]]
    figures += [keras["eval"][key] for key in SCORES]
    assert f"Keras cnn2d_mel Evaluator (TFMA), test split {' '.join(map(_pct, figures))} " in text, text
    for split in ("eval", "test"):
        assert 0 < keras[split]["track_macro_f1"] <= 1 and 0 < keras[split]["macro_f1"] <= 1
    names = {
        "logistic_regression": "Logistic regression",
        "knn": "k-nearest neighbours",
        "gaussian_nb": "Gaussian naive Bayes",
        "svm": "SVM",
    }
    for algorithm in ALGORITHMS:
        r = run["baselines"]["algorithms"][algorithm]
        detail = _read(os.path.join(run["outputs"]["SklearnBaselineTrainer.model"], algorithm, "metrics.json"))
        for split in ("eval", "test"):  # the summary's track figures are the algorithm's own track_level ones
            track_level = detail[split]["track_level"]
            assert (r[f"{split}_track_accuracy"], r[f"{split}_track_macro_f1"]) == (
                track_level["accuracy"],
                track_level["macro_f1"],
            )
        figures = [r[f"{split}_{key}"] for split in ("test", "eval") for key in SCORES]
        expected = f"{names[algorithm]} SklearnBaselineTrainer, test split {' '.join(map(_pct, figures))}"
        assert expected in text, expected
    best = names[run["baselines"]["best_algorithm"]]
    assert re.search(rf"{re.escape(best)} .*?best baseline \(by eval accuracy\)", text)


def test_per_genre_table_and_confusion_heatmaps(page, run):
    text = _section(page["text"], "Per-genre metrics", "Training curves")
    genres = run["config"].genres
    matrix = run["trainer"]["test"]["confusion_matrix"]
    for i, genre in enumerate(genres):
        assert f"{genre} {sum(matrix[i])} {51 + i:.1f}% {61 + i:.1f}% {71 + i:.1f}%" in text
    # One heatmap per model: Keras and the four baselines, each an 8x8 grid of cells.
    assert page["html"].count('aria-label="confusion matrix"') == 1 + len(ALGORITHMS)
    svg = page["html"].split('aria-label="confusion matrix"')[1].split("</svg>")[0]
    assert svg.count("<rect") == len(genres) ** 2
    cells = [int(v) for v in re.findall(r">(\d+)</text>", svg)]
    assert cells == [c for row in matrix for c in row]


def test_training_curves_mark_the_best_epoch(page, run):
    text = _section(page["text"], "Training curves", "Blessing decision")
    history = _read(os.path.join(run["outputs"]["Trainer.model_run"], "history.json"))["epochs"]
    best = run["trainer"]["training"]["best_epoch"]
    assert f"{len(history)} epochs" in text and f"best epoch {best} (lowest validation loss)" in text
    assert page["html"].count('aria-label="Loss per epoch"') == 1
    assert page["html"].count('aria-label="Accuracy per epoch"') == 1
    for e in history:
        assert f"{e['epoch']} {e['phase']} {e['loss']:.4f} {e['val_loss']:.4f}" in text


def test_blessing_checks_and_the_pushed_version(page, run):
    from components.versioned_pusher.versions import newest_version

    text = _section(page["text"], "Blessing decision", "Pusher output")
    d = run["decision"]
    assert f"BLESSED on the test split: accuracy {d['metrics']['accuracy']:.4f}" in text
    assert f"accuracy_floor accuracy {d['checks'][0]['measured']:.4f} >= 0.3000 passed" in text
    assert "no_regression accuracy – >= -0.0200 skipped no blessed model before" in text
    beats = d["checks"][2]
    assert (
        f"beats_baselines accuracy {beats['measured']:.4f} >= {beats['threshold']:.4f} passed best baseline plus "
        f"margin (best baseline {beats['baseline_algorithm']}"
    ) in text
    pushed = newest_version(run["config"].push_destination)
    assert pushed is not None and f"Pushed version {pushed.version} at {pushed.manifest['pushed_at']}" in text
    assert pushed.model_dir in text


def test_page_is_self_contained(page):
    assert_self_contained(page["html"])
    assert page["html"].count("<svg") == 5 + 2 + 1  # heatmaps, training curves, the accuracy bars


def test_self_containment_check_catches_external_references():
    for bad in (
        '<img src="https://example.org/a.png">',
        '<link rel="stylesheet" href="//cdn.example/x.css">',
        '<div style="background: url(//cdn.example/x.png)"></div>',
        '<a href="report2.html">x</a>',
        '<script src="app.js"></script>',
    ):
        with pytest.raises(AssertionError):
            assert_self_contained(f"<html><body>{bad}</body></html>")


# -- missing and broken parts --------------------------------------------------------------------------------


def test_no_run_recorded_every_section_says_not_available(tmp_path):
    from pipeline.report import main

    output = tmp_path / "report.html"
    assert (
        main(["--set", f"output_root={tmp_path / 'runs'}", "--set", "baselines.enabled=false", "--output", str(output)])
        == 0
    )
    html = output.read_text(encoding="utf-8")
    text = _text(html)
    assert "NO DECISION" in text and not (tmp_path / "runs").exists()  # no empty MLMD database created
    assert "not available: no pipeline run is recorded" in text
    assert text.count("not available:") >= 9
    assert "the sklearn baselines are disabled (baselines.enabled=false)" in text
    assert_self_contained(html)


def test_partial_run_shows_what_there_is(run, tmp_path):
    """A run that failed after training: no Evaluator, no Pusher, baselines disabled, a corrupt summary."""
    from pipeline.report import write_report

    ingest = tmp_path / "ingest"
    ingest.mkdir()
    (ingest / "summary.json").write_text("{not json", encoding="utf-8")
    outputs = {
        k: v for k, v in run["outputs"].items() if k.split(".")[0] in ("Trainer", "StatisticsGen", "ExampleValidator")
    }
    outputs["AudioExampleGen.examples"] = str(ingest)
    config = small_config(f"output_root={tmp_path}", "baselines.enabled=false")
    html = open(write_report(config, str(tmp_path / "r.html"), outputs=outputs), encoding="utf-8").read()
    text = _text(html)
    assert "NO DECISION" in text
    assert "not available: the dataset summary could not be read (JSONDecodeError" in text
    assert "not available: the run recorded no SchemaGen.schema output" in text
    assert "not available: the run recorded no Evaluator.blessing output" in text
    assert "not available: the run recorded no Pusher.pushed_model output" in text
    # Without the Evaluator the Keras row comes from the Trainer's own test metrics; baselines are disabled.
    models = _section(text, "Model comparison", "Per-genre metrics")
    assert (
        f"Keras cnn2d_mel Trainer's own test metrics (no Evaluator result) {_pct(run['trainer']['test']['accuracy'])}"
        in models
    )
    assert "Baselines: not available: the sklearn baselines are disabled" in models
    assert "best epoch" in _section(text, "Training curves", "Blessing decision")
    assert_self_contained(html)


def test_unblessed_decision_says_why_and_that_nothing_was_pushed(run, tmp_path):
    from pipeline.report import write_report
    from tests.helpers.versioned_pusher import make_blessing, run_pusher

    model_uri = run["decision"]["model_uri"]
    decision = _decision(model_uri, 0.2123, ("svm", 0.45))
    config = small_config(f"output_root={tmp_path}")
    # The real pusher, refusing this unblessed model.
    blessing = make_blessing(str(tmp_path / "blessing"), False, model_uri)
    with open(os.path.join(blessing.uri, "decision.json"), "w", encoding="utf-8") as f:
        json.dump(decision, f)
    pushed = run_pusher(model_uri, blessing, config.push_destination, str(tmp_path / "pushed"))
    outputs = {**run["outputs"], "Evaluator.blessing": blessing.uri, "Pusher.pushed_model": pushed.uri}
    html = open(
        write_report(
            config, str(tmp_path / "r.html"), outputs=outputs, evaluation=run["evaluation"], decision=decision
        ),
        encoding="utf-8",
    ).read()
    text = _text(html)
    assert re.search(r'<div class="verdict not-blessed">\s*NOT BLESSED', html)
    assert "beats_baselines accuracy 0.2123 >= 0.4500 failed" in text
    assert "Why not blessed: accuracy 0.2123 < best baseline svm 0.4500" in text
    assert "nothing pushed accuracy 0.2123 < best baseline svm 0.4500" in text
    assert f"No version is served from {config.push_destination} yet" in text


def test_metrics_written_before_macro_f1_and_track_macro_f1_show_n_a_never_a_crash(run, tmp_path):
    """An older run: the Trainer's metrics.json without macro_f1, per_genre, track_macro_f1 and
    track_confusion_matrix, the baselines' summary without *_track_macro_f1. The Keras segment macro-F1 is
    computed from its confusion matrix, the baselines' track macro-F1 read from each algorithm's metrics.json,
    and the Keras track macro-F1, recorded nowhere, is "n/a" in the report and the console summary."""
    import shutil

    from components.run_reporter import summary
    from pipeline.report import collect, write_report

    model_run, baselines = tmp_path / "model_run", tmp_path / "baselines"
    shutil.copytree(run["outputs"]["Trainer.model_run"], model_run)
    shutil.copytree(run["outputs"]["SklearnBaselineTrainer.model"], baselines)
    metrics = _read(model_run / "metrics.json")
    for split in ("eval", "test"):
        for key in ("macro_f1", "per_genre", "track_macro_f1", "track_confusion_matrix"):
            del metrics[split][key]
    (model_run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    baseline_summary = _read(baselines / "metrics.json")
    for result in baseline_summary["algorithms"].values():
        del result["eval_track_macro_f1"], result["test_track_macro_f1"]
    (baselines / "metrics.json").write_text(json.dumps(baseline_summary), encoding="utf-8")
    outputs = {**run["outputs"], "Trainer.model_run": str(model_run), "SklearnBaselineTrainer.model": str(baselines)}

    report = collect(run["config"], outputs)
    keras = report["comparison"]["rows"][0]
    assert keras["keras"] and keras["source"] == "Trainer's own test metrics (no Evaluator result)"
    trainer = run["trainer"]
    assert keras["macro_f1"] == pytest.approx(trainer["test"]["macro_f1"])
    assert keras["eval_macro_f1"] == pytest.approx(trainer["eval"]["macro_f1"])
    assert keras["track_macro_f1"] is None and keras["eval_track_macro_f1"] is None
    assert keras["track_accuracy"] == trainer["test"]["track_accuracy"]
    for m in report["baselines"]["models"]:
        recorded = run["baselines"]["algorithms"][m["algorithm"]]
        assert (m["track_macro_f1"], m["eval_track_macro_f1"]) == (
            recorded["test_track_macro_f1"],
            recorded["eval_track_macro_f1"],
        )

    # Per split: accuracy, macro-F1, track accuracy, and n/a for the track macro-F1.
    eval_figures, test_figures = (
        " ".join(_pct(trainer[split][key]) for key in SCORES[:3]) + " n/a" for split in ("eval", "test")
    )
    keras_line = next(line for line in summary.text(report).split("\n") if line.startswith("Keras cnn2d_mel"))
    assert " ".join(keras_line.split()[2:]) == f"{eval_figures} {test_figures}", keras_line
    # A report summary.json from before the per-track macro-F1 and the "<split>_" keys: n/a, no KeyError.
    for key in ("eval_macro_f1", "eval_track_accuracy", "eval_track_macro_f1", "test_macro_f1"):
        del report["trainer"][key]
    for m in report["baselines"]["models"]:
        for key in ("track_macro_f1", "eval_macro_f1", "eval_track_accuracy", "eval_track_macro_f1"):
            del m[key]
    assert summary.text(report).count("n/a") >= 4 * (1 + len(ALGORITHMS))

    html = open(write_report(run["config"], str(tmp_path / "r.html"), outputs=outputs), encoding="utf-8").read()
    models = _section(_text(html), "Model comparison", "Per-genre metrics")
    assert f"Keras cnn2d_mel Trainer's own test metrics (no Evaluator result) {test_figures} {eval_figures}" in models


# -- pieces --------------------------------------------------------------------------------------------------


def test_metrics_from_confusion_match_the_baselines_metric_code():
    from components.run_reporter.collect import metrics_from_confusion

    matrix = [[5, 1, 0], [2, 2, 0], [0, 0, 0]]
    result = metrics_from_confusion(matrix, ["a", "b", "c"])
    assert result["accuracy"] == pytest.approx(7 / 10)
    f1_a, f1_b = 2 * 5 / (2 * 5 + 1 + 2), 2 * 2 / (2 * 2 + 2 + 1)
    assert result["macro_f1"] == pytest.approx((f1_a + f1_b) / 2)  # c has no examples: left out of the mean
    assert result["per_genre"]["a"]["recall"] == pytest.approx(5 / 6)


def test_overfitting_is_where_val_loss_turns_up_while_train_loss_falls():
    from components.run_reporter.collect import overfitting

    epochs = [
        {"epoch": i + 1, "loss": loss, "val_loss": val}
        for i, (loss, val) in enumerate([(2.0, 1.9), (1.5, 1.4), (1.0, 1.2), (0.6, 1.3), (0.3, 1.6)])
    ]
    start, note = overfitting(epochs, 3)
    assert start == 3 and "rose after it (to 1.6000)" in note and "overfits from epoch 4" in note
    assert overfitting(epochs[:3], 3)[0] is None  # best at the last epoch: nothing to say yet


def test_data_validation_flags_a_shifted_feature_with_tfdvs_own_measure(tmp_path):
    """A numeric feature shifted in test: TFDV's Jensen-Shannon divergence is over the threshold and equals
    the value TFDV's anomaly text states; a categorical one shifted: L-infinity, likewise."""
    import tensorflow as tf
    import tensorflow_data_validation as tfdv

    from components.run_reporter import data_validation

    rng = np.random.default_rng(0)

    def write(split, n, shift, genres):
        path = str(tmp_path / f"{split}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for i in range(n):
                feature = {
                    "genre": tf.train.Feature(bytes_list=tf.train.BytesList(value=[genres[i % len(genres)]])),
                    "rms_dbfs": tf.train.Feature(float_list=tf.train.FloatList(value=[rng.normal(-20 + shift, 3)])),
                    "artist_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[i + 1000 * shift])),
                }
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        return tfdv.generate_statistics_from_tfrecord(path).datasets[0]

    stats = {
        "train": write("train", 300, 0, [b"Rock", b"Pop", b"Folk"]),
        "test": write("test", 90, 6, [b"Rock", b"Rock", b"Pop"]),
    }
    schema = tfdv.infer_schema(data_validation._as_list(stats["train"]))
    result = data_validation.compare_splits(stats, schema)
    rows = {r["feature"]: r for r in result["rows"]}
    assert set(rows) == {"genre", "rms_dbfs"} and "artist_id" in result["not_compared"]
    assert rows["genre"]["comparator"] == "L-infinity distance"
    # Rock: 1/3 of train, 2/3 of test.
    assert rows["genre"]["splits"]["test"]["skew"] == pytest.approx(1 / 3, abs=0.01)
    assert rows["rms_dbfs"]["comparator"] == "Jensen-Shannon divergence"
    jsd = rows["rms_dbfs"]["splits"]["test"]
    assert jsd["flagged"] and jsd["skew"] > 0.1 and jsd["drift"] == pytest.approx(jsd["skew"])
    anomalies = tfdv.validate_statistics(
        data_validation._as_list(stats["test"]),
        data_validation.comparator_schema(schema),
        previous_statistics=data_validation._as_list(stats["train"]),
    )
    stated = re.search(
        r"Jensen-Shannon divergence between current and previous is ([0-9.]+)",
        anomalies.anomaly_info["rms_dbfs"].description,
    )
    assert float(stated.group(1)) == pytest.approx(jsd["drift"], rel=1e-5)
    # Thresholds come back from TFDV as set; the pipeline's own schema is left untouched.
    assert rows["genre"]["threshold"] == data_validation.L_INFINITY_THRESHOLD
    assert not tfdv.get_feature(schema, "genre").HasField("skew_comparator")


def test_charts_are_escaped_svg_with_the_numbers():
    from components.run_reporter import charts

    svg = charts.heatmap([[3, 1], [0, 4]], ["Hip-Hop", "<Folk & co>"], title="m")
    assert svg.count("<rect") == 4 and "&lt;Folk &amp; co&gt;" in svg and "<Folk" not in svg
    assert [int(v) for v in re.findall(r">(\d+)</text>", svg)] == [3, 1, 0, 4]
    line = charts.line_chart(
        [{"label": "train", "color": "#000", "points": [(1, 2.0), (2, 1.0), (3, None)]}],
        "Loss",
        "epoch",
        "loss",
        markers=[(2, "best epoch 2")],
        shade_from=1,
    )
    assert "best epoch 2" in line and line.count("<circle") == 2 and "#fdecea" in line
    assert charts.nice_ticks(0.12, 0.87) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    bars = charts.bar_chart([("a", 0.5, True), ("b", None, False)], "acc", reference=[(0.3, "floor 30%")])
    assert "50.0%" in bars and "n/a" in bars and "floor 30%" in bars


# -- which run the report is about -----------------------------------------------------------------------------


def test_report_is_of_one_named_run_the_newest_complete_one_unless_another_is_chosen(tmp_path):
    """MLMD holds a complete run and a newer one killed in the Evaluator after training a new model: the report
    names the complete run and shows only its artifacts; `report --run` picks the other and says it is partial."""
    from pipeline.report import main, write_report
    from tests.helpers.mlmd_runs import Runs

    config = small_config(f"output_root={tmp_path}")
    runs = Runs(config)
    runs.complete_run("2026-01-01T10:00:00", blessed=False)
    runs.start("2026-01-02T10:00:00", runner="dead")
    runs.execute("2026-01-02T10:00:00", "AudioExampleGen", "CACHED", cached_from="2026-01-01T10:00:00")
    runs.execute("2026-01-02T10:00:00", "Trainer")
    runs.execute("2026-01-02T10:00:00", "Evaluator", "RUNNING")

    text = _text(open(write_report(config, str(tmp_path / "newest.html")), encoding="utf-8").read())
    header = text[: text.index("Run overview")]
    assert "run 2026-01-01T10:00:00 (started " in header and "NOT BLESSED" in header
    overview = _section(text, "Run overview", "Example ledger")
    assert "Run 2026-01-01T10:00:00 (started " in overview and "not complete" not in overview
    assert runs.outputs["2026-01-01T10:00:00"]["Trainer.model"] in overview
    assert runs.outputs["2026-01-02T10:00:00"]["Trainer.model"] not in text

    chosen = tmp_path / "chosen.html"
    assert main(["--set", f"output_root={tmp_path}", "--run", "2026-01-02T10:00:00", "--output", str(chosen)]) == 0
    text = _text(chosen.read_text(encoding="utf-8"))
    assert "run 2026-01-02T10:00:00 (started " in text and "interrupted" in text
    assert "run 2026-01-02T10:00:00 is not complete (interrupted" in text
    assert runs.outputs["2026-01-02T10:00:00"]["Trainer.model"] in text
    assert main(["--set", f"output_root={tmp_path}", "--run", "nope", "--output", str(chosen)]) == 2


# -- the RunReporter component: the same report as an artifact of the run -----------------------------------


def _run_reporter(config, outputs: dict, uri: str):
    """RunReporter's executor on `outputs` ("<component>.<key>" -> uri) as its input artifacts."""
    from components.run_reporter.component import _TYPES, RunReport
    from components.run_reporter.executor import INPUT_SOURCES, REPORT_KEY, SETTINGS_KEY, Executor
    from pipeline.component_settings import report_settings

    inputs = {}
    for key, name in INPUT_SOURCES.items():
        if outputs.get(name):
            artifact = _TYPES[key]()
            artifact.uri = outputs[name]
            inputs[key] = [artifact]
    report = RunReport()
    report.uri = uri
    Executor().Do(inputs, {REPORT_KEY: [report]}, {SETTINGS_KEY: report_settings(config).model_dump_json()})
    return report


def test_run_reporter_writes_the_report_summary_and_ledger_of_its_input_artifacts(run, tmp_path):
    from components.run_reporter import summary
    from pipeline.report import collect

    uri = str(tmp_path / "RunReporter" / "report")
    artifact = _run_reporter(run["config"], run["outputs"], uri)
    status = _read(os.path.join(uri, "status.json"))
    assert status["ok"] is True and status["error"] == ""
    written = _read(os.path.join(uri, "summary.json"))
    expected = json.loads(json.dumps(collect(run["config"], run["outputs"]), default=list))
    for section in ("verdict", "dataset", "ledger", "comparison", "per_genre", "blessing", "push", "anomalies"):
        assert written[section] == expected[section], section
    assert _read(os.path.join(uri, "ledger.json")) == expected["ledger"]
    assert written["verdict"]["label"] == "BLESSED" and written["ledger"]["mismatches"]  # the fixture's mismatch
    # `make outputs RUN=<remote run>` prints the artifact's summary.json: the same text as for the local run,
    # except that the reporter names the run by its pipeline run id.
    assert written["overview"]["run"]["text"].startswith("this run (reported ")
    assert summary.text(written).split("\n")[1:] == summary.text(expected).split("\n")
    html = open(os.path.join(uri, "report.html"), encoding="utf-8").read()
    assert_self_contained(html)
    assert "BLESSED" in _text(html) and "Example ledger" in _text(html)
    assert artifact.get_int_custom_property("ok") == 1
    assert artifact.get_int_custom_property("blessed") == 1
    assert artifact.get_int_custom_property("ledger_balanced") == 0
    assert artifact.get_int_custom_property("version") == written["push"]["version"]
    assert artifact.get_int_custom_property("anomalies") == sum(map(len, written["anomalies"]["by_split"].values()))
    keras = next(row for row in written["comparison"]["rows"] if row["keras"])
    assert artifact.get_float_custom_property("keras_accuracy") == pytest.approx(keras["accuracy"])
    svm = next(m for m in written["baselines"]["models"] if m["algorithm"] == "svm")
    assert artifact.get_float_custom_property("svm_macro_f1") == pytest.approx(svm["macro_f1"])
    # Per track too (test split): the Keras model's from its Trainer, each baseline's from its summary.
    trainer_test = run["trainer"]["test"]
    assert artifact.get_float_custom_property("keras_track_accuracy") == pytest.approx(trainer_test["track_accuracy"])
    assert artifact.get_float_custom_property("keras_track_macro_f1") == pytest.approx(trainer_test["track_macro_f1"])
    for m in written["baselines"]["models"]:
        recorded = run["baselines"]["algorithms"][m["algorithm"]]
        name = re.sub(r"[^a-z0-9]+", "_", m["name"].lower()).strip("_")
        for key in ("track_accuracy", "track_macro_f1"):
            assert artifact.get_float_custom_property(f"{name}_{key}") == pytest.approx(recorded[f"test_{key}"])
    assert status["metrics"]["svm_track_macro_f1"] == pytest.approx(svm["track_macro_f1"])


def test_a_failing_report_is_recorded_never_raised_and_the_run_summary_says_so(run, tmp_path, monkeypatch):
    from components.run_reporter import render, summary
    from pipeline.report import collect

    def full_disk(report, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render, "write_html", full_disk)
    uri = str(tmp_path / "report")
    artifact = _run_reporter(run["config"], run["outputs"], uri)  # does not raise
    status = _read(os.path.join(uri, "status.json"))
    assert status["ok"] is False and status["error"] == "OSError: [Errno 28] No space left on device"
    assert artifact.get_int_custom_property("ok") == 0
    text = summary.text(collect(run["config"], {**run["outputs"], "RunReporter.report": uri}))
    assert f"Report artifact: FAILED (OSError: [Errno 28] No space left on device); see {uri}" in text


def test_the_transform_section_says_what_each_example_stores():
    from components.run_reporter.collect import stored_description

    summary = {"engineered_features": 518, "engineered_preset": "fma"}
    stored = {"musicnn_embedding": "all", "engineered_features": "all", "audio_pcm16": ["test"]}
    assert stored_description({**summary, "stored_features": stored}) == (
        "stored per example: musicnn embedding, 518 engineered features (fma), waveform (in test only)"
    )
    # a summary written before only what is read was stored
    assert stored_description(summary) == "stored per example: waveform, log-mel, image, 518 engineered features (fma)"
