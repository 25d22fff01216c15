"""The worker side of SpectrogramTransform: batches of AudioExampleGen examples in, transformed examples
or quarantine records out.

The log-mel and the image come from the exported featurizer SavedModel (loaded once per DoFn instance),
so the training examples hold exactly what the served model computes from the same waveform. Every
example ends as one output example or one quarantine record; nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Optional, Union

import apache_beam as beam
import numpy as np

from components.featurizer import IMAGE_OUTPUT, LOG_MEL_OUTPUT, MUSICNN_OUTPUT, load_featurizer
from components.formats import examples as source
from components.formats.examples import from_pcm16, length_delimited_field
from components.progress import ProgressReporter
from components.spectrogram_transform import engineered, features
from components.spectrogram_transform.settings import TransformSettings

QUARANTINE_TAG = "quarantine"
CSV_TAG = "csv_row"
_log = logging.getLogger(__name__)


class Reason:
    """Quarantine reasons of the transform. The values are written to quarantine.jsonl; keep them stable."""

    BAD_EXAMPLE = "bad_example"  # not a tf.Example, or a needed feature is missing or of the wrong type
    WRONG_SHAPE = "wrong_shape"  # waveform length or sample rate differs from the featurizer's settings
    LABEL_MISMATCH = "label_mismatch"  # `genre` is not genres[label] of the configured vocabulary
    SILENT = "silent"  # digital silence: no information, and the level-normalised image would be all white
    TOO_SHORT = "too_short"  # less non-padded audio than transform.min_seconds
    NON_FINITE_AUDIO = engineered.NonFiniteAudio.reason
    NON_FINITE_FEATURES = engineered.NonFiniteFeatures.reason  # a NaN/Inf feature value is never written
    INTERNAL_ERROR = "internal_error"  # an unforeseen failure, recorded against the example


# The input features the transform reads (or copies), with the tf.Example list kind each must have.
def _kind(name: str) -> str:
    if name in source.INT_FEATURES:
        return "int64_list"
    return "float_list" if name in source.FLOAT_FEATURES else "bytes_list"


REQUIRED_INPUTS = {name: _kind(name) for name in features.PASSTHROUGH}
OPTIONAL_INPUTS = {source.PADDED_SECONDS: _kind(source.PADDED_SECONDS)}


@dataclasses.dataclass(frozen=True)
class QuarantineRecord:
    split: str
    track_id: Optional[int]
    segment_index: Optional[int]
    source_path: str
    reason: str
    detail: str

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)


@dataclasses.dataclass
class Prepared:
    """An input example that passed the checks, with what the transform needs of it."""

    split: str
    example: object  # tf.train.Example
    waveform: np.ndarray  # float32 [num_samples], exactly what `features.decode_waveform` gives in TF
    content_samples: int  # samples before the zero padding


def _scalar(example, name: str):
    return getattr(example.features.feature[name], _kind(name)).value[0]


def _identity(split: str, example) -> dict:
    """Track id, segment and path of an example for its quarantine record, as far as it has them."""
    found = {}
    for key, name in (
        ("track_id", source.TRACK_ID),
        ("segment_index", source.SEGMENT_INDEX),
        ("source_path", source.SOURCE_PATH),
    ):
        try:
            value = _scalar(example, name)
            found[key] = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else int(value)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            pass
    return {
        "split": split,
        "track_id": found.get("track_id"),
        "segment_index": found.get("segment_index"),
        "source_path": found.get("source_path", ""),
    }


def _quarantine(split: str, example, reason: str, detail: str) -> QuarantineRecord:
    return QuarantineRecord(**_identity(split, example), reason=reason, detail=detail[:300])


def missing_or_mistyped(example) -> list[str]:
    """Problems with the needed features of a parsed example (empty when it has them all, well typed)."""
    problems = []
    feature_map = example.features.feature
    for name, kind in {**REQUIRED_INPUTS, **OPTIONAL_INPUTS}.items():
        if name not in feature_map:
            if name in REQUIRED_INPUTS:
                problems.append(f"{name} missing")
        elif feature_map[name].WhichOneof("kind") != kind or len(getattr(feature_map[name], kind).value) != 1:
            problems.append(f"{name} is not one {kind.split('_')[0]} value")
    return problems


def content_samples(example, waveform: np.ndarray, sample_rate: int) -> int:
    """Samples of real audio: AudioExampleGen's `padded_seconds` says how much zero padding ends the
    waveform; examples without it are taken to end where their trailing exact zeros begin."""
    if source.PADDED_SECONDS in example.features.feature:
        padded = int(round(_scalar(example, source.PADDED_SECONDS) * sample_rate))
        return max(0, len(waveform) - padded)
    nonzero = np.flatnonzero(waveform)
    return int(nonzero[-1]) + 1 if nonzero.size else 0


def prepare(split: str, serialized: bytes, settings: TransformSettings) -> Union[Prepared, QuarantineRecord]:
    """Parse and check one input example."""
    from tensorflow.core.example import example_pb2

    try:
        example = example_pb2.Example.FromString(serialized)
    except Exception as e:  # protobuf's DecodeError and friends
        return QuarantineRecord(split, None, None, "", Reason.BAD_EXAMPLE, f"not a tf.Example: {e}"[:300])
    problems = missing_or_mistyped(example)
    if problems:
        return _quarantine(split, example, Reason.BAD_EXAMPLE, "; ".join(problems))
    label, genre = int(_scalar(example, source.LABEL)), _scalar(example, source.GENRE).decode("utf-8", "replace")
    if not 0 <= label < len(settings.genres) or settings.genres[label] != genre:
        expected = settings.genres[label] if 0 <= label < len(settings.genres) else "out of range"
        return _quarantine(
            split,
            example,
            Reason.LABEL_MISMATCH,
            f"label {label} ({expected}) but genre {genre!r}; genres: {list(settings.genres)}",
        )
    spec = settings.featurizer
    rate = int(_scalar(example, source.SAMPLE_RATE))
    audio = _scalar(example, source.AUDIO)
    if rate != spec.sample_rate or len(audio) != 2 * spec.num_samples:
        return _quarantine(
            split,
            example,
            Reason.WRONG_SHAPE,
            f"{len(audio) // 2} samples at {rate} Hz; the featurizer takes {spec.num_samples} "
            f"at {spec.sample_rate} Hz (audio.sample_rate and the example length must match ingestion)",
        )
    if source.PADDED_SECONDS in example.features.feature:
        padded = _scalar(example, source.PADDED_SECONDS)
        if not np.isfinite(padded) or padded < 0:
            return _quarantine(split, example, Reason.BAD_EXAMPLE, f"{source.PADDED_SECONDS} is {padded}")
    waveform = from_pcm16(audio)
    if not np.any(waveform):
        return _quarantine(split, example, Reason.SILENT, "every sample is 0")
    content = content_samples(example, waveform, spec.sample_rate)
    if content < settings.min_seconds * spec.sample_rate:
        return _quarantine(
            split,
            example,
            Reason.TOO_SHORT,
            f"{content / spec.sample_rate:.2f} s of audio before the padding, under "
            f"transform.min_seconds = {settings.min_seconds:g} s",
        )
    return Prepared(split, example, waveform, content)


def _float_list(values: np.ndarray):
    """A FloatList built from the packed little-endian bytes: ~500x faster than `.value.extend` for a
    16,640-value log-mel (protobuf copies the bytes instead of converting value by value)."""
    from tensorflow.core.example import feature_pb2

    return feature_pb2.FloatList.FromString(
        length_delimited_field(1, np.ascontiguousarray(values, dtype="<f4").tobytes())
    )


def build_output(
    prepared: Prepared,
    log_mel: Optional[np.ndarray],
    image: Optional[np.ndarray],
    vector: Optional[np.ndarray],
    embedding: Optional[np.ndarray] = None,
    waveform: bool = True,
) -> bytes:
    """The output example: the passthrough features (the waveform only when `waveform`) and each given output."""
    from tensorflow.core.example import example_pb2

    out = example_pb2.Example()
    source_map, target = prepared.example.features.feature, out.features.feature
    for name in features.PASSTHROUGH:
        if waveform or name != source.AUDIO:
            target[name].CopyFrom(source_map[name])
    if log_mel is not None:
        target[features.LOG_MEL].float_list.CopyFrom(_float_list(log_mel.reshape(-1)))
    if image is not None:
        target[features.MEL_IMAGE].bytes_list.value.append(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
    if vector is not None:
        target[features.ENGINEERED].float_list.CopyFrom(_float_list(vector))
    if embedding is not None:
        target[features.MUSICNN_EMBEDDING].float_list.CopyFrom(_float_list(embedding))
    return out.SerializeToString()


def csv_row(prepared: Prepared, vector: np.ndarray) -> str:
    """One features.csv data row (FMA's layout: the track id, then the values)."""
    return f"{int(_scalar(prepared.example, source.TRACK_ID))}," + ",".join(f"{v:.7g}" for v in vector.tolist())


def csv_header(names: list[str]) -> str:
    """FMA's features.csv header: feature / statistics / number rows, then the index name row."""
    parts = [name.split("/") for name in names]
    rows = [
        ["feature", *(p[0] for p in parts)],
        ["statistics", *(p[1] for p in parts)],
        ["number", *(p[2] for p in parts)],
        ["track_id", *([""] * len(parts))],
    ]
    return "\n".join(",".join(row) for row in rows)


class TransformBatch(beam.DoFn):
    """(split, serialized input example) batches -> (split, serialized output example), plus tagged
    quarantine records (JSON) and features.csv rows ((split, row))."""

    def __init__(self, settings_json: str, featurizer_dir: str, progress_dir: str = ""):
        self._settings_json = settings_json
        self._featurizer_dir = featurizer_dir
        self._progress_dir = progress_dir

    def setup(self):
        self._settings = TransformSettings.model_validate_json(self._settings_json)
        self._featurizer = load_featurizer(self._featurizer_dir)
        self._progress: dict[str, ProgressReporter] = {}
        self._out = beam.metrics.Metrics.counter("SpectrogramTransform", "examples_out")
        self._quarantined = beam.metrics.Metrics.counter("SpectrogramTransform", "examples_quarantined")

    def process(self, batch: list[tuple[str, bytes]]) -> Iterator:
        for split, outcome in self.transform(batch):
            self._reporter(split).add()
            if isinstance(outcome, QuarantineRecord):
                self._quarantined.inc()
                yield beam.pvalue.TaggedOutput(QUARANTINE_TAG, outcome.to_json())
            else:
                self._out.inc()
                serialized, row = outcome
                yield split, serialized
                if row is not None:
                    yield beam.pvalue.TaggedOutput(CSV_TAG, (split, row))

    def transform(self, batch: list[tuple[str, bytes]]) -> Iterable[tuple[str, object]]:
        """One (split, quarantine record or (serialized example, csv row or None)) per input, in any order;
        the csv row is None when the engineered features are not computed."""
        ready = []
        for split, serialized in batch:
            try:
                prepared = prepare(split, serialized, self._settings)
            except Exception as e:  # a bug or an unforeseen input: recorded against the example
                _log.exception("unexpected failure reading an example of split %s", split)
                prepared = QuarantineRecord(split, None, None, "", Reason.INTERNAL_ERROR, _describe(e))
            if isinstance(prepared, QuarantineRecord):
                yield split, prepared
            else:
                ready.append(prepared)
        for prepared, spectra in zip(ready, self._featurize(ready)):
            yield prepared.split, self._finish(prepared, spectra)

    def _featurize(self, ready: list[Prepared]) -> list[Union[dict[str, np.ndarray], Exception]]:
        """The featurizer's outputs ({log_mel, mel_image[, musicnn_embedding]}) per example from the
        SavedModel, in one call per batch; when the batch call fails, example by example, so one bad input
        cannot take the others down with it."""
        if not ready:
            return []
        try:
            outputs = self._call([p.waveform for p in ready])
            return [{name: values[i] for name, values in outputs.items()} for i in range(len(ready))]
        except Exception:
            _log.warning("featurizer failed on a batch of %d; retrying one by one", len(ready), exc_info=True)
        results = []
        for prepared in ready:
            try:
                results.append({name: values[0] for name, values in self._call([prepared.waveform]).items()})
            except Exception as e:
                results.append(e)
        return results

    def _call(self, waveforms: list[np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self._featurizer.featurize(np.stack(waveforms))
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def _finish(self, prepared: Prepared, spectra) -> Union[QuarantineRecord, tuple[bytes, Optional[str]]]:
        def rejected(reason: str, detail: str) -> QuarantineRecord:
            return _quarantine(prepared.split, prepared.example, reason, detail)

        if isinstance(spectra, Exception):
            return rejected(Reason.INTERNAL_ERROR, f"featurizer: {_describe(spectra)}")
        log_mel, image, embedding = (spectra.get(n) for n in (LOG_MEL_OUTPUT, IMAGE_OUTPUT, MUSICNN_OUTPUT))
        settings = self._settings
        try:
            for name, values in ((LOG_MEL_OUTPUT, log_mel), (MUSICNN_OUTPUT, embedding)):
                if values is not None and not np.all(np.isfinite(values)):
                    return rejected(
                        Reason.NON_FINITE_FEATURES, f"{np.count_nonzero(~np.isfinite(values))} non-finite {name} values"
                    )
            vector = None
            if settings.engineered:
                vector = engineered.compute(
                    prepared.waveform[: prepared.content_samples],
                    settings.featurizer.sample_rate,
                    settings.engineered_preset,
                )
            waveform = settings.waveform_splits is None or prepared.split in settings.waveform_splits
            serialized = build_output(prepared, log_mel, image, vector, embedding, waveform)
            return serialized, (csv_row(prepared, vector) if vector is not None else None)
        except engineered.EngineeredFeatureError as e:
            return rejected(e.reason, str(e))
        except Exception as e:
            _log.exception("unexpected failure on an example of track %s", _identity("", prepared.example)["track_id"])
            return rejected(Reason.INTERNAL_ERROR, _describe(e))

    def _reporter(self, split: str) -> ProgressReporter:
        if split not in self._progress:
            directory = os.path.join(self._progress_dir, split) if self._progress_dir else ""
            self._progress[split] = ProgressReporter(directory, self._settings.output.progress_every)
        return self._progress[split]

    def finish_bundle(self):
        for reporter in self._progress.values():
            reporter.flush()


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:300]


def keyed_by_split(serialized: bytes, split: str) -> tuple[str, bytes]:
    return split, serialized


def tally_key(keyed: tuple[str, object], kind: str) -> tuple[str, str, str]:
    return kind, keyed[0], ""


def quarantine_tally_key(record_json: str) -> tuple[str, str, str]:
    record = json.loads(record_json)
    return "quarantined", record["split"], record["reason"]


def tally_json(key_and_count: tuple[tuple[str, str, str], int]) -> str:
    key, count = key_and_count
    return json.dumps([*key, count])
