"""The pusher executor on a real trained model (the session fixture `trained`)."""

import json
import os
import shutil
import time

import pytest

from components.versioned_pusher import versions
from components.versioned_pusher.versions import PUSH_RESULT_FILE
from pipeline.config import load_config
from tests.helpers.versioned_pusher import make_blessing, run_pusher

MANIFEST_FIELDS = {
    "format_version",
    "version",
    "pushed_at",
    "model_family",
    "genres",
    "featurizer_settings",
    "metrics",
    "blessing",
    "data_fingerprint",
    "code_version",
    "config",
    "source_model_uri",
    "model_digest",
    "push_id",
}


def _model_uri(trained):
    return os.path.dirname(trained["serving_model_dir"])


def _tree(directory):
    return sorted(
        (os.path.relpath(os.path.join(d, n), directory), os.path.getsize(os.path.join(d, n)))
        for d, _, names in os.walk(directory)
        for n in names
    )


def test_two_pushes_give_two_increasing_versions_with_manifests(trained, tiny_artifact, tmp_path):
    model_uri, destination = _model_uri(trained), str(tmp_path / "serving")
    config = load_config(None, ["pipeline_name=pusher-test"])
    context = {"config": config.model_dump(mode="json"), "run": "test"}
    started = int(time.time())
    # Two Model artifacts (the second a copy, as a retrained model would be).
    model_uris = [model_uri, str(tmp_path / "retrained")]
    shutil.copytree(model_uri, model_uris[1])
    # Another model has other bytes (an identical copy is the same model, which is pushed once).
    (tmp_path / "retrained" / "Format-Serving" / "assets").mkdir(exist_ok=True)
    (tmp_path / "retrained" / "Format-Serving" / "assets" / "retrained.txt").write_text("retrained")
    pushed = []
    for i, uri in enumerate(model_uris):
        blessing = make_blessing(str(tmp_path / f"blessing{i}"), True, uri, accuracy=0.8 + i / 100)
        artifact = run_pusher(
            uri,
            blessing,
            destination,
            str(tmp_path / f"pushed{i}"),
            examples_uri=tiny_artifact["examples"],
            context=context,
        )
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
        # The version is the whole serving SavedModel, byte for byte, and its manifest says so.
        assert _tree(version.model_dir) == _tree(os.path.join(version.manifest["source_model_uri"], "Format-Serving"))
        assert versions.verify_version(version)["sha256"] == version.manifest["model_digest"]["sha256"]
        assert result["already_pushed"] is False
    manifest = listed[1].manifest
    assert MANIFEST_FIELDS <= set(manifest)
    assert manifest["version"] == listed[1].version and manifest["format_version"] == 2
    assert manifest["model_digest"]["algorithm"] == "sha256-tree-v1" and len(manifest["push_id"]) == 32
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
    first = run_pusher(
        model_uri, make_blessing(str(tmp_path / "b0"), True, model_uri), destination, str(tmp_path / "pushed0")
    )
    again = run_pusher(
        model_uri, make_blessing(str(tmp_path / "b1"), True, model_uri), destination, str(tmp_path / "pushed1")
    )
    assert len(versions.list_versions(destination)) == 1
    assert again.get_int_custom_property("pushed") == 1
    assert again.get_string_custom_property("pushed_version") == first.get_string_custom_property("pushed_version")


def test_existing_version_directory_is_never_overwritten(trained, tmp_path):
    model_uri, destination = _model_uri(trained), str(tmp_path / "serving")
    future = int(time.time()) + 10_000  # e.g. pushed by a machine whose clock runs ahead, left unfinished
    os.makedirs(os.path.join(destination, str(future)))
    with open(os.path.join(destination, str(future), "keep.txt"), "w") as f:
        f.write("not ours")
    artifact = run_pusher(
        model_uri, make_blessing(str(tmp_path / "b"), True, model_uri), destination, str(tmp_path / "pushed")
    )
    version = int(artifact.get_string_custom_property("pushed_version"))
    assert version == future + 1
    assert os.listdir(os.path.join(destination, str(future))) == ["keep.txt"]
    assert open(os.path.join(destination, str(future), "keep.txt")).read() == "not ours"
    assert [v.version for v in versions.list_versions(destination)] == [version]


