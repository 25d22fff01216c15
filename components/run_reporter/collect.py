"""Gathers what the report and the console summary show from a run's artifacts: plain dicts, one per section.

The one reader of what a run's artifacts hold: the HTML report (render.py), the summary `make run-local` and
`make outputs` print (summary.py) and run-local's ledger check all use collect()'s dict. Which artifacts
belong to a run is the caller's business: the RunReporter component's inputs, or pipeline/runs.py (MLMD).

Every section is either {"available": True, ...its data} or {"available": False, "why": "..."}: a
disabled step, a failed one or an unreadable file makes its section say why, never the report crash.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable
from typing import Optional

from components.classification_metrics import from_confusion
from components.json_files import read_json, read_jsonl
from components.run_reporter.settings import ReportSettings

_log = logging.getLogger(__name__)

QUARANTINE_ROWS = 200  # beyond this the report points at the file
ALGORITHM_NAMES = {
    "logistic_regression": "Logistic regression",
    "knn": "k-nearest neighbours",
    "gaussian_nb": "Gaussian naive Bayes",
    "svm": "SVM",
}
SPLITS = ("train", "eval", "test")
# Each model's figures on a split: accuracy and macro-F1 (over the genres present) per segment, and the same
# per track (its segments' scores averaged): the comparison table, the console summary, the artifact's properties.
SCORES = ("accuracy", "macro_f1", "track_accuracy", "track_macro_f1")


class RunOutputs(dict):
    """Artifact URI by "<component id>.<output key>", all from one run. `run` names it (anything with run_id,
    started, status, detail and describe(): pipeline/runs.py's RunInfo, the RunReporter's ReportedRun), or is
    None when no run was found; `note` then says why. What every reader here takes as `outputs`."""

    def __init__(self, outputs=(), run=None, note: str = ""):
        super().__init__(outputs)
        self.run = run
        self.note = note


def unavailable(why: str) -> dict:
    return {"available": False, "why": why}


def available(**data) -> dict:
    return {"available": True, "why": "", **data}


def _guarded(title: str, build: Callable[[], dict]) -> dict:
    try:
        return build()
    except Exception as e:
        _log.warning("report: %s could not be built: %s: %s", title, type(e).__name__, e, exc_info=True)
        return unavailable(f"{title} could not be read ({type(e).__name__}: {e})")


def _missing(outputs: dict, key: str) -> str:
    if not outputs:
        note = getattr(outputs, "note", "") or "no pipeline run is recorded"
        return f"{note} (run `make run-local` first)"
    return f"the run recorded no {key} output (the step did not run, failed, or is not in the pipeline)"


def run_summary(outputs: dict) -> Optional[dict]:
    """Which run the outputs are from (runs.latest_outputs names it), or None if not known."""
    run = getattr(outputs, "run", None)
    if run is None:
        return None
    return {
        "id": run.run_id,
        "started": run.started,
        "status": run.status,
        "detail": run.detail,
        "complete": run.status == "complete",
        "text": run.describe(),
    }


# -- overview ------------------------------------------------------------------------------------------------


def overview(settings: ReportSettings, outputs: dict, generated_at: str) -> dict:
    rows = [tuple(row) for row in settings.settings_rows]
    run = run_summary(outputs)
    if run is not None:
        rows.insert(0, ("Run", run["text"]))
    return {
        "generated_at": generated_at,
        "pipeline_name": settings.pipeline_name,
        "settings": rows,
        "artifacts": sorted(outputs.items()),
        "run_recorded": bool(outputs),
        "run": run,
        "run_note": getattr(outputs, "note", ""),
    }


# -- dataset -------------------------------------------------------------------------------------------------


def _artifact_summary(outputs: dict, key: str, summary_file: str):
    """(uri, summary.json, None), or (uri, None, the "not available" section saying what is missing)."""
    uri = outputs.get(key)
    if not uri:
        return None, None, unavailable(_missing(outputs, key))
    summary = read_json(os.path.join(uri, summary_file))
    if summary is None:
        return uri, None, unavailable(f"{os.path.join(uri, summary_file)} does not exist")
    return uri, summary, None


def _ordered_splits(names) -> list[str]:
    return [s for s in SPLITS if s in names] + sorted(s for s in names if s not in SPLITS)


def dataset(outputs: dict, genres, transform: Optional[dict] = None) -> dict:
    """AudioExampleGen's summary and quarantine; `transform` (transform_summary's section) is read unless given."""
    from components.audio_example_gen.executor import QUARANTINE_FILE, SUMMARY_FILE

    uri, summary, missing = _artifact_summary(outputs, "AudioExampleGen.examples", SUMMARY_FILE)
    if missing:
        return missing
    per = summary.get("examples_per_split_and_genre") or {}
    splits = _ordered_splits(per)
    table = [
        {"genre": g, "counts": [per[s].get(g, 0) for s in splits], "total": sum(per[s].get(g, 0) for s in splits)}
        for g in genres
    ]
    quarantine = read_jsonl(os.path.join(uri, QUARANTINE_FILE)) or []
    rows = [
        {
            "path": q.get("path", ""),
            "track_id": q.get("track_id"),
            "reason": q.get("reason", ""),
            "detail": q.get("detail", ""),
        }
        for q in quarantine
    ]
    if transform is None:
        transform = _guarded("SpectrogramTransform's summary", lambda: transform_summary(outputs))
    return available(
        uri=uri,
        splits=splits,
        genres=list(genres),
        table=table,
        examples_per_split=summary["examples_per_split"],
        split_totals=[summary["examples_per_split"].get(s, 0) for s in splits],
        counts=summary.get("counts", {}),
        reconciles=summary.get("reconciles"),
        quarantined_by_reason=summary.get("quarantined_by_reason", {}),
        quarantine=rows[:QUARANTINE_ROWS],
        quarantine_total=len(rows),
        quarantine_path=os.path.join(uri, QUARANTINE_FILE),
        duplicates=summary.get("duplicate_audio", []),
        ignored_files=summary.get("ignored_files", []),
        transform=transform,
    )


def transform_summary(outputs: dict) -> dict:
    from components.spectrogram_transform.features import QUARANTINE_FILE, SUMMARY_FILE

    uri, summary, missing = _artifact_summary(outputs, "SpectrogramTransform.transformed_examples", SUMMARY_FILE)
    if missing:
        return missing
    per = summary.get("splits", {})
    splits = _ordered_splits(per)
    quarantine = read_jsonl(os.path.join(uri, QUARANTINE_FILE)) or []
    return available(
        uri=uri,
        splits=[{"split": s, **per[s]} for s in splits],
        counts=summary.get("counts", {}),
        quarantined_by_reason=summary.get("quarantined_by_reason", {}),
        stored=stored_description(summary),
        quarantine=quarantine[:QUARANTINE_ROWS],
        quarantine_total=len(quarantine),
        quarantine_path=os.path.join(uri, QUARANTINE_FILE),
    )


def stored_description(summary: dict) -> str:
    """What each transformed example carries, from SpectrogramTransform's summary.json ("stored_features";
    older summaries stored everything and recorded only the engineered preset)."""
    engineered = f"{summary.get('engineered_features', '?')} engineered features ({summary.get('engineered_preset')})"
    stored = summary.get("stored_features")
    if stored is None:
        return f"stored per example: waveform, log-mel, image, {engineered}"
    names = {
        "musicnn_embedding": "musicnn embedding",
        "log_mel": "log-mel",
        "mel_image": "image",
        "engineered_features": engineered,
        "audio_pcm16": "waveform",
    }
    parts = [
        names.get(n, n) + ("" if where == "all" else f" (in {', '.join(where)} only)") for n, where in stored.items()
    ]
    return "stored per example: " + ", ".join(parts)


def quarantine_files(outputs: dict) -> dict[str, str]:
    """The quarantine list of each of the run's artifacts that keeps one, by "<component>.<key>"."""
    from components.audio_example_gen.executor import QUARANTINE_FILE as INGEST_QUARANTINE
    from components.spectrogram_transform.features import QUARANTINE_FILE as TRANSFORM_QUARANTINE

    files = {
        "AudioExampleGen.examples": INGEST_QUARANTINE,
        "SpectrogramTransform.transformed_examples": TRANSFORM_QUARANTINE,
    }
    return {key: os.path.join(outputs[key], name) for key, name in files.items() if outputs.get(key)}


