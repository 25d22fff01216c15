"""The Kubeflow regression baseline taken from the push destination: a version whose files do not match its
manifest's model_digest is never loaded (its graph would run); it is recorded as no valid baseline."""

import json
import os

import pytest

from components.blessing_evaluator import executor
from components.formats import push as versions

INFO = {"genres": ["a", "b"], "featurizer_settings": {"sample_rate": 22050, "num_samples": 22050}}


def _version(destination, version, digest="match"):
    """A pushed version as the VersionedPusher writes it; digest "match", "mismatch" or None (a manifest
    written before digests, or planted without one)."""
    model_dir = os.path.join(destination, str(version))
    os.makedirs(os.path.join(model_dir, "variables"))
    with open(os.path.join(model_dir, "saved_model.pb"), "wb") as f:
        f.write(b"graph")
    with open(os.path.join(model_dir, "variables", "variables.index"), "wb") as f:
        f.write(b"index")
    manifest = {"version": version}
    if digest is not None:
        manifest["model_digest"] = versions.model_digest(model_dir)
        if digest == "mismatch":
            with open(os.path.join(model_dir, "saved_model.pb"), "ab") as f:
                f.write(b"planted op")
    with open(versions.manifest_path(destination, version), "w") as f:
        json.dump(manifest, f)
    return model_dir


@pytest.fixture
def loads(monkeypatch):
    loaded = []
    monkeypatch.setattr(executor, "load_serving_model", lambda d: loaded.append(d) or (None, INFO))
    return loaded


def _candidate(tmp_path):
    from tfx.types import standard_artifacts

    candidate = standard_artifacts.Model()
    candidate.uri = str(tmp_path / "candidate")
    return candidate


@pytest.mark.parametrize("digest", ["mismatch", None])
def test_unverified_newest_version_is_not_loaded_and_is_no_baseline(tmp_path, loads, digest):
    destination, evaluation = str(tmp_path / "serving"), str(tmp_path / "evaluation")
    _version(destination, 1700000100)
    model_dir = _version(destination, 1700000200, digest=digest)
    previous, artifact = executor._previous_from_destination(destination, _candidate(tmp_path), evaluation)
    assert artifact is None and previous.uri is None and previous.version == 1700000200
    assert previous.skipped_reason.startswith(
        f"no valid blessed model in {destination}: version 1700000200 ({model_dir})"
    )
    assert (
        "do not match the model_digest" if digest else "records no sha256-tree-v1 model_digest"
    ) in previous.skipped_reason
    assert loads == []  # nothing of the destination was loaded
    assert not os.path.exists(os.path.join(evaluation, executor.PUSHED_BASELINE_DIR))


def test_verified_newest_version_is_copied_and_compared(tmp_path, loads):
    destination, evaluation = str(tmp_path / "serving"), str(tmp_path / "evaluation")
    model_dir = _version(destination, 1700000100)
    previous, artifact = executor._previous_from_destination(destination, _candidate(tmp_path), evaluation)
    copy = os.path.join(evaluation, executor.PUSHED_BASELINE_DIR, "Format-Serving")
    assert (previous.uri, previous.version, previous.skipped_reason) == (model_dir, 1700000100, None)
    assert artifact.uri == os.path.dirname(copy) and loads[0] == copy  # the verified copy is what is loaded
    assert versions.model_digest(copy) == versions.model_digest(model_dir)
