"""nst.weights.download against a real HTTP server on 127.0.0.1 (Range support, cuts, 404, wrong bytes, stalls)."""

import hashlib
import http.server
import inspect
import os
import re
import socket
import threading

import pytest

from nst.errors import NstError
from nst.weights.download import (
    ALSO_ACCEPTED,
    CURRENT_FILE,
    DEFAULT_WEIGHTS,
    OLDER_FILE,
    WEIGHTS_MD5,
    WEIGHTS_SHA256,
    WEIGHTS_URL,
    download_weights,
    ensure_weights,
    file_digests,
    official_file,
    part_path,
    verify_weights,
    weights_url,
)

DATA = os.urandom(300 * 1024)
MD5 = hashlib.md5(DATA).hexdigest()
SHA256 = hashlib.sha256(DATA).hexdigest()
NAME = DEFAULT_WEIGHTS.name


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.data with Range support; behaviour switches live on the server object."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append({"path": self.path, "range": self.headers.get("Range")})
        if srv.status404:
            self.send_error(404, "Not Found")
            return
        data = srv.data
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and srv.ranges:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.cut_after is not None and len(srv.requests) == 1:
            self.wfile.write(body[: srv.cut_after])  # full Content-Length announced, then hang up
            self.wfile.flush()
            self.close_connection = True
            return
        if srv.stall is not None:
            self.wfile.write(body[:1024])
            self.wfile.flush()
            srv.stall.wait(5)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.data, srv.requests = DATA, []
    srv.status404, srv.ranges, srv.cut_after, srv.stall = False, True, None, None
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/{NAME}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    if srv.stall is not None:
        srv.stall.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def closed_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{NAME}"


def get(path, url, **kw):
    return download_weights(path, url=url, md5=MD5, sha256=SHA256, progress=False, timeout=5, **kw)


def assert_one_line(err):
    msg = str(err.value)
    assert "\n" not in msg and msg.strip() == msg
    return msg


