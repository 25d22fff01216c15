"""VersionedPusher executor: copy a blessed serving model to a new numbered version under the destination
and write its manifest beside it; an unblessed model writes nothing there.

Unlike the standard Pusher it never reuses a version directory (the standard one skips the copy when its
unix-second version exists, and its io_utils.copy_dir deletes an existing target first), it claims a number
atomically before writing (see `push`), it does not publish a model the destination already holds, and it
does not copy the model a second time into the PushedModel artifact: that artifact gets push_result.json.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from typing import Optional

import tensorflow as tf
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.types.standard_component_specs import EXAMPLES_KEY, MODEL_BLESSING_KEY, MODEL_KEY, PUSHED_MODEL_KEY
from tfx.utils import path_utils

from components.formats import blessing as decisions
from components.formats.blessing import DECISION_FILE
from components.formats.serving import NotAServingModel, load_serving_model
from components.json_files import write_json
from components.versioned_pusher import versions
from components.versioned_pusher.manifest import build_manifest, data_fingerprint, utc_now
from components.versioned_pusher.versions import PUSH_RESULT_FILE

DESTINATION_KEY = "destination"
MANIFEST_CONTEXT_KEY = "manifest_context"

# The standard Pusher's custom properties (tfx/components/pusher/executor.py), so tools reading those work.
PUSHED_PROPERTY, DESTINATION_PROPERTY, VERSION_PROPERTY = "pushed", "pushed_destination", "pushed_version"
_CLAIM_ATTEMPTS = 20

_log = logging.getLogger(__name__)


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        blessing = artifact_utils.get_single_instance(input_dict[MODEL_BLESSING_KEY])
        examples = (input_dict.get(EXAMPLES_KEY) or [None])[0]
        pushed_model = artifact_utils.get_single_instance(output_dict[PUSHED_MODEL_KEY])
        destination = exec_properties.get(DESTINATION_KEY) or ""
        if not destination:
            raise ValueError("the Pusher has no destination: set pusher.destination (a directory or gs://...)")
        context = json.loads(exec_properties.get(MANIFEST_CONTEXT_KEY) or "{}")
        decision = read_decision(blessing.uri)

        if not model_utils.is_model_blessed(blessing):
            reasons = (decision or {}).get("reasons") or ["the blessing's custom property `blessed` is not 1"]
            _log.info(
                "Pusher: model %s is not blessed, nothing pushed to %s: %s", model.uri, destination, "; ".join(reasons)
            )
            pushed_model.set_int_custom_property(PUSHED_PROPERTY, 0)
            write_json(
                os.path.join(pushed_model.uri, PUSH_RESULT_FILE),
                {"pushed": False, "destination": destination, "reasons": reasons},
            )
            return

        serving_dir = serving_model_dir(model)
        digest = versions.model_digest(serving_dir)
        pushed = version_holding(destination, digest)
        already = pushed is not None
        if already:
            # One model, one version: a model already at the destination (the same content digest, whichever
            # version holds it, newest or not) is not published again; this push points at that version.
            _log.info(
                "Pusher: %s is already pushed to %s as version %d (model_digest %s); nothing copied",
                model.uri,
                destination,
                pushed.version,
                digest["sha256"],
            )
        else:
            pushed = push(
                serving_dir,
                destination,
                _manifest_builder(model, serving_dir, blessing, decision, examples, context),
                digest=digest,
            )
        pushed_model.set_int_custom_property(PUSHED_PROPERTY, 1)
        pushed_model.set_string_custom_property(DESTINATION_PROPERTY, pushed.model_dir)
        pushed_model.set_string_custom_property(VERSION_PROPERTY, str(pushed.version))
        write_json(
            os.path.join(pushed_model.uri, PUSH_RESULT_FILE),
            {
                "pushed": True,
                "already_pushed": already,
                "destination": destination,
                "version": pushed.version,
                "model_dir": pushed.model_dir,
                "manifest_path": pushed.manifest_path,
                "manifest": pushed.manifest,
                "reasons": [],
            },
        )
        if not already:
            _log.info(
                "Pusher: pushed %s as version %d: %s (manifest %s)",
                model.uri,
                pushed.version,
                pushed.model_dir,
                pushed.manifest_path,
            )


def version_holding(destination: str, digest: dict) -> Optional[versions.PushedVersion]:
    """The newest complete version whose manifest records this model_digest and whose files still match it;
    None when no version holds the model (versions that fail verification do not count, with a warning)."""
    for pushed in reversed(versions.list_versions(destination)):
        recorded = pushed.manifest.get("model_digest")
        if not isinstance(recorded, dict) or recorded.get("sha256") != digest["sha256"]:
            continue
        try:
            versions.verify_version(pushed)
        except versions.UnverifiedVersion as e:
            _log.warning("Pusher: not counting version %d as holding this model: %s", pushed.version, e)
            continue
        return pushed
    return None


def _manifest_builder(
    model, serving_dir: str, blessing, decision: Optional[dict], examples, context: dict
) -> Callable[[int], dict]:
    """The manifest of a new version, given its number. Built only when a version is pushed: it loads the
    model (which proves it loads before anything is copied) and lists the examples."""
    notes = []
    if decision is None:
        notes.append(f"the blessing has no {DECISION_FILE} (not written by BlessingEvaluator): metrics unknown")
    if examples is None:
        notes.append("no examples input: data_fingerprint unknown")
    blessing_summary = {
        "uri": blessing.uri,
        "blessed": True,
        "current_model": _string_property(blessing, "current_model"),
        "current_model_id": _int_property(blessing, "current_model_id"),
    }
    info = read_model_info(serving_dir)
    fingerprint = (
        data_fingerprint(examples.uri, artifact_utils.decode_split_names(examples.split_names))
        if examples is not None
        else None
    )
    return lambda version: build_manifest(
        version=version,
        serving_info=info,
        decision=decision,
        blessing=blessing_summary,
        fingerprint=fingerprint,
        context=context,
        source_model_uri=model.uri,
        notes=notes,
    )


def read_decision(blessing_uri: str) -> Optional[dict]:
    """The BlessingEvaluator's decision.json, or None for a blessing some other Evaluator wrote."""
    try:
        return decisions.read_decision(blessing_uri)
    except FileNotFoundError:
        return None


