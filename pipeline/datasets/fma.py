"""Download, verify and unpack the Free Music Archive (FMA) dataset.

`make download-fma` runs `python -m pipeline.datasets.fma`, which fetches ``fma_metadata.zip`` and
``fma_<subset>.zip`` from the official location (or a mirror), checks each archive against its
published SHA-1 *before* unpacking it, and unpacks it next to the archive:

    <data_dir>/fma_metadata.zip  ->  <data_dir>/fma_metadata/tracks.csv, genres.csv, ...
    <data_dir>/fma_small.zip     ->  <data_dir>/fma_small/000/000002.mp3, ...

Downloads go to ``<file>.part`` and are resumed with an HTTP Range request when interrupted (within
one run, by retrying, and across runs). The file gets its final name only once its checksum matches,
so an existing archive is always a verified one. Archives are unpacked with Python's ``zipfile``,
which handles the zip64 format of the big FMA archives that some ``unzip`` builds reject; members
that would land outside the destination ("zip slip") are refused before anything is written.

The base URL can be changed with ``--base-url`` or the ``FMA_BASE_URL`` environment variable (a
mirror, or a local server in the tests). This module must stay light: no TensorFlow import.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, Optional, Union

from tqdm import tqdm

from pipeline.config import PROJECT_ROOT

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_BASE_URL = "https://os.unil.cloud.switch.ch/fma/"
BASE_URL_ENV_VAR = "FMA_BASE_URL"
DEFAULT_DATA_DIR = "data/fma"  # relative to PROJECT_ROOT
SUBSETS = ("small", "medium", "large")
METADATA_ARCHIVE = "fma_metadata.zip"

# Published SHA-1 digests of the FMA archives (https://github.com/mdeff/fma, README "Data").
FMA_SHA1: Mapping[str, str] = {
    "fma_metadata.zip": "f0df49ffe5f2a6008d7dc83c6915b31835dfe733",
    "fma_small.zip": "ade154f733639d52e35e32f5593efe5be76c6d70",
    "fma_medium.zip": "c67b69ea232021025fca9231fc1c7c1a063ab50b",
    "fma_large.zip": "497109f4dd721066b5ce5e5f250ec604dc78939e",
}

USER_AGENT = "fma-genre-pipeline-downloader/1.0 (+python-urllib)"
_HASH_CHUNK = 1 << 20
_MAX_BACKOFF_S = 30.0
_MIRROR_HINT = f"a mirror can be set with --base-url or the {BASE_URL_ENV_VAR} environment variable"


class DownloadError(RuntimeError):
    """A download, verification or extraction failed; the message says what to do about it."""


class ChecksumMismatchError(DownloadError):
    """The downloaded file's SHA-1 differs from the expected one."""


class UnsafeArchiveError(DownloadError):
    """An archive member would be written outside the destination directory (zip slip)."""


class FmaPaths(NamedTuple):
    audio_root: Path  # <data_dir>/fma_<subset>
    metadata_dir: Path  # <data_dir>/fma_metadata


class _Transient(Exception):
    """A failure worth retrying (network trouble, 5xx, a connection closed early)."""

    def __init__(self, message: str, *, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


# Hashing ----------------------------------------------------------------------------------------
def sha1_file(path: PathLike, *, progress: bool = False, desc: Optional[str] = None) -> str:
    """Hex SHA-1 of a file, read in 1 MiB chunks (with a progress bar if asked)."""
    return _hash_file(path, progress=progress, desc=desc).hexdigest()


def _hash_file(path: PathLike, *, progress: bool = False, desc: Optional[str] = None) -> hashlib._Hash:
    path = Path(path)
    hasher = hashlib.sha1()
    with open(path, "rb") as f, _bar(os.path.getsize(path), desc or f"hashing {path.name}", progress) as bar:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            hasher.update(chunk)
            bar.update(len(chunk))
    return hasher


def _bar(total: Optional[int], desc: str, progress: bool, initial: int = 0, unit: str = "B") -> tqdm:
    byte_unit = unit == "B"
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        unit_scale=byte_unit,
        unit_divisor=1024 if byte_unit else 1000,
        disable=not progress,
        dynamic_ncols=True,
        leave=True,
    )