def ledger_section(outputs: dict) -> dict:
    from components.run_reporter import ledger

    if not outputs:
        return unavailable(_missing(outputs, "AudioExampleGen.examples"))
    return available(**ledger.build(outputs))


# -- data validation -----------------------------------------------------------------------------------------


def statistics(outputs: dict, anomalies_section: Optional[dict] = None) -> dict:
    """Per-split TFDV summaries; `anomalies_section` (anomalies()'s) is read unless given."""
    from components.run_reporter import data_validation

    uri = outputs.get("StatisticsGen.statistics")
    if not uri:
        return unavailable(_missing(outputs, "StatisticsGen.statistics"))
    stats = data_validation.load_statistics(uri)
    order = data_validation.split_order(stats)
    if anomalies_section is None:
        anomalies_section = _guarded("ExampleValidator's anomalies", lambda: anomalies(outputs))
    return available(splits={s: data_validation.summarize_split(stats[s]) for s in order}, anomalies=anomalies_section)


def anomalies(outputs: dict) -> dict:
    from components.run_reporter import data_validation

    uri = outputs.get("ExampleValidator.anomalies")
    if not uri:
        return unavailable(_missing(outputs, "ExampleValidator.anomalies"))
    return available(uri=uri, by_split=data_validation.anomalies_by_split(uri))


