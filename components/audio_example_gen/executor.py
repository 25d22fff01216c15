"""AudioExampleGen executor: a Beam pipeline from audio files to split, sharded, compressed TFRecords.

Listing and labelling run in the executor process (names and a CSV: cheap); reading, decoding,
resampling and segmenting run in Beam workers, so they scale out with the runner (DirectRunner in
multi-processing mode locally, Dataflow at scale).
"""
from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import time
from typing import Any, Iterator

import apache_beam as beam
import tensorflow as tf
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

from components.audio_example_gen import audio, features
from components.audio_example_gen.settings import IngestSettings
from components.audio_example_gen.tfrecord_sink import GzipTFRecordSink
from components.audio_example_gen.sources import SPLITS, QuarantineRecord, SourceItem, display_path, list_sources

EXAMPLES_KEY = "examples"
INGEST_CONFIG_KEY = "ingest_config"
INPUT_FINGERPRINT_KEY = "input_fingerprint"

QUARANTINE_FILE = "quarantine.jsonl"
INGEST_LOG_FILE = "ingest_log.jsonl"
SUMMARY_FILE = "summary.json"
TFRECORD_PREFIX = "data_tfrecord"

_OUTCOME_TAG = "outcome"
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

    @classmethod
    def quarantined(cls, record: QuarantineRecord) -> "Outcome":
        return cls(record.path, record.track_id, "quarantined", reason=record.reason, detail=record.detail)


def process_item(item: SourceItem, settings: IngestSettings) -> tuple[Outcome, list[tf.train.Example]]:
    """Read, decode, validate and segment one file. Never raises for bad audio: it quarantines."""

    def rejected(q: audio.Quarantined) -> tuple[Outcome, list]:
        return _rejected(item, q.reason, q.detail), []

    data = audio.read_bytes(item.path)
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
    return Outcome(display_path(item.path), item.track_id, "ok", item.split, item.genre, examples=len(examples)), examples


def _rejected(item: SourceItem, reason: str, detail: str) -> Outcome:
    return Outcome(display_path(item.path), item.track_id, "quarantined", item.split, item.genre,
                   reason=reason, detail=detail)


