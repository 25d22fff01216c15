"""A seeded synthetic music dataset written in the exact layout of FMA's "fma_small" download.

    <root>/fma_small/000/000002.mp3 ...        44.1 kHz stereo MP3 clips (folder = first 3 digits of the id);
                                               .flac or .wav (16-bit) with demo.audio_format
    <root>/fma_metadata/tracks.csv             FMA's two-row header: pd.read_csv(p, index_col=0, header=[0, 1])
    <root>/fma_metadata/genres.csv             genre_id, #tracks, parent, title, top_level
    <root>/demo_config.json                    what was generated (ensure_demo_dataset compares it)

so the pipeline's FMA reader consumes it unchanged. Each of the eight top-level genres is a small
"production recipe" (`GENRE_STYLES`): tempo range, drum pattern, bass, harmony and lead instruments,
scales, noise, room. Every recipe draws its layers from weighted choices that partly overlap with other
genres, so the genres are distinct by construction but not separable by one trivial feature.

Cheap data: with demo.unique_fraction < 1 only that share of each genre's tracks (per split) is synthesized;
the others are copies of them, circularly shifted and with their own gain (catalog.plan_copies,
dataset.copy_clip). Synthesis costs ~0.25 s of CPU per 30 s clip, MP3 encoding ~1 s, FLAC ~0.05 s.

Determinism: every random draw comes from a numpy Generator seeded by (seed, stream, id): track-level
choices from (seed, track_id), "artist sound" (drum kit, timbres, favourite tempo/key/instruments)
from (seed, artist_id). The output is therefore identical for any number of worker processes.

This package must stay light: numpy, pandas, soundfile, tqdm (no TensorFlow, no librosa).

Modules:
    styles         the genre recipes (GenreStyle, GENRE_STYLES, describe_genre), scales
    planning       the plan of one track (TrackPlan, plan_track) and the seeded random generators
    dsp            signal-processing helpers
    synth_core     the synthesizer's base: time grid, harmony, oscillators and instrument voices
    drums, accompaniment, melody
                   the synthesizer's layers: drums; bass and harmony; lead
    synth          drone, texture and the mix: synthesize_track
    catalog        which tracks exist (DemoTrack, plan_demo_tracks), which are copies (plan_copies) and FMA's
                   metadata tables
    dataset        writing, checking and caching the dataset on disk (generate/ensure_demo_dataset)
"""

from pipeline.datasets.demo.catalog import SPLITS, DemoTrack, demo_track_path, plan_copies, plan_demo_tracks
from pipeline.datasets.demo.dataset import (
    AUDIO_FORMATS,
    GENERATOR_VERSION,
    DemoSummary,
    copy_clip,
    ensure_demo_dataset,
    generate_demo_dataset,
    is_demo_dataset_current,
)
from pipeline.datasets.demo.planning import TrackPlan, plan_track
from pipeline.datasets.demo.styles import FMA_GENRE_IDS, GENRE_STYLES, GenreStyle, describe_genre
from pipeline.datasets.demo.synth import synthesize_track

__all__ = [
    "GENERATOR_VERSION",
    "FMA_GENRE_IDS",
    "SPLITS",
    "GenreStyle",
    "GENRE_STYLES",
    "describe_genre",
    "TrackPlan",
    "plan_track",
    "synthesize_track",
    "DemoTrack",
    "plan_demo_tracks",
    "plan_copies",
    "copy_clip",
    "AUDIO_FORMATS",
    "DemoSummary",
    "generate_demo_dataset",
    "ensure_demo_dataset",
    "is_demo_dataset_current",
    "demo_track_path",
]
