"""Peak memory of `genre-predict` on a 30 s file against 2 h files (make bench-predict-memory).

    make bench-predict-memory                                   (or: python -m benchmarks.bench_predict_memory)
    make bench-predict-memory BENCH_ARGS="--long-minutes 30"

Each file is predicted by the real entry point (`python -m pipeline.predict ... --format jsonl`) in a fresh
process whose peak RSS is sampled (benchmarks/common.py). The model is the config's model family with
random weights, exported as the Trainer exports one (no pipeline run needed; --trust-model loads it).
The audio is synthesized once under --root and reused: a 30 s WAV (44.1 kHz stereo), a 2 h WAV
(22.05 kHz mono, 16 bit: 318 MB) and a 2 h FLAC (48 kHz stereo chord: 147 MB that decode to 2.6 GB of
float32 stereo). Goal (issue 11): every long file within 1.2x the 30 s file's peak; exit status 1 when missed.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import components  # noqa: F401  (Keras 2 before TensorFlow: see components/__init__.py)
from benchmarks.common import add_child_arguments, measure_in_child, run_child, run_measured, write_report
from pipeline import component_settings
from pipeline.cli_common import add_config_arguments

MODULE = "benchmarks.bench_predict_memory"
GOAL_RATIO = 1.2


def child_model(config_path, overrides: list[str], root: str) -> dict:
    """Export the featurizer and an untrained model of the configured family (a Model artifact root)."""
    from components.featurizer import export_featurizer
    from pipeline.config import load_config
    from tests.helpers.blessing_evaluator import export_untrained_model

    config = load_config(config_path, overrides)
    featurizer_dir = os.path.join(root, "featurizer")
    export_featurizer(component_settings.spectrogram_settings(config), featurizer_dir)
    export_untrained_model(featurizer_dir, os.path.join(root, "model"), config)
    return {"model": os.path.join(root, "model")}


CHILDREN = {"model": child_model}


def synthesize(path: str, seconds: float, rate: int, channels: int, fmt: str, subtype: str) -> str:
    """A chord with a slow tremolo, written block by block (never the whole file in memory)."""
    import soundfile as sf

    if os.path.exists(path):
        return path
    partial = path + ".partial"
    block = rate * 10
    total = int(seconds * rate)
    with sf.SoundFile(partial, "w", samplerate=rate, channels=channels, format=fmt, subtype=subtype) as f:
        for start in range(0, total, block):
            t = np.arange(start, min(total, start + block)) / rate
            mono = (
                0.2 * np.sin(2 * np.pi * 220 * t)
                + 0.1 * np.sin(2 * np.pi * 330 * t)
                + 0.05 * np.sin(2 * np.pi * 2750 * t)
            )
            mono *= 1.0 + 0.3 * np.sin(2 * np.pi * 0.5 * t)
            f.write(np.repeat(mono[:, None], channels, axis=1).astype(np.float32))
    os.replace(partial, path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    add_child_arguments(parser, CHILDREN)
    parser.add_argument("--long-minutes", type=float, default=120.0, help="length of the long files (default: 120)")
    parser.add_argument("--root", default="build/bench/predict-memory", help="model and audio go here (reused)")
    args = parser.parse_args(argv)
    if run_child(args, CHILDREN):
        return 0
    root = os.path.abspath(args.root)
    os.makedirs(root, exist_ok=True)
    config_args = [
        *(["--config", args.config] if args.config else []),
        *[a for o in args.overrides for a in ("--set", o)],
    ]
    model = os.path.join(root, "model")
    if not os.path.isdir(model):
        print("exporting an untrained model ...", file=sys.stderr)
        measure_in_child(MODULE, "model", {"config_path": args.config, "overrides": args.overrides, "root": root})
    minutes = f"{args.long_minutes:g}min"
    files = {
        "30 s WAV, 44.1 kHz stereo": synthesize(os.path.join(root, "short-30s.wav"), 30, 44100, 2, "WAV", "PCM_16"),
        f"{minutes} WAV, 22.05 kHz mono": synthesize(
            os.path.join(root, f"long-{minutes}.wav"), args.long_minutes * 60, 22050, 1, "WAV", "PCM_16"
        ),
        f"{minutes} FLAC, 48 kHz stereo": synthesize(
            os.path.join(root, f"long-{minutes}.flac"), args.long_minutes * 60, 48000, 2, "FLAC", "PCM_16"
        ),
    }
    rows, short_peak = [], None
    for name, path in files.items():
        record, peak = run_measured(
            "pipeline.predict", [path, "--model", model, "--trust-model", "--format", "jsonl", *config_args]
        )
        short_peak = short_peak or peak
        rows.append(
            {
                "file": name,
                "path": path,
                "megabytes_on_disk": round(os.path.getsize(path) / 2**20, 1),
                "duration_seconds": record.get("duration"),
                "segments": record.get("segments"),
                "genre": record.get("genre"),
                "peak_rss_mib": round(peak, 1),
                "ratio_to_30s": round(peak / short_peak, 3),
            }
        )
        print(
            f"{name:<28} {rows[-1]['megabytes_on_disk']:>8.1f} MB on disk  peak RSS {peak:>7.0f} MiB  "
            f"x{peak / short_peak:.2f} of the 30 s file",
            flush=True,
        )
    worst = max(r["ratio_to_30s"] for r in rows)
    met = worst <= GOAL_RATIO
    path = write_report(
        "predict_memory", {"files": rows, "worst_ratio": worst, "goal_ratio": GOAL_RATIO, "goal_met": met}
    )
    print(
        f"worst long/30 s peak ratio {worst:.2f} (goal <= {GOAL_RATIO}: {'met' if met else 'MISSED'}); "
        f"figures in {path}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
