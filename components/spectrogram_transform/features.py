"""The tf.Example contract of SpectrogramTransform's output (the transformed Examples), re-exported here
as SpectrogramTransform's public contract; it lives in `components/formats/examples.py`, shared by every
component.

Each output example keeps AudioExampleGen's identifying features (PASSTHROUGH, the waveform included,
so the raw-audio model and serving tests read the same examples) and adds the featurizer's outputs and
the engineered feature vector.
"""

from __future__ import annotations

from components.formats import QUARANTINE_FILE, SUMMARY_FILE  # noqa: F401  (files at the artifact's root)
from components.formats.examples import (  # noqa: F401  (re-exported: SpectrogramTransform's output contract)
    ENGINEERED,
    ENGINEERED_NAMES_FILE,
    LOG_MEL,
    MEL_IMAGE,
    MUSICNN_EMBEDDING,
    PASSTHROUGH,
)
