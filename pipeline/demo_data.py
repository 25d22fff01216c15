"""A seeded synthetic music dataset written in the exact layout of FMA's "fma_small" download.

    <root>/fma_small/000/000002.mp3 ...        44.1 kHz stereo MP3 clips (folder = first 3 digits of the id)
    <root>/fma_metadata/tracks.csv             FMA's two-row header: pd.read_csv(p, index_col=0, header=[0, 1])
    <root>/fma_metadata/genres.csv             genre_id, #tracks, parent, title, top_level
    <root>/demo_config.json                    what was generated (ensure_demo_dataset compares it)

so the pipeline's FMA reader consumes it unchanged. Each of the eight top-level genres is a small
"production recipe" (`GENRE_STYLES`): tempo range, drum pattern, bass, harmony and lead instruments,
scales, noise, room. Every recipe draws its layers from weighted choices that partly overlap with other
genres, so the genres are distinct by construction but not separable by one trivial feature.

Determinism: every random draw comes from a numpy Generator seeded by (seed, stream, id): track-level
choices from (seed, track_id), "artist sound" (drum kit, timbres, favourite tempo/key/instruments)
from (seed, artist_id). The output is therefore identical for any number of worker processes.

This module must stay light: numpy, pandas, soundfile, tqdm (no TensorFlow, no librosa).
"""
from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import shutil
import sys
import uuid
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from pipeline.config import PROJECT_ROOT, DemoDataConfig

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
    "DemoSummary",
    "generate_demo_dataset",
    "ensure_demo_dataset",
    "is_demo_dataset_current",
    "demo_track_path",
]

# Bump when the synthesis or the metadata changes: ensure_demo_dataset then regenerates old datasets.
GENERATOR_VERSION = 1

# FMA's real ids of its top-level genres (fma_metadata/genres.csv).
FMA_GENRE_IDS = {
    "Electronic": 15,
    "Experimental": 38,
    "Folk": 17,
    "Hip-Hop": 21,
    "Instrumental": 1235,
    "International": 2,
    "Pop": 10,
    "Rock": 12,
}

SPLITS = ("training", "validation", "test")  # FMA's set.split values
MARKER_FILE = "demo_config.json"

# =====================================================================================================
# Genre recipes
# =====================================================================================================

Choice = tuple[tuple[str, float], ...]  # weighted options, weights need not sum to 1


@dataclass(frozen=True)
class GenreStyle:
    """What makes a genre in the demo data. Each layer is a weighted choice of renderers."""

    name: str
    genre_id: int
    summary: str
    tempo_bpm: tuple[float, float]
    drums: Choice  # a key of DRUM_PATTERNS, "irregular" or "none"
    bass: Choice
    harmony: Choice
    lead: Choice
    drone_prob: float  # chance of a sustained drone (tanpura-like, or dark for Experimental)
    harmony_scale: Choice  # a key of SCALES
    melody_scale: Choice  # "same" (the harmony scale) or "penta" (its pentatonic subset)
    progressions: tuple[tuple[int, ...], ...]  # chord roots as 0-based scale degrees
    bars_per_chord: tuple[int, ...]
    swing: tuple[float, float]  # 0.5 = straight 16ths, 0.66 = triplet feel
    lead_register: tuple[int, int]  # MIDI note range of the melody
    noise_db: tuple[float, float]  # noise floor relative to the music's RMS
    texture: Choice  # "none", "vinyl", "room", "noise_bursts"
    reverb: tuple[float, float]  # wet gain of the room
    brightness_hz: tuple[float, float]  # master low-pass; >= 15 kHz means none
    levels_db: dict[str, float] = field(default_factory=dict)  # layer balance
    humanize_ms: float = 0.0  # timing jitter of hand-played parts
    sidechain_prob: float = 0.0  # "pumping" of the music bus by a four-on-the-floor kick
    gap_prob: float = 0.0  # chance of silent gaps (Experimental)
    dropout_prob: float = 0.1  # chance that a 4-bar phrase drops the kick/snare (breakdown)


_LEVELS = dict(drums=0.0, cymbals=-7.0, bass=-4.0, harmony=-5.0, lead=-4.0, drone=-7.0, texture=-22.0)


def _levels(**kw: float) -> dict[str, float]:
    return {**_LEVELS, **kw}


GENRE_STYLES: dict[str, GenreStyle] = {
    "Electronic": GenreStyle(
        name="Electronic",
        genre_id=FMA_GENRE_IDS["Electronic"],
        summary="Club tempo, machine-exact four-on-the-floor kick with off-beat open hats, saw/square synths "
        "(pads, stabs, 16th-note arpeggios), sub bass on the off-beats, side-chain pumping, minor keys.",
        # WHY: the steady 120-134 bpm kick on every beat gives a strong, regular onset periodicity and
        # constant low-frequency energy; exact quantisation (no humanize) is unlike the played genres.
        tempo_bpm=(118, 134),
        # Overlap: breakbeats and boom-bap borrow Hip-Hop's drum grammar (downtempo / breaks).
        drums=(("four_on_floor", 0.72), ("breakbeat", 0.16), ("boom_bap", 0.12)),
        bass=(("sub_offbeat", 0.6), ("saw_bass", 0.4)),
        # Overlap: Pop also uses saw pads and square stabs; a few tracks use a piano like House does.
        harmony=(("saw_pad", 0.45), ("square_stab", 0.4), ("piano_chords", 0.1), ("none", 0.05)),
        lead=(("saw_arp", 0.55), ("square_arp", 0.25), ("vocal", 0.1), ("none", 0.1)),
        drone_prob=0.05,
        harmony_scale=(("minor", 0.6), ("dorian", 0.25), ("major", 0.15)),
        melody_scale=(("same", 0.5), ("penta", 0.5)),
        progressions=((0, 5, 2, 6), (0, 3, 4, 3), (0, 0, 5, 6), (0, 6, 5, 6)),
        bars_per_chord=(1, 2),
        swing=(0.5, 0.53),
        lead_register=(62, 86),
        noise_db=(-62, -46),
        texture=(("none", 0.8), ("vinyl", 0.2)),
        reverb=(0.04, 0.18),
        brightness_hz=(9000, 18000),
        levels_db=_levels(drums=0, cymbals=-8, bass=-3, harmony=-7, lead=-6),
        humanize_ms=0.0,
        sidechain_prob=0.7,
        dropout_prob=0.15,
    ),
    "Experimental": GenreStyle(
        name="Experimental",
        genre_id=FMA_GENRE_IDS["Experimental"],
        summary="No steady pulse or key: irregular (Poisson-timed) percussion and noise bursts, FM glissandi, "
        "chromatic tone clusters, dark drones and sub rumble, silent gaps, a high noise floor.",
        # WHY: irregular onsets and sweeping pitch break the periodicity and the stable harmonic structure
        # every other genre has; the high, coloured noise floor flattens the spectrum.
        tempo_bpm=(60, 170),
        # Overlap: some tracks do have a breakbeat (IDM), a drone like International, or a saw pad.
        drums=(("irregular", 0.55), ("none", 0.3), ("breakbeat", 0.15)),
        bass=(("rumble", 0.6), ("none", 0.4)),
        harmony=(("cluster", 0.6), ("none", 0.25), ("saw_pad", 0.15)),
        lead=(("gliss", 0.75), ("none", 0.15), ("reed", 0.1)),
        drone_prob=0.45,
        harmony_scale=(("chromatic", 1.0),),
        melody_scale=(("same", 1.0),),
        progressions=((0, 1, 6, 3), (0, 11, 5, 2), (0, 4, 9, 1)),
        bars_per_chord=(1, 2, 3),
        swing=(0.5, 0.6),
        lead_register=(40, 96),
        noise_db=(-34, -16),
        texture=(("noise_bursts", 0.75), ("room", 0.25)),
        reverb=(0.1, 0.45),
        brightness_hz=(4000, 18000),
        levels_db=_levels(drums=-2, cymbals=-6, bass=-4, harmony=-5, lead=-3, drone=-6, texture=-4),
        humanize_ms=30.0,
        gap_prob=0.45,
        dropout_prob=0.2,
    ),
    "Folk": GenreStyle(
        name="Folk",
        genre_id=FMA_GENRE_IDS["Folk"],
        summary="Acoustic: Karplus-Strong guitar strummed or finger-picked in major keys (I-IV-V), "
        "fiddle/voice-like melody with vibrato, plucked upright bass, mostly no drums, a room.",
        # WHY: plucked-string onsets without kick/snare, rich but decaying harmonics, loose timing.
        tempo_bpm=(80, 132),
        # Overlap: stomp-clap and pop backbeats make some Folk tracks look like Pop.
        drums=(("none", 0.7), ("stomp", 0.18), ("pop_backbeat", 0.12)),
        bass=(("none", 0.55), ("upright", 0.45)),
        harmony=(("strum", 0.55), ("fingerpick", 0.45)),
        # Overlap: "vocal" is the same voice as Pop's lead; "pluck_melody" is shared with International.
        lead=(("fiddle", 0.35), ("vocal", 0.3), ("pluck_melody", 0.2), ("none", 0.15)),
        drone_prob=0.05,
        harmony_scale=(("major", 0.75), ("mixolydian", 0.15), ("minor", 0.1)),
        melody_scale=(("penta", 0.5), ("same", 0.5)),
        progressions=((0, 3, 0, 4), (0, 4, 5, 3), (0, 3, 4, 0), (0, 0, 3, 4)),
        bars_per_chord=(1, 2),
        swing=(0.5, 0.58),
        lead_register=(62, 84),
        noise_db=(-54, -40),
        texture=(("room", 0.6), ("none", 0.4)),
        reverb=(0.12, 0.3),
        brightness_hz=(7000, 14000),
        levels_db=_levels(drums=-5, cymbals=-9, bass=-5, harmony=-1, lead=-4),
        humanize_ms=8.0,
    ),
    "Hip-Hop": GenreStyle(
        name="Hip-Hop",
        genre_id=FMA_GENRE_IDS["Hip-Hop"],
        summary="Slow (78-100 bpm) swung boom-bap or half-time trap drums, long 808 bass on the kicks, "
        "looped Rhodes/piano chords and a short bell motif, dark (low-passed) and dusty (vinyl crackle).",
        # WHY: slow tempo + heavy swing + loud kick/snare backbeat + very strong sub bass + dull top end.
        tempo_bpm=(78, 100),
        # Overlap: a few four-on-the-floor beats (Electronic); Instrumental lo-fi also uses boom-bap.
        drums=(("boom_bap", 0.62), ("trap", 0.28), ("four_on_floor", 0.1)),
        bass=(("808", 0.7), ("root_quarters", 0.15), ("sub_offbeat", 0.15)),
        harmony=(("rhodes", 0.45), ("piano_chords", 0.2), ("saw_pad", 0.15), ("none", 0.2)),
        lead=(("bell", 0.45), ("none", 0.3), ("vocal", 0.15), ("piano_melody", 0.1)),
        drone_prob=0.0,
        harmony_scale=(("minor", 0.7), ("dorian", 0.3)),
        melody_scale=(("penta", 0.7), ("same", 0.3)),
        progressions=((0, 3), (0, 5), (0, 5, 3, 4), (0, 0, 3, 3)),
        bars_per_chord=(1, 2),
        swing=(0.54, 0.66),
        lead_register=(67, 86),
        noise_db=(-50, -36),
        texture=(("vinyl", 0.55), ("none", 0.45)),
        reverb=(0.03, 0.12),
        brightness_hz=(3500, 9000),
        levels_db=_levels(drums=0, cymbals=-9, bass=-1, harmony=-7, lead=-8, texture=-24),
        humanize_ms=4.0,
        dropout_prob=0.08,
    ),
    "Instrumental": GenreStyle(
        name="Instrumental",
        genre_id=FMA_GENRE_IDS["Instrumental"],
        summary="Slow to mid tempo piano music (arpeggios, block chords, melody) or bowed string pads, "
        "mostly without drums, wide dynamics, a reverberant room.",
        # WHY: piano's decaying inharmonic partials and arpeggiated onsets, no percussion, much reverb.
        tempo_bpm=(60, 108),
        # Overlap: brushes (jazz) and lo-fi boom-bap (like Hip-Hop); strings/fiddle timbre like Folk.
        drums=(("none", 0.65), ("brush", 0.2), ("boom_bap", 0.15)),
        bass=(("piano_lh", 0.6), ("none", 0.25), ("upright", 0.15)),
        harmony=(("piano_arpeggio", 0.45), ("string_pad", 0.3), ("piano_chords", 0.25)),
        lead=(("piano_melody", 0.55), ("strings", 0.2), ("none", 0.25)),
        drone_prob=0.0,
        harmony_scale=(("major", 0.55), ("minor", 0.45)),
        melody_scale=(("same", 0.8), ("penta", 0.2)),
        progressions=((0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 1, 4), (0, 2, 5, 3)),
        bars_per_chord=(1, 2),
        swing=(0.5, 0.6),
        lead_register=(64, 88),
        noise_db=(-58, -42),
        texture=(("room", 0.4), ("vinyl", 0.1), ("none", 0.5)),
        reverb=(0.2, 0.4),
        brightness_hz=(6000, 14000),
        levels_db=_levels(drums=-6, cymbals=-10, bass=-5, harmony=-2, lead=-3),
        humanize_ms=10.0,
    ),
    "International": GenreStyle(
        name="International",
        genre_id=FMA_GENRE_IDS["International"],
        summary="Modal (phrygian-dominant / double-harmonic / pentatonic) reed or voice melody with "
        "glides and ornaments over a tanpura-like drone, tabla or frame-drum (maqsum) patterns, oud plucks, "
        "static harmony.",
        # WHY: the drone gives a constant pitch class profile, ornamented gliding melody gives pitch
        # modulation, tabla/frame drums are pitched membranes instead of a kick/snare/hi-hat kit.
        tempo_bpm=(84, 136),
        # Overlap: some tracks have no drums (like Folk) or a pop backbeat (World-pop).
        drums=(("tabla", 0.45), ("maqsum", 0.35), ("none", 0.12), ("pop_backbeat", 0.08)),
        bass=(("none", 0.8), ("root_quarters", 0.2)),
        harmony=(("none", 0.55), ("oud", 0.3), ("strum", 0.15)),
        lead=(("reed", 0.7), ("vocal", 0.15), ("pluck_melody", 0.15)),
        drone_prob=0.8,
        harmony_scale=(("phrygian_dominant", 0.45), ("double_harmonic", 0.2), ("major", 0.2), ("dorian", 0.15)),
        melody_scale=(("same", 0.7), ("penta", 0.3)),
        progressions=((0,), (0, 0, 6, 0), (0, 3, 0, 0)),
        bars_per_chord=(2, 4),
        swing=(0.5, 0.56),
        lead_register=(60, 81),
        noise_db=(-50, -36),
        texture=(("room", 0.6), ("none", 0.4)),
        reverb=(0.1, 0.3),
        brightness_hz=(6000, 13000),
        levels_db=_levels(drums=-2, cymbals=-8, bass=-6, harmony=-6, lead=-2, drone=-6),
        humanize_ms=6.0,
    ),
    "Pop": GenreStyle(
        name="Pop",
        genre_id=FMA_GENRE_IDS["Pop"],
        summary="Mid tempo backbeat (kick 1/3, snare+clap 2/4, 8th hats), a sung-like lead with vibrato in "
        "a major pentatonic, I-V-vi-IV on soft synth pads, piano or strummed guitar, root bass.",
        # WHY: the voice-like formant lead is the foreground; polished (low noise), bright, major.
        tempo_bpm=(92, 126),
        # Overlap: four-on-the-floor (dance-pop, like Electronic), rock 8ths and power chords (like Rock),
        # strummed guitar (like Folk).
        drums=(("pop_backbeat", 0.7), ("four_on_floor", 0.12), ("rock_8ths", 0.1), ("none", 0.08)),
        bass=(("root_quarters", 0.65), ("sub_offbeat", 0.2), ("picked_8ths", 0.15)),
        harmony=(("saw_pad", 0.3), ("piano_chords", 0.3), ("strum", 0.25), ("square_stab", 0.1), ("power", 0.05)),
        lead=(("vocal", 0.85), ("saw_arp", 0.1), ("piano_melody", 0.05)),
        drone_prob=0.0,
        harmony_scale=(("major", 0.85), ("minor", 0.15)),
        melody_scale=(("penta", 0.6), ("same", 0.4)),
        progressions=((0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 4, 4)),
        bars_per_chord=(1,),
        swing=(0.5, 0.54),
        lead_register=(60, 79),
        noise_db=(-62, -46),
        texture=(("none", 0.9), ("vinyl", 0.1)),
        reverb=(0.1, 0.25),
        brightness_hz=(8000, 18000),
        levels_db=_levels(drums=-1, cymbals=-8, bass=-4, harmony=-6, lead=-2),
        humanize_ms=2.0,
        sidechain_prob=0.3,
    ),
    "Rock": GenreStyle(
        name="Rock",
        genre_id=FMA_GENRE_IDS["Rock"],
        summary="Fast driving 8th-note drums with crashes, distorted (tanh-clipped) power chords chugging "
        "8ths, picked bass on the root, optional distorted lead with bends, audible amp hiss.",
        # WHY: hard clipping makes a dense, flat mid/high spectrum; loud hats/crashes; faster tempo.
        tempo_bpm=(104, 160),
        # Overlap: pop backbeats, and a few acoustic (strummed / finger-picked, drum-less) ballads.
        drums=(("rock_8ths", 0.82), ("pop_backbeat", 0.13), ("none", 0.05)),
        bass=(("picked_8ths", 0.85), ("root_quarters", 0.15)),
        harmony=(("power", 0.75), ("strum", 0.15), ("fingerpick", 0.1)),
        lead=(("none", 0.35), ("guitar_lead", 0.35), ("vocal", 0.3)),
        drone_prob=0.0,
        harmony_scale=(("major", 0.4), ("mixolydian", 0.3), ("minor", 0.3)),
        melody_scale=(("penta", 0.7), ("same", 0.3)),
        progressions=((0, 6, 3, 0), (0, 3, 4, 3), (0, 4, 5, 3), (0, 2, 3, 4)),
        bars_per_chord=(1, 2),
        swing=(0.5, 0.53),
        lead_register=(57, 81),
        noise_db=(-48, -34),
        texture=(("none", 0.8), ("room", 0.2)),
        reverb=(0.08, 0.2),
        brightness_hz=(6000, 12000),
        levels_db=_levels(drums=0, cymbals=-4, bass=-4, harmony=-2, lead=-4),
        humanize_ms=6.0,
    ),
}


