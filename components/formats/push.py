"""The push destination's layout (TF Serving's): `<destination>/<version>/` holds a serving SavedModel and
`<destination>/<version>.manifest.json` describes it. The manifest is written last, so a version without
one is an unfinished (or failed) push and is ignored here. `<destination>/<version>.claim.json` is the
marker a push creates (create-if-absent) before it writes anything for that number: whoever created it
owns the number. The VersionedPusher writes this layout (claiming and creating are its own:
components/versioned_pusher/versions.py); the BlessingEvaluator reads the newest version as the model to
beat, and the predict command loads it.

The manifest records `model_digest`, a sha256 over the version's files (`model_digest`); `verify_version`
recomputes it, and nothing loads a pushed version that does not verify.

Local paths are read with `os` (no TensorFlow import: the predict command must answer "no model found"
instantly); gs:// and other URLs with `tf.io.gfile`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from typing import Optional

MANIFEST_SUFFIX = ".manifest.json"
CLAIM_SUFFIX = ".claim.json"
DIGEST_ALGORITHM = "sha256-tree-v1"  # see model_digest
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


class UnverifiedVersion(Exception):
    """A pushed version whose files do not match (or cannot be checked against) its manifest's model_digest."""


def is_remote(path: str) -> bool:
    return "://" in path


def scheme(path: str) -> str:
    return path.split("://", 1)[0] if is_remote(path) else ""


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


def _read_chunks(path: str, size: int = 1 << 20):
    opener = _gfile().GFile(path, "rb") if is_remote(path) else open(path, "rb")
    with opener as f:
        while True:
            chunk = f.read(size)
            if not chunk:
                return
            yield chunk


def relative_files(directory: str) -> list[tuple[str, str]]:
    """(path relative to directory with "/" separators, full path) of every file below it, sorted."""
    root = directory.rstrip("/")
    files = []
    walk = _gfile().walk(directory) if is_remote(directory) else os.walk(directory)
    for current, _, names in walk:
        current = current.rstrip("/")
        prefix = current[len(root) :].replace(os.sep, "/").strip("/")
        for name in names:
            files.append(((prefix + "/" + name) if prefix else name, join(current, name)))
    return sorted(files)


def model_digest(directory: str) -> dict:
    """The content digest of a model directory: sha256 over "<relative path>\\0<sha256 of its bytes>\\n" of
    every file, sorted by relative path (independent of where the directory is and of timestamps)."""
    tree, count, total = hashlib.sha256(), 0, 0
    for relative, path in relative_files(directory):
        content = hashlib.sha256()
        for chunk in _read_chunks(path):
            content.update(chunk)
            total += len(chunk)
        tree.update(f"{relative}\0{content.hexdigest()}\n".encode())
        count += 1
    return {"algorithm": DIGEST_ALGORITHM, "sha256": tree.hexdigest(), "file_count": count, "total_bytes": total}


def verify_version(pushed: PushedVersion) -> dict:
    """The version's recomputed model_digest when it equals its manifest's; UnverifiedVersion otherwise (a
    manifest without one, pushed before digests were recorded or not by the VersionedPusher, included)."""
    expected = pushed.manifest.get("model_digest")
    where = f"version {pushed.version} ({pushed.model_dir})"
    if not isinstance(expected, dict) or expected.get("algorithm") != DIGEST_ALGORITHM or not expected.get("sha256"):
        raise UnverifiedVersion(
            f"{where}: its manifest {pushed.manifest_path} records no {DIGEST_ALGORITHM} "
            "model_digest, so its files cannot be verified (pushed before digests were "
            "recorded, or not by the VersionedPusher)"
        )
    actual = model_digest(pushed.model_dir)
    if actual["sha256"] != expected["sha256"]:
        raise UnverifiedVersion(
            f"{where}: its files do not match the model_digest of its manifest (sha256 "
            f"{actual['sha256'][:16]}..., {actual['file_count']} files; manifest "
            f"{expected['sha256'][:16]}..., {expected.get('file_count')} files): it was changed "
            "or planted after the push"
        )
    return actual


def version_at(model_dir: str) -> Optional[PushedVersion]:
    """The complete pushed version whose directory model_dir is (`<destination>/<version>`), else None."""
    stripped = model_dir.rstrip("/")
    name = stripped.rsplit("/", 1)[-1] if is_remote(stripped) else os.path.basename(stripped)
    if not name.isdigit():
        return None
    parent = stripped[: -len(name)].rstrip("/") if is_remote(stripped) else os.path.dirname(stripped)
    return _complete_version(parent, int(name)) if parent else None


def join(destination: str, name: str) -> str:
    return destination.rstrip("/") + "/" + name if is_remote(destination) else os.path.join(destination, name)


def version_dir(destination: str, version: int) -> str:
    return join(destination, str(version))


def manifest_path(destination: str, version: int) -> str:
    return join(destination, f"{version}{MANIFEST_SUFFIX}")


def claim_path(destination: str, version: int) -> str:
    return join(destination, f"{version}{CLAIM_SUFFIX}")


def existing_versions(destination: str) -> list[int]:
    """Every numbered entry under the destination (directory, manifest or claim), complete or not,
    ascending (what a new version must exceed: an unfinished or running push's number is never reused)."""
    if not isdir(destination):
        return []
    numbers = set()
    for name in listdir(destination):
        stem = name
        for suffix in (MANIFEST_SUFFIX, CLAIM_SUFFIX):
            if name.endswith(suffix):
                stem = name[: -len(suffix)]
        if stem.isdigit():
            numbers.add(int(stem))
    return sorted(numbers)


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
        _log.warning(
            "ignoring version %d of %s: its manifest names version %r",
            version,
            destination,
            manifest.get("version") if isinstance(manifest, dict) else None,
        )
        return None
    return PushedVersion(version, model_dir, manifest_file, manifest)


def read_push_result(pushed_model_uri: str) -> dict:
    """push_result.json of a PushedModel artifact written by the VersionedPusher."""
    path = join(pushed_model_uri, PUSH_RESULT_FILE)
    if not exists(path):
        raise FileNotFoundError(
            f"{path} does not exist: {pushed_model_uri} was not written by the VersionedPusher "
            "(component Pusher), or that run failed"
        )
    return json.loads(read_text(path))
