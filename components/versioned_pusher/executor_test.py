"""The pusher executor on a real trained model (the session fixture `trained`)."""
import json
import os
import shutil
import time

import pytest

import pipeline  # noqa: F401
from components.versioned_pusher import versions
from components.versioned_pusher.versions import PUSH_RESULT_FILE
from components.versioned_pusher.testing import make_blessing, run_pusher
from pipeline.config import load_config

MANIFEST_FIELDS = {"format_version", "version", "pushed_at", "model_family", "genres", "featurizer_settings",
                   "metrics", "blessing", "data_fingerprint", "code_version", "config", "source_model_uri"}


def _model_uri(trained):
    return os.path.dirname(trained["serving_model_dir"])


def _tree(directory):
    return sorted((os.path.relpath(os.path.join(d, n), directory), os.path.getsize(os.path.join(d, n)))
                  for d, _, names in os.walk(directory) for n in names)


def test_two_pushes_give_two_increasing_versions_with_manifests(trained, tiny_artifact, tmp_path):
    model_uri, destination = _model_uri(trained), str(tmp_path / "serving")
    config = load_config(None, ["pipeline_name=pusher-test"])
    context = {"config": config.model_dump(mode="json"), "run": "test"}
    started = int(time.time())
    # Two Model artifacts (the second a copy, as a retrained model would be).
    model_uris = [model_uri, str(tmp_path / "retrained")]
    shutil.copytree(model_uri, model_uris[1])
    pushed = []
    for i, uri in enumerate(model_uris):
        blessing = make_blessing(str(tmp_path / f"blessing{i}"), True, uri, accuracy=0.8 + i / 100)
        artifact = run_pusher(uri, blessing, destination, str(tmp_path / f"pushed{i}"),
                              examples_uri=tiny_artifact["examples"], context=context)
        pushed.append(artifact)
    listed = versions.list_versions(destination)
    assert [v.version for v in listed] == sorted({v.version for v in listed}) and len(listed) == 2
    assert listed[0].version >= started
    for artifact, version in zip(pushed, listed):
        assert artifact.get_int_custom_property("pushed") == 1
        assert artifact.get_string_custom_property("pushed_version") == str(version.version)
        assert artifact.get_string_custom_property("pushed_destination") == version.model_dir
        result = json.loads(open(os.path.join(artifact.uri, PUSH_RESULT_FILE)).read())
        assert result["pushed"] and result["version"] == version.version and result["manifest"] == version.manifest
        # The version is the whole serving SavedModel, byte for byte.
        assert _tree(version.model_dir) == _tree(trained["serving_model_dir"])
    manifest = listed[1].manifest
    assert MANIFEST_FIELDS <= set(manifest)
    assert manifest["version"] == listed[1].version and manifest["format_version"] == 1
    assert manifest["pushed_at"].endswith("+00:00")
    assert manifest["model_family"] == "cnn2d_mel"
    assert manifest["genres"] == list(config.genres)
    assert manifest["featurizer_settings"]["sample_rate"] == 22050
    assert manifest["featurizer_settings"]["num_samples"] == 22050  # the tiny model's 1 s segments
    assert manifest["metrics"]["accuracy"] == pytest.approx(0.81)
    assert manifest["blessing"]["blessed"] is True and manifest["blessing"]["checks"][0]["name"] == "accuracy_floor"
    assert manifest["blessing_artifact"]["current_model"] == model_uris[1]
    assert manifest["blessing_artifact"]["current_model_id"] == 7
    fingerprint = manifest["data_fingerprint"]
    assert fingerprint["examples_uri"] == tiny_artifact["examples"]
    # 2 + 1 + 1 shards and the summary.json that records them
    assert fingerprint["file_count"] == 5 and len(fingerprint["files_sha256"]) == 64
    assert manifest["code_version"]["package_version"] == "0.1.0" and manifest["code_version"]["git_commit"]
    assert manifest["config"]["pipeline_name"] == "pusher-test" and manifest["context"] == {"run": "test"}
    assert manifest["source_model_uri"] == model_uris[1] and manifest["notes"] == []
    assert listed[0].manifest["metrics"]["accuracy"] == pytest.approx(0.80)


