"""SpectrogramTransform executor: exports the featurizer, then a Beam pipeline from AudioExampleGen's
Examples to transformed Examples (what the configured models read of: log-mel, image, musicnn embedding,
engineered features, waveform) with a reconciled quarantine.

Checks that need no data run first and fail fast with a clear message: the schema must describe
AudioExampleGen's examples, every split must have files, and the first example must fit the featurizer.
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from typing import Optional

import apache_beam as beam
import tensorflow as tf
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.types.standard_component_specs import EXAMPLES_KEY, SCHEMA_KEY, TRANSFORMED_EXAMPLES_KEY
from tfx.utils import io_utils

from components import beam_data_plane, ledger
from components.featurizer import export_featurizer
from components.formats import SUMMARY_FILE as INGEST_SUMMARY_FILE
from components.formats import examples as source
from components.progress import count_done, format_duration
from components.spectrogram_transform import engineered, features, transform
from components.spectrogram_transform.settings import TransformSettings
from components.tfrecord_sink import GzipTFRecordSink

TRANSFORM_CONFIG_KEY = "transform_config"
FEATURIZER_KEY = "featurizer"

TFRECORD_PREFIX = "data_tfrecord"
FEATURES_CSV = "features_{split}.csv"  # at the artifact's root: Split-* folders must hold only TFRecords
_COUNTS = ".counts.jsonl"  # Beam's tallies, read back and folded into summary.json
_QUARANTINE_PARTS = ".quarantine.jsonl"
_CSV_HEADER_ROWS = 4  # feature / statistics / number / track_id
_COPY_BYTES = 8 * 2**20
_CSV_PARTS_DIR = ".features_{split}.csv-parts"  # Beam's shards of features_<split>.csv, until joined

_log = logging.getLogger(__name__)


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes Split-<name> TFRecords for every input split, the featurizer SavedModel, and at the root
    of the transformed examples the engineered feature names, quarantine.jsonl, summary.json and
    features_<split>.csv."""

    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        beam_data_plane.install()  # before any Beam pipeline of this process runs
        self._log_startup(input_dict, output_dict, exec_properties)
        settings = TransformSettings.model_validate_json(exec_properties[TRANSFORM_CONFIG_KEY])
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        splits = artifact_utils.decode_split_names(examples.split_names)
        if not splits:
            raise ValueError(f"the input Examples at {examples.uri} declare no splits (split_names is empty)")
        check_schema(_read_schema(input_dict[SCHEMA_KEY]))
        patterns = input_patterns(examples, splits)
        check_first_example(patterns, settings)

        output = artifact_utils.get_single_instance(output_dict[TRANSFORMED_EXAMPLES_KEY])
        output.split_names = artifact_utils.encode_split_names(splits)
        featurizer_dir = artifact_utils.get_single_uri(output_dict[FEATURIZER_KEY])
        export_featurizer(settings.featurizer, featurizer_dir)
        names = engineered.feature_names(settings.engineered_preset) if settings.engineered else []
        if settings.engineered:
            _write_text(os.path.join(output.uri, features.ENGINEERED_NAMES_FILE), json.dumps(names, indent=1))

        upstream, upstream_source = upstream_counts(examples.uri, splits)
        started = time.monotonic()
        progress_dir = tempfile.mkdtemp(prefix="spectrogram-transform-progress-")
        try:
            with ProgressLog(progress_dir, splits, upstream), self._make_beam_pipeline() as pipeline:
                _build_graph(pipeline, patterns, settings, featurizer_dir, output.uri, names, progress_dir)
        finally:
            shutil.rmtree(progress_dir, ignore_errors=True)
        if settings.engineered:
            join_csv_parts(output.uri, splits, transform.csv_header(names))
        counts = _read_jsonl(os.path.join(output.uri, _COUNTS))
        quarantine = [json.loads(line) for line in _read_lines(os.path.join(output.uri, _QUARANTINE_PARTS))]
        written = ledger.count_written(output.uri, splits)
        csv = csv_rows(output.uri, splits) if settings.engineered else None
        summary = summarise(counts, quarantine, splits, settings, upstream, written, csv)
        summary["upstream"] = upstream_source
        summary["seconds"] = round(time.monotonic() - started, 1)
        summary["featurizer"] = featurizer_dir
        entries = ledger_entries(summary, upstream_source, output.uri)
        summary["ledger"] = [e.to_dict() for e in entries]
        write_outputs(output.uri, quarantine, summary)
        for scratch in (_COUNTS, _QUARANTINE_PARTS):
            tf.io.gfile.remove(os.path.join(output.uri, scratch))
        _log.info("SpectrogramTransform summary: %s", json.dumps(summary["splits"]))
        ledger.check(entries)

        examples_utils.set_payload_format(output, examples_utils.example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(output, "tfrecords_gzip")
        for key, value in summary["counts"].items():
            output.set_int_custom_property(key, int(value))
        if not summary["reconciles"]:
            raise RuntimeError(
                f"SpectrogramTransform counts do not reconcile (examples read != upstream, or "
                f"written + quarantined != read, or the quarantine file misses records): "
                f"{json.dumps(summary['splits'])}; this is a bug, not bad data"
            )
        empty = [s for s in splits if summary["splits"][s]["examples_out"] == 0]
        if empty:
            raise ValueError(
                f"split(s) {empty} have no transformed examples: "
                f"{ {s: summary['splits'][s]['quarantined_by_reason'] for s in empty} }. "
                f"See {os.path.join(output.uri, features.QUARANTINE_FILE)}"
            )


# -- checks before any data is processed -------------------------------------------------------------------
_SCHEMA_TYPES = {"int64_list": "INT", "float_list": "FLOAT", "bytes_list": "BYTES"}


def _read_schema(schema_artifacts):
    schema_dir = artifact_utils.get_single_uri(schema_artifacts)
    return io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_dir))


