"""Finding the audio files of a dataset, labelling them and assigning splits: no decoding here.

`list_sources()` turns a dataset layout into `SourceItem`s to decode plus `QuarantineRecord`s for what
can be rejected from names and metadata alone (unknown labels, missing audio, files without metadata).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Optional

from components.audio_example_gen.audio import Reason, is_supported_extension

FMA_SPLIT_NAMES = {"training": "train", "validation": "eval", "test": "test"}
FMA_SUBSETS = ("small", "medium", "large")
UNKNOWN_ARTIST = -1


@dataclasses.dataclass(frozen=True)
class SourceItem:
    """One audio file to decode, with everything known about it before decoding."""

    path: str
    relative_path: str
    track_id: int
    artist_id: int
    genre: str
    label: int
    split: str


@dataclasses.dataclass(frozen=True)
class QuarantineRecord:
    """One line of quarantine.jsonl."""

    path: str
    track_id: Optional[int]
    reason: str
    detail: str


@dataclasses.dataclass
class SourceListing:
    items: list[SourceItem]
    quarantined: list[QuarantineRecord]
    # Files present but not audio inputs by design (e.g. fma_small/README.txt); reported, not quarantined.
    ignored: list[str]

    @property
    def files_seen(self) -> int:
        """Every input: each listed file, and (FMA layout) each metadata row whose audio is missing."""
        return len(self.items) + len(self.quarantined)


def hash_split(group_key: str, train_percent: int, eval_percent: int, salt: str) -> str:
    """Deterministic split of a group (artist or track): the same key always lands in the same split."""
    digest = hashlib.sha256(f"{salt}:{group_key}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    if bucket < train_percent:
        return "train"
    if bucket < train_percent + eval_percent:
        return "eval"
    return "test"


def stable_track_id(relative_path: str) -> int:
    """A positive 63-bit id for files that carry none (folder layout), stable across runs and machines."""
    digest = hashlib.sha1(relative_path.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def normalise_genre(name: str) -> str:
    """'Hip-Hop', 'hiphop' and 'hip_hop' name the same genre folder."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def display_path(path: str) -> str:
    """A path as valid UTF-8 text even when the file system name is not (Linux names are bytes)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def walk_files(root: str) -> Iterator[str]:
    """All non-hidden files under root, in a deterministic order."""
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield os.path.join(directory, name)


def _split_for(official: Optional[str], group_key: str, split_config) -> str:
    if split_config.method == "official" and official in FMA_SPLIT_NAMES:
        return FMA_SPLIT_NAMES[official]
    return hash_split(group_key, split_config.train_percent, split_config.eval_percent, split_config.salt)


def fma_audio_path(audio_root: str, track_id: int, extension: str = ".mp3") -> str:
    tid = f"{track_id:06d}"
    return os.path.join(audio_root, tid[:3], tid + extension)


def read_fma_tracks(metadata_dir: str):
    """tracks.csv as FMA's own utils.load() reads it: two header rows, index track_id."""
    import pandas as pd

    path = os.path.join(metadata_dir, "tracks.csv")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"FMA metadata not found: {path}. Set dataset.metadata_dir to the folder holding tracks.csv "
            "(from fma_metadata.zip; `make download-fma` fetches it)."
        )
    tracks = pd.read_csv(path, index_col=0, header=[0, 1])
    required = [("track", "genre_top"), ("set", "subset"), ("set", "split")]
    missing = [c for c in required if c not in tracks.columns]
    if missing:
        raise ValueError(f"{path} lacks FMA columns {missing}; is it FMA's tracks.csv?")
    return tracks


@dataclasses.dataclass(frozen=True)
class _FmaRow:
    subset: Optional[str]
    genre: Optional[str]
    split: Optional[str]
    artist_id: int


def _fma_rows(tracks) -> dict[int, _FmaRow]:
    # Column-wise extraction: iterrows() over FMA's 106,574 x 52 table takes tens of seconds.
    artists = tracks[("artist", "id")] if ("artist", "id") in tracks.columns else [None] * len(tracks)
    return {
        int(track_id): _FmaRow(
            _str_or_none(subset), _str_or_none(genre), _str_or_none(split), _int_or(artist, UNKNOWN_ARTIST)
        )
        for track_id, subset, genre, split, artist in zip(
            tracks.index, tracks[("set", "subset")], tracks[("track", "genre_top")], tracks[("set", "split")], artists
        )
    }