def test_blessing_the_newest_pushed_model_again_publishes_no_duplicate(trained, tmp_path):
    model_uri, destination = _model_uri(trained), str(tmp_path / "serving")
    first = run_pusher(model_uri, make_blessing(str(tmp_path / "b0"), True, model_uri), destination,
                       str(tmp_path / "pushed0"))
    again = run_pusher(model_uri, make_blessing(str(tmp_path / "b1"), True, model_uri), destination,
                       str(tmp_path / "pushed1"))
    assert len(versions.list_versions(destination)) == 1
    assert again.get_int_custom_property("pushed") == 1
    assert again.get_string_custom_property("pushed_version") == first.get_string_custom_property("pushed_version")


def test_existing_version_directory_is_never_overwritten(trained, tmp_path):
    model_uri, destination = _model_uri(trained), str(tmp_path / "serving")
    future = int(time.time()) + 10_000  # e.g. pushed by a machine whose clock runs ahead, left unfinished
    os.makedirs(os.path.join(destination, str(future)))
    with open(os.path.join(destination, str(future), "keep.txt"), "w") as f:
        f.write("not ours")
    artifact = run_pusher(model_uri, make_blessing(str(tmp_path / "b"), True, model_uri), destination,
                          str(tmp_path / "pushed"))
    version = int(artifact.get_string_custom_property("pushed_version"))
    assert version == future + 1
    assert os.listdir(os.path.join(destination, str(future))) == ["keep.txt"]
    assert open(os.path.join(destination, str(future), "keep.txt")).read() == "not ours"
    assert [v.version for v in versions.list_versions(destination)] == [version]


def test_unblessed_model_is_not_pushed(trained, tmp_path):
    model_uri, destination = _model_uri(trained), str(tmp_path / "serving")
    artifact = run_pusher(model_uri, make_blessing(str(tmp_path / "b"), False, model_uri, accuracy=0.21),
                          destination, str(tmp_path / "pushed"))
    assert artifact.get_int_custom_property("pushed") == 0
    assert not artifact.has_custom_property("pushed_version")
    assert not os.path.exists(destination)
    result = json.loads(open(os.path.join(artifact.uri, PUSH_RESULT_FILE)).read())
    assert result == {"pushed": False, "destination": destination, "reasons": ["accuracy 0.21 < floor 0.30"]}


def test_blessing_without_decision_still_pushes_and_says_so(trained, tmp_path):
    model_uri, destination = _model_uri(trained), str(tmp_path / "serving")
    blessing = make_blessing(str(tmp_path / "b"), True, model_uri, with_decision=False)
    run_pusher(model_uri, blessing, destination, str(tmp_path / "pushed"))
    manifest = versions.newest_version(destination).manifest
    assert manifest["metrics"] == {}
    assert manifest["blessing"] == {"blessed": True, "decision": None}
    assert manifest["data_fingerprint"] is None
    assert any("decision.json" in note for note in manifest["notes"])
    assert any("data_fingerprint unknown" in note for note in manifest["notes"])


def test_missing_serving_model_is_a_clear_error(tmp_path):
    model_uri = str(tmp_path / "model")
    os.makedirs(os.path.join(model_uri, "Format-Serving"))  # a Trainer that exported nothing
    destination = str(tmp_path / "serving")
    with pytest.raises(FileNotFoundError, match="no serving model in the Model artifact .*nothing was pushed"):
        run_pusher(model_uri, make_blessing(str(tmp_path / "b"), True, model_uri), destination,
                   str(tmp_path / "pushed"))
    assert versions.existing_versions(destination) == []


def test_failed_push_leaves_no_version_behind(trained, tmp_path):
    from components.versioned_pusher.executor import push

    destination = str(tmp_path / "serving")

    def broken_manifest(version):
        raise RuntimeError("manifest failed")

    with pytest.raises(RuntimeError, match="manifest failed"):
        push(trained["serving_model_dir"], destination, broken_manifest)
    assert os.listdir(destination) == []
