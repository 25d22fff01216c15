"""SpectrogramTransform's costs: the exported TensorFlow featurizer against a librosa loop, and the
engineered feature presets, per example.

    make bench-transform          (or: python -m benchmarks.bench_transform [--config ...] [--set ...])

The clips are real music (the openly licensed excerpts in tests/data/audio), cut into examples of the
configured length at four start offsets (every example is a different waveform). Measurements run in
fresh processes limited to one thread (TensorFlow's pools, BLAS, OpenMP): a Beam worker gets one core,
so the per-core rate is what scales. The two sides of each comparison run in turn, round after round,
and each keeps its best round: on a machine shared with other jobs, both sides see the same load.

- featurizer: the exported SavedModel (`load_featurizer`), `transform.batch_size` waveforms per call, as
  the transform's DoFn runs it, computing the log-mel only (`SpectrogramSettings.spectra`: what a
  cnn2d_mel pipeline computes; before that setting it computed the image too).
- librosa: one clip at a time, `librosa.feature.melspectrogram` + `power_to_db` at the same settings
  (the log-mel only). Goal: the featurizer >= 4x librosa's examples/s.
- per preset ("quick", "fma"): `engineered.compute` alone, and the transform's whole per-example work
  (TransformBatch: parse, checks, featurizer, engineered features, output encoding) on serialized
  AudioExampleGen examples of the same clips.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

import components  # noqa: F401  (Keras 2 before TensorFlow: see components/__init__.py)
from benchmarks.common import add_child_arguments, measure_in_child, run_child, write_report
from components.featurizer import LOG_MEL_OUTPUT
from pipeline import component_settings
from pipeline.cli_common import add_config_arguments

MODULE = "benchmarks.bench_transform"
FIXTURES = "tests/data/audio"
SINGLE_THREAD = dict.fromkeys(
    (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
    ),
    "1",
)


# ---- clips ----------------------------------------------------------------------------------------
def cut_examples(sample_rate: int, num_samples: int, count: int) -> np.ndarray:
    """[count, num_samples] float32 examples of real music: each fixture clip cut into consecutive
    examples from four start offsets (0, 1/4, 1/2 and 3/4 of an example)."""
    import numpy as np

    from components.audio_example_gen.audio import decode
    from components.audio_example_gen.settings import AudioConfig

    config = AudioConfig(sample_rate=sample_rate)
    clips = []
    for name in sorted(os.listdir(FIXTURES)):
        if name.endswith((".ogg", ".mp3")):
            with open(os.path.join(FIXTURES, name), "rb") as f:
                decoded = decode(f.read(), name, config)
            if hasattr(decoded, "samples") and len(decoded.samples) >= num_samples:
                clips.append(decoded.samples)
    examples = []
    for offset in (k * num_samples // 4 for k in range(4)):
        for clip in clips:
            for start in range(offset, len(clip) - num_samples + 1, num_samples):
                examples.append(clip[start : start + num_samples])
    if len(examples) < count:
        raise SystemExit(f"the fixtures give only {len(examples)} distinct examples; ask for --examples <= that")
    return np.stack(examples[:count]).astype(np.float32)


# ---- children (one thread each) -------------------------------------------------------------------
def _single_thread_tf():
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return tf


def _interleaved_best(works: dict, rounds: int) -> dict[str, float]:
    """Best wall time of each work() over `rounds` rounds that run them in turn (after a warm-up run of
    each): a machine shared with other jobs slows both sides of a comparison alike this way."""
    for work in works.values():
        work()
    best = {name: float("inf") for name in works}
    for _ in range(rounds):
        for name, work in works.items():
            started = time.perf_counter()
            work()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def child_log_mel(clips_path: str, settings_json: str, batch_size: int, rounds: int) -> dict:
    """The exported featurizer in batches against librosa one clip at a time."""
    import librosa
    import numpy as np

    _single_thread_tf()
    from components.featurizer import SpectrogramSettings, export_featurizer, load_featurizer

    s = SpectrogramSettings.from_json(settings_json)
    clips = np.load(clips_path)
    directory = tempfile.mkdtemp(prefix="bench-featurizer-")
    try:
        export_featurizer(s, directory)
        featurizer = load_featurizer(directory)

        def tensorflow():
            for start in range(0, len(clips), batch_size):
                for values in featurizer.featurize(clips[start : start + batch_size]).values():
                    values.numpy()

        def librosa_loop():
            for clip in clips:
                mel = librosa.feature.melspectrogram(
                    y=clip,
                    sr=s.sample_rate,
                    n_fft=s.n_fft,
                    hop_length=s.hop_length,
                    n_mels=s.n_mels,
                    fmin=s.fmin,
                    fmax=s.fmax,
                    htk=s.mel_scale == "htk",
                    power=2.0,
                    center=True,
                    pad_mode="constant",
                )
                librosa.power_to_db(mel, ref=1.0, amin=s.log_floor, top_db=None)

        seconds = _interleaved_best({"featurizer": tensorflow, "librosa": librosa_loop}, rounds)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {name: {"clips": len(clips), "seconds": t} for name, t in seconds.items()}


def child_preset(clips_path: str, settings_json: str, limit: int, rounds: int) -> dict:
    """`engineered.compute` alone, and TransformBatch's whole per-example work as a Beam worker runs it
    (minus Beam) on serialized AudioExampleGen examples of the same clips."""
    import numpy as np

    _single_thread_tf()
    from components.audio_example_gen import features as source
    from components.featurizer import export_featurizer
    from components.formats.examples import to_pcm16
    from components.spectrogram_transform import engineered
    from components.spectrogram_transform.settings import TransformSettings
    from components.spectrogram_transform.transform import TransformBatch

    settings = TransformSettings.model_validate_json(settings_json)
    rate = settings.featurizer.sample_rate
    clips = np.load(clips_path)[:limit]
    batch = [
        (
            "train",
            source.encode_example(
                {
                    source.AUDIO: to_pcm16(clip),
                    source.AUDIO_NUM_SAMPLES: len(clip),
                    source.SAMPLE_RATE: rate,
                    source.LABEL: 0,
                    source.GENRE: settings.genres[0].encode(),
                    source.TRACK_ID: i,
                    source.ARTIST_ID: i,
                    source.SEGMENT_INDEX: 0,
                    source.NUM_SEGMENTS: 1,
                    source.SOURCE_PATH: f"{i}.mp3".encode(),
                    source.PADDED_SECONDS: 0.0,
                }
            ),
        )
        for i, clip in enumerate(clips)
    ]
    directory = tempfile.mkdtemp(prefix="bench-worker-")
    try:
        export_featurizer(settings.featurizer, directory)
        do_fn = TransformBatch(settings_json, directory)
        do_fn.setup()

        def engineered_only():
            for clip in clips:
                engineered.compute(clip, rate, settings.engineered_preset)

        def worker():
            produced = 0
            for start in range(0, len(batch), settings.batch_size):
                outputs = do_fn.process(batch[start : start + settings.batch_size])
                produced += sum(1 for out in outputs if isinstance(out, tuple))  # (split, example); the rest is tagged
            if produced != len(batch):
                raise RuntimeError(f"the worker quarantined {len(batch) - produced} of {len(batch)} benchmark examples")

        seconds = _interleaved_best({"engineered": engineered_only, "worker": worker}, rounds)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {name: {"clips": len(clips), "seconds": t} for name, t in seconds.items()}


CHILDREN = {"log-mel": child_log_mel, "preset": child_preset}


# ---- parent ---------------------------------------------------------------------------------------
def _measure(side: str, spec: dict) -> dict:
    results, peak = measure_in_child(MODULE, side, spec)
    for result in results.values():
        result["clips_per_s"] = result["clips"] / result["seconds"]
        result["ms_per_clip"] = 1000 * result["seconds"] / result["clips"]
    results["peak_mib"] = round(peak)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--examples", type=int, default=384, help="examples for the log-mel comparison")
    parser.add_argument("--engineered-examples", type=int, default=64, help="examples for the engineered presets")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes of each measurement (the best counts)")
    add_child_arguments(parser, CHILDREN)
    args = parser.parse_args(argv)

    if run_child(args, CHILDREN):
        return 0

    import numpy as np

    from pipeline.config import load_config

    config = load_config(args.config, args.overrides)
    settings = component_settings.transform_settings(config)
    # The log-mel comparison with librosa is of the spectrogram maths alone, like for like: the featurizer
    # computing the log-mel only (spectra; no image, no musicnn embedding). The whole-worker figures below
    # include what the configuration computes (the musicnn embedding by default).
    spec = settings.featurizer.replace(musicnn=None, spectra=(LOG_MEL_OUTPUT,))
    os.environ.update(SINGLE_THREAD)  # inherited by every child
    work = tempfile.mkdtemp(prefix="bench-transform-")
    try:
        clips_path = os.path.join(work, "clips.npy")
        np.save(clips_path, cut_examples(spec.sample_rate, spec.num_samples, args.examples))
        log_mel = _measure(
            "log-mel",
            {
                "clips_path": clips_path,
                "settings_json": spec.to_json(),
                "batch_size": settings.batch_size,
                "rounds": args.rounds,
            },
        )
        presets = {}
        for preset in ("quick", "fma"):
            preset_settings = settings.model_copy(update={"engineered_preset": preset}).model_dump_json()
            presets[preset] = _measure(
                "preset",
                {
                    "clips_path": clips_path,
                    "settings_json": preset_settings,
                    "limit": args.engineered_examples,
                    "rounds": args.rounds,
                },
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "example_seconds": spec.num_samples / spec.sample_rate,
        "batch_size": settings.batch_size,
        "threads": 1,
        "featurizer": log_mel["featurizer"],
        "librosa": log_mel["librosa"],
        "log_mel_peak_mib": log_mel["peak_mib"],
        "ratio": log_mel["featurizer"]["clips_per_s"] / log_mel["librosa"]["clips_per_s"],
        "presets": presets,
        "settings": json.loads(spec.to_json()),
        "worker_musicnn": None if settings.featurizer.musicnn is None else settings.featurizer.musicnn.model_dump(),
    }
    print(summarise(report))
    print(f"\nReport: {write_report('transform', report)}")
    return 0


def summarise(report: dict) -> str:
    f, b = report["featurizer"], report["librosa"]
    lines = [
        f"{f['clips']} examples of {report['example_seconds']:g} s of real music, one thread per side:",
        f"  exported TF featurizer, batches of {report['batch_size']} (log-mel only):  {f['clips_per_s']:8.1f} "
        f"examples/s ({f['ms_per_clip']:.2f} ms each)",
        f"  librosa loop (melspectrogram + power_to_db):             {b['clips_per_s']:8.1f} "
        f"examples/s ({b['ms_per_clip']:.2f} ms each)",
        f"  ratio featurizer / librosa: {report['ratio']:.2f}x (goal >= 4x)",
        "Per example, one thread:",
    ]
    musicnn = " + musicnn embedding" if report.get("worker_musicnn") else ""
    for preset, entry in report["presets"].items():
        e, w = entry["engineered"], entry["worker"]
        lines.append(
            f"  engineered preset {preset!r:8} {e['ms_per_clip']:7.1f} ms   whole transform worker "
            f"(parse, featurizer{musicnn}, engineered, encode) {w['ms_per_clip']:7.1f} ms  ({e['clips']} examples)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
