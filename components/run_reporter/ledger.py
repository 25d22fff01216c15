"""The run's example ledger, one table per split: files -> examples written (AudioExampleGen) -> examples
profiled (StatisticsGen) -> read, written and quarantined (SpectrogramTransform) -> trained and scored on
(Trainer, SklearnBaselineTrainer) -> evaluated (Evaluator).

Each row's expected figure is taken here from the upstream artifact itself, not from what the stage wrote
about it, so the table is a second, independent check of the checks each component already ran
(components/ledger.py). A row that does not balance is flagged MISMATCH and fails `make run-local`.
"""

from __future__ import annotations

import os
from typing import Optional

from components.json_files import read_json

OK, MISMATCH, UNCHECKED = "ok", "MISMATCH", "-"
SPLITS = ("train", "eval", "test")


def _row(
    stage: str, what: str, count: Optional[int], expected: Optional[int], expected_from: str, quarantined: int = 0
) -> dict:
    from components.ledger import Entry  # the one rule of what balances

    balanced = None if count is None else Entry(stage, "", what, count, expected, expected_from, quarantined).balanced
    status = {True: OK, False: MISMATCH, None: UNCHECKED}[balanced]
    return {
        "stage": stage,
        "what": what,
        "count": count,
        "quarantined": quarantined,
        "expected": expected,
        "expected_from": expected_from,
        "status": status,
    }


def build(outputs: dict) -> dict:
    """{"splits": {split: [rows]}, "balanced": bool, "mismatches": [text]} from a run's output artifacts."""
    from components.audio_example_gen.executor import SUMMARY_FILE as INGEST_SUMMARY
    from components.audio_example_gen.executor import UNASSIGNED
    from components.spectrogram_transform.features import SUMMARY_FILE as TRANSFORM_SUMMARY

    rows: dict[str, list[dict]] = {}
    ingest = _summary(outputs, "AudioExampleGen.examples", INGEST_SUMMARY)
    written = (ingest or {}).get("examples_written") or {}
    transform = _summary(outputs, "SpectrogramTransform.transformed_examples", TRANSFORM_SUMMARY)
    transformed = (transform or {}).get("examples_written") or {}
    profiled = _profiled(outputs)
    keras = _trainer_counts(outputs)
    baselines = _baseline_counts(outputs)
    evaluated = _evaluated(outputs)
    splits = [s for s in SPLITS if s in written or s in transformed] or list(SPLITS)
    for split in splits:
        table = rows.setdefault(split, [])
        if ingest is not None:
            files = (ingest.get("files_per_split") or {}).get(split, {})
            table.append(
                _row(
                    "AudioExampleGen",
                    "files with examples",
                    files.get("with_examples"),
                    None,
                    "",
                    quarantined=files.get("quarantined", 0),
                )
            )
            table.append(
                _row(
                    "AudioExampleGen",
                    "examples written (counted in its files)",
                    written.get(split),
                    (ingest.get("examples_per_split") or {}).get(split),
                    "decoding workers' reports",
                )
            )
        if split in profiled:
            table.append(
                _row("StatisticsGen", "examples profiled", profiled[split], written.get(split), "AudioExampleGen")
            )
        if transform is not None:
            entry = (transform.get("splits") or {}).get(split, {})
            table.append(
                _row(
                    "SpectrogramTransform",
                    "examples read",
                    entry.get("examples_in"),
                    written.get(split),
                    "AudioExampleGen",
                )
            )
            table.append(
                _row(
                    "SpectrogramTransform",
                    "examples written (counted in its files)",
                    transformed.get(split),
                    written.get(split),
                    "AudioExampleGen",
                    quarantined=entry.get("quarantined", 0),
                )
            )
        for stage, counts, what in (
            ("Trainer", keras, "trained on"),
            ("SklearnBaselineTrainer", baselines, "trained on"),
        ):
            if counts is not None and split in counts:
                table.append(
                    _row(
                        stage,
                        what if split == "train" else "scored",
                        counts[split],
                        transformed.get(split),
                        "SpectrogramTransform",
                    )
                )
        if evaluated is not None and evaluated[0] == split:
            table.append(_row("Evaluator", "evaluated", evaluated[1], transformed.get(split), "SpectrogramTransform"))
    if ingest is not None:
        unassigned = (ingest.get("files_per_split") or {}).get(UNASSIGNED, {})
        if unassigned.get("quarantined"):
            rows[UNASSIGNED] = [
                _row(
                    "AudioExampleGen",
                    "files rejected before a split was known",
                    0,
                    None,
                    "",
                    quarantined=unassigned["quarantined"],
                )
            ]
    mismatches = [
        f"{split}: {r['stage']} {r['what']} {r['count']}"
        + (f" + {r['quarantined']} quarantined" if r["quarantined"] else "")
        + f" != {r['expected']} ({r['expected_from']})"
        for split, table in rows.items()
        for r in table
        if r["status"] == MISMATCH
    ]
    reconciles = ingest is None or ingest.get("reconciles", True)
    if not reconciles:
        mismatches.append("AudioExampleGen: files seen != files with examples + files quarantined")
    return {"splits": rows, "balanced": not mismatches, "mismatches": mismatches}


def lines(ledger: dict) -> list[str]:
    """The ledger as console text: one block per split."""
    out = ["Ledger (per split; expected = what the upstream artifact recorded):"]
    for split, table in ledger["splits"].items():
        out.append(f"  {split}")
        for r in table:
            count = "-" if r["count"] is None else str(r["count"])
            quarantine = f" + {r['quarantined']} quarantined" if r["quarantined"] else ""
            expected = "" if r["expected"] is None else f"  = {r['expected']} from {r['expected_from']}"
            out.append(f"    {r['stage']:<23} {r['what']:<40} {count:>7}{quarantine}{expected}  [{r['status']}]")
    out.append(
        "Ledger balances: every example is accounted for."
        if ledger["balanced"]
        else "LEDGER DOES NOT BALANCE: " + "; ".join(ledger["mismatches"])
    )
    return out


def _summary(outputs: dict, key: str, name: str) -> Optional[dict]:
    uri = outputs.get(key)
    return read_json(os.path.join(uri, name)) if uri else None


def _profiled(outputs: dict) -> dict[str, int]:
    uri = outputs.get("StatisticsGen.statistics")
    if not uri:
        return {}
    from components.run_reporter.data_validation import load_statistics

    return {split: int(stats.num_examples) for split, stats in load_statistics(uri).items()}


def _trainer_counts(outputs: dict) -> Optional[dict[str, int]]:
    from components.keras_trainer.trainer import METRICS_FILE

    uri = outputs.get("Trainer.model_run")
    metrics = read_json(os.path.join(uri, METRICS_FILE)) if uri else None
    if metrics is None or "examples" not in metrics:
        return None
    counts = {"train": metrics["examples"].get("train")}
    counts.update({split: metrics[split]["examples"] for split in ("eval", "test") if metrics.get(split)})
    return counts


def _baseline_counts(outputs: dict) -> Optional[dict[str, int]]:
    from components.sklearn_baseline_trainer.serialization import SUMMARY_FILE

    uri = outputs.get("SklearnBaselineTrainer.model")
    summary = read_json(os.path.join(uri, SUMMARY_FILE)) if uri else None
    return None if summary is None else summary.get("examples")


def _evaluated(outputs: dict) -> Optional[tuple[str, int]]:
    from components.blessing_evaluator.results import read_evaluation

    uri = outputs.get("Evaluator.evaluation")
    if not uri:
        return None
    evaluation = read_evaluation(uri)
    return evaluation["split"], evaluation["overall"]["example_count"]
