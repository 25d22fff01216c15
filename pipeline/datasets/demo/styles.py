"""The genre recipes: FMA's genre ids, GenreStyle, GENRE_STYLES, describe_genre, scales and note pitches."""

from __future__ import annotations

from dataclasses import dataclass, field

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
# Music theory
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


def _hz(midi: float) -> float:
    return float(440.0 * 2.0 ** ((midi - 69.0) / 12.0))
