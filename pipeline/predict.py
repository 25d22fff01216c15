"""`genre-predict FILES...` (or `make predict FILES=...`): the genre of whole audio files with a pushed model.

The model is the newest complete version under the push destination (`pusher.destination` of the config),
or `--model`: a pushed version directory, a push destination (its newest version), a Trainer Model
artifact (its Format-Serving), or any serving SavedModel directory exported by components.keras_trainer.
Loading runs the SavedModel's graph, so a pushed version must match its manifest's model_digest and any
other directory must be a Trainer Model artifact in this pipeline's MLMD, unless --trust-model is given.
Files are decoded by the pipeline's own decoder (components/audio_example_gen/audio.py) block by block,
resampled to the model's rate, cut into the model's segments and predicted as a whole from a running sum
(track_prediction.predict_segments), so memory stays flat whatever a file's length. A file is refused for
what AudioExampleGen would quarantine it for (too_short, silent, undecodable, truncated, ...: the same
checks and reason names), reported per file.

Exit status: 0 every file predicted, 1 some files refused or failed (one line each on stderr), 2 usage error
(no files, no model). Usage errors are found before TensorFlow is imported, so they come back at once.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from typing import Optional

from components.audio_example_gen import audio
from components.audio_example_gen.settings import AudioConfig
from components.versioned_pusher import versions
from pipeline.cli_common import add_config_arguments, quiet_library_warnings
from pipeline.config import load_config

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
FORMAT_SERVING = "Format-Serving"  # the Trainer's serving model inside its Model artifact (tfx path_utils)
MISSING_FILE = "missing_file"
IS_A_DIRECTORY = "is_a_directory"
UNSUPPORTED_AUDIO = "unsupported_audio"  # the file's audio cannot fill the model's spectrogram band
TOP_K = 3


class UsageError(Exception):
    pass


class FileFailed(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{detail} [{reason}]")
        self.reason, self.detail = reason, detail


@dataclasses.dataclass(frozen=True)
class ModelLocation:
    directory: str  # a serving SavedModel
    description: str


def find_model(
    model: Optional[str],
    destination: str,
    *,
    trust_model: bool = False,
    metadata_path: Optional[str] = None,
    pipeline_name: Optional[str] = None,
) -> ModelLocation:
    """Where the serving SavedModel is; UsageError (with what to do) when there is none or it is not trusted.

    Loading a SavedModel runs its graph, so only these are loaded: a pushed version whose files match its
    manifest's model_digest, or a Trainer Model artifact recorded in this pipeline's MLMD (metadata_path,
    pipeline_name); any other directory only with trust_model (--trust-model). Local paths are checked
    without TensorFlow."""
    if model is None:
        newest = versions.newest_version(destination)
        if newest is None:
            raise UsageError(
                f"no pushed model in {destination}. Run `make run-local` first (its Pusher pushes the model when "
                "the Evaluator blesses it), or pass --model DIR (a pushed version, a push destination, a Trainer "
                "Model artifact or a serving SavedModel)."
            )
        return _pushed(newest, f"version {newest.version} pushed to {destination}", trust_model)
    if not versions.exists(model):
        raise UsageError(f"--model {model} does not exist")
    pushed = versions.version_at(model)
    if pushed is not None:
        return _pushed(pushed, f"version {pushed.version} pushed to {os.path.dirname(model.rstrip('/'))}", trust_model)
    serving = versions.join(model, FORMAT_SERVING)
    if versions.exists(versions.join(model, versions.SAVED_MODEL_FILE)):
        location, artifact = ModelLocation(model, "given with --model"), None
        parent = model.rstrip("/")[: -len(FORMAT_SERVING)].rstrip("/")
        if model.rstrip("/").endswith("/" + FORMAT_SERVING) and parent:
            artifact = parent  # <Model artifact>/Format-Serving given directly
    elif versions.exists(versions.join(serving, versions.SAVED_MODEL_FILE)):
        location, artifact = ModelLocation(serving, f"the serving model of the Model artifact {model}"), model
    else:
        newest = versions.newest_version(model)
        if newest is not None:
            return _pushed(newest, f"version {newest.version} pushed to {model}", trust_model)
        raise UsageError(
            f"--model {model} holds no model: expected a SavedModel (saved_model.pb), a Trainer Model "
            f"artifact ({FORMAT_SERVING}/saved_model.pb) or a push destination with complete versions "
            f"(<version>/ and <version>{versions.MANIFEST_SUFFIX})"
        )
    if artifact is not None and _trainer_model_in_mlmd(artifact, metadata_path, pipeline_name):
        return dataclasses.replace(location, description=location.description + ", recorded in MLMD")
    if trust_model:
        return dataclasses.replace(location, description=location.description + ", trusted with --trust-model")
    raise UsageError(
        f"--model {model} is neither a pushed version whose files match its manifest's model_digest nor a Trainer "
        f"Model artifact recorded in this pipeline's MLMD ({metadata_path}); loading a SavedModel runs its graph, "
        "so it is not loaded. Pass --trust-model to load it anyway if you trust where it came from."
    )


def _pushed(pushed: versions.PushedVersion, description: str, trust_model: bool) -> ModelLocation:
    """A pushed version, once its files match its manifest's model_digest (or trust_model skips that)."""
    if trust_model:
        return ModelLocation(pushed.model_dir, f"{description}, not verified: --trust-model")
    try:
        versions.verify_version(pushed)
    except versions.UnverifiedVersion as e:
        raise UsageError(f"refusing to load {e}") from e
    return ModelLocation(pushed.model_dir, f"{description}, model_digest verified")