class _PartHash:
    """SHA-1 of the bytes in the .part file, kept up to date while streaming."""

    def __init__(self) -> None:
        self.hasher = hashlib.sha1()
        self.hashed = 0
        self.received = 0  # bytes received over the network by the current attempt

    def reset(self) -> None:
        self.hasher = hashlib.sha1()
        self.hashed = 0

    def update(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        self.hashed += len(chunk)

    def sync(self, part: Path, progress: bool) -> None:
        """Make the running hash cover exactly the current content of the part file (re-hash if not)."""
        size = part.stat().st_size if part.exists() else 0
        if size == self.hashed:
            return
        if size == 0:
            self.reset()
            return
        self.hasher = _hash_file(part, progress=progress, desc=f"hashing partial {part.name}")
        self.hashed = size

    def hexdigest(self, part: Path, progress: bool) -> str:
        self.sync(part, progress)
        return self.hasher.hexdigest()


# Downloading ------------------------------------------------------------------------------------
def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _parse_content_range(value: Optional[str]) -> tuple[Optional[int], Optional[int], Optional[int]]:
    """``bytes START-END/TOTAL`` or ``bytes */TOTAL`` -> (start, end, total); unknown parts are None."""
    if not value:
        return None, None, None
    m = re.match(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)\s*/\s*(\d+|\*)\s*$", value, re.IGNORECASE)
    if not m:
        return None, None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    end = int(m.group(2)) if m.group(2) is not None else None
    total = int(m.group(3)) if m.group(3) != "*" else None
    return start, end, total


def _int_header(headers, name: str) -> Optional[int]:
    value = headers.get(name) if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _http_error_message(url: str, code: int, reason: str) -> str:
    if code == 404:
        hint = f"the file is not at this address; check the URL ({_MIRROR_HINT})"
    elif code in (401, 403):
        hint = f"the server refuses access; the file may have moved or the mirror may need credentials ({_MIRROR_HINT})"
    else:
        hint = f"check the URL and try again later ({_MIRROR_HINT})"
    return f"HTTP {code} {reason} for {url}: {hint}"


def _check_free_space(directory: Path, needed: Optional[int]) -> None:
    if not needed:
        return
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return
    if free < needed:
        raise DownloadError(
            f"not enough disk space in {directory}: the download needs {needed / 2**30:.2f} GiB more, "
            f"only {free / 2**30:.2f} GiB are free; free some space or choose another --data-dir"
        )


def _attempt(
    url: str,
    part: Path,
    state: _PartHash,
    *,
    chunk_size: int,
    progress: bool,
    timeout: float,
) -> bool:
    """One request. Returns True when the part file holds the whole resource, False to go again at once.

    Raises _Transient for failures worth retrying and DownloadError for the others.
    """
    state.received = 0
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        with err:
            if err.code == 416 and offset:
                _, _, total = _parse_content_range(err.headers.get("Content-Range") if err.headers else None)
                if total is None or total == offset:
                    log.info("%s: the partial download is already complete (%d bytes)", part.name, offset)
                    return True
                log.warning(
                    "%s: the partial file (%d bytes) is larger than the file on the server (%d bytes); "
                    "starting again from the beginning",
                    part.name,
                    offset,
                    total,
                )
                part.unlink()
                state.reset()
                return False
            if err.code in (408, 425, 429) or 500 <= err.code < 600:
                raise _Transient(f"HTTP {err.code} {err.reason}") from err
            raise DownloadError(_http_error_message(url, err.code, str(err.reason))) from None
    except urllib.error.URLError as err:
        raise _Transient(str(err.reason), unreachable=True) from err
    except (OSError, http.client.HTTPException) as err:  # timeouts, resets before the headers
        raise _Transient(f"{type(err).__name__}: {err}", unreachable=True) from err

    with response:
        status = response.getcode() or 200  # file:// URLs have no status
        if status == 206:
            start, _, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                state.reset()
                raise _Transient(
                    f"server answered the request for bytes {offset}- with range "
                    f"{response.headers.get('Content-Range')!r}; starting again from the beginning"
                )
            if total is None:
                length = _int_header(response.headers, "Content-Length")
                total = offset + length if length is not None else None
            mode = "ab"
            state.sync(part, progress)
        elif status == 200:
            if offset:
                log.info("%s: the server does not support resuming (no Range); starting from the beginning", url)
            offset = 0
            total = _int_header(response.headers, "Content-Length")
            mode = "wb"
            state.reset()
        else:
            raise DownloadError(f"unexpected HTTP status {status} for {url}; check the URL ({_MIRROR_HINT})")

        if total is not None:
            _check_free_space(part.parent, total - offset)
        if offset:
            log.info("%s: resuming at byte %d of %s", part.name, offset, total if total is not None else "?")
        size = offset
        try:
            f = open(part, mode)
        except OSError as err:
            raise DownloadError(f"cannot write {part}: {err}") from err
        with f, _bar(total, part.name[: -len(".part")], progress, initial=offset) as bar:
            while True:
                try:
                    chunk = response.read(chunk_size)
                except (OSError, http.client.HTTPException) as err:  # reset, timeout, IncompleteRead
                    raise _Transient(f"transfer interrupted after {size} bytes ({type(err).__name__}: {err})") from err
                if not chunk:
                    break
                try:
                    f.write(chunk)
                except OSError as err:
                    raise DownloadError(f"cannot write {part}: {err}") from err
                state.update(chunk)
                state.received += len(chunk)
                size += len(chunk)
                bar.update(len(chunk))
    if total is not None and size < total:
        raise _Transient(f"connection closed after {size} of {total} bytes")
    return True


def download_file(
    url: str,
    dest: PathLike,
    expected_sha1: Optional[str] = None,
    *,
    chunk_size: int = 1 << 20,
    progress: bool = True,
    timeout: float = 60,
    retries: int = 3,
    backoff: float = 1.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming and verifying; returns ``dest`` as a Path.

    * Data goes to ``dest + ".part"``; an existing part file is resumed with ``Range: bytes=N-``. A
      server that ignores Range (200) makes the download start over; 416 means the part file is
      already whole and goes straight to verification.
    * Network errors, timeouts, 5xx/408/429 and connections closed early are retried up to
      ``retries`` times with exponential backoff (``backoff`` s, doubled each time), each retry resuming
      where the last one stopped. An attempt that made progress resets the count.
    * With ``expected_sha1``, the whole file is checked (hashed while streaming; a resumed part file is
      re-hashed); on mismatch the part file is deleted and ChecksumMismatchError is raised. The part file
      is renamed to ``dest`` only after the check passes.
    * An existing ``dest`` that verifies (or any existing ``dest`` when no checksum is given) is kept and
      nothing is downloaded; one that does not verify is deleted and downloaded again.
    """
    dest = Path(dest)
    expected = expected_sha1.strip().lower() if expected_sha1 else None
    name = dest.name

    if dest.exists():
        if expected is None:
            log.info("%s already exists (no checksum to verify it against); not downloading it again", dest)
            return dest
        actual = sha1_file(dest, progress=progress, desc=f"verifying {name}")
        if actual == expected:
            log.info("%s already downloaded and verified (sha1 %s); skipping the download", dest, actual)
            return dest
        log.warning("%s exists but its SHA-1 is %s, not %s; downloading it again", dest, actual, expected)
        dest.unlink()

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    state = _PartHash()
    failures = 0
    attempts = 0
    while True:
        attempts += 1
        try:
            if _attempt(url, part, state, chunk_size=chunk_size, progress=progress, timeout=timeout):
                break
            continue  # the part file was reset; go again at once
        except _Transient as err:
            failures = 1 if state.received else failures + 1
            if failures > retries:
                if err.unreachable and not state.received:
                    host = urllib.parse.urlsplit(url).netloc or url
                    raise DownloadError(
                        f"cannot reach {host} to download {url} ({err}; {attempts} attempt(s)): check your "
                        f"network connection and proxy settings, or {_MIRROR_HINT}"
                    ) from None
                kept = f"; the partial file {part} is kept, run again to resume" if part.exists() else ""
                raise DownloadError(f"downloading {url} failed after {attempts} attempt(s): {err}{kept}") from None
            delay = min(backoff * 2 ** (failures - 1), _MAX_BACKOFF_S)
            log.warning(
                "%s: %s; retrying in %.1f s (retry %d of %d)%s",
                name,
                err,
                delay,
                failures,
                retries,
                f", resuming at byte {part.stat().st_size}" if part.exists() and part.stat().st_size else "",
            )
            time.sleep(delay)

    if expected is not None:
        actual = state.hexdigest(part, progress)
        if actual != expected:
            part.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"SHA-1 mismatch for {name} from {url}: expected {expected}, got {actual}; the download was "
                "deleted, run again to fetch it anew (if it keeps failing, the server holds a different file)"
            )
        log.info("%s: SHA-1 verified (%s)", name, actual)
    os.replace(part, dest)
    return dest


# Extracting -------------------------------------------------------------------------------------
def _marker_path(archive: Path, dest_dir: Path) -> Path:
    return dest_dir / f".{archive.name}.extracted"


def _read_marker(marker: Path) -> dict:
    try:
        with open(marker, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _already_extracted(marker: Path, sha1: Optional[str], dest_dir: Path) -> bool:
    """True when the marker records an extraction of the archive with this SHA-1 whose output is still there."""
    if not sha1:
        return False
    data = _read_marker(marker)
    if data.get("sha1") != sha1.lower():
        return False
    top_level = data.get("top_level") or []
    return all((dest_dir / name).exists() for name in top_level)


def _member_target(root: Path, name: str) -> Path:
    """Where member ``name`` goes under ``root`` (resolved); raises UnsafeArchiveError if outside it."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path")
    if ".." in normalized.split("/"):
        raise UnsafeArchiveError(f"archive member {name!r} contains '..'")
    target = (root / normalized).resolve()
    if target != root and root not in target.parents:
        raise UnsafeArchiveError(f"archive member {name!r} would be written outside {root}")
    return target


def extract_zip(
    archive: PathLike,
    dest_dir: PathLike,
    *,
    sha1: Optional[str] = None,
    progress: bool = True,
) -> Path:
    """Unpack ``archive`` into ``dest_dir`` safely; returns ``dest_dir``.

    Every member is checked before anything is written: absolute paths, ``..`` components and paths
    that resolve outside ``dest_dir`` raise UnsafeArchiveError. A marker file
    ``<dest_dir>/.<archive name>.extracted`` records the archive's SHA-1 (``sha1``, computed if not
    given) and top-level entries; a later call with the same archive skips the work while those entries
    still exist.
    """
    archive = Path(archive)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    root = dest_dir.resolve()
    sha1 = (sha1 or sha1_file(archive, progress=progress, desc=f"hashing {archive.name}")).lower()
    marker = _marker_path(archive, dest_dir)
    if _already_extracted(marker, sha1, dest_dir):
        log.info("%s was already extracted into %s; skipping", archive.name, dest_dir)
        return dest_dir

    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            targets = [_member_target(root, m.filename) for m in members]  # all checked before writing
            top_level = sorted({m.filename.replace("\\", "/").split("/", 1)[0] for m in members} - {""})
            with _bar(len(members), f"extracting {archive.name}", progress, unit="file") as bar:
                for member, target in zip(members, targets):
                    if member.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                    else:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with zf.open(member) as src, open(target, "wb") as dst:
                            shutil.copyfileobj(src, dst, _HASH_CHUNK)
                    bar.update(1)
    except zipfile.BadZipFile as err:
        raise DownloadError(
            f"{archive} is not a valid zip archive ({err}); delete it and run the download again"
        ) from None

    tmp = marker.with_name(marker.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"archive": archive.name, "sha1": sha1, "members": len(members), "top_level": top_level}, f)
    os.replace(tmp, marker)
    log.info("extracted %d members of %s into %s", len(members), archive.name, dest_dir)
    return dest_dir


