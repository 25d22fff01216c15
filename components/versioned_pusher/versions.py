"""The push destination's layout (TF Serving's): `<destination>/<version>/` holds a serving SavedModel and
`<destination>/<version>.manifest.json` describes it. The manifest is written last, so a version without
one is an unfinished (or failed) push and is ignored here.

Local paths are read with `os` (no TensorFlow import: the predict command must answer "no model found"
instantly); gs:// and other URLs with `tf.io.gfile`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Optional

MANIFEST_SUFFIX = ".manifest.json"
SAVED_MODEL_FILE = "saved_model.pb"
# What one Pusher execution did, in its PushedModel artifact: {pushed, destination, version, model_dir,
# manifest_path, manifest, reasons}; {pushed: false, destination, reasons} when the model was not blessed.
PUSH_RESULT_FILE = "push_result.json"

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PushedVersion:
    version: int
    model_dir: str  # the SavedModel directory, <destination>/<version>
    manifest_path: str
    manifest: dict


def is_remote(path: str) -> bool:
    return "://" in path


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path: str) -> bool:
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def listdir(path: str) -> list[str]:
    # gfile lists GCS "directories" with a trailing slash.
    names = _gfile().listdir(path) if is_remote(path) else os.listdir(path)
    return [name.rstrip("/") for name in names]


def read_text(path: str) -> str:
    if is_remote(path):
        with _gfile().GFile(path, "r") as f:
            return f.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def join(destination: str, name: str) -> str:
    return destination.rstrip("/") + "/" + name if is_remote(destination) else os.path.join(destination, name)


def version_dir(destination: str, version: int) -> str:
    return join(destination, str(version))


def manifest_path(destination: str, version: int) -> str:
    return join(destination, f"{version}{MANIFEST_SUFFIX}")


def existing_versions(destination: str) -> list[int]:
    """Every numbered entry under the destination, complete or not, ascending (what a new version must
    exceed: an unfinished push's directory is never reused)."""
    if not isdir(destination):
        return []
    numbers = set()
    for name in listdir(destination):
        stem = name[: -len(MANIFEST_SUFFIX)] if name.endswith(MANIFEST_SUFFIX) else name
        if stem.isdigit():
            numbers.add(int(stem))
    return sorted(numbers)


def next_version(destination: str, now: Optional[float] = None) -> int:
    """The unix time in seconds, or one more than the newest existing version when that is later (two
    pushes in one second, or a destination written by a machine whose clock runs ahead)."""
    current = int(time.time() if now is None else now)
    existing = existing_versions(destination)
    return max([current, *(v + 1 for v in existing)])


def list_versions(destination: str) -> list[PushedVersion]:
    """The complete versions (a SavedModel and a readable manifest naming that version), ascending."""
    complete = (_complete_version(destination, v) for v in existing_versions(destination))
    return [pushed for pushed in complete if pushed is not None]


def newest_version(destination: str) -> Optional[PushedVersion]:
    """The newest complete version; reads manifests from the newest down, not every version's."""
    for version in reversed(existing_versions(destination)):
        pushed = _complete_version(destination, version)
        if pushed is not None:
            return pushed
    return None


def _complete_version(destination: str, version: int) -> Optional[PushedVersion]:
    """The version when it is complete; None (with a warning when its manifest is bad) otherwise."""
    model_dir, manifest_file = version_dir(destination, version), manifest_path(destination, version)
    if not (exists(manifest_file) and exists(join(model_dir, SAVED_MODEL_FILE))):
        return None
    try:
        manifest = json.loads(read_text(manifest_file))
    except (ValueError, OSError) as e:
        _log.warning("ignoring version %d of %s: its manifest is unreadable (%s)", version, destination, e)
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != version:
        _log.warning("ignoring version %d of %s: its manifest names version %r", version, destination,
                     manifest.get("version") if isinstance(manifest, dict) else None)
        return None
    return PushedVersion(version, model_dir, manifest_file, manifest)


def read_push_result(pushed_model_uri: str) -> dict:
    """push_result.json of a PushedModel artifact written by the VersionedPusher."""
    path = join(pushed_model_uri, PUSH_RESULT_FILE)
    if not exists(path):
        raise FileNotFoundError(f"{path} does not exist: {pushed_model_uri} was not written by the VersionedPusher "
                                "(component Pusher), or that run failed")
    return json.loads(read_text(path))
