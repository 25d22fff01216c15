"""AudioExampleGen throughput against a bare decode+resample loop over the same files.

    make bench-ingest            (or: python -m benchmarks.bench_ingest [--config ...] [--set ...])

Both sides run in fresh processes started by this command, with the same number of worker processes:
the baseline is a multiprocessing pool that only reads, decodes (soundfile), downmixes and resamples
(soxr) each file; AudioExampleGen is its real executor (listing, decoding, validation, segmenting,
tf.Example serialisation, GZIP TFRecord writing, quarantine/summary files) on Beam's DirectRunner in
multi-processing mode. Goals: >= 0.8 of the baseline with 1 worker, >= 1.7x from 1 to 2 workers, and
peak memory flat as the number of clips grows (the dataset is replicated x1, x2, x4 with symlinks).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import pipeline  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from benchmarks.common import run_measured, write_report

MODULE = "benchmarks.bench_ingest"


# ---- children -----------------------------------------------------------------------------------
def _decode_resample(args: tuple[str, int]) -> int:
    import numpy as np
    import soundfile as sf
    import soxr

    path, rate = args
    with open(path, "rb") as f:
        data = f.read()
    import io

    samples, source_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = samples.mean(axis=1, dtype=np.float32)
    return len(soxr.resample(mono, source_rate, rate, quality="HQ"))


def child_baseline(audio_root: str, workers: int, rate: int) -> dict:
    import multiprocessing

    from components.audio_example_gen.sources import walk_files

    files = [p for p in walk_files(audio_root) if p.endswith(".mp3")]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_decode_resample, [(f, rate) for f in files[:workers]])  # warm the workers' imports
        warm = time.perf_counter()
        samples = pool.map(_decode_resample, [(f, rate) for f in files], chunksize=1)
    elapsed = time.perf_counter() - warm
    return {"clips": len(files), "seconds": elapsed, "startup_seconds": warm - started, "samples": int(sum(samples))}


def child_example_gen(config_args: list[str], audio_root: str, metadata_dir: str, workers: int, out_dir: str) -> dict:
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts

    from components.audio_example_gen import executor
    from components.audio_example_gen.settings import IngestSettings
    from pipeline.config import load_config

    config = load_config(None, [*config_args, f"dataset.audio_root={audio_root}", f"dataset.metadata_dir={metadata_dir}"])
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(out_dir, "examples")
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=[f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"],
        tmp_dir=os.path.join(out_dir, "tmp"), unique_id="bench")
    started = time.perf_counter()
    executor.Executor(context).Do({}, {executor.EXAMPLES_KEY: [examples]},
                                  {executor.INGEST_CONFIG_KEY: IngestSettings.from_pipeline_config(config).model_dump_json()})
    elapsed = time.perf_counter() - started
    with open(os.path.join(examples.uri, executor.SUMMARY_FILE)) as f:
        summary = json.load(f)
    size = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(examples.uri) for n in names if n.endswith(".gz"))
    return {"clips": summary["counts"]["files_with_examples"], "quarantined": summary["counts"]["files_quarantined"],
            "examples": summary["counts"]["examples"], "seconds": elapsed, "tfrecord_bytes": size}


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--growth", default="1,2,4", help="dataset replication factors for the memory check")
    parser.add_argument("--child", choices=["baseline", "example-gen"], help=argparse.SUPPRESS)
    parser.add_argument("--child-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        spec = json.loads(args.child_args)
        result = child_baseline(**spec) if args.child == "baseline" else child_example_gen(**spec)
        print(json.dumps(result))
        return 0

    from pipeline.config import load_config
    from pipeline.local_runner import prepare_dataset

    config = load_config(args.config, args.overrides)
    if not config.dataset.uses_demo:
        print("bench-ingest measures the demo dataset; leave dataset.audio_root empty", file=sys.stderr)
        return 2
    prepare_dataset(config)
    config_args = list(args.overrides)
    work = tempfile.mkdtemp(prefix="bench-ingest-")
    report = {"audio_root": config.audio_root, "runs": {}, "memory": {}}
    try:
        worker_counts = [int(w) for w in args.workers.split(",")]
        print(f"{'workers':>7} {'baseline clips/s':>17} {'AudioExampleGen clips/s':>24} {'ratio':>6} "
              f"{'peak MiB (base/AEG)':>20}")
        for workers in worker_counts:
            base, base_mem = run_measured(MODULE, ["--child", "baseline", "--child-args", json.dumps(
                {"audio_root": config.audio_root, "workers": workers, "rate": config.audio.sample_rate})])
            out = tempfile.mkdtemp(dir=work)
            aeg, aeg_mem = run_measured(MODULE, ["--child", "example-gen", "--child-args", json.dumps(
                {"config_args": config_args, "audio_root": config.audio_root, "metadata_dir": config.metadata_dir,
                 "workers": workers, "out_dir": out})])
            shutil.rmtree(out)
            base_rate, aeg_rate = base["clips"] / base["seconds"], aeg["clips"] / aeg["seconds"]
            report["runs"][workers] = {"baseline": base, "example_gen": aeg, "baseline_clips_per_s": base_rate,
                                       "example_gen_clips_per_s": aeg_rate, "ratio": aeg_rate / base_rate,
                                       "baseline_peak_mib": base_mem, "example_gen_peak_mib": aeg_mem}
            print(f"{workers:>7} {base_rate:>17.1f} {aeg_rate:>24.1f} {aeg_rate / base_rate:>6.2f} "
                  f"{base_mem:>9.0f}/{aeg_mem:<10.0f}")
        if len(worker_counts) > 1:
            first, last = worker_counts[0], worker_counts[-1]
            for side in ("baseline", "example_gen"):
                speedup = report["runs"][last][f"{side}_clips_per_s"] / report["runs"][first][f"{side}_clips_per_s"]
                report[f"{side}_speedup_{first}_to_{last}"] = speedup
                print(f"{side} speed-up {first} -> {last} workers: {speedup:.2f}x")

        workers = worker_counts[-1]
        print(f"\nPeak memory of AudioExampleGen ({workers} workers) as the dataset grows:")
        for factor in [int(g) for g in args.growth.split(",")]:
            view = tempfile.mkdtemp(dir=work)
            root, meta = replicate(config.audio_root, config.metadata_dir, factor, view)
            aeg, mem = run_measured(MODULE, ["--child", "example-gen", "--child-args", json.dumps(
                {"config_args": config_args, "audio_root": root, "metadata_dir": meta, "workers": workers,
                 "out_dir": os.path.join(view, "out")})])
            shutil.rmtree(view)
            report["memory"][factor] = {"clips": aeg["clips"], "peak_mib": mem, "seconds": aeg["seconds"]}
            print(f"  {aeg['clips']:>6} clips: peak {mem:7.0f} MiB, {aeg['clips'] / aeg['seconds']:.1f} clips/s")
        sizes = [m["peak_mib"] for m in report["memory"].values()]
        report["memory_growth_ratio"] = sizes[-1] / sizes[0]
        print(f"  peak memory ratio largest/smallest dataset: {report['memory_growth_ratio']:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nReport: {write_report('ingest', report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