def serving_model_dir(model) -> str:
    directory = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
    if not tf.io.gfile.exists(os.path.join(directory, versions.SAVED_MODEL_FILE)):
        raise FileNotFoundError(
            f"no serving model in the Model artifact {model.uri}: expected a SavedModel at {directory} (the "
            "Trainer's run_fn exports it to fn_args.serving_model_dir); nothing was pushed"
        )
    return directory


def read_model_info(serving_dir: str) -> dict:
    """read_serving_info of the model; loading it also proves the SavedModel loads before it is pushed."""
    try:
        return load_serving_model(serving_dir)[1]
    except NotAServingModel as e:
        raise NotAServingModel(f"{e}; nothing was pushed") from e


def push(
    serving_dir: str,
    destination: str,
    manifest_for: Callable[[int], dict],
    digest: Optional[dict] = None,
    push_id: Optional[str] = None,
) -> versions.PushedVersion:
    """Publish the SavedModel as a new version; never touches what another push wrote.

    1. Claim a number: create `<version>.claim.json` (holding this push's id) with create-if-absent, the
       one atomic step (`versions.create_if_absent`); a number whose claim exists belongs to someone else.
    2. Copy the SavedModel into `<version>/` (saved_model.pb last: TF Serving loads a version once that file
       is there), refusing to overwrite anything, and check the copy's digest against the source's.
    3. Publish: create `<version>.manifest.json` (with model_digest and push_id) with create-if-absent.
    A failure removes exactly the files and directories this push created, then its claim; the claim of a
    published version stays (it records the push id and keeps the number used)."""
    push_id = push_id or uuid.uuid4().hex
    versions.check_atomic_create(destination)
    tf.io.gfile.makedirs(destination)
    digest = digest or versions.model_digest(serving_dir)
    version = _claim_version(destination, push_id)
    target = versions.version_dir(destination, version)
    manifest_path = versions.manifest_path(destination, version)
    created: list[tuple[str, str]] = []  # ("file" | "dir", path) in creation order
    try:
        _copy_saved_model(serving_dir, target, created)
        copied = versions.model_digest(target)
        if copied["sha256"] != digest["sha256"]:
            raise RuntimeError(
                f"the copy in {target} does not match the model in {serving_dir} (model_digest "
                f"{copied['sha256']} != {digest['sha256']})"
            )
        manifest = {**manifest_for(version), "model_digest": digest, "push_id": push_id}
        if not _create_owned(manifest_path, manifest, push_id):
            raise RuntimeError(f"{manifest_path} already exists, written by another push")
    except BaseException:
        _log.error("Pusher: push %s to %s failed; removing what it wrote for version %d", push_id, destination, version)
        _remove_own(created, versions.claim_path(destination, version))
        raise
    return versions.PushedVersion(version, target, manifest_path, manifest)