def skew_and_drift(outputs: dict) -> dict:
    from components.run_reporter import data_validation

    for key in ("StatisticsGen.statistics", "SchemaGen.schema"):
        if not outputs.get(key):
            return unavailable(_missing(outputs, key))
    stats = data_validation.load_statistics(outputs["StatisticsGen.statistics"])
    if data_validation.REFERENCE_SPLIT not in stats or len(stats) < 2:
        return unavailable(
            f"skew and drift need the {data_validation.REFERENCE_SPLIT} split and another one; "
            f"the statistics hold {sorted(stats)}"
        )
    order = data_validation.split_order(stats)
    result = data_validation.compare_splits(
        {s: stats[s] for s in order}, data_validation.load_schema(outputs["SchemaGen.schema"])
    )
    flagged = [r["feature"] for r in result["rows"] if any(v["flagged"] for v in r["splits"].values())]
    return available(
        **result,
        flagged=flagged,
        l_infinity=data_validation.L_INFINITY_THRESHOLD,
        jensen_shannon=data_validation.JENSEN_SHANNON_THRESHOLD,
    )


# -- models --------------------------------------------------------------------------------------------------


def metrics_from_confusion(matrix, genres) -> dict:
    """Accuracy, macro-F1 and per-genre P/R/F1 of a confusion matrix (rows true), by the metric code every
    model's own numbers come from (components/classification_metrics.py)."""
    return from_confusion(matrix, list(genres))


def split_scores(split: Optional[dict], genres=None) -> dict:
    """One split of the Trainer's metrics.json as SCORES: None where it lacks one. A metrics.json written
    before macro-F1 was recorded has its segment macro-F1 computed from its confusion matrix (given the
    genres); its track macro-F1 stays None."""
    split = split or {}
    scores = {key: split.get(key) for key in SCORES}
    if scores["macro_f1"] is None and split.get("confusion_matrix") and genres:
        try:
            scores["macro_f1"] = metrics_from_confusion(split["confusion_matrix"], genres)["macro_f1"]
        except ValueError as e:
            _log.warning("report: no macro-F1 from the confusion matrix %s: %s", split["confusion_matrix"], e)
    return scores


def trainer_metrics(outputs: dict) -> dict:
    """What the Trainer measured itself (its metrics.json): eval and test accuracy and macro-F1, per segment
    and per track, as "<split>_<score>"; `track_accuracy` is test_track_accuracy's older name."""
    from components.keras_trainer.trainer import METRICS_FILE

    uri = outputs.get("Trainer.model_run")
    if not uri:
        return unavailable(_missing(outputs, "Trainer.model_run"))
    metrics = read_json(os.path.join(uri, METRICS_FILE))
    if metrics is None:
        return unavailable(f"{os.path.join(uri, METRICS_FILE)} does not exist")
    genres = metrics.get("genres")
    scores = {
        f"{split}_{key}": value
        for split in ("eval", "test")
        for key, value in split_scores(metrics.get(split), genres).items()
    }
    return available(
        metrics=metrics,
        name=f"Keras {metrics.get('model_family')}",
        **scores,
        track_accuracy=scores["test_track_accuracy"],
    )


