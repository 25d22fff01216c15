"""VersionedPusher executor: copy a blessed serving model to a new numbered version under the destination
and write its manifest beside it; an unblessed model writes nothing there.

Unlike the standard Pusher it never reuses a version directory (the standard one skips the copy when its
unix-second version exists, and its io_utils.copy_dir deletes an existing target first), and it does not
copy the model a second time into the PushedModel artifact: that artifact gets push_result.json instead.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Callable, Optional

import tensorflow as tf
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.blessing_evaluator import results
from components.blessing_evaluator.results import DECISION_FILE
from components.json_files import write_json
from components.versioned_pusher import versions
from components.versioned_pusher.versions import PUSH_RESULT_FILE
from components.versioned_pusher.manifest import build_manifest, data_fingerprint

MODEL_KEY = "model"
MODEL_BLESSING_KEY = "model_blessing"
EXAMPLES_KEY = "examples"
PUSHED_MODEL_KEY = "pushed_model"
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
            _log.info("Pusher: model %s is not blessed, nothing pushed to %s: %s", model.uri, destination,
                      "; ".join(reasons))
            pushed_model.set_int_custom_property(PUSHED_PROPERTY, 0)
            write_json(os.path.join(pushed_model.uri, PUSH_RESULT_FILE),
                        {"pushed": False, "destination": destination, "reasons": reasons})
            return

        serving_dir = serving_model_dir(model)
        newest = versions.newest_version(destination)
        if newest is not None and newest.manifest.get("source_model_uri") == model.uri:
            # A re-run that blesses the same model again (its Evaluator re-ran because the resolver now finds
            # this model as the latest blessed one) must not publish a duplicate version.
            _log.info("Pusher: %s is already the newest version (%d) under %s; nothing copied", model.uri,
                      newest.version, destination)
            pushed = newest
        else:
            pushed = push(serving_dir, destination,
                          _manifest_builder(model, serving_dir, blessing, decision, examples, context))
        pushed_model.set_int_custom_property(PUSHED_PROPERTY, 1)
        pushed_model.set_string_custom_property(DESTINATION_PROPERTY, pushed.model_dir)
        pushed_model.set_string_custom_property(VERSION_PROPERTY, str(pushed.version))
        write_json(os.path.join(pushed_model.uri, PUSH_RESULT_FILE),
                    {"pushed": True, "destination": destination, "version": pushed.version,
                     "model_dir": pushed.model_dir, "manifest_path": pushed.manifest_path,
                     "manifest": pushed.manifest, "reasons": []})
        _log.info("Pusher: pushed %s as version %d: %s (manifest %s)", model.uri, pushed.version, pushed.model_dir,
                  pushed.manifest_path)


def _manifest_builder(model, serving_dir: str, blessing, decision: Optional[dict], examples,
                      context: dict) -> Callable[[int], dict]:
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
    fingerprint = (data_fingerprint(examples.uri, artifact_utils.decode_split_names(examples.split_names))
                   if examples is not None else None)
    return lambda version: build_manifest(version=version, serving_info=info, decision=decision,
                                          blessing=blessing_summary, fingerprint=fingerprint, context=context,
                                          source_model_uri=model.uri, notes=notes)


def read_decision(blessing_uri: str) -> Optional[dict]:
    """The BlessingEvaluator's decision.json, or None for a blessing some other Evaluator wrote."""
    try:
        return results.read_decision(blessing_uri)
    except FileNotFoundError:
        return None


def serving_model_dir(model) -> str:
    directory = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
    if not tf.io.gfile.exists(os.path.join(directory, versions.SAVED_MODEL_FILE)):
        raise FileNotFoundError(
            f"no serving model in the Model artifact {model.uri}: expected a SavedModel at {directory} (the "
            "Trainer's run_fn exports it to fn_args.serving_model_dir); nothing was pushed")
    return directory


def read_model_info(serving_dir: str) -> dict:
    """read_serving_info of the model; loading it also proves the SavedModel loads before it is pushed."""
    from components.keras_trainer.serving import NotAServingModel, load_serving_model

    try:
        return load_serving_model(serving_dir)[1]
    except NotAServingModel as e:
        raise NotAServingModel(f"{e}; nothing was pushed") from e


def push(serving_dir: str, destination: str, manifest_for: Callable[[int], dict]) -> versions.PushedVersion:
    """Copy the SavedModel to a new version directory (saved_model.pb last: TF Serving loads a version once
    that file is there), then write the manifest. A failure removes the directory this push created."""
    tf.io.gfile.makedirs(destination)
    version = _claim_version(destination)
    target = versions.version_dir(destination, version)
    try:
        _copy_saved_model(serving_dir, target)
        manifest = manifest_for(version)
        manifest_path = versions.manifest_path(destination, version)
        # Written beside, then renamed: a reader never sees half a manifest.
        write_json(manifest_path + ".partial", manifest)
        tf.io.gfile.rename(manifest_path + ".partial", manifest_path, overwrite=False)
    except BaseException:
        _log.error("Pusher: push to %s failed; removing the unfinished version %d", destination, version)
        for leftover in (target, versions.manifest_path(destination, version) + ".partial"):
            try:
                if tf.io.gfile.isdir(leftover):
                    tf.io.gfile.rmtree(leftover)
                elif tf.io.gfile.exists(leftover):
                    tf.io.gfile.remove(leftover)
            except Exception:  # the push's own error is the one to report
                _log.exception("Pusher: could not remove %s", leftover)
        raise
    return versions.PushedVersion(version, target, manifest_path, manifest)


def _claim_version(destination: str) -> int:
    """A version number whose directory this call created. Locally os.mkdir is atomic, so two concurrent
    pushes cannot share a version; object stores have no atomic mkdir, so there the exists check plus
    copies that refuse to overwrite (`_copy_saved_model`) are what guard an existing version."""
    for _ in range(_CLAIM_ATTEMPTS):
        version = versions.next_version(destination)
        target = versions.version_dir(destination, version)
        if versions.is_remote(destination):
            if not tf.io.gfile.exists(target):
                return version
            continue
        try:
            os.mkdir(target)
            return version
        except FileExistsError:
            continue
    raise RuntimeError(f"could not claim a new version directory under {destination} in {_CLAIM_ATTEMPTS} tries")


def _copy_saved_model(source: str, target: str) -> None:
    last = []
    for directory, _, names in tf.io.gfile.walk(source):
        # walk yields directories prefixed by `source` (os.path.relpath would mangle gs:// URLs).
        relative = directory[len(source.rstrip("/")):].strip("/")
        destination_dir = os.path.join(target, relative) if relative else target
        tf.io.gfile.makedirs(destination_dir)
        for name in names:
            pair = (os.path.join(directory, name), os.path.join(destination_dir, name))
            if name == versions.SAVED_MODEL_FILE and not relative:
                last.append(pair)
            else:
                tf.io.gfile.copy(*pair, overwrite=False)
    for pair in last:
        tf.io.gfile.copy(*pair, overwrite=False)


def _string_property(artifact, name: str) -> Optional[str]:
    return artifact.get_string_custom_property(name) if artifact.has_custom_property(name) else None


def _int_property(artifact, name: str) -> Optional[int]:
    return artifact.get_int_custom_property(name) if artifact.has_custom_property(name) else None