def test_file_digests(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(DATA)
    assert file_digests(f) == (MD5, SHA256)


def test_weights_url_env(monkeypatch):
    monkeypatch.delenv("NST_WEIGHTS_URL", raising=False)
    assert weights_url() == WEIGHTS_URL
    monkeypatch.setenv("NST_WEIGHTS_URL", "http://mirror.example/w.mat")
    assert weights_url() == "http://mirror.example/w.mat"


def test_full_download(server, tmp_path):
    target = tmp_path / "sub" / NAME
    assert get(target, server.url) == target
    assert target.read_bytes() == DATA
    assert not part_path(target).exists()
    assert server.requests[0]["range"] is None
    assert sorted(p.name for p in target.parent.iterdir()) == [NAME]


def test_full_download_with_progress_bar(server, tmp_path, capsys):
    target = tmp_path / NAME
    download_weights(target, url=server.url, md5=MD5, sha256=SHA256, progress=True)
    assert target.read_bytes() == DATA


def test_resume_after_cut(server, tmp_path):
    server.cut_after = 100_000
    target = tmp_path / NAME
    with pytest.raises(NstError) as err:
        get(target, server.url)
    msg = assert_one_line(err)
    assert server.url in msg and str(part_path(target)) in msg
    assert not target.exists()
    assert part_path(target).stat().st_size == 100_000

    assert get(target, server.url) == target
    assert server.requests[1]["range"] == "bytes=100000-"
    assert target.read_bytes() == DATA
    assert not part_path(target).exists()


def test_server_without_range_support_restarts(server, tmp_path):
    server.ranges = False
    target = tmp_path / NAME
    part_path(target).write_bytes(b"junk" * 1000)
    get(target, server.url)
    assert server.requests[0]["range"] == "bytes=4000-"
    assert target.read_bytes() == DATA
    assert not part_path(target).exists()


def test_416_complete_part_is_verified_and_used(server, tmp_path):
    target = tmp_path / NAME
    part_path(target).write_bytes(DATA)
    get(target, server.url)
    assert [r["range"] for r in server.requests] == [f"bytes={len(DATA)}-"]
    assert target.read_bytes() == DATA


def test_416_bogus_part_restarts_once(server, tmp_path):
    target = tmp_path / NAME
    part_path(target).write_bytes(os.urandom(len(DATA) + 10))
    get(target, server.url)
    assert [r["range"] for r in server.requests] == [f"bytes={len(DATA) + 10}-", None]
    assert target.read_bytes() == DATA
    assert not part_path(target).exists()


def test_checksum_mismatch(server, tmp_path):
    server.data = DATA[:-1] + bytes([DATA[-1] ^ 0xFF])
    target = tmp_path / NAME
    with pytest.raises(NstError) as err:
        get(target, server.url)
    msg = assert_one_line(err)
    assert MD5 in msg and SHA256 in msg and str(target) in msg and server.url in msg
    assert not target.exists()
    assert not part_path(target).exists()


def test_checksum_skipped_when_none(server, tmp_path):
    server.data = b"whatever"
    target = tmp_path / NAME
    download_weights(target, url=server.url, md5=None, sha256=None, progress=False)
    assert target.read_bytes() == b"whatever"


def test_404(server, tmp_path):
    server.status404 = True
    target = tmp_path / NAME
    with pytest.raises(NstError) as err:
        get(target, server.url)
    msg = assert_one_line(err)
    assert server.url in msg and "404" in msg and str(target) in msg and MD5 in msg
    assert not target.exists() and not part_path(target).exists()


def test_connection_refused(closed_url, tmp_path):
    target = tmp_path / NAME
    with pytest.raises(NstError) as err:
        get(target, closed_url)
    assert closed_url in assert_one_line(err)
    assert not target.exists()


def test_timeout_keeps_part(server, tmp_path):
    server.stall = threading.Event()
    target = tmp_path / NAME
    with pytest.raises(NstError) as err:
        download_weights(target, url=server.url, md5=MD5, sha256=SHA256, progress=False, timeout=0.3)
    assert server.url in assert_one_line(err)
    assert not target.exists()
    assert part_path(target).stat().st_size == 1024


def test_ensure_missing_without_download(closed_url, tmp_path, monkeypatch):
    monkeypatch.setenv("NST_WEIGHTS_URL", closed_url)
    target = tmp_path / NAME
    with pytest.raises(NstError) as err:
        ensure_weights(target, allow_download=False)
    msg = assert_one_line(err)
    assert str(target) in msg and closed_url in msg
    assert not target.exists()


def test_ensure_missing_custom_name(closed_url, tmp_path, monkeypatch):
    monkeypatch.setenv("NST_WEIGHTS_URL", closed_url)
    target = tmp_path / "my-weights.mat"
    with pytest.raises(NstError) as err:
        ensure_weights(target)
    assert str(target) in assert_one_line(err)
    assert not target.exists() and not part_path(target).exists()


def test_ensure_existing_file_needs_no_network(closed_url, tmp_path, monkeypatch):
    monkeypatch.setenv("NST_WEIGHTS_URL", closed_url)
    for name in (NAME, "custom.mat"):
        target = tmp_path / name
        target.write_bytes(b"not checked on every run")
        assert ensure_weights(target) == target


def test_ensure_downloads_default_name(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NST_WEIGHTS_URL", server.url)
    target = tmp_path / "pretrained-model" / NAME
    assert ensure_weights(target, progress=False, md5=MD5, sha256=SHA256) == target
    assert target.read_bytes() == DATA
    assert len(server.requests) == 1
    out = capsys.readouterr().out
    assert f"Downloading VGG-19 weights (510 MB) from {server.url} to {target} ..." in out


def test_verify_weights(tmp_path):
    target = tmp_path / NAME
    target.write_bytes(DATA)
    assert verify_weights(target, md5=MD5, sha256=SHA256) == target
    with pytest.raises(NstError) as err:
        verify_weights(target)  # the real VGG-19 checksums do not match the random bytes
    assert str(target) in assert_one_line(err)
    with pytest.raises(NstError):
        verify_weights(tmp_path / "missing.mat")


def test_the_official_files():
    assert ALSO_ACCEPTED == ((OLDER_FILE, "8ee3263992981a1d26e73b3ca028a123", None),)
    for function in (download_weights, ensure_weights):
        assert inspect.signature(function).parameters["also"].default == ALSO_ACCEPTED
    assert official_file(WEIGHTS_MD5, WEIGHTS_SHA256) == official_file(WEIGHTS_MD5) == CURRENT_FILE
    assert official_file("8ee3263992981a1d26e73b3ca028a123") == OLDER_FILE
    assert official_file(MD5, SHA256) is None and official_file(WEIGHTS_MD5, SHA256) is None


def test_mirror_serving_the_older_file(server, tmp_path, monkeypatch, capsys):
    """NST_WEIGHTS_URL names a mirror that serves the older file: accepted by its MD5 (only that is known for
    it), and the download says which file it got. The served bytes stand in for the older file: its MD5 is
    passed as the older file's, the current file's checksums stay the real ones (which these bytes do not have)."""
    monkeypatch.setenv("NST_WEIGHTS_URL", server.url)
    target = tmp_path / "pretrained-model" / NAME
    assert ensure_weights(target, progress=False, also=((OLDER_FILE, MD5, None),)) == target
    assert target.read_bytes() == DATA and not part_path(target).exists()
    out = capsys.readouterr().out
    assert f"Downloaded {OLDER_FILE}: {target} (MD5 {MD5}, SHA-256 {SHA256})" in out


def test_mirror_serving_neither_file(server, tmp_path, monkeypatch):
    monkeypatch.setenv("NST_WEIGHTS_URL", server.url)
    target = tmp_path / NAME
    with pytest.raises(NstError) as err:
        ensure_weights(target, progress=False)
    msg = assert_one_line(err)
    assert f"got MD5 {MD5}, SHA-256 {SHA256}" in msg and WEIGHTS_MD5 in msg and WEIGHTS_SHA256 in msg
    assert f"or {OLDER_FILE}: MD5 8ee3263992981a1d26e73b3ca028a123" in msg
    assert not target.exists() and not part_path(target).exists()


def test_download_says_which_file_it_got(server, tmp_path):
    lines = []
    download_weights(tmp_path / NAME, url=server.url, md5=MD5, sha256=SHA256, progress=False, log=lines.append)
    assert lines == [f"Downloaded the expected file: {tmp_path / NAME} (MD5 {MD5}, SHA-256 {SHA256})"]