def check_schema(schema) -> None:
    """The schema must have the features the transform reads, with their types. The waveform and the
    identifiers are not in it (StatisticsGen skips them, see STATISTICS_EXCLUDED); the first example is
    checked for those."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    declared = {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema.feature}
    problems = []
    for name, kind in {**transform.REQUIRED_INPUTS, **transform.OPTIONAL_INPUTS}.items():
        if name in source.STATISTICS_EXCLUDED or (name in transform.OPTIONAL_INPUTS and name not in declared):
            continue
        if name not in declared:
            problems.append(f"{name} is missing")
        elif declared[name] != _SCHEMA_TYPES[kind]:
            problems.append(f"{name} is {declared[name]}, expected {_SCHEMA_TYPES[kind]}")
    if problems:
        raise ValueError(
            f"the schema does not describe AudioExampleGen's examples: {'; '.join(problems)}. SpectrogramTransform "
            "takes AudioExampleGen's `examples` and the SchemaGen schema inferred from them"
        )


def input_patterns(examples, splits: list[str]) -> dict[str, str]:
    patterns = {}
    for split in splits:
        pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
        if not tf.io.gfile.glob(pattern):
            raise ValueError(f"split {split!r} of the input Examples has no files ({pattern})")
        patterns[split] = pattern
    return patterns


def _compression(path: str) -> str:
    return "GZIP" if path.endswith(".gz") else ""


def check_first_example(patterns: dict[str, str], settings: TransformSettings) -> None:
    """Fail fast on examples that cannot fit the featurizer: wrong features, or audio made with another
    sample rate or example length than the featurizer's (every example would be quarantined)."""
    from tensorflow.core.example import example_pb2

    split, pattern = next(iter(patterns.items()))
    for path in sorted(tf.io.gfile.glob(pattern)):
        for record in tf.data.TFRecordDataset(path, compression_type=_compression(path)).take(1):
            example = example_pb2.Example.FromString(record.numpy())
            problems = transform.missing_or_mistyped(example)
            if problems:
                raise ValueError(f"the input examples are not AudioExampleGen's ({path}): {'; '.join(problems)}")
            rate = example.features.feature[source.SAMPLE_RATE].int64_list.value[0]
            samples = example.features.feature[source.AUDIO_NUM_SAMPLES].int64_list.value[0]
            spec = settings.featurizer
            if (rate, samples) != (spec.sample_rate, spec.num_samples):
                raise ValueError(
                    f"the input examples hold {samples} samples at {rate} Hz, the featurizer takes {spec.num_samples} "
                    f"at {spec.sample_rate} Hz: audio.sample_rate / audio.segment_seconds differ from ingestion's"
                )
            return
    # Empty files only: nothing to check here; the empty split is reported after the run.
    _log.warning("SpectrogramTransform: split %s holds no examples", split)


