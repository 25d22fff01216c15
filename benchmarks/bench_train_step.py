"""Is training waiting for input? Train-step time against time blocked on the tf.data pipeline, per batch.

    make bench-train-step                        (GPU/TPU machines: 60 measured steps per family)
    make bench-train-step BENCH_ARGS=--quick     (CPU: python -m benchmarks.bench_train_step --quick)

For cnn2d_mel, mobilenetv2_transfer and musicnn_transfer, in a fresh process each, on the strategy strategy.py picks for
the machine (the device is printed), with the input pipeline run_fn builds (same dataset.make_dataset,
caching decided by config.trainer.cache_megabytes, global batch = per-replica batch x replicas):
  1. compute: one batch held in device memory, the compiled train step run on it repeatedly: the time
     of a step with no input cost at all;
  2. training loop: the same step fed from the pipeline's iterator; the time blocked in `next()` is
     the waiting, the rest is the step (each step is synchronised by reading its loss).
The cost of an epoch (one pass over the train split at the loop's step time plus the mean wait) is
reported per family, and cnn2d_mel's against musicnn_transfer's: with its network frozen, musicnn_transfer
trains only a head on the embedding SpectrogramTransform stored (the examples are prepared with it).
Waiting share = waiting / (waiting + step time) over the measured steps, after warm-up steps (tracing,
the shuffle buffer's first fill; the time to the first batch is reported on its own). Goal: < 5%.
The data are bench_input's (the demo dataset through AudioExampleGen and the featurizer: 1,280 train
examples, 40 steps of 32), read from the start: the measured steps of the first epoch (uncached: GZIP
inflate, parse, filling the cache; the hardest case for the input side) and of the later, cached
epochs are reported apart. MobileNetV2 uses the configured weights: with ImageNet's, only the head
trains (the shortest step, so the hardest case for the input); offline it falls back to random weights
and trains whole. --quick runs a few steps (for CPU-only machines, where a step is far slower than the
input: the figure only proves the benchmark works).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import components  # noqa: F401  (Keras 2 before TensorFlow: see components/__init__.py)
from benchmarks.common import add_child_arguments, measure_in_child, run_child, write_report
from pipeline import component_settings
from pipeline.cli_common import add_config_arguments

MODULE = "benchmarks.bench_train_step"
FAMILIES = ("cnn2d_mel", "mobilenetv2_transfer", "musicnn_transfer")


def _device_description(tf) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
        return f"{len(gpus)} GPU(s): {', '.join(names)}"
    tpus = tf.config.list_logical_devices("TPU")
    if tpus:
        return f"{len(tpus)} TPU core(s)"
    return f"CPU only ({os.cpu_count()} cores)"


def child(family: str, config_args: list[str], files: list[str], steps: int, warmup: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from components.keras_trainer import dataset as data
    from components.keras_trainer.models import build_model
    from components.keras_trainer.strategy import global_batch_size, make_strategy
    from components.ledger import count_records
    from pipeline.config import load_config

    config = load_config(None, [*config_args, f"trainer.model_family={family}"])
    settings = component_settings.spectrogram_settings(config)
    spec = data.input_spec(family, settings)
    strategy, plan = make_strategy()
    batch = global_batch_size(config.trainer.batch_size, strategy.num_replicas_in_sync)
    examples = count_records(files)
    cache = data.should_cache(examples, spec, config.trainer.cache_megabytes)
    first_epoch_steps = examples // batch
    dataset = data.make_dataset(
        files,
        spec,
        batch,
        training=True,
        seed=0,
        shuffle_buffer=config.trainer.shuffle_buffer,
        cache=cache,
        drop_remainder=True,
        repeat=True,
        files=files,
    )
    with strategy.scope():
        built = build_model(config, settings)
        model = built.model
        model.compile(
            optimizer=tf.keras.optimizers.Adam(config.trainer.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    distributed = strategy.experimental_distribute_dataset(dataset)

    @tf.function
    def train_step(batch_data):
        logs = strategy.run(model.train_step, args=(batch_data,))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, logs["loss"], axis=None)

    iterator = iter(distributed)
    started = time.perf_counter()
    held = next(iterator)
    first_batch_s = time.perf_counter() - started
    for _ in range(warmup):  # tracing and the first executions
        float(train_step(held))
    compute = []
    for _ in range(steps):
        t0 = time.perf_counter()
        float(train_step(held))
        compute.append(time.perf_counter() - t0)
    for _ in range(warmup):  # let the pipeline's prefetch refill after the pause
        float(train_step(next(iterator)))
    waits, step_times = [], []
    for _ in range(steps):  # these continue the warm-up's epoch: step `warmup + i` of the run
        t0 = time.perf_counter()
        batch_data = next(iterator)
        t1 = time.perf_counter()
        float(train_step(batch_data))
        waits.append(t1 - t0)
        step_times.append(time.perf_counter() - t1)
    # Loop step i is the run's batch warmup + 1 + i (the held batch was the first).
    in_first_epoch = np.arange(steps) + warmup + 1 < first_epoch_steps
    waits, step_times = np.array(waits), np.array(step_times)

    def share(mask):
        return float(waits[mask].sum() / (waits[mask].sum() + step_times[mask].sum())) if mask.any() else None

    return {
        "family": family,
        "device": _device_description(tf),
        "strategy": plan.kind,
        "replicas": strategy.num_replicas_in_sync,
        "global_batch": batch,
        "cached": cache,
        "steps": steps,
        "warmup_steps": warmup,
        "model_notes": built.notes,
        "time_to_first_batch_s": first_batch_s,
        "compute_step_ms": 1000 * float(np.median(compute)),
        "loop_step_ms": 1000 * float(np.median(step_times)),
        "wait_ms_mean": 1000 * float(np.mean(waits)),
        "wait_ms_max": 1000 * float(np.max(waits)),
        "waiting_share": float(waits.sum() / (waits.sum() + step_times.sum())),
        "steps_in_first_epoch": int(in_first_epoch.sum()),
        # An epoch of the train split at the loop's step time (one pass: examples // global batch steps).
        "epoch_s": float(np.median(step_times) + np.mean(waits)) * first_epoch_steps,
        "train_examples": int(examples),
        "waiting_share_first_epoch": share(in_first_epoch),
        "waiting_share_cached_epochs": share(~in_first_epoch),
    }


CHILDREN = {"train-step": child}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--steps", type=int, default=60, help="measured steps per phase")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="4 measured steps, 2 warm-up: CPU-only machines")
    add_child_arguments(parser, CHILDREN)
    args = parser.parse_args(argv)

    if run_child(args, CHILDREN):
        return 0
    if args.quick:
        args.steps, args.warmup = 4, 2

    from pipeline.cli_common import configure_logging

    configure_logging()
    from benchmarks.bench_input import prepare_examples, split_files
    from pipeline.config import load_config

    config = load_config(args.config, args.overrides)
    if not config.dataset.uses_demo:
        print("bench-train-step measures the demo dataset; leave dataset.audio_root empty", file=sys.stderr)
        return 2
    families = args.families.split(",")
    if "musicnn_transfer" in families:
        # The same examples for every family, with the musicnn embedding stored (the others ignore it).
        config = load_config(args.config, [*args.overrides, "trainer.model_family=musicnn_transfer"])
    files = split_files(prepare_examples(config)["transformed"])
    report = {"steps": args.steps, "warmup": args.warmup, "runs": {}}
    for family in families:
        spec = {
            "family": family,
            "config_args": list(args.overrides),
            "files": files,
            "steps": args.steps,
            "warmup": args.warmup,
        }
        result, peak = measure_in_child(MODULE, "train-step", spec)
        result["peak_mib"] = round(peak)
        report["runs"][family] = result
    print(summarise_report(report))
    print(f"\nReport: {write_report('train_step', report)}")
    return 0


def summarise_report(report: dict) -> str:
    runs = list(report["runs"].values())
    lines = [
        f"Device: {runs[0]['device']}; strategy {runs[0]['strategy']} x{runs[0]['replicas']}; "
        f"{report['steps']} measured steps after {report['warmup']} warm-up",
        f"{'family':<22} {'batch':>5} {'step ms (held batch)':>21} {'step ms (loop)':>15} "
        f"{'wait ms mean/max':>17} {'waiting':>8} {'1st epoch':>10} {'cached':>8} {'1st batch s':>11} "
        f"{'peak MiB':>9} {'epoch s':>8}",
    ]

    def percent(value):
        return "-" if value is None else f"{100 * value:.2f}%"

    for run in runs:
        lines.append(
            f"{run['family']:<22} {run['global_batch']:>5} "
            f"{run['compute_step_ms']:>21.1f} {run['loop_step_ms']:>15.1f} "
            f"{run['wait_ms_mean']:>8.1f}/{run['wait_ms_max']:<8.1f} {percent(run['waiting_share']):>8} "
            f"{percent(run['waiting_share_first_epoch']):>10} "
            f"{percent(run['waiting_share_cached_epochs']):>8} "
            f"{run['time_to_first_batch_s']:>11.2f} {run['peak_mib']:>9} {run['epoch_s']:>8.1f}"
        )
        if "mobilenet_weights" in run["model_notes"]:
            lines.append(f"{'':<22} MobileNetV2 weights: {run['model_notes']['mobilenet_weights']}")
    if "cnn2d_mel" in report["runs"] and "musicnn_transfer" in report["runs"]:
        ratio = report["runs"]["cnn2d_mel"]["epoch_s"] / report["runs"]["musicnn_transfer"]["epoch_s"]
        lines.append(
            f"Epoch of {runs[0]['train_examples']} examples: musicnn_transfer's head on the stored embedding is "
            f"{ratio:.0f}x cheaper than cnn2d_mel"
        )
    worst = max(run["waiting_share"] for run in runs)
    lines.append(f"Largest waiting share: {100 * worst:.2f}% (goal < 5%)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