def describe_genre(name: str) -> str:
    """A readable account of how the demo data makes genre `name`."""
    s = _style(name)

    def opts(choice: Choice) -> str:
        total = sum(w for _, w in choice)
        return ", ".join(f"{k} {w / total:.0%}" for k, w in choice)

    return "\n".join(
        [
            f"{s.name} (FMA genre id {s.genre_id}): {s.summary}",
            f"  tempo {s.tempo_bpm[0]:.0f}-{s.tempo_bpm[1]:.0f} bpm, swing {s.swing[0]:.2f}-{s.swing[1]:.2f}",
            f"  drums: {opts(s.drums)}",
            f"  bass: {opts(s.bass)}",
            f"  harmony: {opts(s.harmony)}",
            f"  lead: {opts(s.lead)}",
            f"  drone: {s.drone_prob:.0%}; scales: {opts(s.harmony_scale)}",
            f"  noise floor {s.noise_db[0]:.0f}..{s.noise_db[1]:.0f} dB; texture: {opts(s.texture)}",
        ]
    )


def _style(name: str) -> GenreStyle:
    try:
        return GENRE_STYLES[name]
    except KeyError:
        raise ValueError(f"the demo data has no recipe for genre {name!r}; known: {sorted(GENRE_STYLES)}") from None


# =====================================================================================================
# Music theory and drum patterns
# =====================================================================================================

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian_dominant": (0, 1, 4, 5, 7, 8, 10),  # hijaz / freygish
    "double_harmonic": (0, 1, 4, 5, 7, 8, 11),  # bhairav / hijaz kar
    "chromatic": tuple(range(12)),
}
PENTATONIC = {
    "major": (0, 2, 4, 7, 9),
    "mixolydian": (0, 2, 4, 7, 9),
    "minor": (0, 3, 5, 7, 10),
    "dorian": (0, 3, 5, 7, 10),
    "phrygian_dominant": (0, 1, 4, 7, 8),  # hirajoshi-like
    "double_harmonic": (0, 1, 4, 7, 8),
    "chromatic": tuple(range(12)),
}

# 16 steps (16th notes) per 4/4 bar; longer strings span several bars. X accent, x normal, g ghost.
DRUM_PATTERNS: dict[str, dict[str, str]] = {
    "four_on_floor": {  # house/techno: kick every beat, open hat on the off-beat, clap 2 and 4
        "kick": "X...x...X...x...",
        "clap": "....x.......x...",
        "ohat": "..x...x...x...x.",
        "hat": "g.g.g.g.g.g.g.g.",
    },
    "breakbeat": {  # syncopated "amen"-like break
        "kick": "X.x.......x.....X.x.......xx....",
        "snare": "....X..g.g..X..g....X..g.g..X...",
        "hat": "x.x.x.x.x.x.x.x.",
    },
    "boom_bap": {  # kick on 1 and the "a" of 2, heavy snare on 2 and 4, swung hats
        "kick": "X......x..x.....",
        "snare": "....X.......X...",
        "hat": "x.x.x.x.x.x.x.x.",
    },
    "trap": {  # half-time: clap on 3, sparse kicks, 16th hats with rolls
        "kick": "X.......x.....x.x......x........",
        "clap": "........X...............X.......",
        "hat": "xgxgxgxgxgxgxgxg",
    },
    "rock_8ths": {  # driving 8ths, crash every 8 bars
        "kick": "X.....x.x.......",
        "snare": "....X.......X...",
        "hat": "X.x.X.x.X.x.X.x.",
        "crash": "X" + "." * 127,
    },
    "pop_backbeat": {
        "kick": "X.......x.x.....",
        "snare": "....x.......x...",
        "clap": "....x.......x...",
        "hat": "x.x.x.x.x.x.x.x.",
        "shaker": "gggggggggggggggg",
        "crash": "x" + "." * 127,
    },
    "brush": {  # jazz: ride "ding ding-a", feathered kick, brushed snare
        "kick": "g.......g.......",
        "snare": "....g.......g...",
        "ride": "x...x.x.x...x.x.",
    },
    "stomp": {  # folk stomp-clap
        "kick": "X.......X.......",
        "clap": "....x.......x...",
        "shaker": "x.x.x.x.x.x.x.x.",
    },
    "tabla": {  # keherwa-like bols: dha (bass+ring), ge (bass), na/tin/ti (ring), ka (slap)
        "dha": "X.......x.....x.",
        "ge": "...x......x.....",
        "na": "..x.x...x.x.x...",
        "tin": "......x.........",
        "ti": ".x.......x.x...x",
        "ka": ".....x.......x..",
    },
    "maqsum": {  # frame drum: dum tek - tek dum - tek -
        "dum": "X.......x.......",
        "tek": "..x...x.....x...",
        "ka": "....g.....g...g.",
    },
}
_CYMBALS = {"hat", "ohat", "ride", "shaker", "crash"}
_VELOCITY = {"X": 1.0, "x": 0.75, "g": 0.32}
# Which voices each pattern's fill may add on empty steps, and with which probability per step.
_FILLS = {"tabla": ("ti", 0.18), "maqsum": ("ka", 0.15), "rock_8ths": ("snare", 0.02), "breakbeat": ("snare", 0.04)}
_KIT_OF_PATTERN = {
    "four_on_floor": "machine",
    "breakbeat": "break",
    "boom_bap": "dusty",
    "trap": "trap",
    "rock_8ths": "acoustic",
    "pop_backbeat": "pop",
    "brush": "brush",
    "stomp": "stomp",
    "tabla": "tabla",
    "maqsum": "frame",
}