def upstream_counts(examples_uri: str, splits: list[str]) -> tuple[dict[str, int], str]:
    """(examples per split that the input artifact recorded writing, where that figure comes from).

    What the transform must account for comes from upstream, never from its own reading. An input without
    that record (Examples made outside this pipeline) is counted here, file by file, before Beam reads it.
    """
    recorded = ledger.recorded_examples(examples_uri)
    if recorded is not None:
        missing = [s for s in splits if s not in recorded]
        if missing:
            raise ValueError(
                f"{os.path.join(examples_uri, INGEST_SUMMARY_FILE)} records no examples_written for "
                f"split(s) {missing}; the artifact's splits and its summary disagree"
            )
        return {s: recorded[s] for s in splits}, f"AudioExampleGen {examples_uri}"
    _log.warning(
        "SpectrogramTransform: %s records no examples_written (not AudioExampleGen's output?); counting "
        "the input files to have a figure to check against",
        examples_uri,
    )
    return ledger.count_written(examples_uri, splits), f"the input files of {examples_uri} (counted before reading)"


def ledger_entries(summary: dict, upstream_source: str, output_uri: str) -> list[ledger.Entry]:
    entries = []
    for split, e in summary["splits"].items():
        entries.append(
            ledger.Entry(
                "SpectrogramTransform",
                split,
                "read",
                e["examples_in"],
                e["examples_upstream"],
                upstream_source,
                output=output_uri,
            )
        )
        entries.append(
            ledger.Entry(
                "SpectrogramTransform",
                split,
                f"wrote (counted in {output_uri})",
                e["examples_written"],
                e["examples_upstream"],
                upstream_source,
                quarantined=e["quarantined"],
            )
        )
        if "csv_rows" not in e:
            continue  # no engineered features, no features_<split>.csv
        entries.append(
            ledger.Entry(
                "SpectrogramTransform",
                split,
                f"wrote {FEATURES_CSV.format(split=split)} rows",
                e["csv_rows"],
                e["examples_upstream"],
                upstream_source,
                quarantined=e["quarantined"],
            )
        )
    return entries


def join_csv_parts(output_uri: str, splits: list[str], header: str) -> None:
    """features_<split>.csv = the header rows, then Beam's shards of it in order, streamed; the shards go."""
    for split in splits:
        parts_dir = os.path.join(output_uri, _CSV_PARTS_DIR.format(split=split))
        parts = sorted(tf.io.gfile.glob(os.path.join(parts_dir, "part*")))
        with tf.io.gfile.GFile(os.path.join(output_uri, FEATURES_CSV.format(split=split)), "wb") as out:
            out.write((header + "\n").encode())
            for part in parts:
                with tf.io.gfile.GFile(part, "rb") as f:
                    shutil.copyfileobj(f, out, length=_COPY_BYTES)
        if tf.io.gfile.exists(parts_dir):
            tf.io.gfile.rmtree(parts_dir)


def csv_rows(output_uri: str, splits: list[str]) -> dict[str, int]:
    """Data rows of each features_<split>.csv (below its 4 header rows, see transform.csv_header)."""
    rows = {}
    for split in splits:
        with tf.io.gfile.GFile(os.path.join(output_uri, FEATURES_CSV.format(split=split))) as f:
            lines = sum(1 for line in f if line.strip())
        rows[split] = lines - _CSV_HEADER_ROWS
    return rows


