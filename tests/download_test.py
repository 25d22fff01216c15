"""Tests of pipeline.datasets.fma against a real HTTP server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.datasets import fma as dl

MP3_BYTES = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40
TRACKS_CSV = b",album,album\ntrack_id,id,title\n2,1,AWOL\n"


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# The test server -------------------------------------------------------------------------------
class FakeServer:
    """Serves `root` over HTTP on 127.0.0.1; the flags change its behaviour, `requests` records what it saw."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.ignore_range = False
        self.drop_after: int | None = None  # close the connection after this many body bytes ...
        self.drops_left = 0  # ... this many times
        self.always_404 = False
        self.lock = threading.Lock()

        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                with server.lock:
                    server.requests.append((self.path, rng))
                path = server.root / self.path.lstrip("/").split("?", 1)[0]
                if server.always_404 or not path.is_file():
                    self.send_error(404, "Not Found")
                    return
                data = path.read_bytes()
                size = len(data)
                start = 0
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if m and not server.ignore_range:
                    start = int(m.group(1))
                    if start >= size:
                        self.send_response(416, "Range Not Satisfiable")
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206, "Partial Content")
                    self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
                else:
                    self.send_response(200)
                    if not server.ignore_range:
                        self.send_header("Accept-Ranges", "bytes")
                body = data[start:]
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with server.lock:
                    drop = server.drop_after if server.drops_left > 0 else None
                    if drop is not None:
                        server.drops_left -= 1
                if drop is not None:
                    self.wfile.write(body[:drop])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, name: str) -> str:
        return self.base_url + name

    def ranges(self, name: str) -> list[str | None]:
        return [rng for path, rng in self.requests if path == "/" + name]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv(dl.BASE_URL_ENV_VAR, raising=False)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    srv = FakeServer(root)
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


@pytest.fixture
def archives(server):
    """Small fake FMA archives on the server; returns {name: bytes}."""
    files = {
        "fma_metadata.zip": make_zip({"fma_metadata/tracks.csv": TRACKS_CSV, "fma_metadata/genres.csv": b"id\n"}),
        "fma_small.zip": make_zip({"fma_small/000/000002.mp3": MP3_BYTES, "fma_small/README.txt": b"fake\n"}),
        "blob.bin": os.urandom(300_000),
    }
    for name, data in files.items():
        (server.root / name).write_bytes(data)
    return files


def fast(**kw):
    """Arguments that keep failing tests quick."""
    return {"progress": False, "timeout": 5, "retries": 2, "backoff": 0.01, **kw}


# download_file ---------------------------------------------------------------------------------
def test_full_download_verifies_and_renames(server, archives, tmp_path):
    dest = tmp_path / "out" / "blob.bin"
    got = dl.download_file(server.url("blob.bin"), dest, sha1(archives["blob.bin"]), progress=True, chunk_size=4096)
    assert got == dest
    assert dest.read_bytes() == archives["blob.bin"]
    assert not dl._part_path(dest).exists()
    assert server.ranges("blob.bin") == [None]


def test_resume_after_dropped_connection_sends_range(server, archives, tmp_path):
    data = archives["blob.bin"]
    server.drop_after, server.drops_left = 100_000, 1
    dest = tmp_path / "blob.bin"
    dl.download_file(server.url("blob.bin"), dest, sha1(data), **fast(chunk_size=8192))
    assert dest.read_bytes() == data
    ranges = server.ranges("blob.bin")
    assert ranges[0] is None and len(ranges) == 2
    n = int(re.fullmatch(r"bytes=(\d+)-", ranges[1]).group(1))
    assert 0 < n <= 100_000


def test_resume_of_part_file_left_by_earlier_run(server, archives, tmp_path):
    data = archives["blob.bin"]
    dest = tmp_path / "blob.bin"
    dl._part_path(dest).write_bytes(data[:123_456])
    dl.download_file(server.url("blob.bin"), dest, sha1(data), **fast())
    assert dest.read_bytes() == data
    assert server.ranges("blob.bin") == ["bytes=123456-"]
    assert not dl._part_path(dest).exists()


def test_complete_part_file_gets_416_and_is_verified(server, archives, tmp_path):
    data = archives["blob.bin"]
    dest = tmp_path / "blob.bin"
    dl._part_path(dest).write_bytes(data)
    dl.download_file(server.url("blob.bin"), dest, sha1(data), **fast())
    assert dest.read_bytes() == data
    assert server.ranges("blob.bin") == [f"bytes={len(data)}-"]


