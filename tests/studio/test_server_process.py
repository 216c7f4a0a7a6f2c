"""`nst studio` as the process a user starts: its peak memory (VmHWM) under the worst requests within its limits and
a JPEG of hundreds of scans, connections that send nothing against a low file descriptor limit, two servers on one
folder, and its painter across a crash (the server SIGKILLed mid-run, a new server started on the same folder)."""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from nst.studio.painter import lock_holder
from tests.studio.browsing import api, children, multipart, pause, process_state, shipped_run, wait_until_ended
from tests.studio.hostile_files import many_scans_jpeg, uniform_png


def start_server(output, weights, token, *flags, max_files=None):
    """A real `nst studio --port 0` process (with `ulimit -n max_files`, if given); returns (process, port) once it
    listens."""
    command = [
        sys.executable,
        "-m",
        "nst",
        "studio",
        "--port",
        "0",
        "--weights",
        str(weights),
        "--output-dir",
        str(output),
        "--token",
        token,
        *flags,
    ]
    if max_files is not None:
        command = ["sh", "-c", f'ulimit -n {max_files} && exec "$@"', "sh", *command]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    line = process.stdout.readline()
    match = re.match(r"nst studio: http://127\.0\.0\.1:(\d+)/#token=", line)
    if not match:  # not the server this test needs: it ends here, and its painter with it (its input closes)
        process.kill()
        assert match, (line, process.communicate(timeout=60)[1])
    return process, int(match.group(1))


def painter_of(server, timeout=30):
    deadline = time.monotonic() + timeout
    while not children(server.pid, "painter"):
        assert time.monotonic() < deadline, "the server started no painter"
        time.sleep(0.01)
    return children(server.pid, "painter")[0]


def peak_rss_mb(pid):
    """VmHWM of process `pid` in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def gone(pid, timeout=60):
    deadline = time.monotonic() + timeout
    while process_state(pid) not in ("", "Z"):
        assert time.monotonic() < deadline, f"process {pid} is still alive"
        time.sleep(0.02)
    return True


def raw_request(port, head, chunks=()):
    """Send `head` (and body `chunks`, as far as the server reads them) on a raw socket; the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(head)
            for data in chunks:
                sock.sendall(data)
        except OSError:  # the server answered and closed while the body was still coming
            pass
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer.split(b"\r\n", 1)[0].decode()


class Server(NamedTuple):
    process: subprocess.Popen
    port: int
    token: str
    output: Path
    idle_mb: float  # its peak RSS once it has answered a first request and refused a first Start


@pytest.fixture(scope="module")
def server(small_vgg, tmp_path_factory):
    """One real `nst studio` process for this module (its painter warming up meanwhile); killed at the end."""
    output, token = tmp_path_factory.mktemp("server-process"), "server-process-token"
    process, port = start_server(output, small_vgg, token)
    assert api(port, token, "GET", "/api/info")[0] == 200
    # A Start refused after its settings were checked: what that imports (numpy, for the CLI's checks) counts as idle.
    assert api(port, token, "POST", "/api/runs", shipped_run() | {"content_choice": "no-such-image"})[0] == 400
    yield Server(process, port, token, output, peak_rss_mb(process.pid))
    painter = children(process.pid) if process.poll() is None else []
    process.kill()
    process.wait()
    for pid in painter:
        os.kill(pid, signal.SIGKILL)


