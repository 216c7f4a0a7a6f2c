"""The studio on a machine shared with other users, each test the attack itself on the real server: another user
(`nobody`) reading the photos or faking a run, a process of the user's that is not a painter holding the lock,
files planted to break the gallery (deep nesting, wrong types, a huge record, FIFOs, symlinks), uploads that carry
metadata or cost a decoder too much, a size no free memory holds, and scopes other than HTTP."""

import asyncio
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, TiffImagePlugin

from nst.images import read_image
from nst.settings import Config, memory_need, memory_problem
from nst.studio.guard import guard
from tests.studio.browsing import api, children, pause, process_state, shipped_run, wait_until_ended
from tests.studio.hostile_files import png_chunks, uniform_png

PYTHON = Path("/usr/bin/python3")  # what `nobody` can run (the venv's interpreter may live under /root)
another_user = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not PYTHON.is_file(),
    reason="another local user is played by `nobody`: needs root, setpriv (util-linux) and /usr/bin/python3",
)


@pytest.fixture
def open_folder():
    """A folder every user may enter (0755), as a home or project folder often is: only the studio's own modes can
    keep its runs private there."""
    path = Path(tempfile.mkdtemp(prefix="nst-studio-shared-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def studio_in(served):
    """Point the tests' studio at another output folder for one test (a function: folder -> studio)."""
    studio, saved = served.studio, served.studio.output_dir

    def use(folder):
        wait_until_ended(studio)
        studio.output_dir = folder
        return studio

    yield use
    wait_until_ended(studio)
    studio.output_dir = saved


def finished_run(served, **settings):
    """Start a small run on the shipped pictures and wait until it has finished; its folder."""
    status, body = api(
        served.port,
        served.token,
        "POST",
        "/api/runs",
        shipped_run(iterations=3, width=16, height=12, save_every=1) | settings,
    )
    assert status == 200, body
    wait_until_ended(served.studio)
    folder = served.studio.runs_dir / body["name"]
    assert api(served.port, served.token, "GET", f"/api/runs/{folder.name}")[1]["state"] == "finished"
    return folder


NOBODY_TRIES = """
import fcntl, os, sys
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            if path.endswith(".painter.lock"):
                fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a run "painting" as long as this is held
                print("holding", path, flush=True)
                sys.stdin.read()
            os.read(fd, 16)
        print("read", path, flush=True)
    except OSError as exc:
        print("refused", path, flush=True)
"""


@another_user
def test_another_user_can_read_no_photo_and_fake_no_run(served, studio_in, open_folder):
    studio = studio_in(open_folder)
    folder = finished_run(served)
    runs_dir = studio.runs_dir
    # The folders 0700, every file 0600: the studio's inputs and record, the CLI's results, the lock.
    assert stat.S_IMODE(runs_dir.stat().st_mode) == 0o700 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in folder.iterdir()}
    assert {"content.png", "studio.json", "generated_image.jpg", "costs.csv", "stderr.txt", ".painter.lock"} <= set(
        modes
    )
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
    # Another user reads nothing and cannot take the lock to make the run look as if it were painting.
    targets = [
        runs_dir,
        folder / "content.png",
        folder / "studio.json",
        folder / "stderr.txt",
        folder / ".painter.lock",
    ]
    attacker = subprocess.Popen(
        [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            str(PYTHON),
            "-c",
            NOBODY_TRIES,
            *map(str, targets),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd="/",
    )
    try:
        said = [(attacker.stdout.readline().split() or ["nothing"])[0] for _ in targets]
        status = api(served.port, served.token, "GET", f"/api/runs/{folder.name}")[1]["state"]
        running = api(served.port, served.token, "GET", "/api/info")[1]["running"]
    finally:
        attacker.stdin.close()
        attacker.wait(60)
    assert said == ["refused"] * len(targets), said
    assert (status, running) == ("finished", None)


HOLDS_LOCK = """
import fcntl, os, signal, sys
got = []
signal.signal(signal.SIGINT, lambda *a: got.append("SIGINT"))
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, (fcntl.LOCK_EX if sys.argv[2] == "write" else fcntl.LOCK_SH) | fcntl.LOCK_NB)
print("holding", flush=True)
sys.stdin.read()
print(" ".join(got) or "no signal", flush=True)
"""


def test_a_lock_held_by_a_program_that_is_no_painter_is_no_run_and_stop_never_signals_it(served, studio_in, tmp_path):
    """The user's own programs (not a painter) holding the run's lock, for writing or for reading: the run is not
    painting, a Start is not refused, and Stop sends them nothing."""
    studio_in(tmp_path)
    folder = finished_run(served)
    for kind in ("write", "read"):
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDS_LOCK, str(folder / ".painter.lock"), kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "holding"
            state = api(served.port, served.token, "GET", f"/api/runs/{folder.name}")[1]["state"]
            stop = api(served.port, served.token, "POST", f"/api/runs/{folder.name}/stop")
            running = api(served.port, served.token, "GET", "/api/info")[1]["running"]
        finally:
            holder.stdin.close()
        assert (state, stop[0], running) == ("finished", 409, None), (kind, stop)
        assert holder.stdout.readline().strip() == "no signal", kind
        assert holder.wait(60) == 0


def test_the_token_can_come_from_the_environment_or_a_file_and_stays_out_of_ps(small_vgg, tmp_path):
    token = "from-the-environment-7f2c"
    env = dict(os.environ, NST_STUDIO_TOKEN=token)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nst",
            "studio",
            "--port",
            "0",
            "--weights",
            str(small_vgg),
            "--output-dir",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("nst studio: http://127.0.0.1:") and f"/#token={token}  " in line, line
        port = int(re.match(r"nst studio: http://127\.0\.0\.1:(\d+)/", line).group(1))
        assert api(port, token, "GET", "/api/info")[0] == 200
        helpers = children(server.pid)  # the painter and the upload decoder kept ready
        assert len(helpers) == 2, helpers
        # Not in anyone's `ps`, and not in the environment of the server's children.
        for pid in (server.pid, *helpers):
            assert token.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes(), pid
        for pid in helpers:
            assert token.encode() not in Path(f"/proc/{pid}/environ").read_bytes(), pid
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    # A token file: only one that no other user can read.
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file-0d3e9b\n")
    token_file.chmod(0o644)
    refused = subprocess.run(
        [sys.executable, "-m", "nst", "studio", "--token-file", str(token_file), "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        f"nst: error: --token-file {token_file} can be read by other users (mode -rw-r--r--): chmod 600 "
        f"{token_file}, as the owner"
    ]
    token_file.chmod(0o600)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nst",
            "studio",
            "--port",
            "0",
            "--weights",
            str(small_vgg),
            "--output-dir",
            str(tmp_path),
            "--token-file",
            str(token_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert "/#token=from-a-file-0d3e9b  " in line, line
        port = int(re.match(r"nst studio: http://127\.0\.0\.1:(\d+)/", line).group(1))
        assert api(port, "from-a-file-0d3e9b", "GET", "/api/info")[0] == 200
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)


# --- one run's damage is that run's --------------------------------------------------------------------------


def plant(runs_dir, name, files):
    """A run folder `name` with `files` {file name: bytes, or "fifo", or ("symlink", target)}."""
    folder = runs_dir / name
    folder.mkdir(parents=True)
    for file, content in files.items():
        if content == "fifo":
            os.mkfifo(folder / file)
        elif isinstance(content, tuple):
            (folder / file).symlink_to(content[1])
        else:
            (folder / file).write_bytes(content)
    return folder


def unblock(folder):
    """Open every FIFO in `folder` for writing (a reader stuck on one returns) and remove the folder."""
    for path in folder.iterdir():
        if stat.S_ISFIFO(path.lstat().st_mode):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    shutil.rmtree(folder)


def test_a_damaged_run_is_that_run_s_and_never_the_gallery_s(served, studio_in, tmp_path):
    studio = studio_in(tmp_path)
    good = finished_run(served)
    record = json.dumps({"settings": {"width": 16, "height": 12, "iterations": 3}}).encode()
    deep = b"[" * 200_000 + b"]" * 200_000
    damaged = {
        "20000101-000001-deep-record": {"studio.json": deep},
        "20000101-000002-deep-result": {"studio.json": record, "run.json": b'{"parameters":' + deep + b"}"},
        "20000101-000003-parameters-a-list": {
            "studio.json": record,
            "run.json": b'{"parameters": [1, 2], "final_costs": {"total": 1.0}}',
        },
        "20000101-000004-final-costs-a-list": {
            "studio.json": record,
            "run.json": b'{"parameters": {}, "final_costs": [1, 2]}',
        },
        "20000101-000005-final-cost-a-word": {
            "studio.json": record,
            "run.json": b'{"parameters": {}, "final_costs": {"total": "low"}}',
        },
        "20000101-000006-huge-record": {"studio.json": b" " * (64 << 20) + record},
        "20000101-000007-record-a-fifo": {"studio.json": "fifo"},
        "20000101-000008-result-a-fifo": {"studio.json": record, "run.json": "fifo"},
        "20000101-000009-events-a-fifo": {"studio.json": record, "events.jsonl": "fifo"},
        "20000101-000010-record-a-link": {"studio.json": ("symlink", good / "studio.json")},
        "20000101-000011-result-a-link": {"studio.json": record, "run.json": ("symlink", good / "run.json")},
        "20000101-000014-events-deep": {"studio.json": record, "events.jsonl": b"[" * 4000 + b"]" * 4000 + b"\n"},
        "20000101-000015-events-a-link": {"studio.json": record, "events.jsonl": ("symlink", good / "events.jsonl")},
        "20000101-000016-events-wrong-types": {
            "studio.json": record,
            "events.jsonl": b'{"event": "ended", "state": "finished", "message": ["x"], "resumable": false}\n',
        },
    }
    harmless = {  # a FIFO where the lock or the console is: read without blocking, the run is simply not painting
        "20000101-000012-lock-a-fifo": {"studio.json": record, ".painter.lock": "fifo"},
        "20000101-000013-console-a-fifo": {"studio.json": record, "stderr.txt": "fifo"},
    }
    folders = [plant(studio.runs_dir, name, files) for name, files in (damaged | harmless).items()]
    try:
        status, body = api(served.port, served.token, "GET", "/api/runs")
        assert status == 200, body
        states = {run["name"]: run["state"] for run in body["runs"]}
        assert states[good.name] == "finished"
        assert {name: states.get(name) for name in damaged} == dict.fromkeys(damaged, "damaged")
        assert {name: states.get(name) for name in harmless} == dict.fromkeys(harmless, "failed")
        for name in damaged:
            status, run = api(served.port, served.token, "GET", f"/api/runs/{name}")
            assert status == 200 and run["state"] == "damaged" and run["error"].startswith("damaged run: "), name
        status, info = api(served.port, served.token, "GET", "/api/info")
        assert status == 200 and info["running"] is None
        # The gallery goes on working: a new run starts and is listed with them.
        newer = finished_run(served)
        assert newer.name in {run["name"] for run in api(served.port, served.token, "GET", "/api/runs")[1]["runs"]}
    finally:
        for folder in folders:
            unblock(folder)


# --- uploads -----------------------------------------------------------------------------------------------


def tiff_with_metadata():
    """A CMYK TIFF carrying an artist, XMP with a GPS position, IPTC and an ICC profile with bytes appended."""
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = np.random.default_rng(4).integers(0, 256, (24, 32, 4), dtype=np.uint8)
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[315] = "Artist Person"
    tags[700] = b"<x:xmpmeta><exif:GPSLatitude>48,51.5N</exif:GPSLatitude></x:xmpmeta>"
    tags[33723] = b"\x1c\x02\x78\x00\x0bIPTC-secret"
    buffer = io.BytesIO()
    Image.fromarray(pixels, "CMYK").save(buffer, format="TIFF", tiffinfo=tags, icc_profile=icc + b"APPENDED-SECRET")
    return buffer.getvalue()


def png_with_metadata():
    """An RGB PNG with an ICC profile (bytes appended), a text chunk and EXIF saying "rotate 90°"."""
    from PIL import PngImagePlugin

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = np.random.default_rng(5).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "PNG-text-secret")
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(
        buffer, format="PNG", icc_profile=icc + b"APPENDED-SECRET", pnginfo=text, exif=exif.tobytes()
    )
    return buffer.getvalue()


def grey_32_bit_tiff():
    """A float grey TIFF (Pillow's mode F), values 0..1 with a NaN: what the CLI scales by 255."""
    values = np.random.default_rng(6).random((24, 32)).astype(np.float32)
    values[0, 0] = np.nan
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="TIFF")
    return buffer.getvalue()


def test_every_upload_is_stored_as_a_png_with_no_metadata_and_the_pixels_the_cli_reads(served, studio_in, tmp_path):
    studio = studio_in(tmp_path / "output")
    originals = {
        "portrait.tif": tiff_with_metadata(),
        "painting.png": png_with_metadata(),
        "scan.tif": grey_32_bit_tiff(),
    }
    for name, data in originals.items():
        (tmp_path / name).write_bytes(data)
    for content, style in (("portrait.tif", "painting.png"), ("scan.tif", "painting.png")):
        status, body = api(
            served.port,
            served.token,
            "POST",
            "/api/runs",
            shipped_run(iterations=2, width=16, height=12)
            | {"content_file": (content, originals[content]), "style_file": (style, originals[style])},
        )
        assert status == 200, body
        wait_until_ended(studio)
        folder = studio.runs_dir / body["name"]
        stored = {"content": folder / "content.png", "style": folder / "style-1.png"}
        assert sorted(p.name for p in folder.glob("content.*")) == ["content.png"]
        for role, original in (("content", content), ("style", style)):
            data = stored[role].read_bytes()
            assert {c for c in png_chunks(data) if c != "IDAT"} == {"IHDR", "IEND"}, (original, png_chunks(data))
            for secret in (b"GPSLatitude", b"Artist Person", b"IPTC-secret", b"APPENDED-SECRET", b"PNG-text-secret"):
                assert secret not in data, (original, secret)
            expected, got = read_image(tmp_path / original), read_image(stored[role])
            if original == "scan.tif":  # 32-bit grey kept in 16 bits: within 1/65535 of the range
                assert Image.open(stored[role]).mode == "I;16"
                np.testing.assert_allclose(got, expected, atol=255 / 65535)
            else:  # the same pixels, the EXIF rotation applied (the PNG was 32 wide, 24 high)
                np.testing.assert_array_equal(got, expected)
        assert read_image(stored["style"]).shape == (32, 24, 3)


def test_decoding_an_upload_is_held_to_a_deadline_and_a_memory_limit(served, studio_in, tmp_path):
    """A 7000x7000 PNG of 600 KB (196 MB decoded): with a decoder's deadline of 0.2 s (far less than that
    decoding ever takes) or too little memory for it, the worker is ended and the Start refused with the reason."""
    from nst.studio.uploads import DecodeLimits

    studio = studio_in(tmp_path)
    saved, before = studio.decode_limits, sorted(studio.runs_dir.iterdir()) if studio.runs_dir.is_dir() else []
    big = uniform_png(7000, 7000)
    try:
        studio.decode_limits = DecodeLimits(seconds=0.2)
        studio.decoder.prepare()
        worker = studio.decoder.spare[0].pid  # the one that takes the next job
        status, body = api(
            served.port, served.token, "POST", "/api/runs", shipped_run() | {"content_file": ("big.png", big)}
        )
        assert (status, body) == (
            400,
            {
                "error": "Image file big.png (content) took longer than 0.2 s to decode: the "
                "studio's limit; upload a smaller or simpler image"
            },
        )
        assert process_state(worker) == ""  # ended at its deadline, and gone
        studio.decode_limits = DecodeLimits(base_bytes=200 << 20, bytes_per_pixel=0)
        status, body = api(
            served.port, served.token, "POST", "/api/runs", shipped_run() | {"content_file": ("big.png", big)}
        )
        assert (status, body) == (
            400,
            {
                "error": "Image file big.png (content) needs more memory to decode than the "
                "studio allows: upload a smaller image"
            },
        )
    finally:
        studio.decode_limits = saved
    assert sorted(studio.runs_dir.iterdir()) == before  # nothing started, no staging folder left behind


# --- admission and the guard's scopes ----------------------------------------------------------------------


def test_a_run_the_free_memory_cannot_hold_is_refused_with_the_reason(served, studio_in, tmp_path):
    """A size that no plan of tiles fits in the memory free now (the smallest budget any plan needs, as the CLI
    computes it, above the machine's whole memory): refused before anything starts. (The painter is paused
    meanwhile, so that a run taken by mistake never allocates anything.)"""
    studio = studio_in(tmp_path)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    height, width = 1000, 1000
    while memory_need(memory_problem(Config(width=width, height=height)), None, total) is None:
        width *= 2
    pid = studio.painter.pid
    pause(pid)
    try:
        status, body = api(served.port, served.token, "POST", "/api/runs", shipped_run(width=width, height=height))
        if status == 200:  # taken: cancelled before the painter goes on
            api(served.port, served.token, "POST", f"/api/runs/{body['name']}/stop")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert status == 400, body
    assert body["error"].startswith(f"--width {width} --height {height} needs at least ")
    assert body["error"].endswith("is free on this machine now: pass a smaller --width and --height")
    assert not studio.runs_dir.exists()  # refused before anything was decoded or written


def asgi(app, scope, messages=({"type": "websocket.connect"},)):
    """Call the ASGI app with `scope`: (what it sent back, the scopes the inner app saw)."""
    sent, pending = [], list(messages)

    async def receive():
        return pending.pop(0) if pending else {"type": "websocket.disconnect", "code": 1000}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_the_guard_checks_every_kind_of_connection():
    """A WebSocket handshake meets the Host, Origin and token checks before any app sees it; lifespan goes
    through; a scope type the studio does not know is refused."""
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})

    guarded = guard(app, "scope-token-1234", "127.0.0.1")

    def websocket(host, **headers):
        return {
            "type": "websocket",
            "path": "/socket",
            "query_string": b"",
            "server": ("127.0.0.1", 7860),
            "headers": [(b"host", host.encode())] + [(k.encode(), v.encode()) for k, v in headers.items()],
        }

    for scope in (
        websocket("evil.example:7860", authorization="token scope-token-1234"),
        websocket("127.0.0.1:7860", authorization="token scope-token-1234", origin="http://evil.example"),
        websocket("127.0.0.1:7860"),
        websocket("127.0.0.1:7860", authorization="token wrong-token-1"),
    ):
        assert asgi(guarded, scope) == [{"type": "websocket.close", "code": 1008}], scope["headers"]
    assert seen == []
    sent = asgi(guarded, websocket("127.0.0.1:7860", authorization="token scope-token-1234"))
    assert seen == ["websocket"] and sent == [{"type": "websocket.accept"}]
    asgi(guarded, {"type": "lifespan"}, [{"type": "lifespan.startup"}])
    assert seen == ["websocket", "lifespan"]
    with pytest.raises(ValueError, match="no 'webtransport' connections"):
        asgi(guarded, {"type": "webtransport", "headers": []})
    assert seen == ["websocket", "lifespan"]
