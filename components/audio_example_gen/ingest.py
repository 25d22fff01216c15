"""The worker side of AudioExampleGen: one file in, serialized tf.Examples or a quarantine outcome out.

This module is what Beam workers import to unpickle the DoFn, so it stays light: no TensorFlow, no TFX
(importing those costs each worker ~13 s and ~800 MB; see features.encode_example).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from components.audio_example_gen import audio, features
from components.audio_example_gen.settings import IngestSettings
from components.audio_example_gen.sources import QuarantineRecord, SourceItem, display_path
from components.formats import SPLITS
from components.progress import ProgressReporter

OUTCOME_TAG = "outcome"
_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of one input: examples written to a split, or a quarantine reason."""

    path: str
    track_id: Any
    status: str  # "ok" or "quarantined"
    split: str = ""
    genre: str = ""
    examples: int = 0
    reason: str = ""
    detail: str = ""
    content: str = ""  # audio.content_fingerprint of the decoded audio, for duplicate detection

    @classmethod
    def quarantined(cls, record: QuarantineRecord) -> Outcome:
        return cls(record.path, record.track_id, "quarantined", reason=record.reason, detail=record.detail)


def process_item(item: SourceItem, settings: IngestSettings) -> tuple[Outcome, list[bytes]]:
    """Read, decode, validate and segment one file. Never raises for bad audio: it quarantines."""

    def rejected(q: audio.Quarantined) -> tuple[Outcome, list]:
        return _rejected(item, q.reason, q.detail), []

    data = audio.read_bytes(item.path, settings.audio.max_file_megabytes)
    if isinstance(data, audio.Quarantined):
        return rejected(data)
    clip = audio.decode(data, item.path, settings.audio)
    if isinstance(clip, audio.Quarantined):
        return rejected(clip)
    descriptors = audio.validate(clip, settings.audio)
    if isinstance(descriptors, audio.Quarantined):
        return rejected(descriptors)
    segments = audio.segment(clip.samples, settings.audio)
    examples = features.build_examples(item, clip, descriptors, segments, settings.audio.sample_rate)
    outcome = Outcome(
        display_path(item.path),
        item.track_id,
        "ok",
        item.split,
        item.genre,
        examples=len(examples),
        content=audio.content_fingerprint(clip.samples),
    )
    return outcome, examples


def _rejected(item: SourceItem, reason: str, detail: str) -> Outcome:
    return Outcome(
        display_path(item.path), item.track_id, "quarantined", item.split, item.genre, reason=reason, detail=detail
    )


class DecodeToExamples(beam.DoFn):
    """Beam wrapper of process_item with progress reporting and counters."""

    def __init__(self, settings_json: str, progress_dir: str = ""):
        self._settings_json = settings_json
        self._progress_dir = progress_dir

    def setup(self):
        self._settings = IngestSettings.model_validate_json(self._settings_json)
        self._progress = ProgressReporter(self._progress_dir, self._settings.example_gen.progress_every)
        self._examples = beam.metrics.Metrics.counter("AudioExampleGen", "examples")
        self._quarantined = beam.metrics.Metrics.counter("AudioExampleGen", "files_quarantined")

    def process(self, item: SourceItem) -> Iterator[Any]:
        try:
            outcome, examples = process_item(item, self._settings)
        except Exception as e:  # a bug or an unforeseen input: record it against the file, keep going
            _log.exception("unexpected failure on %s", item.path)
            outcome, examples = _rejected(item, audio.Reason.INTERNAL_ERROR, f"{type(e).__name__}: {e}"[:300]), []
        if examples:
            self._examples.inc(len(examples))
        else:
            self._quarantined.inc()
        self._progress.add()
        yield beam.pvalue.TaggedOutput(OUTCOME_TAG, json.dumps(dataclasses.asdict(outcome), ensure_ascii=False))
        for example in examples:
            yield (item.split, example)

    def finish_bundle(self):
        self._progress.flush()


def split_index(keyed_example: tuple[str, bytes], _num_partitions: int) -> int:
    """beam.Partition function: (split, example) -> index of the split. A module-level function, not a
    lambda in the executor, so unpickling it does not import the executor (and TFX) in every worker."""
    return SPLITS.index(keyed_example[0])
