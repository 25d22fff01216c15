"""`genre-predict FILES...` (or `make predict FILES=...`): the genre of whole audio files with a pushed model.

The model is the newest complete version under the push destination (`pusher.destination` of the config),
or `--model`: a pushed version directory, a push destination (its newest version), a Trainer Model
artifact (its Format-Serving), or any serving SavedModel directory exported by components.keras_trainer.
Files are decoded by the pipeline's own decoder (components/audio_example_gen/audio.py), resampled to the
model's rate, cut into the model's segments and predicted as a whole (track_prediction.predict_track).

Exit status: 0 every file predicted, 1 some files failed (one line each on stderr), 2 usage error (no
files, no model). Usage errors are found before TensorFlow is imported, so they come back at once.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Optional

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from components.audio_example_gen import audio
from components.versioned_pusher import versions
from pipeline.cli import add_config_arguments, quiet_library_warnings
from pipeline.config import AudioConfig, load_config

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
FORMAT_SERVING = "Format-Serving"  # the Trainer's serving model inside its Model artifact (tfx path_utils)
MISSING_FILE = "missing_file"
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


def find_model(model: Optional[str], destination: str) -> ModelLocation:
    """Where the serving SavedModel is; UsageError (with what to do) when there is none. Local paths are
    checked without TensorFlow."""
    if model is None:
        newest = versions.newest_version(destination)
        if newest is None:
            raise UsageError(
                f"no pushed model in {destination}. Run `make run-local` first (its Pusher pushes the model when "
                "the Evaluator blesses it), or pass --model DIR (a pushed version, a push destination, a Trainer "
                "Model artifact or a serving SavedModel).")
        return ModelLocation(newest.model_dir, f"version {newest.version} pushed to {destination}")
    if not versions.exists(model):
        raise UsageError(f"--model {model} does not exist")
    if versions.exists(versions.join(model, versions.SAVED_MODEL_FILE)):
        return ModelLocation(model, "given with --model")
    serving = versions.join(model, FORMAT_SERVING)
    if versions.exists(versions.join(serving, versions.SAVED_MODEL_FILE)):
        return ModelLocation(serving, f"the serving model of the Model artifact {model}")
    newest = versions.newest_version(model)
    if newest is not None:
        return ModelLocation(newest.model_dir, f"version {newest.version} pushed to {model}")
    raise UsageError(f"--model {model} holds no model: expected a SavedModel (saved_model.pb), a Trainer Model "
                     f"artifact ({FORMAT_SERVING}/saved_model.pb) or a push destination with complete versions "
                     f"(<version>/ and <version>{versions.MANIFEST_SUFFIX})")


def load_model(directory: str):
    """(loaded SavedModel, read_serving_info) with the model's needs checked; UsageError when unusable."""
    from components.keras_trainer.serving import NotAServingModel, load_serving_model

    try:
        loaded, info = load_serving_model(directory)
    except NotAServingModel as e:
        raise UsageError(str(e)) from e
    except Exception as e:
        raise UsageError(f"cannot load the model in {directory}: {e}") from e
    settings = info["featurizer_settings"]
    for key in ("sample_rate", "num_samples"):
        if not isinstance(settings.get(key), int) or settings[key] <= 0:
            raise UsageError(f"the model in {directory} has no usable featurizer setting {key!r} ({settings.get(key)!r}):"
                             " its input cannot be prepared from audio")
    return loaded, info


def predict_file(path: str, loaded, info: dict, audio_config: AudioConfig, batch_size: int) -> dict:
    """One whole file -> its JSON-line record; FileFailed says why a file cannot be predicted."""
    from components.keras_trainer.track_prediction import predict_track

    if not versions.is_remote(path) and not os.path.exists(path):
        raise FileFailed(MISSING_FILE, "no such file")
    if not audio.is_supported_extension(path):
        raise FileFailed(audio.Reason.UNSUPPORTED_EXTENSION,
                         f"{audio.extension_of(path) or 'no extension'} is not a supported audio format "
                         f"({', '.join(sorted(audio.SUPPORTED_FORMATS))})")
    data = audio.read_bytes(path, audio_config.max_file_megabytes)
    if isinstance(data, audio.Quarantined):
        raise FileFailed(data.reason, data.detail)
    clip = audio.decode(data, path, audio_config)
    if isinstance(clip, audio.Quarantined):
        raise FileFailed(clip.reason, clip.detail)
    settings = info["featurizer_settings"]
    caveats = bandwidth_warnings(clip.source_sample_rate, settings)
    prediction = predict_track(loaded, clip.samples, batch_size=batch_size, info=info)
    probabilities = {genre: round(float(p), 6) for genre, p in zip(info["genres"], prediction.probabilities)}
    return {
        "file": path,
        "genre": prediction.genre,
        "confidence": probabilities[prediction.genre],
        "probabilities": probabilities,
        "segments": int(len(prediction.segment_probabilities)),
        "duration": round(clip.duration(settings["sample_rate"]), 3),
        "source": {"format": clip.source_format, "sample_rate": clip.source_sample_rate,
                   "channels": clip.source_channels},
        "warnings": caveats,
    }


def bandwidth_warnings(source_rate: int, settings: dict) -> list[str]:
    """Resampling cannot add frequencies a recording lacks: a file sampled below twice the model's lowest
    mel frequency has nothing the model looks at (FileFailed); one below twice its highest leaves the top
    mel bands empty, unlike what the model was trained on (a warning)."""
    nyquist = source_rate / 2.0
    upper = settings.get("fmax") or settings["sample_rate"] / 2.0
    lower = settings.get("fmin") or 0.0
    if nyquist <= lower:
        raise FileFailed(UNSUPPORTED_AUDIO, f"sampled at {source_rate} Hz, so it holds nothing above {nyquist:g} Hz, "
                                            f"but the model's spectrogram starts at {lower:g} Hz")
    if nyquist < upper:
        return [f"sampled at {source_rate} Hz: nothing above {nyquist:g} Hz, while the model's spectrogram reaches "
                f"{upper:g} Hz; the prediction may be less reliable"]
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
        prog="genre-predict", description="Genre of whole audio files (MP3, WAV, FLAC, OGG) with a pushed model.")
    parser.add_argument("files", nargs="*", metavar="FILE", help="audio files (local paths or gs://...)")
    parser.add_argument("--model", help="a pushed version dir, a push destination (its newest version), a Trainer "
                                        "Model artifact dir or a serving SavedModel dir (default: the newest version "
                                        "under pusher.destination)")
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
        location = find_model(args.model, config.push_destination)
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
    print(f"Model: {location.directory} ({location.description}; {info['model_family']}, {len(info['genres'])} "
          f"genres, {settings['num_samples'] / settings['sample_rate']:g} s segments at {settings['sample_rate']} Hz)",
          file=sys.stderr)
    audio_config = config.audio.model_copy(update={"sample_rate": settings["sample_rate"]})
    records, failed = [], 0
    # The bar is for batches of files on a terminal; redirected stderr gets the per-file lines only.
    with tqdm(args.files, desc="Predicting", unit="file", file=sys.stderr,
              disable=True if len(args.files) < 2 else None) as bar:
        for path in bar:
            try:
                record = predict_file(path, loaded, info, audio_config, args.batch_size)
            except Exception as e:  # one bad file must not stop the others
                e = e if isinstance(e, FileFailed) else FileFailed(audio.Reason.INTERNAL_ERROR,
                                                                   f"{type(e).__name__}: {e}")
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
