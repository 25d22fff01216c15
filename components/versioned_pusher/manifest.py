"""What a pushed version's manifest records beyond the model itself: which data it learned from (a
fingerprint of the Examples artifact) and which code built it (package version and git commit)."""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import os
import subprocess
from pathlib import Path
from typing import Optional

import tensorflow as tf

from components.formats import EXAMPLES_WRITTEN, SUMMARY_FILE  # AudioExampleGen's and SpectrogramTransform's

# The checkout (or installed tree) this code runs from: components/versioned_pusher/manifest.py -> the root.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
FORMAT_VERSION = 2  # 2: model_digest and push_id (added by executor.push)
PACKAGE = "fma-genre-pipeline"
GIT_COMMIT_ENV = "GENRE_PIPELINE_GIT_COMMIT"  # set by the image build, which has no .git


def data_fingerprint(examples_uri: str, split_names: list[str]) -> dict:
    """sha256 over every file's relative path and size (TFRecords are written once, so a changed dataset
    changes a size or a name, and no 10 GB of data is read), plus the sha256 of summary.json, whose
    counts and settings pin what the sizes cannot."""
    files = []
    for directory, _, names in tf.io.gfile.walk(examples_uri):
        for name in names:
            path = os.path.join(directory, name)
            relative = path[len(examples_uri.rstrip("/")) :].lstrip("/")
            files.append((relative, tf.io.gfile.stat(path).length))
    files.sort()
    digest = hashlib.sha256()
    for relative, size in files:
        digest.update(f"{relative}\t{size}\n".encode())
    summary_path = os.path.join(examples_uri, SUMMARY_FILE)
    summary_sha256, counts = None, None
    if tf.io.gfile.exists(summary_path):
        with tf.io.gfile.GFile(summary_path, "rb") as f:
            raw = f.read()
        summary_sha256 = hashlib.sha256(raw).hexdigest()
        counts = examples_per_split(json.loads(raw), split_names)
    return {
        "examples_uri": examples_uri,
        "split_names": list(split_names),
        "files_sha256": digest.hexdigest(),
        "file_count": len(files),
        "total_bytes": sum(size for _, size in files),
        "summary_sha256": summary_sha256,
        "examples_per_split": counts,
    }


def examples_per_split(summary: dict, split_names: list[str]) -> Optional[dict]:
    """Per-split example counts: the examples the producer counted in its files (components/ledger.py),
    or, in summaries written before that record existed, SpectrogramTransform's splits.<s>.examples_out or
    AudioExampleGen's examples_per_split."""
    if isinstance(summary.get(EXAMPLES_WRITTEN), dict):
        return {s: summary[EXAMPLES_WRITTEN].get(s) for s in split_names}
    if isinstance(summary.get("examples_per_split"), dict):
        return {s: summary["examples_per_split"].get(s) for s in split_names}
    if isinstance(summary.get("splits"), dict):
        return {s: (summary["splits"].get(s) or {}).get("examples_out") for s in split_names}
    return None


def code_version(project_root: Path = PROJECT_ROOT) -> dict:
    """Package version plus the git commit: from the checkout when there is one, else from the
    environment (the Docker build sets it), else "unknown"."""
    try:
        package_version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        package_version = "unknown"
    commit, dirty, source = _git_state(project_root)
    if commit is None and os.environ.get(GIT_COMMIT_ENV):
        commit, source = os.environ[GIT_COMMIT_ENV], "environment"
    return {
        "package": PACKAGE,
        "package_version": package_version,
        "git_commit": commit or "unknown",
        "git_dirty": dirty,
        "source": source,
    }


def _git_state(project_root: Path) -> tuple[Optional[str], Optional[bool], str]:
    if not (Path(project_root) / ".git").exists():
        return None, None, "unknown"
    # --no-optional-locks: reading the state must not take index.lock from a concurrent git command.
    base = ["git", "--no-optional-locks", "-C", str(project_root)]
    try:
        commit = subprocess.run(
            [*base, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        status = subprocess.run(
            [*base, "status", "--porcelain"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None, "unknown"  # no git binary, or a checkout without commits
    return commit, bool(status.strip()), "git"


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def build_manifest(
    *,
    version: int,
    serving_info: dict,
    decision: Optional[dict],
    blessing: dict,
    fingerprint: Optional[dict],
    context: dict,
    source_model_uri: str,
    notes: list[str],
) -> dict:
    """The manifest written beside a pushed version (see README.md for every field)."""
    return {
        "format_version": FORMAT_VERSION,
        "version": version,
        "pushed_at": utc_now(),
        "model_family": serving_info["model_family"],
        "genres": serving_info["genres"],
        "featurizer_settings": serving_info["featurizer_settings"],
        "metrics": (decision or {}).get("metrics") or {},
        "blessing": decision if decision is not None else {"blessed": blessing["blessed"], "decision": None},
        "blessing_artifact": blessing,
        "data_fingerprint": fingerprint,
        "code_version": code_version(),
        "config": context.get("config"),
        "context": {k: v for k, v in context.items() if k != "config"},
        "source_model_uri": source_model_uri,
        "notes": notes,
    }
