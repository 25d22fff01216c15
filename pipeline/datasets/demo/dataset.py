"""Writing the dataset: generate_demo_dataset (a worker pool synthesizes and encodes the tracks; with
demo.unique_fraction < 1 some tracks are shifted copies of others), ensure_demo_dataset /
is_demo_dataset_current (the marker file, a lock, atomic replacement of the root)."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import soundfile as sf
from tqdm import tqdm

from pipeline.config import PROJECT_ROOT, DemoDataConfig
from pipeline.datasets.demo.catalog import (
    SPLITS,
    DemoTrack,
    _check_genres,
    _genres_frame,
    _tracks_frame,
    demo_track_path,
    plan_copies,
    plan_demo_tracks,
)
from pipeline.datasets.demo.planning import _rng
from pipeline.datasets.demo.synth import synthesize_track

# Bump when the synthesis or the metadata changes: ensure_demo_dataset then regenerates old datasets.
GENERATOR_VERSION = 1
MARKER_FILE = "demo_config.json"
# demo.audio_format -> soundfile's (format, subtype). FLAC and WAV: 16-bit PCM, like a CD.
AUDIO_FORMATS = {"mp3": ("MP3", None), "flac": ("FLAC", "PCM_16"), "wav": ("WAV", "PCM_16")}
# What a marker written before a fingerprint key existed had (the content it describes is unchanged).
_FINGERPRINT_DEFAULTS = {"audio_format": "mp3", "unique_fraction": 1.0}


@dataclass(frozen=True)
class DemoSummary:
    root: str
    num_tracks: int
    counts: dict[str, dict[str, int]]  # genre -> split -> tracks
    generated: bool = False  # whether this call wrote the files (False: they were up to date)
    audio_bytes: Optional[int] = None  # size of all audio files (None: a dataset from before it was recorded)
    seconds: Optional[float] = None  # how long writing the dataset took, when it was written

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
        "audio_format": demo.audio_format,
        "unique_fraction": float(demo.unique_fraction),
    }


def _counts(tracks: Sequence[DemoTrack], genres: Sequence[str]) -> dict[str, dict[str, int]]:
    counts = {g: dict.fromkeys(SPLITS, 0) for g in genres}
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
    audio_format: str = "mp3"
    copies: tuple[tuple[int, str], ...] = ()  # (track id, path) of the tracks that copy this one


def copy_clip(audio: np.ndarray, seed: int, track_id: int) -> np.ndarray:
    """Track track_id's audio made from another track's: circularly shifted by 10-90 % of its length, with
    a gain of -3..+3 dB (clipped to [-1, 1]). Its segments then differ from the original's in content and
    level; deterministic in (seed, track_id)."""
    rng = _rng(seed, 5, track_id)
    n = len(audio)
    shift = int(rng.integers(n // 10, n - n // 10)) if n >= 10 else 0
    gain = np.float32(10 ** (rng.uniform(-3.0, 3.0) / 20))
    return np.clip(np.roll(audio, shift, axis=0) * gain, -1.0, 1.0).astype(np.float32)


def _encode(path: str, audio: np.ndarray, sample_rate: int, audio_format: str) -> int:
    fmt, subtype = AUDIO_FORMATS[audio_format]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, audio, sample_rate, format=fmt, subtype=subtype)
    return os.path.getsize(path)


def _write_track(job: _Job) -> list[tuple[int, int]]:
    """Synthesize one track, write it and its copies: [(track id, file size)]."""
    audio = synthesize_track(
        job.genre,
        seed=job.seed,
        artist_id=job.artist_id,
        track_id=job.track_id,
        sample_rate=job.sample_rate,
        clip_seconds=job.clip_seconds,
    )
    sizes = [(job.track_id, _encode(job.path, audio, job.sample_rate, job.audio_format))]
    for track_id, path in job.copies:
        copy = copy_clip(audio, job.seed, track_id)
        sizes.append((track_id, _encode(path, copy, job.sample_rate, job.audio_format)))
    return sizes


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork where it is safe (Linux, no TensorFlow threads in this process): quick to start, and works from
    scripts without an `if __name__ == "__main__"` guard and from notebooks. spawn otherwise: a fork would
    copy TensorFlow's thread pools mid-state (and fork is unsafe on macOS). spawn needs the guard."""
    if sys.platform.startswith("linux") and "tensorflow" not in sys.modules:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_jobs(jobs: list[_Job], workers: int, progress: bool) -> dict[int, int]:
    sizes: dict[int, int] = {}
    bar = tqdm(total=sum(1 + len(j.copies) for j in jobs), desc="demo dataset", unit="track", disable=not progress)
    try:
        if workers <= 1:
            for job in jobs:
                written = _write_track(job)
                sizes.update(written)
                bar.update(len(written))
        else:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context())
            try:
                futures = [pool.submit(_write_track, job) for job in jobs]
                for fut in as_completed(futures):
                    written = fut.result()
                    sizes.update(written)
                    bar.update(len(written))
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


