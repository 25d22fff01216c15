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
import shutil
import tempfile
import time

import apache_beam as beam
import tensorflow as tf
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.types.standard_component_specs import EXAMPLES_KEY

from components import beam_data_plane, ledger
from components.audio_example_gen.ingest import OUTCOME_TAG, DecodeToExamples, Outcome, split_index
from components.audio_example_gen.settings import IngestSettings
from components.audio_example_gen.sources import leaked_groups, list_sources
from components.formats import QUARANTINE_FILE, SPLITS, SUMMARY_FILE
from components.progress import ProgressMonitor
from components.tfrecord_sink import GzipTFRecordSink

INGEST_CONFIG_KEY = "ingest_config"
INPUT_FINGERPRINT_KEY = "input_fingerprint"

INGEST_LOG_FILE = "ingest_log.jsonl"
TFRECORD_PREFIX = "data_tfrecord"
UNASSIGNED = "unassigned"

_log = logging.getLogger(__name__)


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes Split-{train,eval,test} TFRecords plus quarantine.jsonl, ingest_log.jsonl and summary.json."""

    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        beam_data_plane.install()  # before any Beam pipeline of this process runs
        self._log_startup(input_dict, output_dict, exec_properties)
        settings = IngestSettings.model_validate_json(exec_properties[INGEST_CONFIG_KEY])
        artifact = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        artifact.split_names = artifact_utils.encode_split_names(list(SPLITS))

        started = time.monotonic()
        listing = list_sources(
            settings.layout,
            settings.audio_root,
            settings.metadata_dir,
            settings.subset,
            settings.genres,
            settings.split,
        )
        _log.info(
            "AudioExampleGen: %d files seen under %s: %d to decode, %d rejected from names/metadata, "
            "%d ignored (archive documentation)",
            listing.files_seen,
            settings.audio_root,
            len(listing.items),
            len(listing.quarantined),
            len(listing.ignored),
        )
        leaks = leaked_groups(listing.items)
        if leaks:  # only possible with a metadata split (the hash split groups by artist by construction)
            _log.warning(
                "AudioExampleGen: %d artists appear in more than one split of the metadata's own split, "
                "e.g. %s; use split.method=hash to keep every artist in one split",
                len(leaks),
                sorted(leaks)[:5],
            )
        if not listing.items:
            raise ValueError(
                f"no usable audio under {settings.audio_root} (layout {settings.layout!r}): "
                f"{len(listing.quarantined)} inputs were rejected; check dataset.audio_root, "
                "dataset.layout and the genre names"
            )

        log_prefix = os.path.join(artifact.uri, INGEST_LOG_FILE)
        progress_dir = tempfile.mkdtemp(prefix="audio-example-gen-progress-")
        try:
            with (
                ProgressMonitor(progress_dir, len(listing.items), "AudioExampleGen"),
                self._make_beam_pipeline() as pipeline,
            ):
                _build_graph(pipeline, listing, settings, artifact, progress_dir, log_prefix)
        finally:
            shutil.rmtree(progress_dir, ignore_errors=True)
        outcomes = [Outcome(**json.loads(line)) for line in _read_lines(log_prefix)]
        written = ledger.count_written(artifact.uri, SPLITS)
        summary = summarise(outcomes, listing.files_seen, listing.ignored, settings, written)
        summary["seconds"] = round(time.monotonic() - started, 1)
        summary["groups_in_several_splits"] = sorted(leaks)
        summary[INPUT_FINGERPRINT_KEY] = exec_properties.get(INPUT_FINGERPRINT_KEY) or ""
        _write_outputs(artifact.uri, outcomes, summary)
        ledger.check(ledger_entries(summary, artifact.uri))
        _log.info("AudioExampleGen summary: %s", json.dumps(summary["counts"]))
        across = [g["paths"] for g in summary["duplicate_audio"] if g["across_splits"]]
        if across:
            _log.warning(
                "AudioExampleGen: %d groups of identical audio span several splits (test data leaks into "
                "training), e.g. %s; see duplicate_audio in %s",
                len(across),
                across[0],
                os.path.join(artifact.uri, SUMMARY_FILE),
            )

        examples_utils.set_payload_format(artifact, examples_utils.example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(artifact, "tfrecords_gzip")
        for key, value in summary["counts"].items():
            artifact.set_int_custom_property(key, int(value))

        empty = [s for s in SPLITS if summary["examples_per_split"].get(s, 0) == 0]
        if empty:
            raise ValueError(
                f"split(s) {empty} received no examples ({summary['examples_per_split']}); with so few usable "
                "clips use more data or other split.* percentages. Quarantine: "
                f"{os.path.join(artifact.uri, QUARANTINE_FILE)}"
            )


def _build_graph(
    pipeline: beam.Pipeline, listing, settings: IngestSettings, artifact, progress_dir: str, log_prefix: str
) -> None:
    """Listed files -> decoded examples per split (GZIP TFRecords) + one outcome line per input."""
    decoded = (
        pipeline
        | "ListedFiles" >> beam.Create(listing.items, reshuffle=False)
        # Spread files over workers (Create keeps them in a handful of bundles otherwise).
        | "Spread" >> beam.Reshuffle()
        | "Decode"
        >> beam.ParDo(DecodeToExamples(settings.model_dump_json(), progress_dir)).with_outputs(
            OUTCOME_TAG, main="examples"
        )
    )
    by_split = decoded.examples | "BySplit" >> beam.Partition(split_index, len(SPLITS))
    for split, examples in zip(SPLITS, by_split):
        _ = (
            examples
            | f"Serialized[{split}]" >> beam.Values()
            | f"Write[{split}]"
            >> beam.io.Write(
                GzipTFRecordSink(
                    os.path.join(artifact_utils.get_split_uri([artifact], split), TFRECORD_PREFIX),
                    num_shards=settings.example_gen.num_shards,
                    compression_engine=settings.example_gen.compression_engine,
                    compression_level=settings.example_gen.compression_level,
                )
            )
        )
    prefiltered = [
        json.dumps(dataclasses.asdict(Outcome.quarantined(r)), ensure_ascii=False) for r in listing.quarantined
    ]
    _ = (
        (decoded[OUTCOME_TAG], pipeline | "Prefiltered" >> beam.Create(prefiltered))
        | "AllOutcomes" >> beam.Flatten()
        | "WriteLog" >> beam.io.WriteToText(log_prefix, num_shards=1, shard_name_template="")
    )


def summarise(
    outcomes: list[Outcome], files_seen: int, ignored: list[str], settings: IngestSettings, written: dict[str, int]
) -> dict:
    """`examples_per_split` sums what the decoding workers reported; `examples_written` counts the records
    in the files (the figure downstream stages check against). They must agree."""
    ok = [o for o in outcomes if o.status == "ok"]
    quarantined = [o for o in outcomes if o.status != "ok"]
    files = {s: {"with_examples": 0, "quarantined": 0} for s in (*SPLITS, UNASSIGNED)}
    for o in outcomes:
        files[o.split or UNASSIGNED]["with_examples" if o.status == "ok" else "quarantined"] += 1
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
        ledger.EXAMPLES_WRITTEN: {s: int(written.get(s, 0)) for s in SPLITS},
        # Files per split (UNASSIGNED: rejected from their names or the metadata before a split was known).
        "files_per_split": files,
        "examples_per_split_and_genre": {s: {g: per_split_genre[s].get(g, 0) for g in settings.genres} for s in SPLITS},
        "quarantined_by_reason": dict(collections.Counter(o.reason for o in quarantined).most_common()),
        "duplicate_audio": duplicate_audio(ok),
        "ignored_files": ignored,
        "settings": json.loads(settings.model_dump_json()),
    }


def ledger_entries(summary: dict, uri: str) -> list[ledger.Entry]:
    """The examples in the files against what the workers reported decoding, per split."""
    return [
        ledger.Entry(
            "AudioExampleGen",
            split,
            f"wrote (counted in {uri})",
            summary[ledger.EXAMPLES_WRITTEN][split],
            summary["examples_per_split"][split],
            "AudioExampleGen's decoding workers (ingest_log.jsonl)",
        )
        for split in SPLITS
    ]


def duplicate_audio(outcomes: list[Outcome]) -> list[dict]:
    """Groups of inputs that decode to identical audio. They are kept (which copy is right is not ours to
    decide) but reported, and flagged when a group spans splits: then test audio is also training audio."""
    groups = collections.defaultdict(list)
    for o in outcomes:
        if o.content:
            groups[o.content].append(o)
    found = []
    for members in groups.values():
        if len(members) > 1:
            members.sort(key=lambda o: o.path)
            splits = sorted({o.split for o in members})
            found.append({"paths": [o.path for o in members], "splits": splits, "across_splits": len(splits) > 1})
    return sorted(found, key=lambda g: g["paths"])


def _write_outputs(uri: str, outcomes: list[Outcome], summary: dict) -> None:
    with tf.io.gfile.GFile(os.path.join(uri, QUARANTINE_FILE), "w") as f:
        for o in sorted((o for o in outcomes if o.status != "ok"), key=lambda o: o.path):
            f.write(
                json.dumps(
                    {"path": o.path, "track_id": o.track_id, "reason": o.reason, "detail": o.detail}, ensure_ascii=False
                )
                + "\n"
            )
    with tf.io.gfile.GFile(os.path.join(uri, SUMMARY_FILE), "w") as f:
        json.dump(summary, f, indent=2, ensure_ascii=False)
    if not summary["reconciles"]:
        raise RuntimeError(f"AudioExampleGen counts do not reconcile: {summary['counts']}")


def _read_lines(path: str) -> list[str]:
    with tf.io.gfile.GFile(path, "r") as f:
        return [line for line in f.read().splitlines() if line.strip()]