def list_fma(audio_root: str, metadata_dir: str, subset: str, genres: Sequence[str], split_config) -> SourceListing:
    rows = _fma_rows(read_fma_tracks(metadata_dir))
    limit = FMA_SUBSETS.index(subset)
    vocabulary = {g: i for i, g in enumerate(genres)}
    root = audio_root.rstrip("/")

    items, quarantined, ignored = [], [], []
    seen_ids = set()
    for path in walk_files(root):
        shown = display_path(path)
        if os.path.dirname(path) == root:
            ignored.append(shown)  # README.txt, checksums: the archive's documentation, not inputs
            continue
        stem = os.path.splitext(os.path.basename(path))[0]
        track_id = int(stem) if stem.isdigit() else None
        # Any file named after a track counts as that track's audio, even one quarantined below.
        seen_ids.add(track_id)
        if not is_supported_extension(path):
            quarantined.append(_unsupported(shown, track_id))
            continue
        if track_id is None:
            quarantined.append(
                QuarantineRecord(shown, None, Reason.BAD_FILE_NAME, "FMA file names are the 6-digit track id")
            )
            continue
        row = rows.get(track_id)
        if row is None:
            quarantined.append(QuarantineRecord(shown, track_id, Reason.NO_METADATA, "track id not in tracks.csv"))
            continue
        problem = _fma_row_problem(row, limit, vocabulary)
        if problem:
            quarantined.append(QuarantineRecord(shown, track_id, *problem))
            continue
        group = f"artist:{row.artist_id}" if row.artist_id != UNKNOWN_ARTIST else f"track:{track_id}"
        items.append(
            SourceItem(
                path=path,
                relative_path=shown[len(root) + 1 :],
                track_id=track_id,
                artist_id=row.artist_id,
                genre=row.genre,
                label=vocabulary[row.genre],
                split=_split_for(row.split, group, split_config),
            )
        )

    # Metadata rows of the subset with no audio file: inputs we were promised and did not get.
    for track_id, row in rows.items():
        if track_id in seen_ids or _subset_rank(row) > limit:
            continue
        quarantined.append(
            QuarantineRecord(
                display_path(fma_audio_path(root, track_id)),
                track_id,
                Reason.AUDIO_MISSING,
                f"tracks.csv lists this {subset} track but its audio file is missing",
            )
        )
    return SourceListing(items, quarantined, ignored)


def _subset_rank(row: _FmaRow) -> int:
    return FMA_SUBSETS.index(row.subset) if row.subset in FMA_SUBSETS else len(FMA_SUBSETS)


def _fma_row_problem(row: _FmaRow, limit: int, vocabulary) -> Optional[tuple[str, str]]:
    """(reason, detail) when a row cannot be used, else None."""
    if _subset_rank(row) > limit:
        return Reason.OUTSIDE_SUBSET, f"track belongs to subset {row.subset!r}, not {FMA_SUBSETS[limit]!r}"
    if row.genre is None:
        return Reason.LABEL_MISSING, "tracks.csv has no genre_top for this track"
    if row.genre not in vocabulary:
        return Reason.LABEL_UNKNOWN, f"genre_top {row.genre!r} is not one of the configured genres"
    return None


def _unsupported(shown: str, track_id: Optional[int] = None) -> QuarantineRecord:
    return QuarantineRecord(
        shown,
        track_id,
        Reason.UNSUPPORTED_EXTENSION,
        f"extension {os.path.splitext(shown)[1]!r} is not MP3/WAV/FLAC/OGG",
    )


def list_folders(audio_root: str, genres: Sequence[str], split_config) -> SourceListing:
    """<root>/<Genre>/<files...>: the folder name is the label; no artist is known, so split by track."""
    by_normal = {normalise_genre(g): (i, g) for i, g in enumerate(genres)}
    items, quarantined = [], []
    root = audio_root.rstrip("/")
    for path in walk_files(root):
        shown = display_path(path)
        relative = shown[len(root) + 1 :]
        parts = relative.split(os.sep)
        if len(parts) < 2:
            quarantined.append(QuarantineRecord(shown, None, Reason.LABEL_MISSING, "file is not inside a genre folder"))
            continue
        if not is_supported_extension(path):
            quarantined.append(_unsupported(shown))
            continue
        match = by_normal.get(normalise_genre(parts[0]))
        if match is None:
            quarantined.append(
                QuarantineRecord(
                    shown, None, Reason.LABEL_UNKNOWN, f"folder {parts[0]!r} is not one of the configured genres"
                )
            )
            continue
        label, genre = match
        track_id = stable_track_id(relative)
        items.append(
            SourceItem(
                path=path,
                relative_path=relative,
                track_id=track_id,
                artist_id=UNKNOWN_ARTIST,
                genre=genre,
                label=label,
                split=hash_split(
                    f"track:{relative}", split_config.train_percent, split_config.eval_percent, split_config.salt
                ),
            )
        )
    return SourceListing(items, quarantined, [])


def list_sources(
    layout: str, audio_root: str, metadata_dir: str, subset: str, genres: Sequence[str], split_config
) -> SourceListing:
    if not os.path.isdir(audio_root):
        raise FileNotFoundError(f"audio root {audio_root} is not a directory (dataset.audio_root)")
    if layout == "fma":
        return list_fma(audio_root, metadata_dir, subset, genres, split_config)
    if layout == "folders":
        return list_folders(audio_root, genres, split_config)
    raise ValueError(f"unknown dataset layout {layout!r}; expected 'fma' or 'folders'")


def leaked_groups(items: Iterable[SourceItem]) -> dict[str, set[str]]:
    """Artists (or tracks without an artist) found in more than one split: must be empty."""
    splits_of: dict[str, set[str]] = {}
    for item in items:
        key = f"artist:{item.artist_id}" if item.artist_id != UNKNOWN_ARTIST else f"track:{item.track_id}"
        splits_of.setdefault(key, set()).add(item.split)
    return {k: v for k, v in splits_of.items() if len(v) > 1}


def _str_or_none(value) -> Optional[str]:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def _int_or(value, default: int) -> int:
    try:
        if value is None or (isinstance(value, float) and value != value):
            return default
        return int(value)
    except (TypeError, ValueError):
        return default
