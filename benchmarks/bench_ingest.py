"""AudioExampleGen throughput against a bare decode+resample loop over the same files.

    make bench-ingest            (or: python -m benchmarks.bench_ingest [--config ...] [--set ...])

Both sides run in fresh processes started by this command, with the same number of worker processes:
the baseline is a multiprocessing pool that only reads, decodes (soundfile), downmixes and resamples
(soxr) each file; AudioExampleGen is its real executor (listing, decoding, validation, segmenting,
tf.Example serialisation, GZIP TFRecord writing, quarantine/summary files) on Beam's DirectRunner in
multi-processing mode. Each runs on the demo dataset and on the demo dataset replicated --scale times
(symlinks under new track and artist ids), so the report gives end-to-end rates at both sizes and the
steady-state rate (the slope between them) without the fixed start-up of Beam's worker processes.
Goals: >= 0.8 of the baseline with 1 worker, >= 1.7x from 1 to 2 workers, and peak memory flat as the
number of clips grows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import components  # noqa: F401  (Keras 2 before TensorFlow: see components/__init__.py)
from benchmarks.common import add_child_arguments, measure_in_child, run_child, write_report
from pipeline import component_settings
from pipeline.cli_common import add_config_arguments

MODULE = "benchmarks.bench_ingest"


# ---- children -----------------------------------------------------------------------------------
def _decode_resample(args: tuple[str, int]) -> int:
    """The baseline's whole work per file: read, decode, downmix, resample (the same primitives)."""
    import io

    import soundfile as sf

    from components.audio_example_gen.audio import resample, to_mono

    path, rate = args
    with open(path, "rb") as f:
        data = f.read()
    samples, source_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return len(resample(to_mono(samples), source_rate, rate))


def child_baseline(audio_root: str, workers: int, rate: int) -> dict:
    import multiprocessing

    from components.audio_example_gen.sources import walk_files

    files = [p for p in walk_files(audio_root) if p.endswith(".mp3")]
    started = time.perf_counter()  # pool start-up counts, as Beam's worker start-up does on the other side
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        samples = pool.map(_decode_resample, [(f, rate) for f in files], chunksize=1)
    return {"clips": len(files), "seconds": time.perf_counter() - started, "samples": int(sum(samples))}


def child_example_gen(config_args: list[str], audio_root: str, metadata_dir: str, workers: int, out_dir: str) -> dict:
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts

    from components.audio_example_gen import executor
    from pipeline.config import load_config

    config = load_config(
        None, [*config_args, f"dataset.audio_root={audio_root}", f"dataset.metadata_dir={metadata_dir}"]
    )
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(out_dir, "examples")
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=[f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"],
        tmp_dir=os.path.join(out_dir, "tmp"),
        unique_id="bench",
    )
    started = time.perf_counter()
    executor.Executor(context).Do(
        {},
        {executor.EXAMPLES_KEY: [examples]},
        {executor.INGEST_CONFIG_KEY: component_settings.ingest_settings(config).model_dump_json()},
    )
    elapsed = time.perf_counter() - started
    with open(os.path.join(examples.uri, executor.SUMMARY_FILE)) as f:
        summary = json.load(f)
    size = sum(
        os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(examples.uri) for n in names if n.endswith(".gz")
    )
    return {
        "clips": summary["counts"]["files_with_examples"],
        "quarantined": summary["counts"]["files_quarantined"],
        "examples": summary["counts"]["examples"],
        "seconds": elapsed,
        "tfrecord_bytes": size,
    }


CHILDREN = {"baseline": child_baseline, "example-gen": child_example_gen}


# ---- parent -------------------------------------------------------------------------------------
def replicate(audio_root: str, metadata_dir: str, copies: int, target: str) -> tuple[str, str]:
    """An FMA-layout view holding every clip `copies` times (symlinks, new track ids and artists)."""
    import pandas as pd

    tracks = pd.read_csv(os.path.join(metadata_dir, "tracks.csv"), index_col=0, header=[0, 1])
    new_root, new_meta = os.path.join(target, "fma_small"), os.path.join(target, "fma_metadata")
    os.makedirs(new_meta)
    frames = []
    for copy in range(copies):
        offset = copy * 1_000_000
        for track_id in tracks.index:
            tid = f"{track_id + offset:06d}"
            os.makedirs(os.path.join(new_root, tid[:3]), exist_ok=True)
            source = os.path.join(audio_root, f"{track_id:06d}"[:3], f"{track_id:06d}.mp3")
            os.symlink(source, os.path.join(new_root, tid[:3], tid + ".mp3"))
        frame = tracks.copy()
        frame.index = frame.index + offset
        frame[("artist", "id")] = frame[("artist", "id")] + offset
        frames.append(frame)
    merged = pd.concat(frames)
    merged.index.name = "track_id"
    merged.to_csv(os.path.join(new_meta, "tracks.csv"))
    return new_root, new_meta