def _trainer_model_in_mlmd(artifact_uri: str, metadata_path: Optional[str], pipeline_name: Optional[str]) -> bool:
    """Whether artifact_uri is a Model artifact output by the Trainer of this pipeline, per its local MLMD
    database (opened read-only, without TFX)."""
    if not metadata_path or not pipeline_name or versions.is_remote(metadata_path) or not os.path.isfile(metadata_path):
        return False
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    try:
        store = metadata_store.MetadataStore(connection)
        model_type = store.get_artifact_type("Model")
        uris = {artifact_uri, artifact_uri.rstrip("/"), os.path.abspath(artifact_uri)}
        artifacts = [a for uri in uris for a in store.get_artifacts_by_uri(uri) if a.type_id == model_type.id]
        if not artifacts:
            return False
        outputs = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
        events = [e for e in store.get_events_by_artifact_ids([a.id for a in artifacts]) if e.type in outputs]
        for event in events:
            if any(c.name == f"{pipeline_name}.Trainer" for c in store.get_contexts_by_execution(event.execution_id)):
                return True
    except Exception:
        return False
    return False


def load_model(directory: str):
    """(loaded SavedModel, read_serving_info) with the model's needs checked; UsageError when unusable."""
    from components.formats.serving import NotAServingModel, load_serving_model

    try:
        loaded, info = load_serving_model(directory)
    except NotAServingModel as e:
        raise UsageError(str(e)) from e
    except Exception as e:
        raise UsageError(f"cannot load the model in {directory}: {e}") from e
    settings = info["featurizer_settings"]
    for key in ("sample_rate", "num_samples"):
        if not isinstance(settings.get(key), int) or settings[key] <= 0:
            raise UsageError(
                f"the model in {directory} has no usable featurizer setting {key!r} ({settings.get(key)!r}):"
                " its input cannot be prepared from audio"
            )
    return loaded, info


def predict_file(path: str, loaded, info: dict, audio_config: AudioConfig, batch_size: int) -> dict:
    """One whole file -> its JSON-line record; FileFailed says why a file cannot be predicted.

    The file is refused for what AudioExampleGen would quarantine it for, with the same reason names, by
    the same code (audio.open_stream, audio.DecodeStream, audio.RunningValidation): too short, silent,
    undecodable, truncated, ... It is decoded, resampled, cut and predicted block by block, so memory does
    not grow with its length; ingestion's bounds on size and length (audio.max_file_megabytes,
    audio.max_decoded_seconds) protect its workers' memory and are not applied here."""
    from components.keras_trainer.track_prediction import predict_segments, segment_config

    remote = versions.is_remote(path)
    if versions.isdir(path):
        raise FileFailed(IS_A_DIRECTORY, "is a directory, not an audio file")
    if not remote and not os.path.exists(path):
        raise FileFailed(MISSING_FILE, "no such file")
    if not audio.is_supported_extension(path):
        raise FileFailed(
            audio.Reason.UNSUPPORTED_EXTENSION,
            f"{audio.extension_of(path) or 'no extension'} is not a supported audio format "
            f"({', '.join(sorted(audio.SUPPORTED_FORMATS))})",
        )
    settings = info["featurizer_settings"]
    with contextlib.ExitStack() as closing:
        source = closing.enter_context(_open_remote(path)) if remote else path
        stream = audio.open_stream(source, path, audio_config)
        if isinstance(stream, audio.Quarantined):
            raise FileFailed(stream.reason, stream.detail)
        closing.enter_context(stream)
        caveats = bandwidth_warnings(stream.source_sample_rate, settings)
        checks = audio.RunningValidation(audio_config)

        def checked_blocks():
            for block in stream:
                checks.add(block)
                yield block

        segments = audio.iter_segments(
            checked_blocks(), segment_config(settings["sample_rate"], settings["num_samples"])
        )
        try:
            prediction = predict_segments(loaded, segments, batch_size=batch_size, info=info, keep_segments=False)
        except audio.Refused as e:
            raise FileFailed(e.quarantined.reason, e.quarantined.detail) from None
    verdict = checks.result()
    if isinstance(verdict, audio.Quarantined):
        raise FileFailed(verdict.reason, verdict.detail)
    probabilities = {genre: round(float(p), 6) for genre, p in zip(info["genres"], prediction.probabilities)}
    return {
        "file": path,
        "genre": prediction.genre,
        "confidence": probabilities[prediction.genre],
        "probabilities": probabilities,
        "segments": prediction.num_segments,
        "duration": round(verdict.duration_seconds, 3),
        "source": {
            "format": stream.source_format,
            "sample_rate": stream.source_sample_rate,
            "channels": stream.source_channels,
        },
        "warnings": caveats,
    }