class _DecodeToExamples(beam.DoFn):
    """Beam wrapper of process_item with progress logging and counters."""

    def __init__(self, settings_json: str):
        self._settings_json = settings_json

    def setup(self):
        self._settings = IngestSettings.model_validate_json(self._settings_json)
        self._done = 0
        self._started = time.monotonic()
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
        self._done += 1
        every = self._settings.example_gen.log_every
        if self._done % every == 0:
            rate = self._done / max(1e-9, time.monotonic() - self._started)
            _log.info("AudioExampleGen worker %d: %d files processed (%.1f files/s)", os.getpid(), self._done, rate)
        yield beam.pvalue.TaggedOutput(_OUTCOME_TAG, json.dumps(dataclasses.asdict(outcome), ensure_ascii=False))
        for example in examples:
            yield (item.split, example.SerializeToString())


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes Split-{train,eval,test} TFRecords plus quarantine.jsonl, ingest_log.jsonl and summary.json."""

    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        settings = IngestSettings.model_validate_json(exec_properties[INGEST_CONFIG_KEY])
        artifact = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        artifact.split_names = artifact_utils.encode_split_names(list(SPLITS))

        started = time.monotonic()
        listing = list_sources(settings.layout, settings.audio_root, settings.metadata_dir, settings.subset,
                               settings.genres, settings.split)
        _log.info("AudioExampleGen: %d files seen under %s: %d to decode, %d rejected from names/metadata, "
                  "%d ignored (archive documentation)", listing.files_seen, settings.audio_root,
                  len(listing.items), len(listing.quarantined), len(listing.ignored))
        if not listing.items:
            raise ValueError(f"no usable audio under {settings.audio_root} (layout {settings.layout!r}): "
                             f"{len(listing.quarantined)} inputs were rejected; check dataset.audio_root, "
                             "dataset.layout and the genre names")

        log_prefix = os.path.join(artifact.uri, INGEST_LOG_FILE)
        with self._make_beam_pipeline() as pipeline:
            decoded = (
                pipeline
                | "ListedFiles" >> beam.Create(listing.items, reshuffle=False)
                # Spread files over workers (Create keeps them in a handful of bundles otherwise).
                | "Spread" >> beam.Reshuffle()
                | "Decode" >> beam.ParDo(_DecodeToExamples(settings.model_dump_json())).with_outputs(
                    _OUTCOME_TAG, main="examples")
            )
            by_split = decoded.examples | "BySplit" >> beam.Partition(lambda kv, _: SPLITS.index(kv[0]), len(SPLITS))
            for split, examples in zip(SPLITS, by_split):
                _ = (
                    examples
                    | f"Serialized[{split}]" >> beam.Values()
                    | f"Write[{split}]" >> beam.io.Write(GzipTFRecordSink(
                        os.path.join(artifact_utils.get_split_uri([artifact], split), TFRECORD_PREFIX),
                        num_shards=settings.example_gen.num_shards,
                        compression_level=settings.example_gen.compression_level,
                        compression_strategy=settings.example_gen.compression_strategy,
                    ))
                )
            prefiltered = [json.dumps(dataclasses.asdict(Outcome.quarantined(r)), ensure_ascii=False)
                           for r in listing.quarantined]
            _ = (
                (decoded[_OUTCOME_TAG], pipeline | "Prefiltered" >> beam.Create(prefiltered))
                | "AllOutcomes" >> beam.Flatten()
                | "WriteLog" >> beam.io.WriteToText(log_prefix, num_shards=1, shard_name_template="")
            )

        outcomes = [Outcome(**json.loads(line)) for line in _read_lines(log_prefix)]
        summary = summarise(outcomes, listing.files_seen, listing.ignored, settings)
        summary["seconds"] = round(time.monotonic() - started, 1)
        summary[INPUT_FINGERPRINT_KEY] = exec_properties.get(INPUT_FINGERPRINT_KEY) or ""
        _write_outputs(artifact.uri, outcomes, summary)
        _log.info("AudioExampleGen summary: %s", json.dumps(summary["counts"]))

        examples_utils.set_payload_format(artifact, examples_utils.example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(artifact, "tfrecords_gzip")
        for key, value in summary["counts"].items():
            artifact.set_int_custom_property(key, int(value))

        empty = [s for s in SPLITS if summary["examples_per_split"].get(s, 0) == 0]
        if empty:
            raise ValueError(
                f"split(s) {empty} received no examples ({summary['examples_per_split']}); with so few usable "
                f"clips use more data or other split.* percentages. Quarantine: {os.path.join(artifact.uri, QUARANTINE_FILE)}")


def summarise(outcomes: list[Outcome], files_seen: int, ignored: list[str], settings: IngestSettings) -> dict:
    ok = [o for o in outcomes if o.status == "ok"]
    quarantined = [o for o in outcomes if o.status != "ok"]
    per_split = collections.Counter()
    per_split_genre: dict[str, collections.Counter] = {s: collections.Counter() for s in SPLITS}
    for o in ok:
        per_split[o.split] += o.examples
        per_split_genre[o.split][o.genre] += o.examples
    counts = {
        "files_seen": files_seen,
        "files_with_examples": len(ok),
        "files_quarantined": len(quarantined),
        "examples": sum(o.examples for o in ok),
    }
    return {
        "counts": counts,
        # files seen = files that produced examples + files quarantined; false means a bug, not bad data.
        "reconciles": files_seen == len(ok) + len(quarantined),
        "examples_per_split": {s: per_split.get(s, 0) for s in SPLITS},
        "examples_per_split_and_genre": {s: {g: per_split_genre[s].get(g, 0) for g in settings.genres} for s in SPLITS},
        "quarantined_by_reason": dict(collections.Counter(o.reason for o in quarantined).most_common()),
        "ignored_files": ignored,
        "settings": json.loads(settings.model_dump_json()),
    }


def _write_outputs(uri: str, outcomes: list[Outcome], summary: dict) -> None:
    with tf.io.gfile.GFile(os.path.join(uri, QUARANTINE_FILE), "w") as f:
        for o in sorted((o for o in outcomes if o.status != "ok"), key=lambda o: o.path):
            f.write(json.dumps({"path": o.path, "track_id": o.track_id, "reason": o.reason, "detail": o.detail},
                               ensure_ascii=False) + "\n")
    with tf.io.gfile.GFile(os.path.join(uri, SUMMARY_FILE), "w") as f:
        json.dump(summary, f, indent=2, ensure_ascii=False)
    if not summary["reconciles"]:
        raise RuntimeError(f"AudioExampleGen counts do not reconcile: {summary['counts']}")


def _read_lines(path: str) -> list[str]:
    with tf.io.gfile.GFile(path, "r") as f:
        return [line for line in f.read().splitlines() if line.strip()]
