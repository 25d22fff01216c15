"""Two pushes to one destination, interleaved step by step: neither may delete or overwrite the other's
version, and a failing push removes only what it wrote. Run on a local path and on a file:// URL, which
takes the code path of remote destinations (gs://): everything through tf.io.gfile, and the claim and the
manifest through versions.CREATE_IF_ABSENT."""

import json
import os

import pytest
import tensorflow as tf

from components.versioned_pusher import executor, versions


@pytest.fixture(params=["local", "url"])
def where(request, tmp_path):
    """The root of the model sources and the destination."""
    return str(tmp_path) if request.param == "local" else f"file://{tmp_path}"


def _model(root: str, name: str, payload: bytes) -> str:
    """A serving-model-shaped directory (push copies files; it does not load them)."""
    directory = f"{root}/{name}"
    tf.io.gfile.makedirs(f"{directory}/variables")
    for relative, data in (
        ("saved_model.pb", b"graph-" + payload),
        ("fingerprint.pb", payload),
        ("variables/variables.index", b"index-" + payload),
        ("variables/variables.data-00000-of-00001", payload * 100),
    ):
        with tf.io.gfile.GFile(f"{directory}/{relative}", "wb") as f:
            f.write(data)
    return directory


def _files(directory: str) -> dict:
    out = {}
    for relative, path in versions.relative_files(directory):
        with tf.io.gfile.GFile(path, "rb") as f:
            out[relative] = f.read()
    return out


def _manifest(name):
    return lambda version: {"version": version, "source_model_uri": name}


def _interleave(monkeypatch, between_claim_and_copy):
    """Runs `between_claim_and_copy()` once, when the first push has claimed its number and is about to copy."""
    real_copy, state = executor._copy_saved_model, {"done": False}

    def copy(*args, **kwargs):
        if not state["done"]:
            state["done"] = True
            between_claim_and_copy()
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(executor, "_copy_saved_model", copy)


def test_interleaved_pushes_both_survive_with_distinct_versions(where, monkeypatch):
    a, b = _model(where, "a", b"A"), _model(where, "b", b"B")
    destination = f"{where}/serving"
    pushed = {}
    _interleave(monkeypatch, lambda: pushed.setdefault("b", executor.push(b, destination, _manifest("b"))))
    pushed["a"] = executor.push(a, destination, _manifest("a"))
    assert pushed["a"].version != pushed["b"].version
    listed = {v.version: v for v in versions.list_versions(destination)}
    assert set(listed) == {pushed["a"].version, pushed["b"].version}
    for name, source in (("a", a), ("b", b)):
        version = listed[pushed[name].version]
        assert version.manifest["source_model_uri"] == name
        assert _files(version.model_dir) == _files(source)  # intact, byte for byte
        assert versions.verify_version(version)["sha256"] == versions.model_digest(source)["sha256"]
        assert version.manifest["push_id"] == pushed[name].manifest["push_id"]


def test_failing_push_removes_only_what_it_wrote(where, monkeypatch):
    a, b = _model(where, "a", b"A"), _model(where, "b", b"B")
    destination = f"{where}/serving"
    pushed = {}
    _interleave(monkeypatch, lambda: pushed.setdefault("b", executor.push(b, destination, _manifest("b"))))

    def broken_manifest(version):
        raise RuntimeError("manifest failed")

    with pytest.raises(RuntimeError, match="manifest failed"):
        executor.push(a, destination, broken_manifest)
    (survivor,) = versions.list_versions(destination)
    assert survivor.version == pushed["b"].version and _files(survivor.model_dir) == _files(b)
    # Nothing of the failed push is left: only the survivor's directory, manifest and claim.
    names = sorted(versions.listdir(destination))
    v = survivor.version
    assert names == sorted([str(v), f"{v}.manifest.json", f"{v}.claim.json"])
    claim = json.loads(versions.read_text(versions.claim_path(destination, v)))
    assert claim["push_id"] == survivor.manifest["push_id"]