# FMA --------------------------------------------------------------------------------------------
def resolve_base_url(base_url: Optional[str] = None) -> str:
    """The argument, else $FMA_BASE_URL, else the official location; always ends with '/'."""
    url = base_url or os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL
    return url if url.endswith("/") else url + "/"


def download_fma(
    data_dir: PathLike,
    subset: str = "small",
    base_url: Optional[str] = None,
    progress: bool = True,
    *,
    checksums: Optional[Mapping[str, Optional[str]]] = None,
    timeout: float = 60,
    retries: int = 3,
    backoff: float = 1.0,
) -> FmaPaths:
    """Download, verify and unpack ``fma_metadata.zip`` and ``fma_<subset>.zip`` into ``data_dir``.

    ``checksums`` replaces the published table (file name -> SHA-1; a None value skips the check) and
    is meant for tests and private mirrors. Returns the absolute ``<data_dir>/fma_<subset>`` and
    ``<data_dir>/fma_metadata`` and prints the config settings that point the pipeline at them.
    """
    if subset not in SUBSETS:
        raise ValueError(f"unknown FMA subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    base = resolve_base_url(base_url)
    table = FMA_SHA1 if checksums is None else checksums
    data_dir = Path(os.path.abspath(os.path.expanduser(os.fspath(data_dir))))
    data_dir.mkdir(parents=True, exist_ok=True)

    for name in (METADATA_ARCHIVE, f"fma_{subset}.zip"):
        if name not in table:
            raise DownloadError(f"no SHA-1 known for {name} in the checksums given")
        expected = table[name]
        expected = expected.lower() if expected else None
        folder = data_dir / name[: -len(".zip")]
        archive = data_dir / name
        if not archive.exists() and _already_extracted(_marker_path(archive, data_dir), expected, data_dir):
            log.info("%s is already downloaded and extracted in %s; skipping", name, folder)
            continue
        download_file(
            base + name, archive, expected, progress=progress, timeout=timeout, retries=retries, backoff=backoff
        )
        extract_zip(archive, data_dir, sha1=expected, progress=progress)
        if not folder.is_dir():
            raise DownloadError(f"{name} did not contain a {folder.name}/ folder; is it the right archive?")

    paths = FmaPaths(audio_root=data_dir / f"fma_{subset}", metadata_dir=data_dir / "fma_metadata")
    lines = [f"dataset.audio_root={paths.audio_root}", f"dataset.metadata_dir={paths.metadata_dir}"]
    if subset != "small":
        lines.append(f"dataset.subset={subset}")
    print(f"FMA {subset} is ready in {data_dir}. To run the pipeline on it, set:")
    for line in lines:
        print(f"  {line}")
    print("(e.g. " + " ".join(f"--set {line}" for line in lines) + ")")
    return paths


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.datasets.fma",
        description="Download, verify (SHA-1) and unpack the FMA dataset; interrupted downloads resume.",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"where the archives and their contents go (default: {PROJECT_ROOT / DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--subset", choices=SUBSETS, default="small", help="which audio subset (default: small)")
    parser.add_argument(
        "--base-url",
        default=None,
        help=f"where the archives are (default: ${BASE_URL_ENV_VAR}, else {DEFAULT_BASE_URL})",
    )
    parser.add_argument("--retries", type=int, default=3, help="retries of a failed transfer (default: 3)")
    parser.add_argument("--timeout", type=float, default=60, help="network timeout in seconds (default: 60)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.setLevel(logging.INFO)
    data_dir = Path(args.data_dir) if args.data_dir else PROJECT_ROOT / DEFAULT_DATA_DIR
    try:
        download_fma(
            data_dir,
            subset=args.subset,
            base_url=args.base_url,
            progress=not args.no_progress,
            timeout=args.timeout,
            retries=max(args.retries, 0),
        )
    except KeyboardInterrupt:
        print("error: interrupted; run the command again to resume the download", file=sys.stderr)
        return 130
    except (DownloadError, OSError, ValueError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
