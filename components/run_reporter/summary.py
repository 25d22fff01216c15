"""The run summary as console text (`make run-local` prints it at the end, `make outputs` on its own), from
collect.collect()'s dict: the same data the HTML report shows, read once from the run's artifacts there."""

from __future__ import annotations

import os

from components.run_reporter import ledger as ledger_view


def _percent(value, missing: str = "-") -> str:
    return missing if value is None else f"{100 * value:.1f}%"


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _artifacts(report: dict) -> dict[str, str]:
    return dict(report["overview"]["artifacts"])


def run(report: dict) -> list[str]:
    """Which run the outputs are from."""
    info = report["overview"].get("run")
    if info is None:
        return []
    lines = [f"Run:             {info['text']}"]
    if not info["complete"]:
        lines.append("  (not a complete run: only the steps it finished are shown)")
    return lines


def data(report: dict) -> list[str]:
    """Ingestion, the TFDV artifacts and anomalies per split, the transform."""
    lines = []
    artifacts = _artifacts(report)
    examples = artifacts.get("AudioExampleGen.examples")
    if examples:
        dataset = report["dataset"]
        if dataset["available"]:
            counts = dataset["counts"]
            lines.append(
                f"Ingestion: {counts['files_seen']} files seen = {counts['files_with_examples']} with examples "
                f"+ {counts['files_quarantined']} quarantined; {counts['examples']} examples "
                f"{dataset['examples_per_split']}"
            )
            if dataset["quarantined_by_reason"]:
                lines.append(f"Quarantine by reason: {dataset['quarantined_by_reason']}")
        lines.append(f"Examples:        {examples}")
        lines.append(f"Quarantine list: {report['quarantine_files']['AudioExampleGen.examples']}")
    for label, key in (
        ("Statistics", "StatisticsGen.statistics"),
        ("Schema", "SchemaGen.schema"),
        ("Anomalies", "ExampleValidator.anomalies"),
    ):
        if key in artifacts:
            lines.append(f"{label + ':':<16} {artifacts[key]}")
    if report["anomalies"]["available"]:
        for split, found in report["anomalies"]["by_split"].items():
            lines.append(f"  anomalies in {split}: " + ("; ".join(found) if found else "none"))
    transform = report["transform"]
    if transform["available"]:
        counts = transform["counts"]
        lines.append(
            f"Transform: {counts['examples_in']} examples in = {counts['examples_out']} out + "
            f"{counts['quarantined']} quarantined"
            + (f" {transform['quarantined_by_reason']}" if counts["quarantined"] else "")
            + "; "
            f"{transform['stored']}"
        )
        lines.append(
            f"Transformed:     {transform['uri']}  (quarantine: {os.path.basename(transform['quarantine_path'])})"
        )
    return lines


# (key, column label): collect.SCORES, each split's figures per segment and per track.
SCORE_COLUMNS = (
    ("accuracy", "acc"),
    ("macro_f1", "macro-F1"),
    ("track_accuracy", "track acc"),
    ("track_macro_f1", "track F1"),
)


def _scores(section: dict, split: str, test_prefix: str = "") -> list:
    """The SCORE_COLUMNS of one model on `split` from its section: "<split>_<score>" keys, the test split's
    under `test_prefix` instead (the baselines' rows name them plainly). Absent (an older summary.json): None."""
    prefix = test_prefix if split == "test" else f"{split}_"
    return [section.get(prefix + key) for key, _ in SCORE_COLUMNS]