def _create_owned(path: str, record: dict, push_id: str) -> bool:
    """create_if_absent of a JSON record; True when the file now holds this push's record. A retried upload
    whose first attempt did succeed sees its own object: the push id tells."""
    if versions.create_if_absent(path, (json.dumps(record, indent=2) + "\n").encode("utf-8")):
        return True
    try:
        return json.loads(versions.read_text(path)).get("push_id") == push_id
    except (ValueError, OSError, AttributeError):
        return False


def _claim_version(destination: str, push_id: str) -> int:
    """A version number whose claim this push created, and under which nothing exists yet."""
    for _ in range(_CLAIM_ATTEMPTS):
        version = versions.next_version(destination)
        claim = {
            "push_id": push_id,
            "version": version,
            "claimed_at": utc_now(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        if not _create_owned(versions.claim_path(destination, version), claim, push_id):
            continue  # another push claimed it first
        if {str(version), f"{version}{versions.MANIFEST_SUFFIX}"} & set(versions.listdir(destination)):
            continue  # written by a pusher that takes no claims (before claims existed): our claim stays, unused
        return version
    raise RuntimeError(f"could not claim a new version under {destination} in {_CLAIM_ATTEMPTS} tries")


def _copy_saved_model(source: str, target: str, created: list) -> None:
    """Copies source into target (which must not exist), recording in `created` each directory and file
    this call created; never overwrites."""
    last = []
    for directory, _, names in tf.io.gfile.walk(source):
        # walk yields directories prefixed by `source` (os.path.relpath would mangle gs:// URLs).
        relative = directory[len(source.rstrip("/")) :].strip("/")
        destination_dir = versions.join(target, relative) if relative else target
        if not tf.io.gfile.exists(destination_dir):
            tf.io.gfile.makedirs(destination_dir)
            created.append(("dir", destination_dir))
        for name in names:
            pair = (versions.join(directory.rstrip("/"), name), versions.join(destination_dir, name))
            if name == versions.SAVED_MODEL_FILE and not relative:
                last.append(pair)
            else:
                tf.io.gfile.copy(*pair, overwrite=False)
                created.append(("file", pair[1]))
    for pair in last:
        tf.io.gfile.copy(*pair, overwrite=False)
        created.append(("file", pair[1]))


def _remove_own(created: list, claim: str) -> None:
    """Removes the files and (then empty) directories one push created, newest first, and finally its claim
    (only when everything else went: a number with leftovers stays claimed). Never removes a directory
    that is not empty, nor anything it did not create."""
    complete = True
    for kind, path in reversed(created):
        try:
            if kind == "file":
                tf.io.gfile.remove(path)
            elif versions.is_remote(path):
                # Object stores have no empty-directory removal in gfile; the version is claimed by this push,
                # so an empty listing stays empty.
                if tf.io.gfile.isdir(path) and tf.io.gfile.listdir(path):
                    raise OSError(f"{path} holds files this push did not write: it stays, and so does the claim")
                if tf.io.gfile.isdir(path):
                    tf.io.gfile.rmtree(path)
            else:
                os.rmdir(path)  # fails when not empty
        except Exception:  # the push's own error is the one to report
            complete = False
            _log.exception("Pusher: could not remove %s", path)
    if complete:
        try:
            tf.io.gfile.remove(claim)
        except Exception:
            _log.exception("Pusher: could not remove its claim %s", claim)


def _string_property(artifact, name: str) -> Optional[str]:
    return artifact.get_string_custom_property(name) if artifact.has_custom_property(name) else None


def _int_property(artifact, name: str) -> Optional[int]:
    return artifact.get_int_custom_property(name) if artifact.has_custom_property(name) else None