def keras_results(
    settings: ReportSettings, outputs: dict, evaluation: Optional[dict], trainer: Optional[dict] = None
) -> dict:
    """The Keras model's test metrics: the Evaluator's (TFMA) when there, else the Trainer's own (`trainer`,
    its metrics.json, read here unless given)."""
    if trainer is None and outputs.get("Trainer.model_run"):
        from components.keras_trainer.trainer import METRICS_FILE

        trainer = read_json(os.path.join(outputs["Trainer.model_run"], METRICS_FILE))
    if evaluation is None and trainer is None:
        return unavailable(_missing(outputs, "Evaluator.evaluation") + "; no Trainer metrics either")
    family = (trainer or {}).get("model_family", settings.model_family)
    test = (trainer or {}).get("test") or {}
    test_scores = split_scores(test, settings.genres)
    eval_scores = split_scores((trainer or {}).get("eval"), settings.genres)
    if evaluation is not None:
        overall = evaluation["overall"]
        per_genre = evaluation.get("per_genre", {})
        slices = evaluation.get("slices", {})
        support = {g: (slices.get(g) or {}).get("example_count") for g in settings.genres}
        source = f"Evaluator (TFMA), {evaluation.get('split', 'test')} split"
        accuracy, macro_f1, examples = overall.get("accuracy"), overall.get("macro_f1"), overall.get("example_count")
        matrix = evaluation.get("confusion_matrix")
    elif test.get("confusion_matrix"):
        computed = metrics_from_confusion(test["confusion_matrix"], settings.genres)
        per_genre = computed["per_genre"]
        support = {g: per_genre[g]["support"] for g in settings.genres}
        source = "Trainer's own test metrics (no Evaluator result)"
        accuracy, macro_f1, examples = test.get("accuracy"), computed["macro_f1"], test.get("examples")
        matrix = test["confusion_matrix"]
    else:
        return unavailable(
            "the Trainer recorded no test metrics "
            f"({(trainer or {}).get('test_skipped', 'no test split')}) and there is no Evaluator result"
        )
    return available(
        name=f"Keras {family}",
        source=source,
        accuracy=accuracy,
        macro_f1=macro_f1,
        examples=examples,
        track_accuracy=test_scores["track_accuracy"],
        track_macro_f1=test_scores["track_macro_f1"],
        **{f"eval_{key}": value for key, value in eval_scores.items()},
        per_genre=per_genre,
        support=support,
        confusion_matrix=matrix,
        trainer_test_accuracy=test.get("accuracy"),
    )


def baselines(settings: ReportSettings, outputs: dict) -> dict:
    from components.sklearn_baseline_trainer.serialization import METRICS_FILE, SUMMARY_FILE

    if not settings.baselines_enabled:
        return unavailable("the sklearn baselines are disabled (baselines.enabled=false)")
    uri = outputs.get("SklearnBaselineTrainer.model")
    if not uri:
        return unavailable(_missing(outputs, "SklearnBaselineTrainer.model"))
    summary = read_json(os.path.join(uri, SUMMARY_FILE))
    if summary is None:
        return unavailable(f"{os.path.join(uri, SUMMARY_FILE)} does not exist")
    models = []
    # Named with their input when it is not the engineered features (baselines.feature_set=musicnn).
    feature_set = summary.get("feature_set", "engineered")
    on = "" if feature_set == "engineered" else f" on {feature_set}"
    for algorithm, result in summary["algorithms"].items():
        detail = read_json(os.path.join(uri, algorithm, METRICS_FILE)) or {}
        test = detail.get("test") or {}
        scores = {split: _baseline_scores(result, detail, split) for split in ("eval", "test")}
        # The SVM past baselines.svm_exact_max_examples is an approximation: "RBF via Nyström, 1,000 components".
        approximation = result.get("approximation")
        models.append(
            {
                "algorithm": algorithm,
                "name": ALGORITHM_NAMES.get(algorithm, algorithm)
                + (f" ({approximation})" if approximation else "")
                + on,
                "on": on,
                "approximation": approximation,
                **scores["test"],
                **{f"eval_{key}": value for key, value in scores["eval"].items()},
                "examples": test.get("examples"),
                "best": algorithm == summary.get("best_algorithm"),
                "per_genre": test.get("per_genre", {}),
                "confusion_matrix": (test.get("confusion_matrix") or {}).get("matrix"),
            }
        )
    return available(models=models, best=summary.get("best_algorithm"), selection=summary.get("selection", ""))