def _hz(midi: float) -> float:
    return float(440.0 * 2.0 ** ((midi - 69.0) / 12.0))


def _weighted(rng: np.random.Generator, choice: Choice) -> str:
    names = [c[0] for c in choice]
    w = np.array([c[1] for c in choice], dtype=np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


# =====================================================================================================
# Track plan: every random decision about a track that is not a note or a hit
# =====================================================================================================


@dataclass(frozen=True)
class TrackPlan:
    genre: str
    bpm: float
    key: int  # pitch class of the tonic, 0 = C
    harmony_scale: str
    melody_scale: tuple[int, ...]
    progression: tuple[int, ...]
    bars_per_chord: int
    swing: float
    drums: str
    bass: str
    harmony: str
    lead: str
    drone: bool
    texture: str
    sidechain: bool
    noise_db: float
    reverb: float
    brightness_hz: float
    target_rms_dbfs: float
    offset_beats: float  # where in the "song" the clip starts (FMA clips are cut from the middle)
    levels_db: tuple[tuple[str, float], ...]
    pans: tuple[tuple[str, float], ...]


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in key])


def plan_track(genre: str, seed: int, artist_id: int, track_id: int) -> TrackPlan:
    """The production decisions of one track. Artists have a "home" sound their tracks mostly keep."""
    s = _style(genre)
    a = _rng(seed, 1, artist_id)  # the artist's habits: same for all their tracks
    r = _rng(seed, 2, track_id)  # this track

    def pick(choice: Choice, stick: float = 0.7) -> str:
        home = _weighted(a, choice)
        fresh = _weighted(r, choice)
        return home if r.random() < stick else fresh

    drums = pick(s.drums)
    bass = pick(s.bass)
    harmony = pick(s.harmony)
    lead = pick(s.lead, 0.6)
    hscale = pick(s.harmony_scale, 0.8)
    mscale_kind = pick(s.melody_scale, 0.6)
    melody_scale = SCALES[hscale] if mscale_kind == "same" else PENTATONIC[hscale]
    home_key = int(a.integers(12))
    key = home_key if r.random() < 0.6 else int(r.integers(12))
    home_bpm = a.uniform(*s.tempo_bpm)
    bpm = float(np.clip(home_bpm * r.uniform(0.95, 1.05), s.tempo_bpm[0] * 0.95, s.tempo_bpm[1] * 1.05))
    prog = s.progressions[int(r.integers(len(s.progressions)))]
    bpc = int(s.bars_per_chord[int(r.integers(len(s.bars_per_chord)))])
    swing = float(np.clip(a.uniform(*s.swing) + r.normal(0, 0.01), 0.5, 0.7))
    drone = bool(r.random() < s.drone_prob)
    texture = pick(s.texture, 0.5)
    sidechain = bool(drums == "four_on_floor" and a.random() < s.sidechain_prob)
    levels = tuple((k, float(v + r.normal(0, 2.0))) for k, v in s.levels_db.items())
    pans = (
        ("drums", 0.0),
        ("cymbals", float(r.uniform(-0.35, 0.35))),
        ("bass", 0.0),
        ("harmony", float(r.uniform(-0.5, 0.5))),
        ("lead", float(r.uniform(-0.25, 0.25))),
        ("drone", float(r.uniform(-0.3, 0.3))),
        ("texture", 0.0),
    )
    return TrackPlan(
        genre=genre,
        bpm=bpm,
        key=key,
        harmony_scale=hscale,
        melody_scale=tuple(melody_scale),
        progression=tuple(prog),
        bars_per_chord=bpc,
        swing=swing,
        drums=drums,
        bass=bass,
        harmony=harmony,
        lead=lead,
        drone=drone,
        texture=texture,
        sidechain=sidechain,
        noise_db=float(r.uniform(*s.noise_db)),
        reverb=float(r.uniform(*s.reverb)),
        brightness_hz=float(np.exp(r.uniform(np.log(s.brightness_hz[0]), np.log(s.brightness_hz[1])))),
        # A common-ish loudness for every genre, jittered, so level alone tells nothing.
        target_rms_dbfs=float(r.uniform(-21.0, -13.0)),
        offset_beats=float(4 * int(r.integers(4, 24)) + r.uniform(0, 4)),
        levels_db=levels,
        pans=pans,
    )


# =====================================================================================================
# DSP helpers (vectorised numpy, float32)
# =====================================================================================================

_TWO_PI = np.float32(2 * np.pi)


def _frac(x: np.ndarray) -> np.ndarray:
    """x mod 1 as float32, computed in the input's precision (np.mod is ~100x slower than this)."""
    return (x - np.floor(x)).astype(np.float32, copy=False)


def _sin_cycles(cycles: np.ndarray) -> np.ndarray:
    """sin(2*pi*cycles) in float32 (SIMD, ~50x faster than float64) after removing whole cycles."""
    return np.sin(_TWO_PI * _frac(cycles))


def _white(rng: np.random.Generator, shape) -> np.ndarray:
    """Unit-variance white noise, float32 (uniform: 6x cheaper than Gaussian, sounds the same)."""
    return (rng.random(shape, dtype=np.float32) - np.float32(0.5)) * np.float32(math.sqrt(12.0))


def _box(x: np.ndarray, length: int) -> np.ndarray:
    """Centered moving average (a cheap FIR low-pass), same length as x."""
    n = len(x)
    if length <= 1 or n < 2:
        return x.astype(np.float32, copy=False)
    length = min(length, n)
    h = length // 2
    # c_ext[j] = sum of x[:j - h], clamped to [0, n] at both ends; y[i] = (c_ext[i + L] - c_ext[i]) / L
    c_ext = np.empty(n + length + 1, np.float64)
    c_ext[: h + 1] = 0.0
    np.cumsum(x, dtype=np.float64, out=c_ext[h + 1 : h + 1 + n])
    c_ext[h + 1 + n :] = c_ext[h + n]
    return ((c_ext[length : length + n] - c_ext[:n]) * (1.0 / length)).astype(np.float32)


def _lowpass(x: np.ndarray, cutoff_hz: float, sr: int, passes: int = 2) -> np.ndarray:
    length = int(round(0.44 * sr / max(cutoff_hz, 1.0)))
    for _ in range(passes):
        x = _box(x, length)
    return x


def _highpass(x: np.ndarray, cutoff_hz: float, sr: int) -> np.ndarray:
    return (x - _lowpass(x, cutoff_hz, sr, passes=1)).astype(np.float32)


def _add_at(buf: np.ndarray, sig: np.ndarray, start: int, gain: float = 1.0) -> None:
    n = len(buf)
    if start >= n or start + len(sig) <= 0:
        return
    s0 = max(0, -start)
    b0 = max(0, start)
    m = min(len(sig) - s0, n - b0)
    if gain == 1.0:
        buf[b0 : b0 + m] += sig[s0 : s0 + m]
    else:
        buf[b0 : b0 + m] += np.float32(gain) * sig[s0 : s0 + m]


def _active_rms(x: np.ndarray, frame: int = 2048) -> float:
    """RMS over the frames where the layer actually plays (so a sparse layer is not boosted)."""
    m = len(x) // frame
    if m == 0:
        return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))
    e = np.sqrt(np.mean(np.square(x[: m * frame].reshape(m, frame), dtype=np.float64), axis=1))
    peak = e.max()
    if peak <= 1e-9:
        return 0.0
    act = e[e > 0.1 * peak]
    return float(np.sqrt(np.mean(act**2)))


def _soft_limit(x: np.ndarray, knee: float = 0.85) -> np.ndarray:
    a = np.abs(x)
    over = a > knee
    if np.any(over):
        x = x.copy()
        x[over] = np.sign(x[over]) * (knee + (1 - knee) * np.tanh((a[over] - knee) / (1 - knee)))
    return np.clip(x, -1.0, 1.0)


# =====================================================================================================
# The synthesizer of one track
# =====================================================================================================


