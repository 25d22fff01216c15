"""Strategy selection from injected device lists, TPU hints, and global batch scaling."""

from __future__ import annotations

import collections

import pytest

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