# -- the Beam graph ---------------------------------------------------------------------------------------
def _build_graph(
    pipeline: beam.Pipeline,
    patterns: dict[str, str],
    settings: TransformSettings,
    featurizer_dir: str,
    output_uri: str,
    names: list[str],
    progress_dir: str,
) -> None:
    counts, quarantined = [], []
    # One chain per split, never a Flatten of the splits' examples: Beam's local runner materialises a
    # Flatten of inputs from different stages in its own memory (fma_small's 80,000 waveforms, ~10 GB: the
    # first 8,000-clip run was killed at 15 GB), where a chain from its read to its write streams. No
    # Reshuffle either, for the same reason: Beam spreads each split's files over the workers.
    for split, pattern in patterns.items():
        inputs = (
            pipeline
            | f"Read[{split}]" >> beam.io.ReadFromTFRecord(pattern, coder=beam.coders.BytesCoder())
            | f"Key[{split}]" >> beam.Map(transform.keyed_by_split, split)
        )
        results = (
            inputs
            | f"Batch[{split}]"
            >> beam.BatchElements(min_batch_size=settings.batch_size, max_batch_size=settings.batch_size)
            | f"Transform[{split}]"
            >> beam.ParDo(
                transform.TransformBatch(settings.model_dump_json(), featurizer_dir, progress_dir)
            ).with_outputs(transform.QUARANTINE_TAG, transform.CSV_TAG, main="examples")
        )
        _ = (
            results.examples
            | f"Serialized[{split}]" >> beam.Values()
            | f"Write[{split}]"
            >> beam.io.Write(
                GzipTFRecordSink(
                    os.path.join(output_uri, f"Split-{split}", TFRECORD_PREFIX),
                    num_shards=settings.output.num_shards,
                    compression_engine=settings.output.compression_engine,
                    compression_level=settings.output.compression_level,
                )
            )
        )
        if settings.engineered:
            # In parts that Beam shards as it likes, joined after the run (join_csv_parts): one file straight
            # from Beam (num_shards=1) is a GroupByKey of the whole split, held by the local runner in its
            # own memory (a 322 MB features_train.csv at 8,000 clips: +2.0 GiB of the runner's RSS).
            _ = (
                results[transform.CSV_TAG]
                | f"CsvRows[{split}]" >> beam.Values()
                | f"WriteCsv[{split}]"
                >> beam.io.WriteToText(os.path.join(output_uri, _CSV_PARTS_DIR.format(split=split), "part"))
            )
        # Counted per split, so only the counts (a few per split) and the quarantine records meet below.
        for kind, pcoll, key in (
            ("In", inputs, functools.partial(transform.tally_key, kind="examples_in")),
            ("Out", results.examples, functools.partial(transform.tally_key, kind="examples_out")),
            ("Quarantined", results[transform.QUARANTINE_TAG], transform.quarantine_tally_key),
        ):
            counts.append(
                pcoll
                | f"Count{kind}[{split}]" >> beam.Map(key)
                | f"Tally{kind}[{split}]" >> beam.combiners.Count.PerElement()
            )
        quarantined.append(results[transform.QUARANTINE_TAG])
    _ = (
        counts
        | "AllTallies" >> beam.Flatten()
        | "TallyJson" >> beam.Map(transform.tally_json)
        | "WriteTallies" >> beam.io.WriteToText(os.path.join(output_uri, _COUNTS), num_shards=1, shard_name_template="")
    )
    _ = (
        quarantined
        | "AllQuarantined" >> beam.Flatten()
        | "WriteQuarantine"
        >> beam.io.WriteToText(os.path.join(output_uri, _QUARANTINE_PARTS), num_shards=1, shard_name_template="")
    )


# -- progress, summary and files --------------------------------------------------------------------------
class ProgressLog:
    """Logs examples done per split every `every_seconds`, from the workers' count files (see
    components/progress.py: Beam's DirectRunner shows its workers' logs and metrics only
    at the end). Totals come from AudioExampleGen's summary.json when the input has one."""

    def __init__(self, directory: str, splits: list[str], totals: dict[str, int], every_seconds: float = 10.0):
        self._directory, self._splits, self._totals, self._every = directory, splits, totals, every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProgressLog:
        for split in self._splits:
            os.makedirs(os.path.join(self._directory, split), exist_ok=True)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._log()

    def line(self) -> str:
        done = {s: count_done(os.path.join(self._directory, s)) for s in self._splits}
        parts = [f"{s} {done[s]}/{self._totals.get(s, '?')}" for s in self._splits]
        elapsed = time.monotonic() - self._started
        rate = sum(done.values()) / elapsed if elapsed > 0 else 0.0
        eta = ""
        if rate > 0 and all(s in self._totals for s in self._splits):
            remaining = sum(self._totals[s] - done[s] for s in self._splits)
            eta = f", ETA {format_duration(max(0, remaining) / rate)}"
        return f"SpectrogramTransform: examples done {', '.join(parts)} ({rate:.1f}/s, {elapsed:.0f} s{eta})"

    def _log(self) -> None:
        _log.info("%s", self.line())

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._log()