def _baseline_scores(result: dict, detail: dict, split: str) -> dict:
    """SCORES of one baseline on one split: from the summary (metrics.json's `algorithms` entry), else from
    the algorithm's own metrics.json (a summary written before it held test_track_macro_f1)."""
    level = detail.get(split) or {}
    recorded = {**level, **{f"track_{k}": v for k, v in (level.get("track_level") or {}).items()}}
    return {key: result.get(f"{split}_{key}", recorded.get(key)) for key in SCORES}


COMPARED = ("examples", *SCORES, *(f"eval_{key}" for key in SCORES))


def comparison(keras: dict, sklearn: dict) -> dict:
    """One row per model: test and eval accuracy and macro-F1, per segment and per track (COMPARED)."""
    rows = []
    if keras["available"]:
        rows.append(
            {
                "name": keras["name"],
                "source": keras["source"],
                "keras": True,
                "note": "",
                **{k: keras.get(k) for k in COMPARED},
            }
        )
    if sklearn["available"]:
        for m in sklearn["models"]:
            rows.append(
                {
                    "name": m["name"],
                    "source": "SklearnBaselineTrainer, test split",
                    "keras": False,
                    "note": "best baseline (by eval accuracy)" if m["best"] else "",
                    **{k: m.get(k) for k in COMPARED},
                }
            )
    if not rows:
        return unavailable(f"no model results: {keras['why']}; baselines: {sklearn['why']}")
    scored = [r["accuracy"] for r in rows if r["accuracy"] is not None]
    for r in rows:
        r["top"] = bool(scored) and r["accuracy"] == max(scored)
    return available(rows=rows, keras_note=keras["why"], baselines_note=sklearn["why"])


def per_genre(genres, keras: dict, sklearn: dict) -> dict:
    models = sklearn["models"] if sklearn["available"] else []
    if not keras["available"] and not models:
        return unavailable("no per-genre metrics: neither the Keras model's nor the baselines' are there")
    rows = []
    for genre in genres:
        row = {"genre": genre, "keras": None, "baselines": []}
        if keras["available"]:
            row["support"] = keras["support"].get(genre)
            row["keras"] = keras["per_genre"].get(genre) or {}
        else:
            row["support"] = (models[0]["per_genre"].get(genre) or {}).get("support")
        row["baselines"] = [(m["per_genre"].get(genre) or {}).get("f1") for m in models]
        rows.append(row)
    return available(
        rows=rows,
        keras_name=keras.get("name"),
        has_keras=keras["available"],
        baseline_names=[m["name"] for m in models],
    )


def confusion_matrices(keras: dict, sklearn: dict) -> dict:
    matrices = []
    if keras["available"] and keras.get("confusion_matrix"):
        matrices.append({"title": f"{keras['name']} · {keras['source']}", "matrix": keras["confusion_matrix"]})
    if sklearn["available"]:
        matrices += [
            {"title": f"{m['name']} · test split", "matrix": m["confusion_matrix"]}
            for m in sklearn["models"]
            if m["confusion_matrix"]
        ]
    if not matrices:
        return unavailable("no confusion matrix: " + "; ".join(w for w in (keras["why"], sklearn["why"]) if w))
    return available(matrices=matrices)


# -- training ------------------------------------------------------------------------------------------------


def training(outputs: dict) -> dict:
    from components.keras_trainer.trainer import HISTORY_FILE, METRICS_FILE

    run = outputs.get("Trainer.model_run")
    if not run:
        return unavailable(_missing(outputs, "Trainer.model_run"))
    history = read_json(os.path.join(run, HISTORY_FILE))
    if not history or not history.get("epochs"):
        return unavailable(f"{os.path.join(run, HISTORY_FILE)} holds no epochs")
    epochs = history["epochs"]
    info = (read_json(os.path.join(run, METRICS_FILE)) or {}).get("training", {})
    val_losses = [(e["epoch"], e.get("val_loss")) for e in epochs if e.get("val_loss") is not None]
    best = info.get("best_epoch") or (min(val_losses, key=lambda p: p[1])[0] if val_losses else None)
    overfit_from, overfit_note = overfitting(epochs, best)
    phases = [
        (e["epoch"], e["phase"]) for k, e in enumerate(epochs) if k and e.get("phase") != epochs[k - 1].get("phase")
    ]
    return available(
        epochs=epochs,
        best_epoch=best,
        overfit_from=overfit_from,
        overfit_note=overfit_note,
        phase_changes=phases,
        info=info,
    )


