"""The dataset's catalogue: which tracks exist (DemoTrack, plan_demo_tracks: ids, artists, albums, splits)
and FMA's metadata tables of them (tracks.csv, genres.csv)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.config import DemoDataConfig
from pipeline.datasets.demo.planning import _rng
from pipeline.datasets.demo.styles import FMA_GENRE_IDS, _style

SPLITS = ("training", "validation", "test")  # FMA's set.split values

_WORDS_A = (
    "Amber",
    "Silver",
    "Hollow",
    "Quiet",
    "Neon",
    "Paper",
    "Velvet",
    "Iron",
    "Northern",
    "Crimson",
    "Glass",
    "Wild",
    "Lunar",
    "Copper",
    "Distant",
    "Golden",
    "Static",
    "Broken",
    "Secret",
    "Little",
    "Blue",
    "Salt",
)
_WORDS_B = (
    "Harbor",
    "Pines",
    "Engines",
    "Orchard",
    "Signals",
    "Lanterns",
    "Rivers",
    "Foxes",
    "Satellites",
    "Meadows",
    "Owls",
    "Machines",
    "Tides",
    "Sparrows",
    "Atlas",
    "Circuits",
    "Ghosts",
    "Willows",
    "Mirrors",
    "Kites",
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
    audio_format: str = "mp3"  # the file's extension: demo.audio_format

    @property
    def relpath(self) -> str:
        return demo_track_path(self.track_id, self.audio_format)


def demo_track_path(track_id: int, audio_format: str = "mp3") -> str:
    """FMA's path of a track inside the dataset root: fma_small/000/000002.mp3 (or .flac, .wav)."""
    tid = f"{track_id:06d}"
    return f"fma_small/{tid[:3]}/{tid}.{audio_format}"


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
                    date_created=(
                        f"{created} {rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}:{rng.integers(0, 60):02d}"
                    ),
                    date_released=f"{released} 00:00:00",
                    audio_format=demo.audio_format,
                )
            )
            track_id += int(rng.integers(1, 4))  # an album's tracks have near-consecutive ids
        track_id += int(rng.integers(5, 400))
    tracks.sort(key=lambda t: t.track_id)
    return tracks


def plan_copies(tracks: Sequence[DemoTrack], unique_fraction: float) -> dict[int, int]:
    """{track id: id of the synthesized track it is a copy of} for demo.unique_fraction < 1 (else empty).

    In each genre and split, ceil(unique_fraction * n) tracks are synthesized: each artist's first track
    before anyone's second, so the synthesized pool spans as many artists as it can. The others are copies of
    the pool's tracks in turn. Copies stay within their genre and split, so no test clip copies a training clip.
    """
    if unique_fraction >= 1:
        return {}
    groups: dict[tuple[str, str], list[DemoTrack]] = defaultdict(list)
    for t in tracks:
        groups[t.genre, t.split].append(t)
    copies = {}
    for group in groups.values():
        nth_of_artist: Counter = Counter()
        keyed = []
        for t in sorted(group, key=lambda t: t.track_id):
            keyed.append((nth_of_artist[t.artist_id], t.track_id))
            nth_of_artist[t.artist_id] += 1
        ordered = [tid for _, tid in sorted(keyed)]
        # round() first: 0.1 * 30 is 3.0000000000000004, which must give 3 tracks, not 4
        unique = max(1, math.ceil(round(unique_fraction * len(ordered), 9)))
        for k, tid in enumerate(ordered[unique:]):
            copies[tid] = ordered[k % unique]
    return copies


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
