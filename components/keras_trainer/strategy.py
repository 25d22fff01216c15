"""The tf.distribute strategy for the hardware the Trainer runs on.

`plan_strategy` is a pure function of what was found (a TPU or not, the physical devices), so the choice
is unit-tested without the hardware; `make_strategy` probes the machine and builds what the plan says:

- a TPU (Cloud TPU node named by TPU_NAME / KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS / TPU_CONFIG, or a TPU VM
  with local chips): `TPUStrategy`, with static batch shapes (`drop_remainder`), which XLA on TPUs needs;
- GPUs: `MirroredStrategy` over all of them (synchronous data parallelism, NCCL all-reduce). With one
  GPU it is a single replica, which costs little and keeps one code path from 1 to N GPUs;
- no accelerator: the default strategy.

The global batch is the per-replica batch (config.trainer.batch_size) times the replicas in sync, so each
device keeps the batch the learning rate was chosen for.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
from collections.abc import Iterable
from typing import Literal, Optional

_log = logging.getLogger(__name__)

StrategyKind = Literal["tpu", "mirrored", "default"]

# Environment variables by which a Cloud TPU node is named (read by TPUClusterResolver itself).
_TPU_NODE_ENV = ("TPU_NAME", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "TPU_CONFIG")
# What a TPU VM (GKE TPU node pools, Vertex TPU workers) exposes: its chips as devices, and its type.
_TPU_VM_DEVICE_GLOBS = ("/dev/accel*", "/dev/vfio/[0-9]*")
_TPU_VM_ENV = ("TPU_ACCELERATOR_TYPE",)


@dataclasses.dataclass(frozen=True)
class StrategyPlan:
    kind: StrategyKind
    gpus: tuple[str, ...]  # names of the GPUs the strategy uses (mirrored only)
    drop_remainder: bool  # static batch shapes (TPU)
    reason: str


def plan_strategy(tpu_found: bool, devices: Iterable) -> StrategyPlan:
    """Pick the strategy from what the machine has.

    `devices`: physical device descriptions, anything with `device_type` and `name` attributes
    (tf.config.PhysicalDevice) or ("GPU", "/physical_device:GPU:0") pairs.
    """
    described = [_describe(d) for d in devices]
    gpus = tuple(name for kind, name in described if kind == "GPU")
    if tpu_found:
        return StrategyPlan("tpu", (), True, "a TPU was found")
    if gpus:
        return StrategyPlan("mirrored", gpus, False, f"{len(gpus)} GPU(s)")
    return StrategyPlan("default", (), False, "no accelerator: CPU")


def global_batch_size(per_replica: int, replicas: int) -> int:
    if per_replica < 1 or replicas < 1:
        raise ValueError(f"batch size ({per_replica}) and replicas ({replicas}) must be positive")
    return per_replica * replicas


def _describe(device) -> tuple[str, str]:
    if hasattr(device, "device_type"):
        return str(device.device_type).upper(), str(device.name)
    kind, name = device
    return str(kind).upper(), str(name)


def tpu_hinted(environ=os.environ, device_globs=_TPU_VM_DEVICE_GLOBS) -> Optional[str]:
    """How a TPU would be reached here: "node" (named in the environment), "local" (TPU VM), or None.

    Checked before asking TPUClusterResolver so that a machine without any TPU never tries to reach the
    GCE metadata server (which blocks where there is no network).
    """
    if any(environ.get(name) for name in _TPU_NODE_ENV):
        return "node"
    if any(environ.get(name) for name in _TPU_VM_ENV) or any(glob.glob(p) for p in device_globs):
        return "local"
    return None


def find_tpu():
    """A connected and initialised TPUClusterResolver, or None when this machine has no TPU."""
    import tensorflow as tf

    hint = tpu_hinted()
    if hint is None:
        return None
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local" if hint == "local" else None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        # A hint without a usable TPU (e.g. a stale TPU_NAME): train on what else there is, loudly.
        _log.warning("A TPU was indicated (%s) but could not be initialised: %s; not using a TPU", hint, e)
        return None
    return resolver


def make_strategy():
    """(strategy, plan) for this machine; logs the choice."""
    import tensorflow as tf

    resolver = find_tpu()
    plan = plan_strategy(resolver is not None, tf.config.list_physical_devices())
    if plan.kind == "tpu":
        strategy = tf.distribute.TPUStrategy(resolver)
    elif plan.kind == "mirrored":
        strategy = tf.distribute.MirroredStrategy([_logical_name(name) for name in plan.gpus])
    else:
        strategy = tf.distribute.get_strategy()
    _log.info(
        "Distribution: %s strategy (%s), %d replica(s) in sync", plan.kind, plan.reason, strategy.num_replicas_in_sync
    )
    return strategy, plan


def _logical_name(physical_name: str) -> str:
    """ "/physical_device:GPU:1" -> "/gpu:1" (what MirroredStrategy takes)."""
    return "/gpu:" + physical_name.rsplit(":", 1)[-1]