def test_server_ignoring_range_restarts_from_zero(server, archives, tmp_path):
    data = archives["blob.bin"]
    server.ignore_range = True
    dest = tmp_path / "blob.bin"
    dl._part_path(dest).write_bytes(b"garbage that must be discarded" * 1000)  # wrong bytes, 30 000 long
    dl.download_file(server.url("blob.bin"), dest, sha1(data), **fast())
    assert dest.read_bytes() == data
    assert server.ranges("blob.bin") == ["bytes=30000-"]


def test_checksum_mismatch_raises_and_cleans_up(server, archives, tmp_path):
    dest = tmp_path / "blob.bin"
    wrong = "0" * 40
    with pytest.raises(dl.ChecksumMismatchError) as exc:
        dl.download_file(server.url("blob.bin"), dest, wrong, **fast())
    msg = str(exc.value)
    assert "blob.bin" in msg and wrong in msg and sha1(archives["blob.bin"]) in msg
    assert not dest.exists()
    assert not dl._part_path(dest).exists()


def test_checksum_mismatch_after_resume_from_corrupt_part(server, archives, tmp_path):
    data = archives["blob.bin"]
    dest = tmp_path / "blob.bin"
    dl._part_path(dest).write_bytes(b"\0" * 1000)  # wrong prefix; the server honours Range
    with pytest.raises(dl.ChecksumMismatchError):
        dl.download_file(server.url("blob.bin"), dest, sha1(data), **fast())
    assert not dest.exists() and not dl._part_path(dest).exists()
    dl.download_file(server.url("blob.bin"), dest, sha1(data), **fast())  # a rerun then succeeds
    assert dest.read_bytes() == data


def test_404_gives_clear_error_with_url(server, tmp_path):
    url = server.url("missing.zip")
    with pytest.raises(dl.DownloadError) as exc:
        dl.download_file(url, tmp_path / "missing.zip", **fast())
    msg = str(exc.value)
    assert "404" in msg and url in msg and "FMA_BASE_URL" in msg
    assert len(server.requests) == 1
    assert not (tmp_path / "missing.zip").exists()


def test_unreachable_host_fails_quickly_with_clear_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/fma_small.zip"
    with pytest.raises(dl.DownloadError) as exc:
        dl.download_file(url, tmp_path / "fma_small.zip", **fast(retries=1, timeout=1))
    msg = str(exc.value)
    assert "cannot reach" in msg and url in msg and "2 attempt" in msg


def test_existing_verified_file_is_not_fetched_again(server, archives, tmp_path):
    data = archives["blob.bin"]
    dest = tmp_path / "blob.bin"
    dest.write_bytes(data)
    dl.download_file(server.url("blob.bin"), dest, sha1(data), **fast())
    assert server.requests == []
    assert dest.read_bytes() == data


def test_existing_corrupt_file_is_replaced(server, archives, tmp_path):
    data = archives["blob.bin"]
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"not it")
    dl.download_file(server.url("blob.bin"), dest, sha1(data), **fast())
    assert dest.read_bytes() == data
    assert len(server.requests) == 1


def test_file_url_mirror(archives, server, tmp_path):
    data = archives["blob.bin"]
    dest = tmp_path / "blob.bin"
    dl.download_file((server.root / "blob.bin").as_uri(), dest, sha1(data), **fast())
    assert dest.read_bytes() == data


