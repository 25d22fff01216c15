"""The example ledger: every stage checks what it read, per split, against what its upstream recorded.

Each Examples artifact of this pipeline records in its summary.json `examples_written`: {split: records
counted in the artifact's own files after they were written} (not what its Beam graph believed it emitted).
A stage that reads such an artifact compares its own count with that record and, when the two differ by
anything its quarantine does not explain, raises `LedgerMismatch` naming both numbers, both artifacts and
the split. A stage's own tallies alone can never prove that nothing was lost: a record that never reached
the stage is missing from them too.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import Optional

from components.formats import EXAMPLES_WRITTEN, SUMMARY_FILE  # summary.json at the root of an Examples artifact

_log = logging.getLogger(__name__)


class LedgerMismatch(RuntimeError):
    """Examples were lost or invented between two stages."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One stage's count for one split, beside what its upstream recorded."""

    stage: str
    split: str
    what: str  # "read", "trained on", "scored", "evaluated", ...
    counted: int
    expected: Optional[int]  # upstream's record; None when the upstream artifact recorded none
    upstream: str  # "<stage> <artifact uri>"
    quarantined: int = 0
    output: str = ""  # this stage's own output artifact, named in the message

    @property
    def balanced(self) -> Optional[bool]:
        return None if self.expected is None else self.counted + self.quarantined == self.expected

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "balanced": self.balanced}

    def message(self) -> str:
        quarantine = f" + {self.quarantined} quarantined" if self.quarantined else ""
        missing = (self.expected or 0) - self.counted - self.quarantined
        lost = f"{missing} missing" if missing > 0 else f"{-missing} more than recorded"
        return (
            f"{self.stage}, split {self.split!r}: {self.what} {self.counted}{quarantine} examples, but "
            f"{self.upstream} recorded {self.expected} ({lost})"
            + (f"; this stage's output: {self.output}" if self.output else "")
            + ". No example may be lost between stages: "
            "this is a fault in the pipeline or its runner, not bad data; re-run the stage, and report it "
            "if it repeats"
        )


def check(entries: Sequence[Entry]) -> list[dict]:
    """The entries as dicts; raises LedgerMismatch listing every entry that does not balance."""
    broken = [e for e in entries if e.balanced is False]
    if broken:
        raise LedgerMismatch("examples do not reconcile: " + " | ".join(e.message() for e in broken))
    return [e.to_dict() for e in entries]


def count_records(files: Sequence[str]) -> int:
    """Records in TFRecord files (GZIP when the name ends in .gz), read to the end: exact, no estimate.

    Reads every byte (a truncated or corrupt file raises), but parses nothing: about 1 GB/s on one core
    for the stored (uncompressed) transformed examples.
    """
    import tensorflow as tf

    total = 0
    for path in files:
        dataset = tf.data.TFRecordDataset(
            path, compression_type="GZIP" if path.endswith(".gz") else "", buffer_size=4 << 20
        )
        total += int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1).numpy())
    return total


def split_files(examples_uri: str, split: str) -> list[str]:
    import tensorflow as tf

    pattern = os.path.join(examples_uri, f"Split-{split}", "*")
    return sorted(f for f in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(f))


def count_written(examples_uri: str, splits: Sequence[str]) -> dict[str, int]:
    """{split: records in <uri>/Split-<split>/*}, counted from the files."""
    return {split: count_records(split_files(examples_uri, split)) for split in splits}


def recorded_examples(examples_uri: str) -> Optional[dict[str, int]]:
    """{split: examples the artifact's producer counted in its files}, or None when it recorded none
    (an Examples artifact from outside this pipeline)."""
    from components.json_files import read_json  # imports TensorFlow: not at load time (Beam workers)

    try:
        summary = read_json(os.path.join(examples_uri, SUMMARY_FILE))
    except ValueError:  # not JSON: no record
        return None
    written = summary.get(EXAMPLES_WRITTEN) if isinstance(summary, dict) else None
    if not isinstance(written, dict):
        return None
    return {str(split): int(n) for split, n in written.items()}


def against_record(
    stage: str, examples_uri: str, producer: str, counts: dict[str, tuple[str, int]], output: str = ""
) -> list[Entry]:
    """`stage`'s counts, {split: (what, n)}, as entries against what `producer` recorded writing in
    examples_uri. A split named "a,b" is expected to hold the sum of both; a split the record leaves out
    was recorded as 0. Without a record (Examples made outside this pipeline) the entries are unchecked
    and a warning says so."""
    recorded = recorded_examples(examples_uri)
    if recorded is None:
        _log.warning(
            "%s: %s records no %s (not written by %s?): its example counts cannot be checked against upstream",
            stage,
            examples_uri,
            EXAMPLES_WRITTEN,
            producer,
        )

    def expected(split: str) -> Optional[int]:
        return None if recorded is None else sum(recorded.get(part, 0) for part in split.split(","))

    return [
        Entry(stage, split, what, n, expected(split), f"{producer} {examples_uri}", output=output)
        for split, (what, n) in counts.items()
    ]


def artifact_root(split_pattern: str) -> str:
    """<uri> of a `<uri>/Split-<name>/*` file pattern, as TFX hands split files to a user function."""
    return os.path.dirname(os.path.dirname(split_pattern))
