import json
import os

import pytest

from components import ledger
from components.tfrecord_sink import frame_record


def _write_gzip_records(path: str, records: list[bytes]) -> str:
    import gzip

    with gzip.open(path, "wb") as f:
        for record in records:
            f.write(frame_record(record))
    return path


def test_count_records_counts_every_record_of_every_file(tmp_path):
    a = _write_gzip_records(str(tmp_path / "a.gz"), [b"x" * n for n in range(1, 38)])
    b = _write_gzip_records(str(tmp_path / "b.gz"), [b"y"] * 5)
    empty = _write_gzip_records(str(tmp_path / "empty.gz"), [])
    assert ledger.count_records([a]) == 37
    assert ledger.count_records([a, b, empty]) == 42
    assert ledger.count_records([]) == 0


def test_count_records_refuses_a_truncated_file(tmp_path):
    import tensorflow as tf

    whole = _write_gzip_records(str(tmp_path / "whole.gz"), [os.urandom(5000) for _ in range(20)])
    cut = tmp_path / "cut.gz"
    cut.write_bytes(open(whole, "rb").read()[:-3000])
    with pytest.raises(tf.errors.OpError):
        ledger.count_records([str(cut)])


def test_recorded_examples_reads_the_producers_record(tmp_path):
    assert ledger.recorded_examples(str(tmp_path)) is None  # no summary: nothing recorded
    (tmp_path / "summary.json").write_text(json.dumps({"counts": {}}))
    assert ledger.recorded_examples(str(tmp_path)) is None  # a summary without the record
    (tmp_path / "summary.json").write_text(json.dumps({"examples_written": {"train": 7, "test": "3"}}))
    assert ledger.recorded_examples(str(tmp_path)) == {"train": 7, "test": 3}
    (tmp_path / "summary.json").write_text("{not json")
    assert ledger.recorded_examples(str(tmp_path)) is None


def test_check_passes_balanced_entries_and_names_both_sides_of_a_loss():
    ok = ledger.Entry("Trainer", "eval", "read", 10, 10, "SpectrogramTransform /t/1")
    quarantine_explains = ledger.Entry(
        "SpectrogramTransform", "train", "wrote", 8, 10, "AudioExampleGen /a/1", quarantined=2
    )
    unrecorded = ledger.Entry("Trainer", "test", "read", 4, None, "SpectrogramTransform /t/1")
    rows = ledger.check([ok, quarantine_explains, unrecorded])
    assert [r["balanced"] for r in rows] == [True, True, None]

    lost = ledger.Entry("SpectrogramTransform", "train", "read", 1201, 1280, "AudioExampleGen /a/1", output="/t/2")
    with pytest.raises(ledger.LedgerMismatch) as error:
        ledger.check([ok, lost])
    message = str(error.value)
    assert "SpectrogramTransform, split 'train': read 1201" in message
    assert "AudioExampleGen /a/1 recorded 1280 (79 missing); this stage's output: /t/2." in message
    assert "Trainer" not in message  # only the entries that do not balance

    invented = ledger.Entry("Evaluator", "test", "evaluated", 12, 10, "SpectrogramTransform /t/1")
    with pytest.raises(ledger.LedgerMismatch, match="2 more than recorded"):
        ledger.check([invented])


def test_entries_against_the_producers_record(tmp_path):
    assert [
        e.expected
        for e in ledger.against_record("Trainer", str(tmp_path), "SpectrogramTransform", {"train": ("read", 5)})
    ] == [None]  # no record: unchecked
    (tmp_path / "summary.json").write_text(json.dumps({"examples_written": {"train": 5, "eval": 2, "test": 3}}))
    entries = ledger.against_record(
        "Evaluator",
        str(tmp_path),
        "SpectrogramTransform",
        {"train": ("read", 5), "eval,test": ("evaluated", 4), "extra": ("read", 1)},
        output="/out",
    )
    assert [(e.split, e.expected, e.balanced) for e in entries] == [
        ("train", 5, True),
        ("eval,test", 5, False),
        ("extra", 0, False),
    ]
    assert entries[0].upstream == f"SpectrogramTransform {tmp_path}" and entries[0].output == "/out"


def test_artifact_root_of_a_split_pattern():
    assert (
        ledger.artifact_root("/p/Transform/transformed_examples/6/Split-train/*")
        == "/p/Transform/transformed_examples/6"
    )
