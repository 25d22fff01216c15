"""Listing, labelling and splitting: FMA layout, folder layout, hash split without leakage."""

import collections
import os

import pytest

from components.audio_example_gen import sources
from components.audio_example_gen.settings import SplitConfig
from components.audio_example_gen.sources import Reason
from pipeline.config import FMA_SMALL_GENRES
from tests.helpers import factories

GENRES = FMA_SMALL_GENRES


def _write_tracks(metadata_dir, rows):
    import pandas as pd

    columns = pd.MultiIndex.from_tuples(
        [("artist", "id"), ("set", "split"), ("set", "subset"), ("track", "genre_top"), ("track", "title")]
    )
    frame = pd.DataFrame(
        [[r["artist"], r["split"], r["subset"], r["genre"], "t"] for r in rows],
        index=pd.Index([r["id"] for r in rows], name="track_id"),
        columns=columns,
    )
    os.makedirs(metadata_dir, exist_ok=True)
    frame.to_csv(os.path.join(metadata_dir, "tracks.csv"))


def _files_on_disk(root) -> list[str]:
    """Every file under root, counted here with os.walk (not with the module's own walker)."""
    return [os.path.join(d, name) for d, _, names in os.walk(root) for name in names]


def _accounted_paths(listing) -> list[str]:
    return [item.path for item in listing.items] + [q.path for q in listing.quarantined]


def test_fma_layout_labels_splits_and_subsets(tmp_path):
    audio_root, meta = tmp_path / "fma_small", tmp_path / "fma_metadata"
    rows = [
        {"id": 2, "artist": 1, "split": "training", "subset": "small", "genre": "Hip-Hop"},
        {"id": 5, "artist": 1, "split": "training", "subset": "small", "genre": "Hip-Hop"},
        {"id": 10, "artist": 6, "split": "validation", "subset": "small", "genre": "Pop"},
        {"id": 140, "artist": 60, "split": "test", "subset": "small", "genre": "Folk"},
        {"id": 141, "artist": 61, "split": "test", "subset": "medium", "genre": "Folk"},
        {"id": 142, "artist": 62, "split": "test", "subset": "large", "genre": "Folk"},
    ]
    _write_tracks(meta, rows)
    for r in rows[:5]:
        factories.write_audio(factories.fma_path(audio_root, r["id"]), seconds=0.1)
    (audio_root / "README.txt").write_text("archive docs")

    listing = sources.list_fma(str(audio_root), str(meta), "small", GENRES, SplitConfig())
    # Every file but the archive's README is listed once, as an item or quarantined.
    tracks = [p for p in _files_on_disk(audio_root) if not p.endswith("README.txt")]
    assert sorted(_accounted_paths(listing)) == sorted(tracks) and len(tracks) == 5
    got = {i.track_id: (i.genre, i.label, i.split, i.artist_id) for i in listing.items}
    assert got == {
        2: ("Hip-Hop", GENRES.index("Hip-Hop"), "train", 1),
        5: ("Hip-Hop", GENRES.index("Hip-Hop"), "train", 1),
        10: ("Pop", GENRES.index("Pop"), "eval", 6),
        140: ("Folk", GENRES.index("Folk"), "test", 60),
    }
    assert [(q.track_id, q.reason) for q in listing.quarantined] == [(141, Reason.OUTSIDE_SUBSET)]
    assert listing.ignored == [str(audio_root / "README.txt")]
    assert listing.files_seen == 5  # README.txt is archive documentation; 142 is outside the subset

    medium = sources.list_fma(str(audio_root), str(meta), "medium", GENRES, SplitConfig())
    assert {i.track_id for i in medium.items} == {2, 5, 10, 140, 141}


def test_fma_audio_missing_and_metadata_missing(tmp_path):
    audio_root, meta = tmp_path / "a", tmp_path / "m"
    _write_tracks(meta, [{"id": 7, "artist": 1, "split": "training", "subset": "small", "genre": "Rock"}])
    factories.write_audio(factories.fma_path(audio_root, 8), seconds=0.1)
    listing = sources.list_fma(str(audio_root), str(meta), "small", GENRES, SplitConfig())
    reasons = {(q.track_id, q.reason) for q in listing.quarantined}
    assert reasons == {(7, Reason.AUDIO_MISSING), (8, Reason.NO_METADATA)}
    # One file on disk, and one row of tracks.csv whose file is not there.
    assert listing.files_seen == len(_files_on_disk(audio_root)) + 1 == 2 and not listing.items


def test_missing_metadata_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="tracks.csv"):
        sources.list_fma(str(tmp_path), str(tmp_path / "nowhere"), "small", GENRES, SplitConfig())