class _Synth:
    def __init__(self, plan: TrackPlan, seed: int, artist_id: int, track_id: int, sr: int, n: int) -> None:
        self.p = plan
        self.style = _style(plan.genre)
        self.seed, self.artist_id = seed, artist_id
        self.sr, self.n = sr, n
        self.rng = _rng(seed, 3, track_id)  # notes, hits, events of this track
        self.step_s = 60.0 / plan.bpm / 4.0
        self.swing_shift = (2.0 * plan.swing - 1.0) * self.step_s
        self.offset_s = plan.offset_beats * 60.0 / plan.bpm
        self.humanize_s = self.style.humanize_ms / 1000.0
        self.step_lo = int(self.offset_s / self.step_s) - 32  # pre-roll: notes still ringing at the start
        self.step_hi = int(math.ceil((self.offset_s + n / sr) / self.step_s)) + 1
        self._tcache: dict[int, np.ndarray] = {}
        self._cache: dict[tuple, np.ndarray] = {}
        self.kick_steps: list[int] = []

    # --- time -----------------------------------------------------------------------------------
    def t(self, n: int) -> np.ndarray:
        if n not in self._tcache:
            self._tcache[n] = np.arange(n, dtype=np.float32) / np.float32(self.sr)
        return self._tcache[n]

    def at(self, step: float, humanize: bool = True) -> int:
        """Sample index in the clip of a (possibly fractional) 16th step of the song."""
        whole = int(math.floor(step))
        sec = step * self.step_s + (self.swing_shift if whole % 2 else 0.0) - self.offset_s
        if humanize and self.humanize_s:
            sec += float(self.rng.normal(0.0, self.humanize_s))
        return int(round(sec * self.sr))

    def samples(self, steps: float) -> int:
        return max(1, int(round(steps * self.step_s * self.sr)))

    def steps(self) -> range:
        return range(max(self.step_lo, 0), self.step_hi)

    def timbre(self, name: str) -> np.random.Generator:
        """The artist's sound of one instrument: the same for all their tracks."""
        return _rng(self.seed, 4, self.artist_id, zlib.crc32(name.encode()))

    # --- harmony --------------------------------------------------------------------------------
    def degree_midi(self, degree: int, base: int) -> int:
        sc = SCALES[self.p.harmony_scale]
        octave, i = divmod(degree, len(sc))
        return base + self.p.key + 12 * octave + sc[i]

    def chord_degree(self, step: int) -> int:
        bar = step // 16
        prog = self.p.progression
        return prog[(bar // self.p.bars_per_chord) % len(prog)]

    def chord(self, step: int, base: int = 48, size: int = 3) -> list[int]:
        d = self.chord_degree(step)
        return [self.degree_midi(d + 2 * i, base) for i in range(size)]

    def bass_root(self, step: int, lo: int = 33) -> int:
        m = self.degree_midi(self.chord_degree(step), 24)
        while m < lo:
            m += 12
        return m

    def scale_notes(self, lo: int, hi: int) -> np.ndarray:
        pcs = {(self.p.key + i) % 12 for i in self.p.melody_scale}
        return np.array([m for m in range(lo, hi + 1) if m % 12 in pcs])

    # --- envelopes and oscillators --------------------------------------------------------------
    def adsr(self, n: int, attack: float, decay: float, sustain: float, release: float) -> np.ndarray:
        t = self.t(n)
        env = np.float32(sustain) + np.float32(1 - sustain) * np.exp(-t / np.float32(max(decay, 1e-4)))
        if attack > 0:
            env = env * np.minimum(np.float32(1.0), t / np.float32(attack))
        r = min(n, int(release * self.sr))
        if r > 1:
            env[-r:] *= np.linspace(1.0, 0.0, r, dtype=np.float32)
        return env.astype(np.float32, copy=False)

    def osc(self, wave: str, freq: float, n: int, phase: float = 0.0, pw: float = 0.5) -> np.ndarray:
        ph = _frac(np.float32(freq) * self.t(n) + np.float32(phase))
        if wave == "saw":
            return 2.0 * ph - 1.0
        if wave == "square":
            return np.where(ph < pw, np.float32(1.0), np.float32(-1.0))
        if wave == "tri":
            return 4.0 * np.abs(ph - 0.5) - 1.0
        return np.sin(_TWO_PI * ph)

    def synth_note(self, wave: str, midi: float, n: int, voices: int = 1, detune: float = 0.0,
                   attack: float = 0.005, decay: float = 0.3, sustain: float = 0.0, release: float = 0.02) -> np.ndarray:
        key = ("synth", wave, midi, n, voices, detune, attack, decay, sustain, release)
        if key not in self._cache:
            f = _hz(midi)
            y = np.zeros(n, np.float32)
            for v in range(voices):
                cents = detune * (v - (voices - 1) / 2)
                y += self.osc(wave, f * 2 ** (cents / 1200), n, phase=0.37 * v)
            self._cache[key] = (y / voices) * self.adsr(n, attack, decay, sustain, release)
        return self._cache[key]

    def piano(self, midi: int, n: int, bright: float = 1.0) -> np.ndarray:
        key = ("piano", midi, n, bright)
        if key not in self._cache:
            f0 = _hz(midi)
            t = self.t(n)
            tau = float(np.clip(3.0 * (261.6 / f0) ** 0.6, 0.3, 6.0))
            y = np.zeros(n, np.float32)
            for k in range(1, 11):
                fk = k * f0 * math.sqrt(1 + 1.5e-4 * k * k)  # stiff-string inharmonicity
                if fk > 0.45 * self.sr:
                    break
                amp = k ** (-1.4 / bright)
                y += np.float32(amp) * np.exp(-t / np.float32(tau / (1 + 0.6 * (k - 1)))) * _sin_cycles(fk * t)
            y *= np.minimum(np.float32(1.0), t / np.float32(0.002))
            r = min(n, int(0.05 * self.sr))
            y[-r:] *= np.linspace(1, 0, r, dtype=np.float32)  # damper
            self._cache[key] = y
        return self._cache[key]

    def rhodes(self, midi: int, n: int) -> np.ndarray:
        key = ("rhodes", midi, n)
        if key not in self._cache:
            tr = self.timbre("rhodes")
            rate, depth, bell = tr.uniform(3.5, 6.0), tr.uniform(0.1, 0.35), tr.uniform(0.1, 0.4)
            f = _hz(midi)
            t = self.t(n)
            y = _sin_cycles(f * t) * np.exp(-t / 1.5) + 0.25 * _sin_cycles(2 * f * t) * np.exp(-t / 0.6)
            if 7.1 * f < 0.45 * self.sr:
                y += np.float32(bell) * _sin_cycles(7.1 * f * t) * np.exp(-t / 0.05)
            y *= 1 - depth * (0.5 + 0.5 * _sin_cycles(rate * t))
            y *= self.adsr(n, 0.003, 10.0, 1.0, 0.08)
            self._cache[key] = y.astype(np.float32)
        return self._cache[key]

    def pluck(self, midi: float, n: int, bright: float = 0.7, decay_s: float = 1.5) -> np.ndarray:
        """Karplus-Strong plucked string, computed one period at a time (vectorised per period)."""
        variant = int(self.rng.integers(3))
        key = ("ks", midi, n, bright, decay_s, variant)
        if key not in self._cache:
            f0 = _hz(midi)
            period = max(2, int(round(self.sr / f0 - 0.5)))
            ex = _rng(variant, int(midi * 10), 77).uniform(-1, 1, period).astype(np.float32)
            ex = bright * ex + (1 - bright) * _box(ex, 4)
            ex -= ex.mean()
            g = np.float32(0.5 * math.exp(-period / (self.sr * decay_s)))
            y = np.zeros(n + period + 1, np.float32)
            y[1 : period + 1] = ex
            pos = period + 1
            end_all = n + 1
            while pos < end_all:
                end = min(pos + period, end_all)
                y[pos:end] = g * (y[pos - period : end - period] + y[pos - period - 1 : end - period - 1])
                pos = end
            out = y[1 : n + 1].copy()
            r = min(n, int(0.02 * self.sr))
            out[-r:] *= np.linspace(1, 0, r, dtype=np.float32)
            self._cache[key] = out
        return self._cache[key]

    def power_chord(self, root: int, n: int, muted: bool, drive: float) -> np.ndarray:
        key = ("power", root, n, muted, drive)
        if key not in self._cache:
            x = np.zeros(n, np.float32)
            for interval in (0, 7, 12):
                for v, cents in enumerate((-7.0, 7.0)):
                    x += self.osc("saw", _hz(root + interval) * 2 ** (cents / 1200), n, phase=0.21 * v + 0.1 * interval)
            y = np.tanh(np.float32(drive / 6.0) * x) / np.float32(math.tanh(drive))
            env = self.adsr(n, 0.002, 0.07, 0.0, 0.01) if muted else self.adsr(n, 0.002, 0.5, 0.55, 0.03)
            self._cache[key] = (y * env).astype(np.float32)
        return self._cache[key]

    # --- drums ----------------------------------------------------------------------------------
    def _noise(self, n: int, r: np.random.Generator) -> np.ndarray:
        return _white(r, n)

    def _kit(self, kit: str) -> dict[str, np.ndarray]:
        r = self.timbre("kit:" + kit)
        sr = self.sr

        def kick(f_hi, f_lo, sweep, decay, click):
            n = int(sr * min(5 * decay, 1.2))
            t = self.t(n)
            f = f_lo + (f_hi - f_lo) * np.exp(-t / sweep)
            ph = np.cumsum(f.astype(np.float64)) / sr
            y = _sin_cycles(ph) * np.exp(-t / decay)
            y += click * self._noise(n, r) * np.exp(-t / 0.003)
            return y * np.minimum(1.0, t / 0.001)

        def snare(tone_hz, noise_decay, tone_mix, bright):
            n = int(sr * 5 * noise_decay)
            t = self.t(n)
            noise = self._noise(n, r)
            noise = _lowpass(noise, bright, sr, 1)
            noise = _highpass(noise, 900, sr)
            y = noise * np.exp(-t / noise_decay) * 1.6 + tone_mix * _sin_cycles(tone_hz * t) * np.exp(-t / 0.05)
            return y

        def clap():
            n = int(sr * 0.35)
            t = self.t(n)
            noise = _highpass(_lowpass(self._noise(n, r), 3000, sr, 1), 700, sr)
            env = np.exp(-t / 0.08)
            for k in range(3):
                t0 = 0.011 * k
                env += np.where(t >= t0, np.exp(-(t - t0) / 0.006), 0.0).astype(np.float32) * 1.5
            return noise * env * 0.9

        def hat(decay, cutoff=7000):
            n = int(sr * min(6 * decay, 1.5))
            t = self.t(n)
            y = _highpass(self._noise(n, r), cutoff, sr)
            return y * np.exp(-t / decay) * 1.4

        def metal(decay, base):
            n = int(sr * min(5 * decay, 2.0))
            t = self.t(n)
            y = np.zeros(n, np.float32)
            for ratio in (1.0, 1.48, 1.91, 2.53, 3.17, 4.11):
                y += self.osc("square", base * ratio, n, phase=ratio % 1)
            y = _highpass(y, 3000, sr) / 6 + 0.3 * _highpass(self._noise(n, r), 6000, sr)
            return y * np.exp(-t / decay)

        def membrane(f0, decay, partials, bend, noise_amt):
            n = int(sr * min(5 * decay, 1.5))
            t = self.t(n)
            f = f0 * (1.0 + bend * (1 - np.exp(-t / 0.08)))
            ph = np.cumsum(f.astype(np.float64)) / sr
            y = np.zeros(n, np.float32)
            for k, amp in enumerate(partials, start=1):
                y += np.float32(amp) * _sin_cycles(k * ph) * np.exp(-t * k**0.5 / decay)
            y += noise_amt * self._noise(n, r) * np.exp(-t / 0.004)
            return y * np.minimum(1.0, t / 0.0015)

        u = r.uniform
        if kit == "tabla":
            na_f = u(330, 520)
            ring = (1.0, 0.6, 0.45, 0.25, 0.15)
            ge = membrane(u(80, 110), u(0.3, 0.5), (1.0, 0.2), u(0.1, 0.25), 0.2)
            na = membrane(na_f, u(0.2, 0.35), ring, -0.02, 0.4)
            return {
                "ge": ge,
                "na": na,
                "dha": ge[: len(na)] * 0.8 + na if len(ge) >= len(na) else na,
                "tin": membrane(na_f * 0.89, u(0.1, 0.18), ring, -0.01, 0.3),
                "ti": membrane(na_f * 1.05, 0.04, ring, 0.0, 0.5),
                "ka": _lowpass(self._noise(int(0.08 * sr), r), 1500, sr) * np.exp(-self.t(int(0.08 * sr)) / 0.02) * 2,
            }
        if kit == "frame":
            dum = membrane(u(65, 95), u(0.2, 0.35), (1.0, 0.3, 0.1), -0.05, 0.3)
            tek = membrane(u(900, 1600), 0.04, (1.0, 0.5), 0.0, 1.2)
            return {"dum": dum, "tek": tek, "ka": tek * 0.5}
        presets = {
            # kick(f_hi, f_lo, sweep, decay, click), snare(tone, noise_decay, tone_mix, brightness)
            "machine": (kick(u(130, 180), u(42, 52), u(0.02, 0.05), u(0.25, 0.45), 0.1), None),
            "trap": (kick(u(100, 140), u(40, 50), u(0.03, 0.06), u(0.4, 0.7), 0.1), None),
            "acoustic": (kick(u(90, 130), u(55, 70), u(0.01, 0.03), u(0.12, 0.22), u(0.3, 0.6)),
                         snare(u(170, 230), u(0.1, 0.18), 0.6, u(7000, 12000))),
            "pop": (kick(u(100, 150), u(48, 60), u(0.02, 0.04), u(0.15, 0.28), 0.2),
                    snare(u(180, 240), u(0.08, 0.14), 0.5, u(6000, 10000))),
            "break": (kick(u(90, 130), u(50, 65), u(0.015, 0.03), u(0.12, 0.2), 0.4),
                      snare(u(180, 230), u(0.08, 0.14), 0.5, u(4000, 8000))),
            "dusty": (kick(u(80, 120), u(45, 58), u(0.02, 0.04), u(0.2, 0.35), 0.1),
                      snare(u(160, 210), u(0.12, 0.2), 0.8, u(3000, 6000))),
            "brush": (kick(u(80, 110), u(50, 60), 0.02, 0.15, 0.05), snare(200, u(0.15, 0.3), 0.1, 5000)),
            "stomp": (kick(u(70, 100), u(45, 55), 0.03, u(0.15, 0.25), 0.5), None),
        }
        k, s = presets.get(kit, presets["pop"])
        kit_d = {"kick": k, "snare": s if s is not None else snare(200, 0.12, 0.5, 8000), "clap": clap()}
        kit_d["hat"] = hat(u(0.02, 0.05), 6000 if kit in ("dusty", "break") else 8000)
        kit_d["ohat"] = hat(u(0.15, 0.3))
        shaker = hat(0.05, 5000)
        kit_d["shaker"] = _lowpass(shaker, 9000, sr) * np.minimum(1.0, self.t(len(shaker)) / 0.015)
        kit_d["crash"] = hat(u(0.8, 1.5), 4000) * 0.8
        kit_d["ride"] = metal(u(0.4, 0.8), u(380, 520)) * 0.8
        if kit == "brush":
            kit_d["snare"] = _lowpass(kit_d["snare"], 5000, sr) * 0.6
        return kit_d

    def render_drums(self, name: str) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        if name == "none":
            return None, None
        if name == "irregular":
            return self._irregular_drums(), None
        pattern = DRUM_PATTERNS[name]
        kit = self._kit(_KIT_OF_PATTERN[name])
        drums = np.zeros(self.n, np.float32)
        cym = np.zeros(self.n, np.float32)
        fill_voice, fill_p = _FILLS.get(name, (None, 0.0))
        machine = name in ("four_on_floor", "trap")
        dropped = set()
        for phrase in range(self.step_lo // 64, self.step_hi // 64 + 1):
            if self.rng.random() < self.style.dropout_prob:
                dropped.add(phrase)
        for step in self.steps():
            in_bar = step % 16
            hits: list[tuple[str, float]] = []
            for voice, patt in pattern.items():
                ch = patt[step % len(patt)]
                if ch != ".":
                    hits.append((voice, _VELOCITY[ch]))
            if fill_voice and not hits and self.rng.random() < fill_p:
                hits.append((fill_voice, 0.4))
            if name == "trap" and in_bar % 4 == 2 and self.rng.random() < 0.12:  # hi-hat roll
                for k in range(1, 4):
                    _add_at(cym, kit["hat"], self.at(step + k / 3.0, False), 0.5)
            for voice, vel in hits:
                if voice in ("kick", "snare", "clap", "dum") and (step // 64) in dropped:
                    continue
                if not machine and self.rng.random() < 0.03:  # a missed ghost note now and then
                    continue
                vel = vel * (1.0 if machine else float(self.rng.uniform(0.85, 1.1)))
                if voice == "kick":
                    self.kick_steps.append(step)
                target = cym if voice in _CYMBALS else drums
                _add_at(target, kit[voice], self.at(step, not machine), vel)
        return drums, cym

    def _irregular_drums(self) -> np.ndarray:
        """Experimental: hits at Poisson times, random voices and levels, ratchet bursts."""
        buf = np.zeros(self.n, np.float32)
        kit = self._kit("break")
        kit["metal"] = _lowpass(kit["ride"], 8000, self.sr)
        voices = ["kick", "snare", "hat", "metal", "clap"]
        rate = float(self.rng.uniform(1.5, 5.0))
        t = float(self.rng.exponential(1 / rate))
        dur = self.n / self.sr
        while t < dur:
            v = voices[int(self.rng.integers(len(voices)))]
            gain = float(self.rng.uniform(0.2, 1.0))
            if self.rng.random() < 0.12:
                gap = float(self.rng.uniform(0.025, 0.09))
                for k in range(int(self.rng.integers(4, 12))):
                    _add_at(buf, kit[v], int((t + k * gap) * self.sr), gain * 0.8**k)
            else:
                _add_at(buf, kit[v], int(t * self.sr), gain)
            t += float(self.rng.exponential(1 / rate))
        return buf

    # --- bass -----------------------------------------------------------------------------------
    def render_bass(self, name: str) -> Optional[np.ndarray]:
        if name == "none":
            return None
        buf = np.zeros(self.n, np.float32)
        sr = self.sr
        if name == "rumble":
            noise = _white(self.rng, self.n)
            y = _lowpass(noise, 70, sr, 3) * 8
            slow = _lowpass(_white(self.rng, self.n), 0.5, sr, 1)
            y *= np.abs(slow) / (np.abs(slow).max() + 1e-9)
            f = float(self.rng.uniform(35, 60))
            y += 0.5 * _sin_cycles(f * self.t(self.n)) * (0.5 + 0.5 * _sin_cycles(0.07 * self.t(self.n)))
            return y.astype(np.float32)
        if name == "808":
            kicks = sorted(set(self.kick_steps)) or [s for s in self.steps() if s % 8 == 0]
            for i, st in enumerate(kicks):
                nxt = kicks[i + 1] if i + 1 < len(kicks) else st + 16
                n = self.samples(min(nxt - st, 12))
                midi = self.bass_root(st, lo=28)
                if midi > 40:
                    midi -= 12
                key = ("808", midi, n)
                if key not in self._cache:
                    t = self.t(n)
                    f = _hz(midi) * (1 + 0.6 * np.exp(-t / 0.03))
                    y = np.tanh(1.8 * _sin_cycles(np.cumsum(f.astype(np.float64)) / sr)) / np.tanh(1.8)
                    self._cache[key] = (y * self.adsr(n, 0.002, 0.6, 0.3, 0.03)).astype(np.float32)
                _add_at(buf, self._cache[key], self.at(st, False))
            return buf
        tr = self.timbre("bass:" + name)
        if name == "sub_offbeat":
            for st in self.steps():
                if st % 4 == 2:
                    note = self.synth_note("sine", self.bass_root(st), self.samples(1.7), decay=0.15, sustain=0.6)
                    _add_at(buf, note, self.at(st, False))
            return buf
        if name == "saw_bass":
            mask = tr.random(16) < 0.75
            mask[0] = True
            for st in self.steps():
                if mask[st % 16]:
                    note = self.synth_note("saw", self.bass_root(st), self.samples(0.9), decay=0.08, sustain=0.3)
                    _add_at(buf, note, self.at(st, False))
            return _lowpass(buf, tr.uniform(500, 1200), sr)
        if name in ("root_quarters", "picked_8ths"):
            every = 4 if name == "root_quarters" else 2
            wave = "square" if tr.random() < 0.5 else "saw"
            for st in self.steps():
                if st % every == 0:
                    root = self.bass_root(st, lo=28 if name == "picked_8ths" else 33)
                    if name == "root_quarters" and st % 16 == 8 and tr.random() < 0.5:
                        root += 7
                    note = self.synth_note(wave, root, self.samples(every * 0.9), decay=0.25, sustain=0.3)
                    _add_at(buf, note, self.at(st))
            return _lowpass(buf, tr.uniform(700, 1600), sr)
        if name == "piano_lh":
            for st in self.steps():
                if st % 8 == 0:
                    root = self.bass_root(st, lo=36) + (7 if st % 16 == 8 else 0)
                    _add_at(buf, self.piano(root, self.samples(8)), self.at(st))
            return buf
        if name == "upright":
            for st in self.steps():
                if st % 8 == 0:
                    root = self.bass_root(st, lo=36) + (7 if st % 16 == 8 else 0)
                    _add_at(buf, self.pluck(root, self.samples(7), bright=0.3, decay_s=0.8), self.at(st))
            return buf
        raise ValueError(f"unknown bass {name!r}")

    # --- harmony --------------------------------------------------------------------------------
    def guitar_strings(self, step: int) -> list[int]:
        c = self.chord(step, base=40)
        r = c[0]
        while r > 51:
            r -= 12
        third, fifth = c[1] - c[0], c[2] - c[0]
        return [r, r + fifth, r + 12, r + 12 + third, r + 12 + fifth, r + 24]

    def render_harmony(self, name: str) -> Optional[np.ndarray]:
        if name == "none":
            return None
        buf = np.zeros(self.n, np.float32)
        tr = self.timbre("harmony:" + name)
        sr = self.sr
        if name in ("strum", "oud"):
            patterns = ["D.......D.......", "D...D...D...D...", "D...D.U...U.D.U.", "D.D.D.D.D.D.D.D.", "D..UD.U.D..UD.U."]
            if name == "oud":
                patterns = ["D..D..D.D...D...", "D.DDD.D.D.DDD.D.", "D..D..D.D..D.D.."]
            patt = patterns[int(tr.integers(len(patterns)))]
            gap_ms = tr.uniform(8, 18)
            bright = tr.uniform(0.5, 0.95)
            hits = [i for i, c in enumerate(patt) if c != "."]
            for st in self.steps():
                c = patt[st % 16]
                if c == ".":
                    continue
                pos = hits.index(st % 16)
                nxt = hits[(pos + 1) % len(hits)] + (16 if pos + 1 == len(hits) else 0)
                ring = self.samples(nxt - st % 16 + 1)
                strings = self.guitar_strings(st)
                if name == "oud":  # root-fifth dyads an octave up
                    strings = [strings[0] + 12, strings[1] + 12]
                order = strings if c == "D" else strings[:1:-1]
                vel = 1.0 if c == "D" else 0.6
                start = self.at(st)
                for k, m in enumerate(order):
                    _add_at(buf, self.pluck(m, ring, bright=bright, decay_s=2.0), start + int(k * gap_ms * sr / 1000), vel)
            return buf
        if name == "fingerpick":
            treble = [(2, 3), (6, 4), (10, 5), (14, 3)]
            if tr.random() < 0.5:
                treble += [(3, 4), (11, 5)]
            bright = tr.uniform(0.4, 0.8)
            for st in self.steps():
                strings = self.guitar_strings(st)
                i = st % 16
                if i % 4 == 0:
                    s = strings[0] if i % 8 == 0 else strings[1]
                    _add_at(buf, self.pluck(s, self.samples(6), bright=bright), self.at(st), 0.9)
                for pos, string in treble:
                    if i == pos:
                        _add_at(buf, self.pluck(strings[string], self.samples(6), bright=bright), self.at(st), 0.7)
            return buf
        if name == "power":
            patterns = ["X.x.x.x.X.x.x.x.", "x.x.x.x.x.x.x.x.", "X.......X.......", "X.x.x.X.x.x.X.x."]
            patt = patterns[int(tr.integers(len(patterns)))]
            drive = tr.uniform(4.0, 12.0)
            hits = [i for i, c in enumerate(patt) if c != "."]
            for st in self.steps():
                c = patt[st % 16]
                if c == ".":
                    continue
                pos = hits.index(st % 16)
                nxt = hits[(pos + 1) % len(hits)] + (16 if pos + 1 == len(hits) else 0)
                root = self.chord(st, base=40)[0]
                while root > 52:
                    root -= 12
                note = self.power_chord(root, self.samples(nxt - st % 16), muted=(c == "x"), drive=drive)
                _add_at(buf, note, self.at(st), 1.0 if c == "X" else 0.8)
            return _lowpass(buf, tr.uniform(2500, 5000), sr)  # the guitar cabinet
        if name in ("saw_pad", "string_pad"):
            attack = tr.uniform(0.05, 0.4) if name == "saw_pad" else tr.uniform(0.4, 0.9)
            cutoff = tr.uniform(1500, 5000) if name == "saw_pad" else tr.uniform(1200, 3000)
            size = 4 if tr.random() < 0.4 else 3
            span = 16 * self.p.bars_per_chord
            for st in self.steps():
                if st % span == 0:
                    n = self.samples(span + 2)
                    for m in self.chord(st, base=52 if name == "string_pad" else 48, size=size):
                        note = self.synth_note("saw", m, n, voices=3, detune=12.0, attack=attack, decay=1.0,
                                               sustain=0.8, release=0.3)
                        _add_at(buf, note, self.at(st, False))
            return _lowpass(buf, cutoff, sr)
        if name == "square_stab":
            patterns = ["..x...x...x...x.", "x..x..x...x..x..", "...x..x....x..x.", "x.x...x.x...x..."]
            patt = patterns[int(tr.integers(len(patterns)))]
            length = tr.uniform(0.6, 2.0)
            wave = "square" if tr.random() < 0.6 else "saw"
            for st in self.steps():
                if patt[st % 16] != ".":
                    for m in self.chord(st, base=55, size=3):
                        note = self.synth_note(wave, m, self.samples(length), voices=2, detune=8.0, decay=0.15, sustain=0.2)
                        _add_at(buf, note, self.at(st, False))
            return _lowpass(buf, tr.uniform(2000, 6000), sr)
        if name in ("piano_chords", "rhodes"):
            patterns = ["x.......x.......", "x..........x....", "x...x...x...x...", "x.....x...x....."]
            if name == "rhodes":
                patterns = ["x.....x...x.....x.......x.......", "x.......x..x....", "x..........x....x..............."]
            patt = patterns[int(tr.integers(len(patterns)))]
            hits = [i for i, c in enumerate(patt) if c != "."]
            size = 4 if (name == "rhodes" or tr.random() < 0.3) else 3
            for st in self.steps():
                i = st % len(patt)
                if patt[i] == ".":
                    continue
                pos = hits.index(i)
                nxt = hits[(pos + 1) % len(hits)] + (len(patt) if pos + 1 == len(hits) else 0)
                n = self.samples(nxt - i + 1)
                start = self.at(st)
                for k, m in enumerate(self.chord(st, base=52, size=size)):
                    note = self.rhodes(m, n) if name == "rhodes" else self.piano(m, n)
                    _add_at(buf, note, start + int(k * 0.004 * sr), 0.8)
            return buf
        if name == "piano_arpeggio":
            shapes = [(0, 1, 2, 3, 4, 3, 2, 1), (0, 2, 1, 3, 0, 2, 1, 3), (0, 1, 2, 3, 4, 5, 4, 3)]
            shape = shapes[int(tr.integers(len(shapes)))]
            every = 2 if tr.random() < 0.7 else 1
            for st in self.steps():
                if st % every:
                    continue
                c = self.chord(st, base=48, size=3)
                tones = c + [m + 12 for m in c]
                m = tones[shape[(st // every) % len(shape)]]
                _add_at(buf, self.piano(m, self.samples(8)), self.at(st), 0.7)
            return buf
        if name == "cluster":
            t = float(self.rng.uniform(0, 1.5))
            dur = self.n / sr
            while t < dur:
                ev = float(self.rng.uniform(0.8, 4.0))
                n = int(ev * sr)
                base = int(self.rng.integers(40, 84))
                k = int(self.rng.integers(3, 7))
                pitches = base + np.sort(self.rng.choice(8, size=k, replace=False))
                wave = ["sine", "tri", "saw"][int(self.rng.integers(3))]
                att = ev * float(self.rng.uniform(0.05, 0.6))
                ev_buf = np.zeros(n, np.float32)
                for m in pitches:
                    ev_buf += self.osc(wave, _hz(float(m) + self.rng.normal(0, 0.15)), n, phase=float(self.rng.random()))
                ev_buf *= self.adsr(n, att, 10.0, 1.0, ev * 0.3) / k
                _add_at(buf, ev_buf, int(t * sr), float(self.rng.uniform(0.3, 1.0)))
                t += ev * float(self.rng.uniform(0.4, 1.2))
            return _lowpass(buf, float(self.rng.uniform(2000, 8000)), sr)
        raise ValueError(f"unknown harmony {name!r}")

    # --- melody ---------------------------------------------------------------------------------
    def melody(self, lo: int, hi: int, durations: tuple[int, ...], probs: tuple[float, ...], rest: float,
               phrase_bars: int = 2, vary: float = 0.25, grace: float = 0.0, tr: Optional[np.random.Generator] = None
               ) -> list[tuple[float, float, float]]:
        """(start_step, length_steps, midi) notes: a phrase repeated with variations, on the song's grid."""
        rng = tr or self.rng
        pitches = self.scale_notes(lo, hi)
        length = phrase_bars * 16
        phrase = []
        pos = 0
        idx = len(pitches) // 2 + int(rng.integers(-2, 3))
        p = np.array(probs) / sum(probs)
        while pos < length - 1:
            d = int(durations[int(rng.choice(len(durations), p=p))])
            d = min(d, length - pos)
            if rng.random() < rest:
                pos += d
                continue
            move = int(rng.choice([-2, -1, 0, 1, 2], p=[0.15, 0.3, 0.1, 0.3, 0.15]))
            if rng.random() < 0.12:
                move = int(rng.choice([-5, -4, -3, 3, 4, 5]))
            idx = int(np.clip(idx + move, 0, len(pitches) - 1))
            phrase.append((pos, d, idx))
            pos += d
        notes: list[tuple[float, float, float]] = []
        for ph in range(max(self.step_lo, 0) // length, self.step_hi // length + 1):
            for pos, d, idx in phrase:
                i = idx
                if vary and self.rng.random() < vary:
                    i = int(np.clip(idx + self.rng.choice([-1, 1]), 0, len(pitches) - 1))
                start = ph * length + pos
                if grace and self.rng.random() < grace and d >= 2:  # ornament: a quick upper/lower neighbour
                    g = int(np.clip(i + self.rng.choice([-1, 1]), 0, len(pitches) - 1))
                    notes.append((start, 0.35, float(pitches[g])))
                    notes.append((start + 0.35, d - 0.35, float(pitches[i])))
                else:
                    notes.append((start, d, float(pitches[i])))
        return notes

    def contour_voice(self, notes: list[tuple[float, float, float]], kind: str) -> np.ndarray:
        """A continuous voice (sung/bowed/blown): gliding pitch, vibrato, shaped harmonics."""
        tr = self.timbre("voice:" + kind)
        sr, n = self.sr, self.n
        logf = np.zeros(n, np.float64)
        amp = np.zeros(n, np.float32)
        have = np.zeros(n, bool)
        for start, d, midi in notes:
            i0 = self.at(start)
            i1 = i0 + self.samples(d * 0.92)
            a, b = max(i0, 0), min(i1, n)
            if a >= b:
                continue
            logf[a:b] = math.log(_hz(midi))
            have[a:b] = True
            amp[a:b] = float(self.rng.uniform(0.75, 1.0))
        if not have.any():
            return np.zeros(n, np.float32)
        idx = np.where(have, np.arange(n), 0)
        np.maximum.accumulate(idx, out=idx)
        first = int(np.argmax(have))
        idx[:first] = first
        logf = logf[idx]  # hold the last pitch through rests, so the next note glides from it
        glide = {"vocal": 0.05, "reed": 0.09, "fiddle": 0.02, "strings": 0.08, "guitar_lead": 0.03}[kind]
        glide *= tr.uniform(0.6, 1.4)
        logf = _box(logf, int(glide * sr)).astype(np.float64)
        t = self.t(n)
        vib_hz = tr.uniform(4.8, 6.2)
        vib_cents = {"vocal": 25, "reed": 35, "fiddle": 15, "strings": 12, "guitar_lead": 20}[kind] * tr.uniform(0.6, 1.5)
        logf += (vib_cents / 1200 * math.log(2)) * _sin_cycles(vib_hz * t).astype(np.float64)
        f = np.exp(logf)
        phase = np.cumsum(f) / sr
        attack = {"vocal": 0.04, "reed": 0.05, "fiddle": 0.02, "strings": 0.15, "guitar_lead": 0.01}[kind]
        amp = _box(amp, max(2, int(attack * sr)))
        f0 = float(np.exp(np.median(logf[have])))
        K = 12
        ks = np.arange(1, K + 1)
        if kind == "vocal":  # a vowel: two formants on a 1/k slope
            f1, f2 = tr.uniform(450, 800), tr.uniform(1000, 2200)
            w = ks**-0.8 * (1 + 4 * np.exp(-(((ks * f0) - f1) / 200) ** 2) + 3 * np.exp(-(((ks * f0) - f2) / 300) ** 2))
        elif kind == "reed":  # odd harmonics dominate (clarinet / ney-like)
            w = np.where(ks % 2 == 1, 1.0, 0.25) * ks**-0.9
        elif kind == "strings":
            w = ks**-1.4
        else:  # fiddle, guitar lead: saw-like
            w = ks**-1.0
        w = w / w.sum()
        y = np.zeros(n, np.float32)
        for k, wk in zip(ks, w):
            if k * f0 > 0.4 * sr:
                break
            y += np.float32(wk) * _sin_cycles(k * phase)
        if kind == "guitar_lead":
            drive = tr.uniform(4, 10)
            y = np.tanh(drive * 4 * y) / math.tanh(drive)
            y = _lowpass(y, tr.uniform(2500, 5000), sr)
        breath = {"vocal": 0.03, "reed": 0.09, "fiddle": 0.04, "strings": 0.02, "guitar_lead": 0.0}[kind]
        if breath:
            y += np.float32(breath) * _highpass(_white(self.rng, n), 1500, sr)
        return (y * amp).astype(np.float32)

    def render_lead(self, name: str) -> Optional[np.ndarray]:
        if name == "none":
            return None
        lo, hi = self.style.lead_register
        tr = self.timbre("lead:" + name)
        buf = np.zeros(self.n, np.float32)
        sr = self.sr
        if name in ("saw_arp", "square_arp"):
            shapes = [(0, 1, 2, 3), (0, 1, 2, 3, 4, 5), (0, 2, 1, 3, 2, 4), (0, 3, 1, 4, 2, 5, 3, 1)]
            shape = shapes[int(tr.integers(len(shapes)))]
            mask = tr.random(16) < tr.uniform(0.55, 1.0)
            mask[0] = True
            gate = tr.uniform(0.5, 1.2)
            wave = "saw" if name == "saw_arp" else "square"
            base = max(lo, 60)
            for st in self.steps():
                if not mask[st % 16]:
                    continue
                c = self.chord(st, base=base, size=3)
                tones = c + [m + 12 for m in c]
                m = tones[shape[st % len(shape)] % len(tones)]
                _add_at(buf, self.synth_note(wave, m, self.samples(gate), decay=0.1, sustain=0.2), self.at(st, False))
            return _lowpass(buf, tr.uniform(2500, 8000), sr)
        if name == "bell":  # a 2-bar loop repeated exactly
            notes = self.melody(lo, hi, (2, 4, 6), (0.4, 0.4, 0.2), rest=0.35, vary=0.0, tr=tr)
            for start, d, m in notes:
                _add_at(buf, self.rhodes(int(m), self.samples(max(d, 4))), self.at(start, False))
            return buf
        if name == "piano_melody":
            for start, d, m in self.melody(lo, hi, (2, 4, 8), (0.4, 0.4, 0.2), rest=0.1):
                _add_at(buf, self.piano(int(m), self.samples(d + 2), bright=1.2), self.at(start))
            return buf
        if name == "pluck_melody":
            for start, d, m in self.melody(lo, hi, (2, 4), (0.6, 0.4), rest=0.1, grace=0.1):
                _add_at(buf, self.pluck(m, self.samples(d + 1), bright=0.8, decay_s=1.0), self.at(start))
            return buf
        if name == "gliss":
            t = float(self.rng.uniform(0, 1.0))
            dur = self.n / sr
            while t < dur:
                ev = float(self.rng.uniform(0.3, 3.5))
                n = int(ev * sr)
                f1, f2 = np.exp(self.rng.uniform(math.log(80), math.log(4000), 2))
                f = np.exp(np.linspace(math.log(f1), math.log(f2), n))
                ph = np.cumsum(f) / sr
                ratio = float(self.rng.choice([0.5, 1.41, 2.76, 3.5]))
                index = float(self.rng.uniform(0, 4))
                y = np.sin(_TWO_PI * _frac(ph) + np.float32(index) * _sin_cycles(ratio * ph))
                if self.rng.random() < 0.5:
                    env = self.adsr(n, 0.005, ev * 0.3, 0.0, 0.05)
                else:
                    env = np.sin(np.linspace(0, np.pi, n, dtype=np.float32)) ** 2
                _add_at(buf, (y * env).astype(np.float32), int(t * sr), float(self.rng.uniform(0.3, 1.0)))
                t += ev * float(self.rng.uniform(0.3, 1.3)) + float(self.rng.exponential(0.5))
            return buf
        settings = {  # durations in 16ths, their probabilities, rest chance, ornament chance
            "vocal": ((2, 4, 6, 8), (0.35, 0.35, 0.1, 0.2), 0.2, 0.05),
            "fiddle": ((1, 2, 4), (0.3, 0.5, 0.2), 0.05, 0.1),
            "reed": ((2, 4, 8, 12), (0.3, 0.35, 0.2, 0.15), 0.12, 0.4),
            "strings": ((8, 16), (0.6, 0.4), 0.1, 0.0),
            "guitar_lead": ((2, 4, 8), (0.4, 0.4, 0.2), 0.15, 0.25),
        }
        if name not in settings:
            raise ValueError(f"unknown lead {name!r}")
        durs, probs, rest, grace = settings[name]
        notes = self.melody(lo, hi, durs, probs, rest=rest, grace=grace, phrase_bars=2 if name != "strings" else 4)
        return self.contour_voice(notes, name)

    # --- drone and texture ----------------------------------------------------------------------
    def render_drone(self) -> np.ndarray:
        sr, n = self.sr, self.n
        buf = np.zeros(n, np.float32)
        tr = self.timbre("drone")
        if self.p.genre == "Experimental":  # dark: detuned low saws, slowly breathing, low-passed
            t = self.t(n)
            base = _hz(36 + self.p.key + float(tr.uniform(-0.5, 0.5)))
            for ratio, cents in ((1.0, -9), (1.0, 11), (1.5, 4), (2.01, 0)):
                buf += self.osc("saw", base * ratio * 2 ** (cents / 1200), n, phase=float(tr.random()))
            buf *= 0.6 + 0.4 * _sin_cycles(float(tr.uniform(0.03, 0.2)) * t)
            return _lowpass(buf, float(tr.uniform(300, 1200)), sr)
        # tanpura: Pa Sa' Sa' Sa plucked in a slow cycle, long buzzing decays
        root = 48 + self.p.key
        if root > 55:
            root -= 12
        cycle = float(tr.uniform(2.5, 4.5))
        notes = (root + 7, root + 12, root + 12, root)
        ring = int(4.0 * sr)
        tt = self.t(ring)
        for i, m in enumerate(notes):
            key = ("tanpura", m)
            if key not in self._cache:
                f0 = _hz(m)
                y = np.zeros(ring, np.float32)
                for k in range(1, 15):
                    if k * f0 > 0.4 * sr:
                        break
                    swell = 1 - np.exp(-tt * k / 0.4)  # "jawari": upper partials bloom after the pluck
                    y += np.float32(k**-0.7) * swell * np.exp(-tt / (3.0 / (1 + 0.08 * k))) * _sin_cycles(k * f0 * tt)
                y *= np.minimum(1.0, tt / 0.005)
                y[-2000:] *= np.linspace(1, 0, 2000, dtype=np.float32)
                self._cache[key] = y
            start = -int(8 * sr) + int(i * cycle / 4 * sr)
            while start < n:
                _add_at(buf, self._cache[key], start)
                start += int(cycle * sr)
        return buf

    def render_texture(self, name: str) -> Optional[np.ndarray]:
        sr, n = self.sr, self.n
        if name == "none":
            return None
        if name == "vinyl":
            buf = np.zeros(n, np.float32)
            count = int(self.rng.uniform(5, 25) * n / sr)
            pos = self.rng.integers(0, n, count)
            amps = self.rng.pareto(2.5, count).astype(np.float32) + 0.2
            tick = (np.exp(-np.arange(24, dtype=np.float32) / 4) * self.rng.standard_normal(24).astype(np.float32))
            for p, a in zip(pos, amps):
                _add_at(buf, tick, int(p), float(a))
            buf += 0.05 * _lowpass(_white(self.rng, n), 3000, sr)
            return buf
        if name == "room":
            y = _lowpass(_white(self.rng, n), float(self.rng.uniform(600, 2500)), sr, 2)
            slow = 0.7 + 0.3 * _sin_cycles(float(self.rng.uniform(0.05, 0.3)) * self.t(n))
            return (y * slow).astype(np.float32)
        if name == "noise_bursts":
            buf = np.zeros(n, np.float32)
            t = float(self.rng.uniform(0, 0.5))
            rate = float(self.rng.uniform(0.5, 2.5))
            while t < n / sr:
                m = int(float(self.rng.uniform(0.02, 1.0)) * sr)
                x = _white(self.rng, m)
                if self.rng.random() < 0.5:
                    x = _lowpass(x, float(np.exp(self.rng.uniform(math.log(200), math.log(12000)))), sr)
                else:
                    x = _highpass(x, float(np.exp(self.rng.uniform(math.log(500), math.log(8000)))), sr)
                env = self.adsr(m, float(self.rng.uniform(0.001, 0.3)) * m / sr, m / sr / 3, 0.0, 0.01)
                _add_at(buf, x * env, int(t * sr), float(self.rng.uniform(0.2, 1.0)))
                t += float(self.rng.exponential(1 / rate))
            return buf
        raise ValueError(f"unknown texture {name!r}")

    # --- mix ------------------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        p, sr, n = self.p, self.sr, self.n
        drums, cym = self.render_drums(p.drums)  # first: the 808 follows the kicks
        layers = {
            "drums": drums,
            "cymbals": cym,
            "bass": self.render_bass(p.bass),
            "harmony": self.render_harmony(p.harmony),
            "lead": self.render_lead(p.lead),
            "drone": self.render_drone() if p.drone else None,
            "texture": self.render_texture(p.texture),
        }
        if p.sidechain:
            beat = 4 * self.step_s
            phase = np.float32(beat) * _frac((self.t(n) + np.float32(self.offset_s)) / np.float32(beat))
            pump = 1.0 - 0.55 * np.exp(-phase / 0.09)
            for k in ("bass", "harmony", "lead", "drone"):
                if layers[k] is not None:
                    layers[k] = layers[k] * pump
        levels = dict(p.levels_db)
        pans = dict(p.pans)
        left = np.zeros(n, np.float32)
        right = np.zeros(n, np.float32)
        for name, x in layers.items():
            if x is None:
                continue
            rms = _active_rms(x)
            if rms <= 1e-9:
                continue
            gain = 10 ** (levels[name] / 20) / rms
            theta = (pans[name] + 1) * math.pi / 4
            gl, gr = math.cos(theta) * math.sqrt(2) * gain, math.sin(theta) * math.sqrt(2) * gain
            left += np.float32(gl) * x
            if name in ("harmony", "drone"):  # Haas widening
                d = int(0.012 * sr)
                right[d:] += np.float32(gr) * x[:-d]
            else:
                right += np.float32(gr) * x
        if p.reverb > 0:
            send = _lowpass(0.5 * (left + right), 5000, sr, 1)
            rt = float(self.rng.uniform(0.5, 1.6))
            for ch in (left, right):
                delays = np.sort(self.rng.uniform(0.012, rt * 0.6, 10))
                for d in delays:
                    k = int(d * sr)
                    ch[k:] += np.float32(p.reverb * math.exp(-6.9 * d / rt) / math.sqrt(3)) * send[:-k]
        if p.brightness_hz < 15000:
            left = _lowpass(left, p.brightness_hz, sr, 1)
            right = _lowpass(right, p.brightness_hz, sr, 1)
        if self.style.gap_prob and self.rng.random() < self.style.gap_prob:
            gate = np.ones(n, np.float32)
            for _ in range(int(self.rng.integers(1, 4))):
                g0 = int(self.rng.uniform(0, n / sr) * sr)
                g1 = min(n, g0 + int(self.rng.uniform(0.2, 1.5) * sr))
                gate[g0:g1] = 0.0
            gate = _box(gate, int(0.01 * sr))
            left *= gate
            right *= gate
        music_rms = math.sqrt(float(np.mean(np.square(left, dtype=np.float64) + np.square(right, dtype=np.float64)) / 2))
        music_rms = max(music_rms, 1e-6)
        # A noise floor on every track (tape/amp/room), its colour random: no genre is perfectly clean.
        noise = _white(self.rng, (2, n))
        color = float(self.rng.uniform(0, 1))
        noise = color * noise + (1 - color) * np.stack([_lowpass(c, 2500, sr, 1) for c in noise]) * 3
        noise *= np.float32(music_rms * 10 ** (p.noise_db / 20) / (float(np.std(noise)) + 1e-9))
        out = np.stack([left, right], axis=1) + noise.T
        rms = math.sqrt(float(np.mean(np.square(out, dtype=np.float64))))
        out *= np.float32(10 ** (p.target_rms_dbfs / 20) / max(rms, 1e-9))
        return _soft_limit(out).astype(np.float32)


def synthesize_track(genre: str, *, seed: int, artist_id: int, track_id: int, sample_rate: int,
                     clip_seconds: float) -> np.ndarray:
    """The audio of one demo track: [frames, 2] float32 in [-1, 1]. Deterministic in its arguments."""
    n = int(round(clip_seconds * sample_rate))
    plan = plan_track(genre, seed, artist_id, track_id)
    return _Synth(plan, seed, artist_id, track_id, sample_rate, n).render()


# =====================================================================================================
# The dataset: tracks, artists, splits, metadata
# =====================================================================================================

_WORDS_A = (
    "Amber", "Silver", "Hollow", "Quiet", "Neon", "Paper", "Velvet", "Iron", "Northern", "Crimson", "Glass",
    "Wild", "Lunar", "Copper", "Distant", "Golden", "Static", "Broken", "Secret", "Little", "Blue", "Salt",
)
_WORDS_B = (
    "Harbor", "Pines", "Engines", "Orchard", "Signals", "Lanterns", "Rivers", "Foxes", "Satellites", "Meadows",
    "Owls", "Machines", "Tides", "Sparrows", "Atlas", "Circuits", "Ghosts", "Willows", "Mirrors", "Kites",
)


@dataclass(frozen=True)
class DemoTrack:
    track_id: int
    genre: str
    split: str
    artist_id: int
    artist_name: str
    album_id: int
    album_title: str
    album_tracks: int
    title: str
    number: int
    duration: int  # seconds of the whole (imaginary) track, like FMA's track.duration; the clip is shorter
    listens: int
    date_created: str
    date_released: str

    @property
    def relpath(self) -> str:
        return demo_track_path(self.track_id)


def demo_track_path(track_id: int) -> str:
    """FMA's path of a track inside the dataset root: fma_small/000/000002.mp3."""
    tid = f"{track_id:06d}"
    return f"fma_small/{tid[:3]}/{tid}.mp3"


def _split_counts(n: int) -> dict[str, int]:
    """~80/10/10 with at least one track in validation and test (n >= 3)."""
    n_val = max(1, int(round(0.1 * n)))
    n_test = max(1, int(round(0.1 * n)))
    return {"training": n - n_val - n_test, "validation": n_val, "test": n_test}


def _artist_sizes(n: int, per_artist: int) -> list[int]:
    full, rest = divmod(n, per_artist)
    return [per_artist] * full + ([rest] if rest else [])


def _check_genres(genres: Sequence[str]) -> list[str]:
    genres = list(genres)
    if not genres:
        raise ValueError("no genres given")
    if len(set(genres)) != len(genres):
        raise ValueError(f"duplicate genres: {genres}")
    for g in genres:
        _style(g)
    return genres


def plan_demo_tracks(demo: DemoDataConfig, genres: Sequence[str]) -> list[DemoTrack]:
    """All tracks of the dataset, sorted by track id. Depends only on the seed, the genres and the sizes.

    Whole artists go to one split (FMA's split is artist-filtered). Validation and test get the smaller
    artists when tracks_per_genre is not a multiple of tracks_per_artist.
    """
    genres = _check_genres(genres)
    if demo.tracks_per_genre < 3:
        raise ValueError("tracks_per_genre must be >= 3 (one artist per split)")
    rng = _rng(demo.seed, 0, 0x7AC5)
    artists: list[tuple[str, str, int]] = []  # (genre, split, number of tracks)
    for genre in genres:
        for split, count in _split_counts(demo.tracks_per_genre).items():
            for size in _artist_sizes(count, demo.tracks_per_artist):
                artists.append((genre, split, size))
    order = rng.permutation(len(artists))  # FMA's ids interleave genres

    names: set[str] = set()
    tracks: list[DemoTrack] = []
    track_id, artist_id, album_id = 2, 0, 0
    base_day = np.datetime64("2008-11-26")
    for i in order:
        genre, split, size = artists[i]
        artist_id += int(rng.integers(1, 60))
        album_id += int(rng.integers(1, 40))
        name = f"{_WORDS_A[rng.integers(len(_WORDS_A))]} {_WORDS_B[rng.integers(len(_WORDS_B))]}"
        base, suffix = name, 2
        while name in names:
            name, suffix = f"{base} {suffix}", suffix + 1
        names.add(name)
        album_title = f"{_WORDS_B[rng.integers(len(_WORDS_B))]} of {_WORDS_A[rng.integers(len(_WORDS_A))]}"
        album_tracks = size + int(rng.integers(0, 10))
        numbers = np.sort(rng.choice(np.arange(1, album_tracks + 1), size=size, replace=False))
        released = base_day + int(rng.integers(0, 3000))
        for k in range(size):
            title = f"{_WORDS_A[rng.integers(len(_WORDS_A))]} {_WORDS_B[rng.integers(len(_WORDS_B))]}"
            created = released + int(rng.integers(0, 30))
            tracks.append(
                DemoTrack(
                    track_id=track_id,
                    genre=genre,
                    split=split,
                    artist_id=artist_id,
                    artist_name=name,
                    album_id=album_id,
                    album_title=album_title,
                    album_tracks=album_tracks,
                    title=title,
                    number=int(numbers[k]),
                    duration=int(max(demo.clip_seconds, rng.integers(90, 420))),
                    listens=int(rng.integers(40, 20000)),
                    date_created=f"{created} {rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}:{rng.integers(0, 60):02d}",
                    date_released=f"{released} 00:00:00",
                )
            )
            track_id += int(rng.integers(1, 4))  # an album's tracks have near-consecutive ids
        track_id += int(rng.integers(5, 400))
    tracks.sort(key=lambda t: t.track_id)
    return tracks


def _tracks_frame(tracks: Sequence[DemoTrack], bit_rates: dict[int, int]) -> pd.DataFrame:
    rows = []
    for t in tracks:
        gid = FMA_GENRE_IDS[t.genre]
        rows.append(
            {
                ("album", "date_released"): t.date_released,
                ("album", "id"): t.album_id,
                ("album", "title"): t.album_title,
                ("album", "tracks"): t.album_tracks,
                ("album", "type"): "Album",
                ("artist", "id"): t.artist_id,
                ("artist", "name"): t.artist_name,
                ("set", "split"): t.split,
                ("set", "subset"): "small",
                ("track", "bit_rate"): bit_rates[t.track_id],
                ("track", "date_created"): t.date_created,
                ("track", "duration"): t.duration,
                ("track", "genre_top"): t.genre,
                ("track", "genres"): f"[{gid}]",
                ("track", "genres_all"): f"[{gid}]",
                ("track", "license"): "Synthetic demo audio (CC0)",
                ("track", "listens"): t.listens,
                ("track", "number"): t.number,
                ("track", "title"): t.title,
            }
        )
    df = pd.DataFrame(rows, index=pd.Index([t.track_id for t in tracks], name="track_id"))
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def _genres_frame(tracks: Sequence[DemoTrack], genres: Sequence[str]) -> pd.DataFrame:
    counts = {g: sum(t.genre == g for t in tracks) for g in genres}
    df = pd.DataFrame(
        {
            "genre_id": [FMA_GENRE_IDS[g] for g in genres],
            "#tracks": [counts[g] for g in genres],
            "parent": [0] * len(genres),
            "title": list(genres),
            "top_level": [FMA_GENRE_IDS[g] for g in genres],
        }
    ).set_index("genre_id")
    return df.sort_index()


# =====================================================================================================
# Generation
# =====================================================================================================


@dataclass(frozen=True)
class DemoSummary:
    root: str
    num_tracks: int
    counts: dict[str, dict[str, int]]  # genre -> split -> tracks
    generated: bool = False  # whether this call wrote the files (False: they were up to date)

    @property
    def audio_root(self) -> str:
        return os.path.join(self.root, "fma_small")

    @property
    def metadata_dir(self) -> str:
        return os.path.join(self.root, "fma_metadata")


def _resolve_root(demo: DemoDataConfig, root: Optional[str]) -> Path:
    path = root if root is not None else demo.root
    if "://" in path:
        raise ValueError(f"the demo dataset must be written to a local path, not {path}")
    p = Path(path)
    if not p.is_absolute():
        p = PROJECT_ROOT / p  # PipelineConfig.resolve semantics
    return p


def _fingerprint(demo: DemoDataConfig, genres: Sequence[str]) -> dict:
    """What the dataset's content depends on (not the root, not the worker count)."""
    return {
        "generator_version": GENERATOR_VERSION,
        "genres": list(genres),
        "tracks_per_genre": demo.tracks_per_genre,
        "clip_seconds": float(demo.clip_seconds),
        "sample_rate": demo.sample_rate,
        "seed": demo.seed,
        "tracks_per_artist": demo.tracks_per_artist,
    }


def _counts(tracks: Sequence[DemoTrack], genres: Sequence[str]) -> dict[str, dict[str, int]]:
    counts = {g: {s: 0 for s in SPLITS} for g in genres}
    for t in tracks:
        counts[t.genre][t.split] += 1
    return counts


@dataclass(frozen=True)
class _Job:
    track_id: int
    genre: str
    artist_id: int
    path: str
    seed: int
    sample_rate: int
    clip_seconds: float


def _write_track(job: _Job) -> tuple[int, int]:
    audio = synthesize_track(job.genre, seed=job.seed, artist_id=job.artist_id, track_id=job.track_id,
                             sample_rate=job.sample_rate, clip_seconds=job.clip_seconds)
    os.makedirs(os.path.dirname(job.path), exist_ok=True)
    sf.write(job.path, audio, job.sample_rate, format="MP3")
    return job.track_id, os.path.getsize(job.path)


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork where it is safe (Linux, no TensorFlow threads in this process): quick to start, and works from
    scripts without an `if __name__ == "__main__"` guard and from notebooks. spawn otherwise: a fork would
    copy TensorFlow's thread pools mid-state (and fork is unsafe on macOS). spawn needs the guard."""
    if sys.platform.startswith("linux") and "tensorflow" not in sys.modules:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_jobs(jobs: list[_Job], workers: int, progress: bool) -> dict[int, int]:
    sizes: dict[int, int] = {}
    bar = tqdm(total=len(jobs), desc="demo dataset", unit="track", disable=not progress)
    try:
        if workers <= 1:
            for job in jobs:
                tid, size = _write_track(job)
                sizes[tid] = size
                bar.update()
        else:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context())
            try:
                futures = [pool.submit(_write_track, job) for job in jobs]
                for fut in as_completed(futures):
                    tid, size = fut.result()
                    sizes[tid] = size
                    bar.update()
            finally:  # on an error or Ctrl-C, do not wait for the tracks not started yet
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()
    return sizes


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """An exclusive lock beside root, so concurrent callers do not build the dataset twice."""
    root.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(root.parent / f".{root.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_replaceable(root: Path) -> None:
    """Only ever replace a directory that is empty or holds a (possibly older) demo dataset."""
    if root.exists():
        if not root.is_dir():
            raise RuntimeError(f"{root} exists and is not a directory")
        entries = {p.name for p in root.iterdir()}
        if entries and MARKER_FILE not in entries and not entries <= {"fma_small", "fma_metadata"}:
            raise RuntimeError(f"{root} exists and does not look like a demo dataset; refusing to replace it")


def _replace_dir(tmp: Path, root: Path) -> None:
    _check_replaceable(root)
    if root.exists():
        old = root.parent / f".{root.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(root, old)
        os.rename(tmp, root)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, root)


def generate_demo_dataset(demo: DemoDataConfig, genres: Sequence[str], root: Optional[str] = None, *,
                          progress: bool = True) -> DemoSummary:
    """Write the dataset (always), into a temporary sibling of root that then replaces root.

    root: where to write; default demo.root, relative paths against the project root.
    """
    genres = _check_genres(genres)
    out = _resolve_root(demo, root)
    tracks = plan_demo_tracks(demo, genres)
    _check_replaceable(out)  # before spending minutes on the audio
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        (tmp / "fma_metadata").mkdir(parents=True)
        jobs = [
            _Job(t.track_id, t.genre, t.artist_id, str(tmp / t.relpath), demo.seed, demo.sample_rate,
                 float(demo.clip_seconds))
            for t in tracks
        ]
        workers = demo.workers or os.cpu_count() or 1
        sizes = _run_jobs(jobs, min(workers, len(jobs)), progress)
        # FMA's bit_rate column, from what the encoder actually wrote (rounded to kbit/s).
        bit_rates = {tid: int(round(size * 8 / demo.clip_seconds / 1000)) * 1000 for tid, size in sizes.items()}
        _tracks_frame(tracks, bit_rates).to_csv(tmp / "fma_metadata" / "tracks.csv")
        _genres_frame(tracks, genres).to_csv(tmp / "fma_metadata" / "genres.csv")
        counts = _counts(tracks, genres)
        marker = {**_fingerprint(demo, genres), "root": str(out), "num_tracks": len(tracks), "counts": counts}
        (tmp / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DemoSummary(root=str(out), num_tracks=len(tracks), counts=counts, generated=True)


def _current_summary(demo: DemoDataConfig, genres: Sequence[str], out: Path) -> Optional[DemoSummary]:
    marker_path = out / MARKER_FILE
    if not (out / "fma_metadata" / "tracks.csv").is_file() or not marker_path.is_file():
        return None
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    want = _fingerprint(demo, genres)
    if any(marker.get(k) != v for k, v in want.items()):
        return None
    tracks = plan_demo_tracks(demo, genres)
    if not all((out / t.relpath).is_file() for t in tracks):
        return None
    return DemoSummary(root=str(out), num_tracks=len(tracks), counts=_counts(tracks, genres), generated=False)


def is_demo_dataset_current(demo: DemoDataConfig, genres: Sequence[str], root: Optional[str] = None) -> bool:
    """Whether root holds a complete demo dataset made with this configuration."""
    return _current_summary(demo, _check_genres(genres), _resolve_root(demo, root)) is not None


def ensure_demo_dataset(demo: DemoDataConfig, genres: Sequence[str], root: Optional[str] = None, *,
                        progress: bool = True) -> DemoSummary:
    """Generate the dataset unless root already holds one made with the same configuration."""
    genres = _check_genres(genres)
    out = _resolve_root(demo, root)
    summary = _current_summary(demo, genres, out)
    if summary is not None:
        return summary
    with _lock(out):
        summary = _current_summary(demo, genres, out)  # another process may have built it meanwhile
        if summary is not None:
            return summary
        return generate_demo_dataset(demo, genres, str(out), progress=progress)
