"""Custom TFX components of the genre-classification pipeline, one folder each."""
import os

# Executors run in containers through `components.*` without importing `pipeline` first: same rule here.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