def _measure(side: str, spec: dict) -> dict:
    result, peak = measure_in_child(MODULE, side, spec)
    result["peak_mib"] = peak
    result["clips_per_s"] = result["clips"] / result["seconds"]
    return result


def steady_state_rate(small: dict, large: dict) -> float:
    """Clips per second once fixed start-up costs are paid: the slope between two dataset sizes."""
    return (large["clips"] - small["clips"]) / max(1e-9, large["seconds"] - small["seconds"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--scale", type=int, default=4, help="larger dataset = demo data replicated this many times")
    add_child_arguments(parser, CHILDREN)
    args = parser.parse_args(argv)

    if run_child(args, CHILDREN):
        return 0

    from pipeline.cli_common import configure_logging

    configure_logging()  # before TFX is imported: it filters the client libraries' import-time warnings
    from pipeline.config import load_config
    from pipeline.local_runner import prepare_dataset

    config = load_config(args.config, args.overrides)
    if not config.dataset.uses_demo:
        print("bench-ingest measures the demo dataset; leave dataset.audio_root empty", file=sys.stderr)
        return 2
    prepare_dataset(config)
    work = tempfile.mkdtemp(prefix="bench-ingest-")
    report = {"audio_root": config.audio_root, "runs": {}}
    try:
        datasets = {
            1: (config.audio_root, config.metadata_dir),
            args.scale: replicate(config.audio_root, config.metadata_dir, args.scale, os.path.join(work, "x")),
        }
        for workers in [int(w) for w in args.workers.split(",")]:
            for factor, (root, meta) in datasets.items():
                out = tempfile.mkdtemp(dir=work)
                base = _measure("baseline", {"audio_root": root, "workers": workers, "rate": config.audio.sample_rate})
                aeg = _measure(
                    "example-gen",
                    {
                        "config_args": list(args.overrides),
                        "audio_root": root,
                        "metadata_dir": meta,
                        "workers": workers,
                        "out_dir": out,
                    },
                )
                shutil.rmtree(out)
                report["runs"][f"{workers}x{factor}"] = {
                    "workers": workers,
                    "clips": aeg["clips"],
                    "baseline": base,
                    "example_gen": aeg,
                }
        print(summarise_report(report, [int(w) for w in args.workers.split(",")], args.scale))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nReport: {write_report('ingest', report)}")
    return 0


def summarise_report(report: dict, worker_counts: list[int], scale: int) -> str:
    runs = report["runs"]
    lines = [
        f"{'workers':>7} {'clips':>6} {'baseline clips/s':>17} {'AudioExampleGen clips/s':>24} {'ratio':>6} "
        f"{'peak MiB baseline / AEG':>24}"
    ]
    for run in runs.values():
        base, aeg = run["baseline"], run["example_gen"]
        lines.append(
            f"{run['workers']:>7} {run['clips']:>6} {base['clips_per_s']:>17.1f} {aeg['clips_per_s']:>24.1f} "
            f"{aeg['clips_per_s'] / base['clips_per_s']:>6.2f} {base['peak_mib']:>11.0f} / {aeg['peak_mib']:<10.0f}"
        )
    lines.append("\nSteady state (slope between the two dataset sizes, i.e. without fixed start-up costs):")
    steady = {}
    for workers in worker_counts:
        small, large = runs[f"{workers}x1"], runs[f"{workers}x{scale}"]
        steady[workers] = {side: steady_state_rate(small[side], large[side]) for side in ("baseline", "example_gen")}
        ratio = steady[workers]["example_gen"] / steady[workers]["baseline"]
        steady[workers]["ratio"] = ratio
        lines.append(
            f"  {workers} worker(s): baseline {steady[workers]['baseline']:.1f} clips/s, AudioExampleGen "
            f"{steady[workers]['example_gen']:.1f} clips/s, ratio {ratio:.2f} (goal >= 0.8 with 1 worker)"
        )
    report["steady_state"] = steady
    if len(worker_counts) > 1:
        first, last = worker_counts[0], worker_counts[-1]
        for side in ("baseline", "example_gen"):
            speedup = steady[last][side] / steady[first][side]
            report[f"{side}_speedup_{first}_to_{last}"] = speedup
            lines.append(f"  {side} speed-up {first} -> {last} workers: {speedup:.2f}x (goal >= 1.7x)")
    last = worker_counts[-1]
    growth = runs[f"{last}x{scale}"]["example_gen"]["peak_mib"] / runs[f"{last}x1"]["example_gen"]["peak_mib"]
    report["memory_growth_ratio"] = growth
    lines.append(
        f"  AudioExampleGen peak memory, {scale}x the clips / 1x ({last} workers): {growth:.2f} (goal: flat, ~1.0)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
