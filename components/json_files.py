"""JSON files beside artifacts (summaries, metrics, decisions), read and written through tf.io.gfile so a
gs:// artifact URI works like a local path."""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import tensorflow as tf


def read_json(path: str) -> Optional[Any]:
    """The parsed file, or None when it does not exist."""
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "r") as f:
        return json.loads(f.read())


def read_jsonl(path: str) -> Optional[list]:
    """One parsed value per non-blank line, or None when the file does not exist."""
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "r") as f:
        return [json.loads(line) for line in f.read().splitlines() if line.strip()]


def write_json(path: str, value: Any) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