def test_unblessed_model_is_not_pushed(trained, tmp_path):
    model_uri, destination = _model_uri(trained), str(tmp_path / "serving")
    artifact = run_pusher(
        model_uri,
        make_blessing(str(tmp_path / "b"), False, model_uri, accuracy=0.21),
        destination,
        str(tmp_path / "pushed"),
    )
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
        run_pusher(
            model_uri, make_blessing(str(tmp_path / "b"), True, model_uri), destination, str(tmp_path / "pushed")
        )
    assert versions.existing_versions(destination) == []


def test_failed_push_leaves_no_version_behind(trained, tmp_path):
    from components.versioned_pusher.executor import push

    destination = str(tmp_path / "serving")

    def broken_manifest(version):
        raise RuntimeError("manifest failed")

    with pytest.raises(RuntimeError, match="manifest failed"):
        push(trained["serving_model_dir"], destination, broken_manifest)
    assert os.listdir(destination) == []


# -- one model, one version: the re-push rule ---------------------------------------------------------------
def _fake_model(root, payload: bytes) -> str:
    """A Model artifact whose Format-Serving holds files only (read_model_info is replaced: nothing loads it)."""
    serving = root / "Format-Serving"
    (serving / "variables").mkdir(parents=True)
    (serving / "saved_model.pb").write_bytes(b"graph" + payload)
    (serving / "variables" / "variables.data-00000-of-00001").write_bytes(payload * 50)
    return str(root)


@pytest.fixture
def fake_info(monkeypatch):
    from components.versioned_pusher import executor

    info = {"model_family": "cnn2d_mel", "genres": ["a", "b"], "featurizer_settings": {"sample_rate": 22050}}
    monkeypatch.setattr(executor, "read_model_info", lambda serving_dir: info)
    monkeypatch.setattr("components.versioned_pusher.manifest.code_version", lambda: {"git_commit": "test"})


def test_a_model_already_pushed_is_not_pushed_again_even_when_not_the_newest(fake_info, tmp_path):
    destination = str(tmp_path / "serving")
    first, second = _fake_model(tmp_path / "m1", b"1"), _fake_model(tmp_path / "m2", b"2")
    context = {"config": {}}

    def bless_and_push(uri, n):
        return run_pusher(
            uri,
            make_blessing(str(tmp_path / f"b{n}"), True, uri),
            destination,
            str(tmp_path / f"pushed{n}"),
            context=context,
        )

    v1 = bless_and_push(first, 0).get_string_custom_property("pushed_version")
    v2 = bless_and_push(second, 1).get_string_custom_property("pushed_version")
    # The first model blessed again (it is no longer the newest version), and a byte-identical copy of it.
    shutil.copytree(first, str(tmp_path / "m1-copy"))
    for n, uri in ((2, first), (3, str(tmp_path / "m1-copy"))):
        again = bless_and_push(uri, n)
        assert again.get_int_custom_property("pushed") == 1
        assert again.get_string_custom_property("pushed_version") == v1
        result = json.loads(open(os.path.join(again.uri, PUSH_RESULT_FILE)).read())
        assert result["already_pushed"] is True and result["version"] == int(v1)
    assert [str(v.version) for v in versions.list_versions(destination)] == [v1, v2]


def test_a_tampered_version_does_not_count_as_holding_the_model(fake_info, tmp_path):
    destination = str(tmp_path / "serving")
    model = _fake_model(tmp_path / "m", b"1")
    v1 = run_pusher(
        model,
        make_blessing(str(tmp_path / "b0"), True, model),
        destination,
        str(tmp_path / "p0"),
        context={"config": {}},
    ).get_string_custom_property("pushed_version")
    with open(os.path.join(destination, v1, "saved_model.pb"), "ab") as f:
        f.write(b"planted")
    with pytest.raises(versions.UnverifiedVersion, match=f"version {v1} .*do not match"):
        versions.verify_version(versions.newest_version(destination))
    v2 = run_pusher(
        model,
        make_blessing(str(tmp_path / "b1"), True, model),
        destination,
        str(tmp_path / "p1"),
        context={"config": {}},
    ).get_string_custom_property("pushed_version")
    assert int(v2) > int(v1)
    versions.verify_version(versions.newest_version(destination))
