"""AudioExampleGen's output: the example encoder (one tf.Example per segment of a decoded clip).

The tf.Example contract itself (feature names, the PCM16 waveform, the wire encoder) is shared by every
component and lives in `components/formats/examples.py`; its raw-example names are re-exported here, as
AudioExampleGen's public contract. The module does not import TensorFlow at load time: Beam workers
import it, and TensorFlow would cost each of them ~6 s and ~500 MB.
"""

from __future__ import annotations

import numpy as np

from components.audio_example_gen.audio import ClipDescriptors, DecodedClip
from components.audio_example_gen.sources import SourceItem
from components.formats.examples import (  # noqa: F401  (re-exported: AudioExampleGen's output contract)
    ALL_FEATURES,
    ARTIST_ID,
    AUDIO,
    AUDIO_NUM_SAMPLES,
    BYTES_FEATURES,
    DURATION_SECONDS,
    FLOAT_FEATURES,
    GENRE,
    INT_FEATURES,
    LABEL,
    NUM_SEGMENTS,
    PADDED_SECONDS,
    RMS_DBFS,
    SAMPLE_RATE,
    SEGMENT_INDEX,
    SILENT_FRACTION,
    SOURCE_CHANNELS,
    SOURCE_FORMAT,
    SOURCE_PATH,
    SOURCE_SAMPLE_RATE,
    STATISTICS_EXCLUDED,
    STATISTICS_FEATURES,
    TRACK_ID,
    ExampleEncoder,
    decode_waveform,
    encode_example,
    feature_spec,
    pcm16_array,
    to_pcm16,
)


def build_examples(
    item: SourceItem, clip: DecodedClip, descriptors: ClipDescriptors, segments: list[np.ndarray], sample_rate: int
) -> list[bytes]:
    """Serialized tf.Examples, one per segment (each `encode_example` of its values: the features all
    segments share are encoded once, and the waveform is copied once into its example)."""
    # Padding exists only when a clip shorter than one example became a single zero-padded example.
    padded = max(0, len(segments[0]) - len(clip.samples)) if len(segments) == 1 else 0
    shared = {
        SAMPLE_RATE: sample_rate,
        LABEL: item.label,
        GENRE: item.genre.encode("utf-8"),
        TRACK_ID: item.track_id,
        ARTIST_ID: item.artist_id,
        NUM_SEGMENTS: len(segments),
        SOURCE_PATH: item.relative_path.encode("utf-8", "backslashreplace"),
        DURATION_SECONDS: descriptors.duration_seconds,
        SOURCE_SAMPLE_RATE: clip.source_sample_rate,
        SOURCE_CHANNELS: clip.source_channels,
        SOURCE_FORMAT: clip.source_format.encode("utf-8"),
        RMS_DBFS: descriptors.rms_dbfs,
        SILENT_FRACTION: descriptors.silent_fraction,
        PADDED_SECONDS: padded / float(sample_rate),
    }
    encoder = ExampleEncoder(shared, (AUDIO, AUDIO_NUM_SAMPLES, SEGMENT_INDEX))
    return [
        encoder.encode({AUDIO: pcm16_array(segment), AUDIO_NUM_SAMPLES: len(segment), SEGMENT_INDEX: index})
        for index, segment in enumerate(segments)
    ]