def overfitting(epochs: list[dict], best_epoch: Optional[int]) -> tuple[Optional[int], str]:
    """Where validation loss turns up while training loss keeps falling: (first such epoch, explanation)."""
    by_epoch = {e["epoch"]: e for e in epochs}
    if best_epoch is None or best_epoch not in by_epoch or by_epoch[best_epoch].get("val_loss") is None:
        return None, "no validation loss recorded"
    best = by_epoch[best_epoch]
    later = [e for e in epochs if e["epoch"] > best_epoch and e.get("val_loss") is not None]
    if not later:
        return None, f"validation loss was lowest at the last epoch ({best_epoch}): no sign of overfitting yet"
    rising = [e for e in later if e["val_loss"] > best["val_loss"]]
    train_fell = [
        e for e in later if e.get("loss") is not None and best.get("loss") is not None and e["loss"] < best["loss"]
    ]
    if rising and train_fell:
        return best_epoch, (
            f"validation loss was lowest at epoch {best_epoch} ({best['val_loss']:.4f}) and rose "
            f"after it (to {max(e['val_loss'] for e in later):.4f}) while training loss kept "
            f"falling (to {min(e['loss'] for e in train_fell):.4f}): the model overfits from "
            f"epoch {best_epoch + 1} on"
        )
    return None, f"validation loss was lowest at epoch {best_epoch}; the later epochs show no clear overfitting"


# -- blessing and push ---------------------------------------------------------------------------------------


def blessing(decision: Optional[dict], why: str) -> dict:
    if decision is None:
        return unavailable(why)
    from components.blessing_evaluator.policy import check_status

    checks = [{**check, "status": check_status(check)} for check in decision.get("checks", [])]
    return available(
        blessed=bool(decision.get("blessed")),
        split=decision.get("split"),
        metrics=decision.get("metrics", {}),
        checks=checks,
        reasons=decision.get("reasons", []),
        tfma_validation_ok=decision.get("tfma_validation_ok"),
        tfma_failures=decision.get("tfma_failures", []),
        model_uri=decision.get("model_uri"),
    )


def push(settings: ReportSettings, outputs: dict, decision: Optional[dict]) -> dict:
    """What this run's Pusher did (its push_result.json), and which version the destination serves now."""
    from components.versioned_pusher.versions import newest_version, read_push_result

    pushed_uri = outputs.get("Pusher.pushed_model")
    if not pushed_uri:
        return unavailable(_missing(outputs, "Pusher.pushed_model"))
    outcome = read_push_result(pushed_uri)
    newest = newest_version(settings.push_destination)
    result = {
        "pushed": bool(outcome["pushed"]),
        "destination": outcome.get("destination", settings.push_destination),
        "pushed_model_uri": pushed_uri,
        "serving_version": newest.version if newest else None,
    }
    if outcome["pushed"]:
        m = outcome.get("manifest") or {}
        result.update(
            version=outcome["version"],
            model_dir=outcome["model_dir"],
            manifest_path=outcome["manifest_path"],
            pushed_at=m.get("pushed_at"),
            model_family=m.get("model_family"),
            code_version=m.get("code_version", {}),
            data_fingerprint=m.get("data_fingerprint", {}),
        )
    else:
        reasons = outcome.get("reasons") or (decision or {}).get("reasons") or []
        result["why"] = "; ".join(reasons) if reasons else "the model was not blessed"
    return available(**result)


def reporter(outputs: dict) -> dict:
    """Whether this run's RunReporter wrote its report artifact (its status.json)."""
    from components.formats import REPORT_HTML, REPORT_STATUS

    uri = outputs.get("RunReporter.report")
    if not uri:
        return unavailable(_missing(outputs, "RunReporter.report"))
    status = read_json(os.path.join(uri, REPORT_STATUS))
    if status is None:
        return available(uri=uri, ok=False, error=f"{REPORT_STATUS} is missing: the reporter did not finish")
    return available(
        uri=uri, ok=bool(status.get("ok")), error=status.get("error", ""), html=os.path.join(uri, REPORT_HTML)
    )