def models(report: dict) -> list[str]:
    """Each trained model's accuracy and macro-F1 on eval and test, per segment and per track (its segments'
    probabilities averaged): the Keras model's as its Trainer measured it, the baselines' as theirs."""
    keras, baselines = report["trainer"], report["baselines"]
    rows = []
    if keras["available"]:
        eval_scores, test_scores = _scores(keras, "eval"), _scores(keras, "test", "test_")
        if test_scores[2] is None:  # a summary.json from before "test_track_accuracy"
            test_scores[2] = keras.get("track_accuracy")
        rows.append((keras["name"], eval_scores + test_scores))
    if baselines["available"]:
        for m in baselines["models"]:
            best = " (best baseline)" if m["best"] else ""
            approximation = f" ({m['approximation']})" if m.get("approximation") else ""
            rows.append(
                (f"sklearn {m['algorithm']}{approximation}{m['on']}{best}", _scores(m, "eval") + _scores(m, "test"))
            )
    if not rows:
        return []
    width = max(len(row[0]) for row in rows) + 2
    widths = [max(len(label), 6) + 1 for _, label in SCORE_COLUMNS]
    group = sum(widths) + len(widths) - 1
    labels = [f"{label:>{w}}" for (_, label), w in zip(SCORE_COLUMNS, widths)]
    lines = [
        f"{'':<{width}} {' eval split ':-^{group}} {' test split ':-^{group}}",
        f"{'Model':<{width}} " + " ".join(labels + labels),
    ]
    for name, values in rows:
        cells = [f"{_percent(v, 'n/a'):>{w}}" for v, w in zip(values, widths + widths)]
        lines.append(f"{name:<{width}} " + " ".join(cells))
    lines.append(
        "  per segment, and per track (its segments' probabilities averaged); macro-F1 over the genres present; "
        "n/a: not recorded"
    )
    artifacts = _artifacts(report)
    if keras["available"]:
        lines.append(
            f"Keras model:     {artifacts.get('Trainer.model')}  (run logs: {artifacts.get('Trainer.model_run')})"
        )
    if artifacts.get("SklearnBaselineTrainer.model"):
        lines.append(f"Baseline models: {artifacts['SklearnBaselineTrainer.model']}")
    return lines


def blessing(report: dict) -> list[str]:
    """The Evaluator's decision, check by check, and what the Pusher did with it."""
    artifacts = _artifacts(report)
    if not artifacts.get("Evaluator.blessing"):
        return []
    decision = report["blessing"]
    if not decision["available"]:
        lines = [f"Blessing:        not readable ({decision['why']})"]
    else:
        metrics = decision.get("metrics") or {}
        verdict = "BLESSED" if decision["blessed"] else "NOT BLESSED"
        lines = [
            f"Blessing:        {verdict} (Evaluator on {decision.get('split')}: accuracy "
            f"{_number(metrics.get('accuracy'))}, macro-F1 {_number(metrics.get('macro_f1'))} over "
            f"{metrics.get('example_count', '?')} examples)"
        ]
        for check in decision.get("checks", []):
            if check.get("skipped"):
                outcome = f"skipped: {check.get('detail', '')}"
            else:
                outcome = (
                    f"{check.get('metric')} {_number(check.get('measured'))} {check.get('comparison')} "
                    f"{_number(check.get('threshold'))}: {'passed' if check.get('passed') else 'FAILED'}"
                )
            lines.append(f"  {check['name']:<16} {outcome}")
    lines.append(f"Evaluation:      {artifacts.get('Evaluator.evaluation')}")
    lines.append(push(report))
    return lines


def push(report: dict) -> str:
    result = report["push"]
    if not result["available"]:
        if "Pusher.pushed_model" in _artifacts(report):
            return f"Pushed:          not readable ({result['why']})"
        return "Pushed:          the Pusher has not run"
    if result["pushed"]:
        return (
            f"Pushed:          version {result['version']} -> {result['model_dir']}  "
            f"(manifest {result['manifest_path']})"
        )
    current = f"; serving stays at version {result['serving_version']}" if result["serving_version"] is not None else ""
    return f"Pushed:          nothing ({result['why']}){current}"


def ledger(report: dict) -> list[str]:
    section = report["ledger"]
    if not section["available"]:
        return [f"Ledger:          not available ({section['why']})"]
    return ledger_view.lines(section)


def reporter(report: dict) -> list[str]:
    """Where the run's own report artifact is, or why it is missing (a failed report never fails the run)."""
    section = report.get("reporter") or {}
    if not section.get("available"):
        return []
    if section["ok"]:
        return [f"Report artifact: {section['html']}"]
    return [f"Report artifact: FAILED ({section['error']}); see {section['uri']}; `make report` rebuilds it"]


def text(report: dict) -> str:
    """The whole run summary."""
    settings = dict(report["overview"]["settings"])
    lines = [
        *run(report),
        *data(report),
        *models(report),
        *blessing(report),
        *ledger(report),
        *reporter(report),
        f"Pipeline root:   {settings['Pipeline root']}",
        f"MLMD database:   {settings['MLMD database']}",
    ]
    return "\n".join(lines)
