"""Strategy selection from injected device lists, TPU hints, and global batch scaling; and run_fn under a real
MirroredStrategy over two logical CPUs."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import components
from components.keras_trainer.strategy import global_batch_size, plan_strategy, tpu_hinted

Device = collections.namedtuple("Device", "name device_type")  # the attributes of tf.config.PhysicalDevice
CPU = Device("/physical_device:CPU:0", "CPU")


def gpus(n):
    return [Device(f"/physical_device:GPU:{i}", "GPU") for i in range(n)]


def test_no_accelerator_gives_the_default_strategy():
    plan = plan_strategy(False, [CPU])
    assert plan.kind == "default" and not plan.drop_remainder and plan.gpus == ()


def test_one_gpu_is_a_single_replica_mirrored_strategy():
    plan = plan_strategy(False, [CPU, *gpus(1)])
    assert plan.kind == "mirrored" and plan.gpus == ("/physical_device:GPU:0",)


def test_several_gpus_are_mirrored_all_of_them():
    plan = plan_strategy(False, [CPU, *gpus(4)])
    assert plan.kind == "mirrored"
    assert plan.gpus == tuple(f"/physical_device:GPU:{i}" for i in range(4))
    assert not plan.drop_remainder


def test_a_tpu_wins_over_gpus_and_needs_static_batches():
    plan = plan_strategy(True, [CPU, *gpus(2)])
    assert plan.kind == "tpu" and plan.drop_remainder


def test_device_pairs_are_accepted_too():
    assert plan_strategy(False, [("cpu", "c0"), ("gpu", "g0"), ("gpu", "g1")]).gpus == ("g0", "g1")


def test_real_device_list_of_this_machine_plans_without_error():
    import tensorflow as tf

    plan = plan_strategy(False, tf.config.list_physical_devices())
    expected = "mirrored" if tf.config.list_physical_devices("GPU") else "default"
    assert plan.kind == expected


@pytest.mark.parametrize("per_replica, replicas, expected", [(32, 1, 32), (32, 8, 256), (1, 4, 4)])
def test_global_batch_is_per_replica_times_replicas(per_replica, replicas, expected):
    assert global_batch_size(per_replica, replicas) == expected


def test_global_batch_rejects_nonsense():
    with pytest.raises(ValueError):
        global_batch_size(0, 2)


def test_tpu_hints(tmp_path):
    nothing = [str(tmp_path / "accel*")]
    assert tpu_hinted({}, nothing) is None
    assert tpu_hinted({"TPU_NAME": "my-tpu"}, nothing) == "node"
    assert tpu_hinted({"TPU_NAME": ""}, nothing) is None
    assert tpu_hinted({"TPU_ACCELERATOR_TYPE": "v5litepod-8"}, nothing) == "local"
    (tmp_path / "accel0").touch()
    assert tpu_hinted({}, nothing) == "local"


def test_make_strategy_on_this_machine():
    import tensorflow as tf

    from components.keras_trainer.strategy import make_strategy

    strategy, plan = make_strategy()
    if not tf.config.list_physical_devices("GPU"):
        assert plan.kind == "default" and strategy.num_replicas_in_sync == 1


# run_fn under a MirroredStrategy over two logical CPUs, in a fresh process: logical devices can only be
# configured before TensorFlow initialises its devices, which the test process has long done. The strategy
# is injected where run_fn takes it from (strategy.make_strategy: on a machine without GPUs it picks the
# default), and the built model is kept to look at; in the modules trainer imports them from, since the TFX
# executor reloads the trainer module.
_MIRRORED_RUN = """
import json, sys

import components  # Keras 2 before TensorFlow
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from components.keras_trainer import models, strategy
from tests.helpers.keras_trainer import run_trainer, small_config

def make_strategy():
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(cpus), strategy.StrategyPlan("mirrored", (), False, "two logical CPUs")

built = []
def build_model(*args):
    built.append(real_build_model(*args))
    return built[-1]

real_build_model = models.build_model
strategy.make_strategy, models.build_model = make_strategy, build_model
artifact, output = json.loads(sys.argv[1]), sys.argv[2]
out = run_trainer(artifact, output, small_config(*sys.argv[4:]))
model = built[0].model
with open(sys.argv[3], "w") as f:
    json.dump({
        **out,
        "logical_cpus": len(tf.config.list_logical_devices("CPU")),
        "optimizer_steps": int(model.optimizer.iterations.numpy()),
        "mirrored_weights": [type(w).__name__ for w in model.trainable_weights],
        "model_strategy": type(model.distribute_strategy).__name__,
    }, f)
"""


@pytest.mark.slow  # ~40 s: a second process imports TFX and traces the model for two replicas
def test_run_fn_trains_on_two_replicas_of_a_mirrored_strategy_with_the_doubled_global_batch(tiny_artifact, tmp_path):
    from components.keras_trainer import trainer
    from tests.helpers.keras_trainer import small_config

    overrides = ("trainer.epochs=1",)  # one epoch shows the batches; more would only cost time
    root = Path(components.__file__).resolve().parents[1]  # the tree under test, in the child too
    observed_file = tmp_path / "observed.json"
    done = subprocess.run(
        [sys.executable, "-c", _MIRRORED_RUN, json.dumps(tiny_artifact), str(tmp_path / "out"), str(observed_file)]
        + list(overrides),
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    observed = json.loads(observed_file.read_text())
    assert observed["logical_cpus"] == 2
    # The model was built in the strategy's scope: one copy of each trained weight per replica.
    assert observed["model_strategy"] == "MirroredStrategy"
    assert observed["mirrored_weights"] and set(observed["mirrored_weights"]) == {"MirroredVariable"}

    metrics = json.loads(Path(observed["model_run_dir"], trainer.METRICS_FILE).read_text())
    training, per_replica = metrics["training"], small_config(*overrides).trainer.batch_size
    assert (training["strategy"], training["replicas"]) == ("mirrored", 2)
    assert training["global_batch_size"] == 2 * per_replica
    # The doubled batch is what was trained on: one pass over the train split is ceil(examples / 16) steps,
    # not ceil(examples / 8). Plus one: Keras does not know the first epoch's length yet, and under a
    # distribution strategy finding its end counts one more step (measured: 5, 4, 4 over three epochs).
    counts = tiny_artifact["counts"]
    steps_per_epoch = -(-counts["train"] // (2 * per_replica))
    assert counts["train"] % (2 * per_replica) and steps_per_epoch != -(-counts["train"] // per_replica)
    assert training["epochs_run"] == 1 and observed["optimizer_steps"] == steps_per_epoch + 1
    # Every example scored under the strategy, none dropped to make whole global batches.
    assert metrics["examples"] == counts and metrics["eval"]["examples"] == counts["eval"]
    assert metrics["test"]["examples"] == counts["test"]
    assert os.path.exists(os.path.join(observed["serving_model_dir"], "saved_model.pb"))
