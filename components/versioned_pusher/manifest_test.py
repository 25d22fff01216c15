"""Data fingerprint and code version of the manifest."""

import json
import os
from pathlib import Path

from components.versioned_pusher import manifest


def _examples(root: Path, summary: dict, shard_bytes: bytes = b"x" * 100) -> str:
    for split in ("train", "eval", "test"):
        (root / f"Split-{split}").mkdir(parents=True)
        (root / f"Split-{split}" / "data_tfrecord-00000-of-00001.gz").write_bytes(shard_bytes)
    (root / "summary.json").write_text(json.dumps(summary))
    return str(root)


TRANSFORM_SUMMARY = {
    "splits": {"train": {"examples_out": 80}, "eval": {"examples_out": 10}, "test": {"examples_out": 12}},
    "counts": {},
}


def test_fingerprint_counts_files_and_reads_transform_summary(tmp_path):
    uri = _examples(tmp_path / "a", TRANSFORM_SUMMARY)
    fingerprint = manifest.data_fingerprint(uri, ["train", "eval", "test"])
    assert fingerprint["file_count"] == 4  # three shards and summary.json
    assert fingerprint["total_bytes"] == 300 + os.path.getsize(os.path.join(uri, "summary.json"))
    assert fingerprint["examples_per_split"] == {"train": 80, "eval": 10, "test": 12}
    assert len(fingerprint["files_sha256"]) == 64 and len(fingerprint["summary_sha256"]) == 64
    assert fingerprint["examples_uri"] == uri and fingerprint["split_names"] == ["train", "eval", "test"]


def test_fingerprint_is_stable_across_locations_and_changes_with_the_data(tmp_path):
    first = manifest.data_fingerprint(_examples(tmp_path / "a", TRANSFORM_SUMMARY), ["train"])
    same = manifest.data_fingerprint(_examples(tmp_path / "b", TRANSFORM_SUMMARY), ["train"])
    bigger = manifest.data_fingerprint(_examples(tmp_path / "c", TRANSFORM_SUMMARY, b"x" * 101), ["train"])
    other_summary = dict(TRANSFORM_SUMMARY, counts={"examples_in": 1})
    resummarised = manifest.data_fingerprint(_examples(tmp_path / "d", other_summary), ["train"])
    assert first["files_sha256"] == same["files_sha256"] and first["summary_sha256"] == same["summary_sha256"]
    assert bigger["files_sha256"] != first["files_sha256"]
    assert resummarised["summary_sha256"] != first["summary_sha256"]


def test_fingerprint_reads_example_gen_summary_and_tolerates_none(tmp_path):
    uri = _examples(tmp_path / "a", {"examples_per_split": {"train": 5, "eval": 2}})
    assert manifest.data_fingerprint(uri, ["train", "eval", "test"])["examples_per_split"] == {
        "train": 5,
        "eval": 2,
        "test": None,
    }
    os.remove(os.path.join(uri, "summary.json"))
    fingerprint = manifest.data_fingerprint(uri, ["train"])
    assert fingerprint["summary_sha256"] is None and fingerprint["examples_per_split"] is None
    assert fingerprint["file_count"] == 3


def test_code_version_from_this_checkout():
    version = manifest.code_version()
    assert version["package"] == "fma-genre-pipeline" and version["package_version"] == "0.1.0"
    if (manifest.PROJECT_ROOT / ".git").exists():
        assert version["source"] == "git"
        assert len(version["git_commit"]) == 40 and isinstance(version["git_dirty"], bool)


def test_code_version_without_git_uses_the_environment_then_unknown(tmp_path, monkeypatch):
    monkeypatch.setenv(manifest.GIT_COMMIT_ENV, "abc123")
    assert manifest.code_version(tmp_path)["git_commit"] == "abc123"
    assert manifest.code_version(tmp_path)["source"] == "environment"
    monkeypatch.delenv(manifest.GIT_COMMIT_ENV)
    version = manifest.code_version(tmp_path)
    assert version["git_commit"] == "unknown" and version["source"] == "unknown" and version["git_dirty"] is None