def test_the_worst_requests_within_the_limits_keep_the_server_s_memory_bounded(server):
    port, token = server.port, server.token
    # A body above the cap (50 MB): refused from its Content-Length, or as it comes when it has none.
    head = (
        f"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: token {token}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
    )
    assert raw_request(port, (head + "Content-Length: 60000000\r\n\r\n").encode()) == (
        "HTTP/1.1 413 Request Entity Too Large"
    )
    megabyte = b"0" * 1_000_000
    part = b'--x\r\nContent-Disposition: form-data; name="content_file"; filename="a.png"\r\n\r\n'
    chunks = [f"{len(data):x}\r\n".encode() + data + b"\r\n" for data in [part] + [megabyte] * 60]
    assert raw_request(port, (head + "Transfer-Encoding: chunked\r\n\r\n").encode(), chunks).startswith("HTTP/1.1 413")
    # A picture whose header says 64 Mpx (above the 50 Mpx limit): refused before a pixel is decoded.
    status, body = api(
        port,
        token,
        "POST",
        "/api/runs",
        shipped_run() | {"content_file": ("bomb.png", uniform_png(8000, 8000, rows=1))},
    )
    assert status == 400 and body["error"].startswith(
        "Image file bomb.png (content) is 8000x8000 = 64000000 pixels, more than the limit of 50000000"
    )
    refused = peak_rss_mb(server.process.pid)
    # The worst picture within the limits, twice at once: 7000x7000 RGBA (49 Mpx, 196 MB decoded) in a PNG of a
    # few hundred KB. One is taken, the other waits for it to be decoded, then finds the run started.
    worst = uniform_png(7000, 7000)
    answers = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(
                api(
                    port,
                    token,
                    "POST",
                    "/api/runs",
                    shipped_run(iterations=1, width=8, height=8) | {"content_file": ("huge.png", worst)},
                )
            )
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200, 409], answers
    accepted = peak_rss_mb(server.process.pid)
    name = next(body["name"] for status, body in answers if status == 200)
    assert api(port, token, "POST", f"/api/runs/{name}/stop")[0] == 200  # (the painter need not read it)
    print(
        f"server peak RSS: idle {server.idle_mb:.0f} MB, after the refused requests {refused:.0f} MB, after two "
        f"7000x7000 RGBA uploads at once {accepted:.0f} MB (+{accepted - server.idle_mb:.0f} MB)"
    )
    assert refused - server.idle_mb < 30
    assert accepted - server.idle_mb < 300


def test_a_jpeg_of_hundreds_of_scans_is_refused_before_it_is_decoded(server):
    """A progressive JPEG of 7000x7000 in 300 scans (300 KB; each scan a pass over every block, 470 MB and seconds
    of decoding): refused from its scan count, the server's memory untouched."""
    port, token = server.port, server.token
    deadline = time.monotonic() + 120
    while api(port, token, "GET", "/api/info")[1]["running"] is not None:  # the run of the test before, stopping
        assert time.monotonic() < deadline, "the run before did not end"
        time.sleep(0.05)
    before = peak_rss_mb(server.process.pid)
    status, body = api(
        port,
        token,
        "POST",
        "/api/runs",
        shipped_run() | {"content_file": ("scans.jpg", many_scans_jpeg(7000, 7000, 300))},
    )
    assert (status, body) == (
        400,
        {
            "error": "Image file scans.jpg (content) is a JPEG of more than 100 scans (each "
            "one a pass over the whole picture): save it again as an ordinary JPEG "
            "or a PNG"
        },
    )
    assert peak_rss_mb(server.process.pid) - before < 30


def interrupted_at(folder):
    """The step of the last `nst: interrupted after step N of ...: saved` line of the run's stderr.txt."""
    line = (folder / "stderr.txt").read_text().strip().splitlines()[-1]
    return int(re.match(r"nst: interrupted after step (\d+) of 1000000: saved ", line).group(1))


def wait_for_snapshot(folder, step, server, timeout=120):
    deadline = time.monotonic() + timeout
    while not (folder / f"{step}.png").exists():
        assert time.monotonic() < deadline and server.poll() is None, f"no snapshot {step}"
        time.sleep(0.02)


