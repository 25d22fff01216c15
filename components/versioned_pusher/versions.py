"""Pushing into the destination's layout (components/formats/push.py, shared with the Evaluator and the
predict command, is re-exported here): the number a new version takes, and create-if-absent, the one
atomic step a push relies on to claim that number.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections.abc import Callable
from typing import Optional

from components.formats.push import (  # noqa: F401  (re-exported: the layout this component writes)
    CLAIM_SUFFIX,
    DIGEST_ALGORITHM,
    MANIFEST_SUFFIX,
    PUSH_RESULT_FILE,
    SAVED_MODEL_FILE,
    PushedVersion,
    UnverifiedVersion,
    claim_path,
    existing_versions,
    exists,
    is_remote,
    isdir,
    join,
    list_versions,
    listdir,
    manifest_path,
    model_digest,
    newest_version,
    read_push_result,
    read_text,
    relative_files,
    scheme,
    verify_version,
    version_at,
    version_dir,
)


class UnsupportedDestination(ValueError):
    """A destination whose filesystem offers no atomic create-if-absent (see CREATE_IF_ABSENT)."""


def next_version(destination: str, now: Optional[float] = None) -> int:
    """The unix time in seconds, or one more than the newest existing version when that is later (two
    pushes in one second, or a destination written by a machine whose clock runs ahead)."""
    current = int(time.time() if now is None else now)
    existing = existing_versions(destination)
    return max([current, *(v + 1 for v in existing)])


# -- create-if-absent: the one atomic step a push relies on -----------------------------------------------
def _create_local(path: str, data: bytes) -> bool:
    """Written whole to a unique temporary name, then hard-linked to `path`: link(2) fails when `path`
    exists, so the file appears complete, once, or not at all."""
    temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.remove(temporary)


@functools.lru_cache(maxsize=1)
def _gcs_client():
    from google.cloud import storage

    return storage.Client()


def _create_gcs(path: str, data: bytes) -> bool:
    """An object upload with the precondition ifGenerationMatch=0: GCS creates it only when no live object
    has that name, atomically on the server."""
    from google.api_core.exceptions import PreconditionFailed

    bucket, _, name = path[len("gs://") :].partition("/")
    try:
        _gcs_client().bucket(bucket).blob(name).upload_from_string(
            data, content_type="application/json", if_generation_match=0
        )
        return True
    except PreconditionFailed:
        return False


# Scheme -> create_if_absent(path, data) -> bool for URL destinations. tf.io.gfile has no precondition API, so
# only GCS (through google-cloud-storage) and file:// (a local path) have one; other URL schemes are refused
# as push destinations.
CREATE_IF_ABSENT: dict[str, Callable[[str, bytes], bool]] = {
    "gs": _create_gcs,
    "file": lambda path, data: _create_local(path[len("file://") :], data),
}


def check_atomic_create(destination: str) -> None:
    if is_remote(destination) and scheme(destination) not in CREATE_IF_ABSENT:
        raise UnsupportedDestination(
            f"cannot push to {destination}: {scheme(destination)}:// offers no atomic create-if-absent, so two "
            f"pushes could claim one version; use a local directory or gs://"
        )


def create_if_absent(path: str, data: bytes) -> bool:
    """Creates the file `path` holding `data` when nothing has that name, as one atomic step; False (and
    nothing written) when something already does."""
    if not is_remote(path):
        return _create_local(path, data)
    check_atomic_create(path)
    return CREATE_IF_ABSENT[scheme(path)](path, data)
