"""The destination layout: which versions count, and which number a new push gets."""

import json
import os

from components.formats import push as push_layout
from components.versioned_pusher import versions


def _write_version(root, version, manifest_version=None, saved_model=True, manifest=True):
    directory = os.path.join(root, str(version))
    os.makedirs(directory, exist_ok=True)
    if saved_model:
        with open(os.path.join(directory, "saved_model.pb"), "wb") as f:
            f.write(b"\x08\x01")
    if manifest:
        with open(os.path.join(root, f"{version}{versions.MANIFEST_SUFFIX}"), "w") as f:
            json.dump({"version": version if manifest_version is None else manifest_version, "model_family": "x"}, f)


def test_complete_versions_ascending_and_incomplete_ones_ignored(tmp_path):
    root = str(tmp_path)
    _write_version(root, 1700000300)
    _write_version(root, 1700000100)
    _write_version(root, 1700000200, manifest=False)  # a push that died before its manifest
    _write_version(root, 1700000400, saved_model=False)  # a manifest without a model
    _write_version(root, 1700000500, manifest_version=5)  # a manifest that names another version
    os.makedirs(os.path.join(root, "not-a-version"))
    with open(os.path.join(root, "1700000600.manifest.json.partial"), "w") as f:
        f.write("{")
    listed = versions.list_versions(root)
    assert [v.version for v in listed] == [1700000100, 1700000300]
    assert listed[1].model_dir == os.path.join(root, "1700000300")
    assert listed[1].manifest_path == os.path.join(root, "1700000300.manifest.json")
    assert listed[1].manifest == {"version": 1700000300, "model_family": "x"}
    assert versions.newest_version(root).version == 1700000300
    # Incomplete numbers still count when choosing the next number: none is ever reused.
    assert versions.existing_versions(root) == [1700000100, 1700000200, 1700000300, 1700000400, 1700000500]


def test_newest_version_reads_manifests_from_the_newest_down_only(tmp_path, monkeypatch):
    root = str(tmp_path)
    for version in (1700000100, 1700000200, 1700000300):
        _write_version(root, version)
    _write_version(root, 1700000400, manifest_version=4)  # newest number, but not a complete version
    read = []
    real_read_text = push_layout.read_text
    monkeypatch.setattr(
        push_layout, "read_text", lambda path: read.append(os.path.basename(path)) or real_read_text(path)
    )
    assert versions.newest_version(root).version == 1700000300
    assert read == ["1700000400.manifest.json", "1700000300.manifest.json"]


def test_unreadable_manifest_is_ignored(tmp_path):
    _write_version(str(tmp_path), 1700000100)
    (tmp_path / "1700000100.manifest.json").write_text("{not json")
    assert versions.list_versions(str(tmp_path)) == []
    assert versions.newest_version(str(tmp_path)) is None


def test_missing_or_empty_destination_has_no_versions(tmp_path):
    assert versions.list_versions(str(tmp_path / "nowhere")) == []
    assert versions.newest_version(str(tmp_path)) is None


def test_next_version_is_unix_time_or_above_every_existing_one(tmp_path):
    root = str(tmp_path)
    assert versions.next_version(root, now=1700000000.7) == 1700000000
    _write_version(root, 1700000000)
    assert versions.next_version(root, now=1700000000.2) == 1700000001  # two pushes in one second
    _write_version(root, 1900000000, manifest=False)  # written by a clock running ahead, unfinished
    assert versions.next_version(root, now=1700000005) == 1900000001
    assert versions.next_version(root, now=1950000000) == 1950000000