def generate_demo_dataset(
    demo: DemoDataConfig, genres: Sequence[str], root: Optional[str] = None, *, progress: bool = True
) -> DemoSummary:
    """Write the dataset (always), into a temporary sibling of root that then replaces root.

    root: where to write; default demo.root, relative paths against the project root.
    """
    started = time.monotonic()
    genres = _check_genres(genres)
    out = _resolve_root(demo, root)
    tracks = plan_demo_tracks(demo, genres)
    copies = plan_copies(tracks, demo.unique_fraction)
    _check_replaceable(out)  # before spending minutes on the audio
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        (tmp / "fma_metadata").mkdir(parents=True)
        copied_by: dict[int, list[tuple[int, str]]] = {}
        for tid, source in copies.items():
            copied_by.setdefault(source, []).append((tid, str(tmp / demo_track_path(tid, demo.audio_format))))
        jobs = [
            _Job(
                t.track_id,
                t.genre,
                t.artist_id,
                str(tmp / t.relpath),
                demo.seed,
                demo.sample_rate,
                float(demo.clip_seconds),
                demo.audio_format,
                tuple(copied_by.get(t.track_id, ())),
            )
            for t in tracks
            if t.track_id not in copies
        ]
        workers = demo.workers or os.cpu_count() or 1
        sizes = _run_jobs(jobs, min(workers, len(jobs)), progress)
        # FMA's bit_rate column (for MP3s, the encoder's bit rate): the file's mean bit rate, whatever its
        # format (16-bit stereo WAV at 44.1 kHz: 1411 kbit/s), rounded to kbit/s.
        bit_rates = {tid: int(round(size * 8 / demo.clip_seconds / 1000)) * 1000 for tid, size in sizes.items()}
        _tracks_frame(tracks, bit_rates).to_csv(tmp / "fma_metadata" / "tracks.csv")
        _genres_frame(tracks, genres).to_csv(tmp / "fma_metadata" / "genres.csv")
        counts = _counts(tracks, genres)
        audio_bytes = sum(sizes.values())
        seconds = round(time.monotonic() - started, 1)
        marker = {
            **_fingerprint(demo, genres),
            "root": str(out),
            "num_tracks": len(tracks),
            "synthesized_tracks": len(jobs),
            "counts": counts,
            "audio_bytes": audio_bytes,
            "seconds": seconds,
        }
        (tmp / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DemoSummary(
        root=str(out),
        num_tracks=len(tracks),
        counts=counts,
        generated=True,
        audio_bytes=audio_bytes,
        seconds=seconds,
    )


def _current_summary(demo: DemoDataConfig, genres: Sequence[str], out: Path) -> Optional[DemoSummary]:
    marker_path = out / MARKER_FILE
    if not (out / "fma_metadata" / "tracks.csv").is_file() or not marker_path.is_file():
        return None
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    want = _fingerprint(demo, genres)
    if any(marker.get(k, _FINGERPRINT_DEFAULTS.get(k)) != v for k, v in want.items()):
        return None
    tracks = plan_demo_tracks(demo, genres)
    if not all((out / t.relpath).is_file() for t in tracks):
        return None
    return DemoSummary(
        root=str(out),
        num_tracks=len(tracks),
        counts=_counts(tracks, genres),
        generated=False,
        audio_bytes=marker.get("audio_bytes"),
        seconds=marker.get("seconds"),
    )


def is_demo_dataset_current(demo: DemoDataConfig, genres: Sequence[str], root: Optional[str] = None) -> bool:
    """Whether root holds a complete demo dataset made with this configuration."""
    return _current_summary(demo, _check_genres(genres), _resolve_root(demo, root)) is not None


def ensure_demo_dataset(
    demo: DemoDataConfig, genres: Sequence[str], root: Optional[str] = None, *, progress: bool = True
) -> DemoSummary:
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
