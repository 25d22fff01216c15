"""The tf.Example contract of SpectrogramTransform's output (the transformed Examples).

Each output example keeps AudioExampleGen's identifying features (PASSTHROUGH, the waveform included,
so the raw-audio model and serving tests read the same examples) and adds the featurizer's outputs and
the engineered feature vector. Trainers import these names instead of repeating string literals.
"""
from __future__ import annotations

from components.audio_example_gen import features as source

# float32 list of frames * n_mels values, row-major [frame][mel]; shape in the featurizer settings.
LOG_MEL = "log_mel"
# bytes: the uint8 image, image_size * image_size * 3 values, row-major [row][column][channel].
MEL_IMAGE = "mel_image"
# float32 list, one value per name in ENGINEERED_NAMES_FILE (written at the artifact's root).
ENGINEERED = "engineered_features"

PASSTHROUGH = (
    source.AUDIO, source.AUDIO_NUM_SAMPLES, source.SAMPLE_RATE, source.LABEL, source.GENRE,
    source.TRACK_ID, source.ARTIST_ID, source.SEGMENT_INDEX, source.NUM_SEGMENTS, source.SOURCE_PATH,
)

# Files at the root of the transformed Examples artifact.
ENGINEERED_NAMES_FILE = "engineered_feature_names.json"  # ["chroma_cens/kurtosis/01", ...], FMA's column order
QUARANTINE_FILE = "quarantine.jsonl"
SUMMARY_FILE = "summary.json"