def test_another_server_sees_a_painter_it_did_not_start_and_a_killed_server_s_painter_saves_and_exits(server, served):
    """Server A (a real process) paints; server B (the tests' server, as one restarted after a crash would) finds
    A's painter by its lock: the run shows as painting there, Start and Resume wait, Stop reaches it. Then A is
    SIGKILLed mid-run: its painter stops the run as Ctrl-C does, saves it and exits by itself."""
    first, port, token = server.process, server.port, server.token
    painter = painter_of(first)
    b, saved_output = served.studio, served.studio.output_dir
    deadline = time.monotonic() + 120
    while True:  # after the memory test, a run may still be on its way out
        status, body = api(
            port, token, "POST", "/api/runs", shipped_run(iterations=1_000_000, width=16, height=12, save_every=1)
        )
        if status != 409:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    assert status == 200, body
    name = body["name"]
    folder = server.output / "studio" / name
    try:
        wait_for_snapshot(folder, 2, first)
        b.output_dir = server.output  # B now serves A's runs
        assert api(served.port, served.token, "GET", f"/api/runs/{name}")[1]["state"] == "running"
        assert api(served.port, served.token, "GET", "/api/info")[1]["running"] == name
        status, body = api(served.port, served.token, "POST", "/api/runs", shipped_run(iterations=2, width=8, height=8))
        assert status == 409 and "one run at a time" in body["error"]
        assert api(served.port, served.token, "POST", f"/api/runs/{name}/resume")[0] == 409  # no second writer
        assert api(served.port, served.token, "POST", f"/api/runs/{name}/stop")[0] == 200
        deadline = time.monotonic() + 60
        while api(served.port, served.token, "GET", f"/api/runs/{name}")[1]["state"] != "stopped":
            assert time.monotonic() < deadline, "B's Stop did not stop A's painter"
            time.sleep(0.02)
        step = interrupted_at(folder)
        assert process_state(painter) not in ("", "Z")  # A's painter stopped the run, not itself
        # A resumes the run and is killed while it paints.
        assert api(port, token, "POST", f"/api/runs/{name}/resume")[0] == 200
        wait_for_snapshot(folder, step + 3, first)
        first.kill()
        first.wait()
        assert gone(painter)
        later = interrupted_at(folder)
        assert later >= step + 3 and (folder / f"{later}.png").is_file()
        status = api(served.port, served.token, "GET", f"/api/runs/{name}")[1]
        assert status["state"] == "stopped" and status["resumable"] and status["done"] == later + 1
    finally:
        b.output_dir = saved_output


def closed_by_server(sock):
    """Whether the server has closed `sock` (it reads end-of-file or a reset; anything it sent first is skipped)."""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
            if not select.select([sock], [], [], 0)[0]:
                return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (BlockingIOError, socket.timeout):
        return False


def server_side_open(sock):
    """Whether the server still holds its end of the IPv4 TCP connection `sock` (its entry in /proc/net/tcp is
    ESTABLISHED), seen without reading from `sock`: a server that drops a connection its client does not read
    leaves it FIN_WAIT1 (the kernel still holding what was sent), or gone."""

    def address(host, port):
        return "%08X:%04X" % (int.from_bytes(socket.inet_aton(host), "little"), port)

    ours, theirs = address(*sock.getsockname()), address(*sock.getpeername())
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == theirs and fields[2] == ours:
            return fields[3] == "01"
    return False


