"""The plan of one track (TrackPlan, plan_track): every random decision that is not a note or a hit.

Also the seeded random generators every part of the demo data draws from (`_rng`, `_weighted`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.datasets.demo.styles import PENTATONIC, SCALES, Choice, _style


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in key])


def _weighted(rng: np.random.Generator, choice: Choice) -> str:
    names = [c[0] for c in choice]
    w = np.array([c[1] for c in choice], dtype=np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


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