# -- everything ----------------------------------------------------------------------------------------------


def _read_evaluator(
    settings: ReportSettings, outputs: dict, evaluation: Optional[dict], decision: Optional[dict]
) -> tuple[Optional[dict], Optional[dict], str]:
    """(evaluation, decision, why the decision is missing): the given ones, else read from the Evaluator's
    artifacts with its own readers."""
    evaluation_uri, blessing_uri = outputs.get("Evaluator.evaluation"), outputs.get("Evaluator.blessing")
    problems = []
    if (evaluation is None and evaluation_uri) or (decision is None and blessing_uri):
        try:
            from components.blessing_evaluator import results
        except ImportError as e:
            return evaluation, decision, f"the Evaluator's results cannot be read here ({e})"
        if evaluation is None and evaluation_uri:
            try:
                evaluation = results.read_evaluation(evaluation_uri, list(settings.genres))
            except Exception as e:
                _log.warning("report: evaluation %s unreadable: %s", evaluation_uri, e)
        if decision is None and blessing_uri:
            try:
                decision = results.read_decision(blessing_uri)
            except Exception as e:
                problems.append(f"{blessing_uri} holds no readable decision ({type(e).__name__}: {e})")
    return evaluation, decision, "; ".join(problems) or _missing(outputs, "Evaluator.blessing")


def collect(
    settings: ReportSettings,
    outputs: dict,
    *,
    evaluation: Optional[dict] = None,
    decision: Optional[dict] = None,
    now: Optional[datetime.datetime] = None,
) -> dict:
    """The report's (and the console summary's) data. `outputs` as runs.latest_outputs gives them; evaluation
    and decision (read_evaluation's and read_decision's dicts) are read from the Evaluator's artifacts unless
    given. Each artifact is read once: a section other sections show too (the transform's summary, the
    anomalies, the Trainer's own metrics, the baselines' results) is also at the top level."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    evaluation, decision, evaluator_why = _read_evaluator(settings, outputs, evaluation, decision)
    trainer = _guarded("the Trainer's metrics", lambda: trainer_metrics(outputs))
    keras = _guarded(
        "the Keras model's metrics", lambda: keras_results(settings, outputs, evaluation, trainer.get("metrics"))
    )
    sklearn = _guarded("the baselines' metrics", lambda: baselines(settings, outputs))
    transform = _guarded("SpectrogramTransform's summary", lambda: transform_summary(outputs))
    found = _guarded("ExampleValidator's anomalies", lambda: anomalies(outputs))
    blessed = None if decision is None else bool(decision.get("blessed"))
    return {
        "title": f"{settings.pipeline_name} run report",
        "verdict": {"blessed": blessed, "label": {True: "BLESSED", False: "NOT BLESSED", None: "NO DECISION"}[blessed]},
        "overview": overview(settings, outputs, now.strftime("%Y-%m-%d %H:%M:%S %Z")),
        "genres": list(settings.genres),
        "dataset": _guarded("the dataset summary", lambda: dataset(outputs, settings.genres, transform)),
        "transform": transform,
        "quarantine_files": quarantine_files(outputs),
        "ledger": _guarded("the example ledger", lambda: ledger_section(outputs)),
        "statistics": _guarded("the TFDV statistics", lambda: statistics(outputs, found)),
        "anomalies": found,
        "skew": _guarded("the skew and drift comparison", lambda: skew_and_drift(outputs)),
        "trainer": trainer,
        "baselines": sklearn,
        "comparison": comparison(keras, sklearn),
        "per_genre": per_genre(settings.genres, keras, sklearn),
        "confusion": confusion_matrices(keras, sklearn),
        "training": _guarded("the training history", lambda: training(outputs)),
        "blessing": _guarded("the blessing decision", lambda: blessing(decision, evaluator_why)),
        "push": _guarded("the push result", lambda: push(settings, outputs, decision)),
        "evaluator_floor": settings.accuracy_floor,
        "reporter": _guarded("the RunReporter's status", lambda: reporter(outputs)),
    }