def test_connections_that_send_nothing_or_too_little_cannot_starve_the_server(small_vgg, tmp_path):
    """A server held to 256 file descriptors (`ulimit -n 256`). 300 connections that send nothing, one that trickles
    a request head a byte at a time, one whose body stops coming, one that never reads the answer it asked for: an
    authorised request on a new connection is answered, so is an upload that keeps coming for longer than a head may
    take, and the server ends every one of the others (its head, body and write deadlines, its cap on
    connections)."""
    token = "connections-token-5e1"
    process, port = start_server(tmp_path, small_vgg, token, max_files=256)
    host = f"127.0.0.1:{port}"
    big = tmp_path / "studio" / "20000101-000000-unread"
    idle, stalled, trickle, unread, answers, stop = [], None, None, None, [], threading.Event()
    try:
        big.mkdir()
        (big / "studio.json").write_text("{}")
        with open(big / "big.png", "wb") as f:
            f.truncate(32 << 20)
        idle = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(300)]
        trickle = socket.create_connection(("127.0.0.1", port), timeout=60)
        trickle.sendall(f"GET /api/info HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode())
        stalled = socket.create_connection(("127.0.0.1", port), timeout=60)
        stalled.sendall(
            f"POST /api/runs HTTP/1.1\r\nHost: {host}\r\nAuthorization: token {token}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000\r\n\r\n--x\r\n".encode()
        )

        def trickling():  # a byte every 0.2 s: the head never completes
            while not stop.wait(0.2):
                try:
                    trickle.sendall(b"x")
                except OSError:
                    return

        def steady_upload():  # 80 pieces, one every 0.2 s: longer than a head or a pause in a body may take
            body, content_type = multipart(shipped_run(iterations=0))
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                sock.sendall(
                    f"POST /api/runs HTTP/1.1\r\nHost: {host}\r\nAuthorization: token {token}\r\n"
                    f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                )
                step = -(-len(body) // 80)
                for i in range(0, len(body), step):
                    sock.sendall(body[i : i + step])
                    time.sleep(0.2)
                answers.append(sock.recv(65536))

        unread = socket.socket()
        unread.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        unread.settimeout(60)
        unread.connect(("127.0.0.1", port))
        unread.sendall(
            f"GET /runs/{big.name}/big.png HTTP/1.1\r\nHost: {host}\r\nAuthorization: token {token}\r\n\r\n".encode()
        )
        threads = [threading.Thread(target=trickling), threading.Thread(target=steady_upload)]
        for thread in threads:
            thread.start()
        assert api(port, token, "GET", "/api/info")[0] == 200
        others = [*idle, trickle, stalled]
        for sock in others:
            sock.setblocking(False)
        deadline, open_ = time.monotonic() + 180, set(others)
        while open_ or server_side_open(unread):  # the unread answer: dropped by the server (never read here)
            assert time.monotonic() < deadline and process.poll() is None, (
                f"{len(open_)} connections still open; the unread answer still held: {server_side_open(unread)}"
            )
            for sock in select.select(list(open_), [], [], 1)[0] if open_ else time.sleep(0.2) or []:
                if closed_by_server(sock):
                    open_.discard(sock)
        received = b"".join(iter(lambda: unread.recv(1 << 20), b""))
        assert received.startswith(b"HTTP/1.1 200 ") and len(received) < 32 << 20
        stop.set()
        for thread in threads:
            thread.join(120)
    finally:
        stop.set()
        for sock in [*idle, trickle, stalled, unread]:
            if sock is not None:
                sock.close()
        painter = children(process.pid) if process.poll() is None else []
        process.kill()
        process.wait()
        for pid in painter:
            os.kill(pid, signal.SIGKILL)
    assert len(answers) == 1 and answers[0].startswith(b"HTTP/1.1 400 "), answers
    assert b"--iterations must be a whole number of at least 1, got 0" in answers[0]


def test_two_servers_on_one_folder_never_paint_at_once(small_vgg, served, tmp_path):
    """Server B just started, its painter still importing TensorFlow: a Start on B is answered once B's painter
    holds the new run's folder, so a Start on server A (the tests' server) on the same folder finds it painting."""
    token = "second-server-token"
    second, port = start_server(tmp_path, small_vgg, token)
    studio, saved = served.studio, served.studio.output_dir
    painter, answer = None, (None, None)
    try:
        status, body = api(port, token, "POST", "/api/runs", shipped_run(iterations=1_000_000, width=16, height=12))
        assert status == 200, body
        painter = painter_of(second)
        pause(painter)  # B's painter holds still (it had not finished warming up)
        holder = lock_holder(tmp_path / "studio" / body["name"])
        wait_until_ended(studio)
        studio.output_dir = tmp_path
        answer = api(served.port, served.token, "POST", "/api/runs", shipped_run(iterations=2, width=8, height=8))
    finally:
        if answer[0] == 200:
            api(served.port, served.token, "POST", f"/api/runs/{answer[1]['name']}/stop")
        wait_until_ended(studio)
        studio.output_dir = saved
        second.kill()
        second.wait()
        if painter is not None:
            os.kill(painter, signal.SIGKILL)
    assert answer[0] == 409 and "one run at a time" in answer[1]["error"], answer
    assert holder == painter