def summarise(
    tallies: list[list],
    quarantine: list[dict],
    splits: list[str],
    settings: TransformSettings,
    upstream: dict[str, int],
    written: dict[str, int],
    csv: Optional[dict[str, int]],
) -> dict:
    """Per split: examples_upstream (what the input artifact recorded), examples_in (what Beam read),
    examples_out (what the transform emitted), examples_written (records counted in the written files),
    csv_rows (data rows in features_<split>.csv; absent when `csv` is None: no engineered features),
    quarantined."""
    per_split = {
        s: {
            "examples_upstream": upstream[s],
            "examples_in": 0,
            "examples_out": 0,
            "examples_written": written[s],
            **({"csv_rows": csv[s]} if csv is not None else {}),
            "quarantined": 0,
            "quarantined_by_reason": {},
        }
        for s in splits
    }
    for kind, split, reason, count in tallies:
        entry = per_split[split]
        if kind == "quarantined":
            entry["quarantined"] += count
            entry["quarantined_by_reason"][reason] = count
        else:
            entry[kind] += count
    totals = {key: sum(e[key] for e in per_split.values()) for key in ("examples_in", "examples_out", "quarantined")}
    by_reason = collections.Counter(q["reason"] for q in quarantine)
    return {
        "splits": per_split,
        "counts": totals,
        ledger.EXAMPLES_WRITTEN: dict(written),
        # Per split: read = upstream's record = written + quarantined = emitted + quarantined, and the
        # quarantine file holds every quarantined example.
        "reconciles": all(
            e["examples_upstream"]
            == e["examples_in"]
            == e["examples_out"] + e["quarantined"]
            == e["examples_written"] + e["quarantined"]
            == e.get("csv_rows", e["examples_written"]) + e["quarantined"]
            for e in per_split.values()
        )
        and len(quarantine) == totals["quarantined"],
        "quarantined_by_reason": dict(by_reason.most_common()),
        "engineered_preset": settings.engineered_preset if settings.engineered else None,
        "engineered_features": len(engineered.feature_names(settings.engineered_preset)) if settings.engineered else 0,
        "stored_features": stored_features(settings),
        "settings": json.loads(settings.model_dump_json()),
    }


def stored_features(settings: TransformSettings) -> dict[str, object]:
    """What the examples carry besides the metadata: feature name -> "all" or the splits holding it."""
    stored: dict[str, object] = dict.fromkeys(settings.featurizer.spectra, "all")
    if settings.featurizer.musicnn is not None:
        stored[features.MUSICNN_EMBEDDING] = "all"
    if settings.engineered:
        stored[features.ENGINEERED] = "all"
    waveform = settings.waveform_splits
    stored[source.AUDIO] = "all" if waveform is None else list(waveform)
    return stored


def write_outputs(uri: str, quarantine: list[dict], summary: dict) -> None:
    """quarantine.jsonl (sorted by split, path and segment; empty when nothing was quarantined) and summary.json."""
    order = lambda q: (q["split"], q["source_path"], q["segment_index"] if q["segment_index"] is not None else -1)  # noqa: E731
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in sorted(quarantine, key=order))
    _write_text(os.path.join(uri, features.QUARANTINE_FILE), lines)
    _write_text(os.path.join(uri, features.SUMMARY_FILE), json.dumps(summary, indent=2, ensure_ascii=False))


def _write_text(path: str, text: str) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)  # even "": GFile creates the file on the first write, not on open


def _read_lines(path: str) -> list[str]:
    with tf.io.gfile.GFile(path, "r") as f:
        return [line for line in f.read().splitlines() if line.strip()]


def _read_jsonl(path: str) -> list:
    return [json.loads(line) for line in _read_lines(path)]