def _open_remote(path: str):
    """A seekable binary file object of a gs://... file (soundfile reads it block by block)."""
    import tensorflow as tf

    try:
        return tf.io.gfile.GFile(path, "rb")
    except Exception as e:
        raise FileFailed(audio.Reason.READ_ERROR, f"cannot read file: {e}") from e


def bandwidth_warnings(source_rate: int, settings: dict) -> list[str]:
    """Resampling cannot add frequencies a recording lacks: a file sampled below twice the model's lowest
    mel frequency has nothing the model looks at (FileFailed); one below twice its highest leaves the top
    mel bands empty, unlike what the model was trained on (a warning)."""
    nyquist = source_rate / 2.0
    upper = settings.get("fmax") or settings["sample_rate"] / 2.0
    lower = settings.get("fmin") or 0.0
    if nyquist <= lower:
        raise FileFailed(
            UNSUPPORTED_AUDIO,
            f"sampled at {source_rate} Hz, so it holds nothing above {nyquist:g} Hz, "
            f"but the model's spectrogram starts at {lower:g} Hz",
        )
    if nyquist < upper:
        return [
            f"sampled at {source_rate} Hz: nothing above {nyquist:g} Hz, while the model's spectrogram reaches "
            f"{upper:g} Hz; the prediction may be less reliable"
        ]
    return []


def format_table(records: list[dict]) -> str:
    rows = [("FILE", "GENRE", "CONFIDENCE", f"TOP-{TOP_K}")]
    for r in records:
        top = sorted(r["probabilities"].items(), key=lambda item: -item[1])[:TOP_K]
        rows.append((r["file"], r["genre"], f"{r['confidence']:.3f}", ", ".join(f"{g} {p:.3f}" for g, p in top)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}" for row in rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genre-predict", description="Genre of whole audio files (MP3, WAV, FLAC, OGG) with a pushed model."
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="audio files (local paths or gs://...)")
    parser.add_argument(
        "--model",
        help="a pushed version dir, a push destination (its newest version), a Trainer "
        "Model artifact dir or a serving SavedModel dir (default: the newest version "
        "under pusher.destination)",
    )
    parser.add_argument(
        "--trust-model",
        action="store_true",
        help="load --model even when it is neither a pushed version matching its manifest's "
        "model_digest nor a Trainer Model artifact in this pipeline's MLMD (loading a "
        "SavedModel runs its graph: only for directories you trust)",
    )
    parser.add_argument("--format", choices=("table", "jsonl"), default="table", help="output (default: table)")
    parser.add_argument("--batch-size", type=_positive_int, default=32, help="segments per model call (default: 32)")
    add_config_arguments(parser)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _error(message: str) -> int:
    print(f"genre-predict: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage; return its status instead of exiting
        return int(e.code or 0)
    if not args.files:
        return _error("no audio files given. Usage: genre-predict song.mp3 [other.ogg ...] [--model DIR]")
    try:
        config = load_config(args.config, args.overrides)
        location = find_model(
            args.model,
            config.push_destination,
            trust_model=args.trust_model,
            metadata_path=config.metadata_path,
            pipeline_name=config.pipeline_name,
        )
    except (UsageError, ValueError, FileNotFoundError) as e:
        return _error(str(e))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet_library_warnings()
    from tqdm import tqdm

    try:
        loaded, info = load_model(location.directory)
    except UsageError as e:
        return _error(str(e))
    settings = info["featurizer_settings"]
    print(
        f"Model: {location.directory} ({location.description}; {info['model_family']}, {len(info['genres'])} "
        f"genres, {settings['num_samples'] / settings['sample_rate']:g} s segments at {settings['sample_rate']} Hz)",
        file=sys.stderr,
    )
    audio_config = config.audio.model_copy(update={"sample_rate": settings["sample_rate"]})
    records, failed = [], 0
    # The bar is for batches of files on a terminal; redirected stderr gets the per-file lines only.
    with tqdm(
        args.files, desc="Predicting", unit="file", file=sys.stderr, disable=True if len(args.files) < 2 else None
    ) as bar:
        for path in bar:
            try:
                record = predict_file(path, loaded, info, audio_config, args.batch_size)
            except Exception as e:  # one bad file must not stop the others
                e = (
                    e
                    if isinstance(e, FileFailed)
                    else FileFailed(audio.Reason.INTERNAL_ERROR, f"{type(e).__name__}: {e}")
                )
                failed += 1
                tqdm.write(f"genre-predict: {path}: {e}", file=sys.stderr)
                if args.format == "jsonl":
                    tqdm.write(json.dumps({"file": path, "error": e.reason, "detail": e.detail}), file=sys.stdout)
                continue
            for warning in record["warnings"]:
                tqdm.write(f"genre-predict: {path}: warning: {warning}", file=sys.stderr)
            records.append(record)
            if args.format == "jsonl":
                tqdm.write(json.dumps(record, ensure_ascii=False), file=sys.stdout)
    if args.format == "table" and records:
        print(format_table(records))
    if failed:
        print(f"genre-predict: {failed} of {len(args.files)} files could not be predicted", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