def test_a_failing_push_keeps_a_file_it_did_not_write_in_its_version_directory(where):
    a = _model(where, "a", b"A")
    destination = f"{where}/serving"
    planted = {}

    def manifest_after_someone_wrote_into_the_version(version):
        planted["path"] = f"{destination}/{version}/operator-notes.txt"
        with tf.io.gfile.GFile(planted["path"], "w") as f:
            f.write("not the pusher's")
        raise RuntimeError("manifest failed")

    with pytest.raises(RuntimeError, match="manifest failed"):
        executor.push(a, destination, manifest_after_someone_wrote_into_the_version)
    version_dir = os.path.dirname(planted["path"])
    # Its own files went; the foreign one stays, with the directory holding it and the claim on the number.
    assert versions.listdir(version_dir) == ["operator-notes.txt"]
    assert sorted(versions.listdir(destination)) == sorted(
        [os.path.basename(version_dir), f"{os.path.basename(version_dir)}.claim.json"]
    )


def test_a_number_claimed_by_another_push_is_never_written(where):
    a = _model(where, "a", b"A")
    destination = f"{where}/serving"
    tf.io.gfile.makedirs(destination)
    taken = versions.next_version(destination) + 5  # claimed by a push still copying (its clock runs ahead)
    assert versions.create_if_absent(versions.claim_path(destination, taken), b'{"push_id": "other"}')
    assert not versions.create_if_absent(versions.claim_path(destination, taken), b'{"push_id": "mine"}')
    pushed = executor.push(a, destination, _manifest("a"))
    assert pushed.version == taken + 1
    assert not tf.io.gfile.exists(versions.version_dir(destination, taken))
    assert versions.read_text(versions.claim_path(destination, taken)) == '{"push_id": "other"}'


def test_other_url_schemes_are_refused(tmp_path):
    with pytest.raises(versions.UnsupportedDestination, match="no atomic create-if-absent"):
        executor.push(str(tmp_path), "s3://bucket/serving", _manifest("a"))


def test_gcs_create_if_absent_is_an_upload_with_if_generation_match_0(monkeypatch):
    """What versions sends to GCS, against a fake bucket that enforces the precondition as the server does."""
    from google.api_core.exceptions import PreconditionFailed

    objects, calls = {}, []

    class Blob:
        def __init__(self, bucket, name):
            self.key = (bucket, name)

        def upload_from_string(self, data, content_type=None, if_generation_match=None):
            calls.append((self.key, if_generation_match))
            if if_generation_match == 0 and self.key in objects:
                raise PreconditionFailed("At least one of the pre-conditions you specified did not hold.")
            objects[self.key] = data

    class Client:
        def bucket(self, bucket):
            return type("Bucket", (), {"blob": lambda _, name: Blob(bucket, name)})()

    monkeypatch.setattr(versions, "_gcs_client", Client)
    path = "gs://bucket/serving/1700000000.claim.json"
    assert versions.create_if_absent(path, b"first") is True
    assert versions.create_if_absent(path, b"second") is False
    assert objects == {("bucket", "serving/1700000000.claim.json"): b"first"}
    assert calls == [(("bucket", "serving/1700000000.claim.json"), 0)] * 2


def test_model_digest_depends_on_content_and_names_not_on_location(tmp_path):
    a, b = _model(str(tmp_path), "a", b"A"), _model(str(tmp_path), "b", b"A")
    assert versions.model_digest(a) == versions.model_digest(f"file://{b}")
    with open(f"{b}/variables/variables.index", "ab") as f:
        f.write(b"!")
    assert versions.model_digest(a)["sha256"] != versions.model_digest(b)["sha256"]
    os.rename(f"{a}/fingerprint.pb", f"{a}/fingerprint2.pb")
    assert versions.model_digest(a)["sha256"] != versions.model_digest(_model(str(tmp_path), "c", b"A"))["sha256"]
