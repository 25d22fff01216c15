"""Builders of real audio files and FMA-layout datasets for tests, broken inputs included.

Everything is written with soundfile (real MP3/WAV/FLAC/OGG encoders), never mocked.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

FIXTURE_AUDIO = Path(__file__).parent.parent / "data" / "audio"
FMA_EXCERPT = FIXTURE_AUDIO / "fma_000010_excerpt.mp3"  # FMA track 10, Pop, 2 s, 44.1 kHz stereo MP3
DRUM_BASS = FIXTURE_AUDIO / "admiralbob77_-_Choice_-_Drum-bass.ogg"  # 25 s, 22.05 kHz mono OGG
VIBE_ACE = FIXTURE_AUDIO / "Kevin_MacLeod_-_Vibe_Ace.ogg"  # 61.5 s, 22.05 kHz mono OGG


def tone(
    seconds: float, rate: int, channels: int = 1, freq: float = 440.0, level: float = 0.3, seed: int = 0
) -> np.ndarray:
    """A harmonic tone with a little noise, [frames, channels] float32."""
    t = np.arange(int(round(seconds * rate))) / rate
    rng = np.random.default_rng(seed)
    mono = level * (np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(2 * np.pi * 2 * freq * t))
    mono += 0.01 * rng.standard_normal(len(t))
    out = np.stack([mono * (1 - 0.1 * c) for c in range(channels)], axis=1)
    return out.astype(np.float32)


def write_audio(path, seconds=3.0, rate=44100, channels=2, fmt="MP3", subtype=None, **tone_args) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(seconds, rate, channels, **tone_args), rate, format=fmt, subtype=subtype)
    return path


def encoded(seconds=3.0, rate=44100, channels=2, fmt="WAV", subtype=None, **tone_args) -> bytes:
    import io

    buffer = io.BytesIO()
    sf.write(buffer, tone(seconds, rate, channels, **tone_args), rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


# Each broken-input kind: file name -> (bytes maker, expected quarantine reason).
def broken_inputs() -> dict[str, tuple[bytes, str]]:
    mp3 = FMA_EXCERPT.read_bytes()
    wav = encoded(3.0, 22050, 1, "WAV", "PCM_16")
    return {
        "undecodable.mp3": (b"this is not audio at all\n" * 40, "undecodable"),
        "empty.mp3": (b"", "empty_file"),
        "header_only.wav": (wav[:44], "no_audio"),
        "truncated.mp3": (mp3[: len(mp3) // 2], "truncated"),
        "wav_named.mp3": (wav, "extension_mismatch"),
        "notes.txt": (b"liner notes", "unsupported_extension"),
        "too_short.wav": (encoded(0.5, 22050, 1, "WAV", "PCM_16"), "too_short"),
        "silent.flac": (_silence_flac(5.0), "silent"),
    }


def _silence_flac(seconds: float) -> bytes:
    import io

    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(int(seconds * 22050), dtype=np.float32), 22050, format="FLAC")
    return buffer.getvalue()


def read_tracks(metadata_dir) -> pd.DataFrame:
    return pd.read_csv(os.path.join(metadata_dir, "tracks.csv"), index_col=0, header=[0, 1])


def add_fma_rows(metadata_dir, rows: list[dict]) -> None:
    """Append rows (keys: track_id, genre_top, split, artist_id, subset) to an FMA tracks.csv."""
    tracks = read_tracks(metadata_dir)
    for row in rows:
        tracks.loc[row["track_id"], ("track", "genre_top")] = row.get("genre_top")
        tracks.loc[row["track_id"], ("set", "split")] = row.get("split", "training")
        tracks.loc[row["track_id"], ("set", "subset")] = row.get("subset", "small")
        tracks.loc[row["track_id"], ("artist", "id")] = row.get("artist_id", 90000 + row["track_id"])
        tracks.loc[row["track_id"], ("track", "title")] = row.get("title", f"test track {row['track_id']}")
    tracks.index.name = "track_id"
    tracks.to_csv(os.path.join(metadata_dir, "tracks.csv"))


def fma_path(audio_root, track_id: int, ext: str = ".mp3") -> Path:
    tid = f"{track_id:06d}"
    return Path(audio_root) / tid[:3] / f"{tid}{ext}"


def add_broken_and_real_files(audio_root, metadata_dir) -> dict[str, str]:
    """Add real fixture clips and every broken-input kind to an FMA-layout dataset.

    Returns {path relative to audio_root: expected quarantine reason} for every input that must be
    quarantined; the fixture clips must produce examples.
    """
    expected: dict[str, str] = {}
    rows = []
    next_id = 990001
    # Real music: two fixture clips under FMA-style ids, in train and test.
    for source, genre, split in (
        (DRUM_BASS, "Electronic", "training"),
        (FMA_EXCERPT, "Pop", "test"),
        (VIBE_ACE, "Instrumental", "validation"),
    ):
        target = fma_path(audio_root, next_id, source.suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        rows.append({"track_id": next_id, "genre_top": genre, "split": split})
        next_id += 1
    # Broken audio, each with a metadata row so only the audio is at fault.
    for name, (data, reason) in broken_inputs().items():
        ext = os.path.splitext(name)[1]
        target = fma_path(audio_root, next_id, ext)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        rows.append({"track_id": next_id, "genre_top": "Rock", "split": "training"})
        expected[str(target.relative_to(audio_root))] = reason
        next_id += 1
    # Good audio, bad labels.
    for genre, reason in ((None, "label_missing"), ("Blues", "label_unknown")):
        target = write_audio(fma_path(audio_root, next_id), seconds=3.0)
        rows.append({"track_id": next_id, "genre_top": genre, "split": "training"})
        expected[str(target.relative_to(audio_root))] = reason
        next_id += 1
    # A metadata row whose audio is missing, and audio whose metadata row is missing.
    rows.append({"track_id": next_id, "genre_top": "Folk", "split": "training"})
    expected[str(fma_path(audio_root, next_id).relative_to(audio_root))] = "audio_missing"
    next_id += 1
    orphan = write_audio(fma_path(audio_root, next_id), seconds=3.0)
    expected[str(orphan.relative_to(audio_root))] = "no_metadata"
    next_id += 1
    # A file name that is no track id (non-ASCII on purpose).
    odd = write_audio(Path(audio_root) / "099" / "chanson d’été ☀.mp3", seconds=3.0)
    expected[str(odd.relative_to(audio_root))] = "bad_file_name"
    add_fma_rows(metadata_dir, rows)
    return expected