# extract_zip -----------------------------------------------------------------------------------
@pytest.mark.parametrize("evil", ["../evil.txt", "fma_small/../../evil.txt", "/tmp/evil-abs.txt", "..\\evil.txt"])
def test_zip_slip_member_is_rejected(tmp_path, evil):
    archive = tmp_path / "evil.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("fma_small/ok.txt", b"ok")
        zf.writestr(zipfile.ZipInfo(evil), b"pwned")
    archive.write_bytes(buf.getvalue())
    dest = tmp_path / "a" / "b"
    with pytest.raises(dl.UnsafeArchiveError, match=re.escape(repr(evil))):
        dl.extract_zip(archive, dest, progress=False)
    assert not (tmp_path / "a" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/evil-abs.txt").exists()
    assert not (dest / "fma_small" / "ok.txt").exists()  # nothing written: all members checked first


def test_extract_writes_marker_and_skips_second_time(tmp_path):
    data = make_zip({"fma_small/000/000002.mp3": MP3_BYTES, "fma_small/empty/": b""})
    archive = tmp_path / "fma_small.zip"
    archive.write_bytes(data)
    dest = tmp_path / "data"
    dl.extract_zip(archive, dest, progress=True)
    mp3 = dest / "fma_small" / "000" / "000002.mp3"
    assert mp3.read_bytes() == MP3_BYTES
    assert (dest / "fma_small" / "empty").is_dir()
    mp3.write_bytes(b"edited")
    dl.extract_zip(archive, dest, sha1=sha1(data), progress=False)  # skipped: the marker matches
    assert mp3.read_bytes() == b"edited"
    dl.extract_zip(archive, dest, sha1="f" * 40, progress=False)  # another archive: extracted again
    assert mp3.read_bytes() == MP3_BYTES


def test_corrupt_zip_gives_clear_error(tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(dl.DownloadError, match="not a valid zip"):
        dl.extract_zip(archive, tmp_path / "out", progress=False)


# download_fma and main -------------------------------------------------------------------------
def checksums_of(archives):
    return {name: sha1(data) for name, data in archives.items() if name.endswith(".zip")}


def test_download_fma_end_to_end(server, archives, tmp_path, capsys):
    data_dir = tmp_path / "fma"
    paths = dl.download_fma(
        data_dir, "small", base_url=server.base_url.rstrip("/"), progress=False, checksums=checksums_of(archives)
    )
    assert paths == (data_dir / "fma_small", data_dir / "fma_metadata")
    assert paths.audio_root == data_dir / "fma_small" and paths.metadata_dir == data_dir / "fma_metadata"
    assert (paths.audio_root / "000" / "000002.mp3").read_bytes() == MP3_BYTES
    assert (paths.metadata_dir / "tracks.csv").read_bytes() == TRACKS_CSV
    out = capsys.readouterr().out
    assert f"dataset.audio_root={data_dir / 'fma_small'}" in out
    assert f"dataset.metadata_dir={data_dir / 'fma_metadata'}" in out
    assert {p for p, _ in server.requests} == {"/fma_metadata.zip", "/fma_small.zip"}

    # A second run downloads nothing.
    server.requests.clear()
    again = dl.download_fma(
        data_dir, "small", base_url=server.base_url, progress=False, checksums=checksums_of(archives)
    )
    assert again == paths and server.requests == []

    # With the archives deleted to save space, the extraction markers still make it a no-op.
    (data_dir / "fma_small.zip").unlink()
    (data_dir / "fma_metadata.zip").unlink()
    dl.download_fma(data_dir, "small", base_url=server.base_url, progress=False, checksums=checksums_of(archives))
    assert server.requests == []


def test_download_fma_uses_env_base_url(server, archives, tmp_path, monkeypatch):
    monkeypatch.setenv(dl.BASE_URL_ENV_VAR, server.base_url)
    paths = dl.download_fma(tmp_path / "fma", progress=False, checksums=checksums_of(archives))
    assert (paths.audio_root / "000" / "000002.mp3").exists()
    assert len(server.requests) == 2


def test_download_fma_checksum_mismatch_does_not_extract(server, archives, tmp_path):
    sums = checksums_of(archives)
    sums["fma_small.zip"] = "1" * 40
    with pytest.raises(dl.ChecksumMismatchError, match="fma_small.zip"):
        dl.download_fma(tmp_path / "fma", base_url=server.base_url, progress=False, checksums=sums)
    assert not (tmp_path / "fma" / "fma_small").exists()
    assert not (tmp_path / "fma" / "fma_small.zip").exists()


def test_download_fma_rejects_unknown_subset(tmp_path):
    with pytest.raises(ValueError, match="subset"):
        dl.download_fma(tmp_path, subset="tiny")


def test_official_table_and_default_url():
    assert dl.FMA_SHA1["fma_small.zip"] == "ade154f733639d52e35e32f5593efe5be76c6d70"
    assert dl.FMA_SHA1["fma_metadata.zip"] == "f0df49ffe5f2a6008d7dc83c6915b31835dfe733"
    assert dl.resolve_base_url() == "https://os.unil.cloud.switch.ch/fma/"
    assert dl.resolve_base_url("http://mirror/x") == "http://mirror/x/"


def test_main_exit_code_on_failure(server, tmp_path, capsys):
    server.always_404 = True
    code = dl.main(["--data-dir", str(tmp_path / "fma"), "--base-url", server.base_url, "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    last = err[-1]
    assert last.startswith("error: ") and "404" in last and server.url("fma_metadata.zip") in last
    assert "Traceback" not in "\n".join(err)


def test_main_rejects_bad_subset(capsys):
    with pytest.raises(SystemExit) as exc:
        dl.main(["--subset", "tiny"])
    assert exc.value.code == 2


def test_module_cli_without_tensorflow(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import sys, pipeline.datasets.fma as d; assert 'tensorflow' not in sys.modules; "
        f"sys.exit(d.main(['--data-dir', {str(tmp_path)!r}, '--base-url', 'http://127.0.0.1:{port}/', "
        "'--retries', '0', '--timeout', '1', '--no-progress']))"
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30, env=env
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: cannot reach 127.0.0.1")
    assert "Traceback" not in proc.stderr