def test_folder_layout_matches_genre_names_loosely_and_quarantines_the_rest(tmp_path):
    root = tmp_path / "genres"
    factories.write_audio(root / "hiphop" / "a.mp3", seconds=0.1)
    factories.write_audio(root / "Hip_Hop" / "b.mp3", seconds=0.1)
    factories.write_audio(root / "Pop" / "nested" / 'café ☕ "quoted".wav', seconds=0.1, fmt="WAV")
    factories.write_audio(root / "Blues" / "c.mp3", seconds=0.1)
    factories.write_audio(root / "loose.mp3", seconds=0.1)
    (root / "Pop" / "cover.jpg").write_bytes(b"\xff\xd8")
    listing = sources.list_folders(str(root), GENRES, SplitConfig())
    # Every file on disk is seen, and listed once: as an item or quarantined.
    on_disk = _files_on_disk(root)
    assert listing.files_seen == len(on_disk) == 6
    assert sorted(_accounted_paths(listing)) == sorted(on_disk)
    assert sorted((i.relative_path, i.genre) for i in listing.items) == [
        ("Hip_Hop/b.mp3", "Hip-Hop"),
        ('Pop/nested/café ☕ "quoted".wav', "Pop"),
        ("hiphop/a.mp3", "Hip-Hop"),
    ]
    assert sorted(q.reason for q in listing.quarantined) == sorted(
        [Reason.LABEL_UNKNOWN, Reason.LABEL_MISSING, Reason.UNSUPPORTED_EXTENSION]
    )
    # Track ids are stable and distinct.
    again = sources.list_folders(str(root), GENRES, SplitConfig())
    assert [i.track_id for i in again.items] == [i.track_id for i in listing.items]
    assert len({i.track_id for i in listing.items}) == 3


def test_non_utf8_file_names_are_listed_with_a_printable_path(tmp_path):
    root = tmp_path / "genres"
    (root / "Rock").mkdir(parents=True)
    raw = os.path.join(os.fsencode(str(root / "Rock")), b"bad\xffname.mp3")
    with open(raw, "wb") as f:
        f.write(factories.encoded(0.1, 22050, 1, "MP3"))
    listing = sources.list_folders(str(root), GENRES, SplitConfig())
    (item,) = listing.items
    assert item.relative_path == "Rock/bad\\xffname.mp3"
    item.relative_path.encode("utf-8")  # printable and JSON-safe


def test_hash_split_is_deterministic_and_near_64_16_20():
    config = SplitConfig(method="hash")
    keys = [f"artist:{i}" for i in range(20000)]
    splits = [sources.hash_split(k, config.train_percent, config.eval_percent, config.salt) for k in keys]
    assert splits == [sources.hash_split(k, 64, 16, config.salt) for k in keys]
    share = {s: c / len(keys) for s, c in collections.Counter(splits).items()}
    assert share["train"] == pytest.approx(0.64, abs=0.015)
    assert share["eval"] == pytest.approx(0.16, abs=0.015)
    assert share["test"] == pytest.approx(0.20, abs=0.015)
    # A different salt reshuffles groups.
    other = [sources.hash_split(k, 64, 16, "other") for k in keys]
    assert sum(a != b for a, b in zip(splits, other)) > 5000


def test_hash_split_groups_by_artist_so_nothing_leaks(tmp_path):
    audio_root, meta = tmp_path / "a", tmp_path / "m"
    rows = [
        {"id": 100 + i, "artist": i // 5, "split": "training", "subset": "small", "genre": GENRES[i % 8]}
        for i in range(200)
    ]
    # Tracks without an artist are grouped by themselves.
    rows += [
        {"id": 400 + i, "artist": None, "split": "training", "subset": "small", "genre": "Rock"} for i in range(20)
    ]
    _write_tracks(meta, rows)
    for r in rows:
        path = factories.fma_path(audio_root, r["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # listing never opens files
    listing = sources.list_fma(str(audio_root), str(meta), "small", GENRES, SplitConfig(method="hash"))
    assert len(listing.items) == 220
    assert sources.leaked_groups(listing.items) == {}
    assert {i.split for i in listing.items} == {"train", "eval", "test"}
    by_artist = collections.defaultdict(set)
    for item in listing.items:
        by_artist[item.artist_id].add(item.split)
    assert all(len(s) == 1 for a, s in by_artist.items() if a != sources.UNKNOWN_ARTIST)


def test_leaked_groups_detects_a_leak():
    a = sources.SourceItem("p", "p", 1, 7, "Rock", 7, "train")
    b = sources.SourceItem("q", "q", 2, 7, "Rock", 7, "test")
    assert sources.leaked_groups([a, b]) == {"artist:7": {"train", "test"}}


def test_unknown_layout_and_missing_root_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="audio root"):
        sources.list_sources("fma", str(tmp_path / "none"), "", "small", GENRES, SplitConfig())
    with pytest.raises(ValueError, match="layout"):
        sources.list_sources("gtzan", str(tmp_path), "", "small", GENRES, SplitConfig())
