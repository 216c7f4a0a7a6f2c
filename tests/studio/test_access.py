"""The studio against the attacks a local web app meets, each the real attack on the real server (and in the real
browser where a browser is the attacker's tool): no token, a foreign Host (DNS rebinding), a page on another
origin posting to it, a script hidden in an upload, files that are not the studio's, settings no run can use."""

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

from nst.images import read_image
from nst.sinks.events_log import read_events
from tests.studio.browsing import (
    api,
    browser_only,
    children,
    element,
    open_page,
    painter_pid,
    pause,
    pause_at_new_snapshot,
    process_state,
    request,
    shipped_run,
    text,
    wait,
    wait_until_ended,
)


def png_bytes(width=32, height=24, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def runs_in(studio):
    return sorted(p.name for p in studio.runs_dir.iterdir()) if studio.runs_dir.is_dir() else []


def test_without_the_token_only_the_page_answers(served):
    port, token = served.port, served.token
    for method, path in (
        ("GET", "/api/runs"),
        ("GET", "/api/info"),
        ("GET", "/images/swirls.jpg"),
        ("GET", "/runs/x/0.png"),
        ("POST", "/api/runs/x/stop"),
        ("GET", "/static/other.js"),
        ("POST", "/"),
        ("PUT", "/static/page.js"),
    ):
        status, _, body = request(port, method, path)
        assert status in (403, 405) and "needs its token" in json.loads(body)["error"], (method, path)
    status, _, body = request(
        port,
        "POST",
        "/api/runs",
        body=b"content_choice=grace_hopper.jpg",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 403
    # The page, its script and its style: the same for everyone, no data in them, and never a cookie.
    for path in ("/", f"/?token={token}", "/static/page.js", "/static/page.css"):
        status, headers, body = request(port, "GET", path)
        assert status == 200 and "set-cookie" not in headers and token.encode() not in body, path
    # The token counts only in the Authorization header: not in a cookie, not in the query, not another one.
    assert request(port, "GET", "/api/runs", headers={"Cookie": f"nst-studio-{port}={token}"})[0] == 403
    assert request(port, "GET", f"/api/runs?token={token}")[0] == 403
    assert request(port, "GET", "/api/runs", token="guessed-wrong")[0] == 403
    assert request(port, "GET", "/api/runs", headers={"Authorization": f"Bearer {token}"})[0] == 403
    assert request(port, "GET", "/api/runs", token=token)[0] == 200


class Recorder(BaseHTTPRequestHandler):
    """Another local web server (any user's): a plain page; it keeps every request as it came, headers included."""

    seen = []

    def do_GET(self):
        Recorder.seen.append(f"{self.requestline}\n{self.headers}")
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<!doctype html><title>another server</title><img src=/picture.png>")

    def log_message(self, *args):
        pass


@browser_only
def test_no_credential_of_the_studio_reaches_another_server_on_this_machine(served, browser):
    """The printed address opens the page in one click (token in the fragment, kept by the tab, out of the address
    bar), the page and its images work, also after a reload; then the browser visits a plain server on another port
    of 127.0.0.1 and of localhost: nothing it sends there carries the token (cookies are per host, not per port)."""
    port, token = served.port, served.token
    other = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    Recorder.seen = []
    try:
        for name in ("127.0.0.1", "localhost"):
            open_page(browser, f"http://{name}:{port}/#token={token}")
            wait(browser, lambda: text(browser, "runs-dir"), 30, "the page did not load the studio's info")
            preview = element(browser, "content-preview")  # a shipped image, fetched with the token
            wait(
                browser,
                lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", preview),  # noqa: B023, E501 - waited on at once
                30,
                "the preview did not load",
            )
            assert token not in browser.current_url and browser.current_url.startswith(f"http://{name}:{port}/")
            browser.refresh()  # the tab keeps the token
            wait(browser, lambda: text(browser, "runs-dir"), 30, "a reload lost the studio")
            assert element(browser, "login").get_attribute("hidden") is not None
            assert browser.get_cookies() == []
        for name in ("127.0.0.1", "localhost"):
            browser.get(f"http://{name}:{other.server_address[1]}/")
            wait(browser, lambda: browser.title == "another server", 30)
        deadline = time.monotonic() + 30
        while len(Recorder.seen) < 4 and time.monotonic() < deadline:  # each page and its picture
            time.sleep(0.02)
    finally:
        other.shutdown()
        other.server_close()
    assert len(Recorder.seen) >= 4, Recorder.seen
    assert not [r for r in Recorder.seen if token in r or "cookie:" in r.lower()], Recorder.seen
    # A new tab opened without the address: the page asks for the token and shows nothing else.
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        wait(browser, lambda: element(browser, "login").is_displayed(), 30, "no note on how to get in")
        assert not element(browser, "setup").is_displayed() and not element(browser, "run").is_displayed()
        element(browser, "token-field").send_keys("guessed-wrong")
        element(browser, "unlock").click()
        wait(browser, lambda: "not this studio's" in text(browser, "login-message"), 30, "a wrong token passed")
        element(browser, "token-field").send_keys(token)
        element(browser, "unlock").click()
        wait(browser, lambda: text(browser, "runs-dir"), 30, "the typed token did not open the studio")
    finally:
        browser.close()
        browser.switch_to.window(first)


def test_a_foreign_host_is_refused_even_with_the_token(served):
    port, token = served.port, served.token
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1"):
        for path in ("/", "/api/runs", "/api/info"):
            status, _, body = request(port, "GET", path, token, host=host)
            assert status == 403 and "answers only at" in json.loads(body)["error"], (host, path)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert request(port, "GET", "/api/info", token, host=host)[0] == 200, host


class Attacker(BaseHTTPRequestHandler):
    """A page on another origin (another port of 127.0.0.1): a fetch(no-cors) of a FormData with a file to
    the studio's Start, a no-cors Stop, and a form that posts to Start."""

    page = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args):
        pass


def attacker_page(studio_port):
    fields = {
        "content_choice": "grace_hopper.jpg",
        "style_choice": "swirls.jpg",
        "iterations": 2,
        "width": 8,
        "height": 8,
    }
    inputs = "".join(f'<input name="{k}" value="{v}">' for k, v in fields.items())
    appends = "".join(f'data.append("{k}", "{v}");' for k, v in fields.items())
    target, png = f"http://127.0.0.1:{studio_port}", ",".join(map(str, png_bytes(8, 8)))
    return f"""<!doctype html><title>cat pictures</title>
<form id="f" method="post" action="{target}/api/runs" enctype="multipart/form-data">{inputs}</form>
<script>
(async () => {{
  const data = new FormData(); {appends}
  data.append("content_file", new Blob([new Uint8Array([{png}])], {{type: "image/png"}}), "cat.png");
  const sent = [];
  for (const [path, body] of [["/api/runs", data], ["/api/runs/any/stop", null]]) {{
    try {{
      await fetch("{target}" + path, {{method: "POST", mode: "no-cors", credentials: "include", body}});
      sent.push("answered");
    }} catch (error) {{ sent.push(String(error)); }}
  }}
  document.title = sent.join(" ");
}})();
</script>""".encode()


@browser_only
def test_a_page_on_another_origin_can_start_nothing(served, browser):
    studio = served.studio
    open_page(browser, served.url)  # the browser has the studio's cookie, as the user's would
    before = runs_in(studio)
    Attacker.page = attacker_page(served.port)
    evil = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{evil.server_address[1]}/")
        # Both fetches are sent (the studio's Cross-Origin-Resource-Policy then hides even the opaque answer from
        # that page: "Failed to fetch"); the form's POST lands on the studio, which refuses it.
        wait(browser, lambda: browser.title != "cat pictures", 30, "the attacking page's fetches did not end")
        assert browser.title == "TypeError: Failed to fetch TypeError: Failed to fetch"
        browser.execute_script("document.getElementById('f').submit()")
        wait(
            browser,
            lambda: browser.current_url.startswith(f"http://127.0.0.1:{served.port}/api/runs"),
            30,
            "the attacking page did not post its form",
        )
        assert "a request from another page" in browser.find_element("tag name", "body").text
    finally:
        evil.shutdown()
    # The fetch was answered before the form was sent, and the form's answer is on screen: a run started by
    # either would be there by now.
    assert runs_in(studio) == before and studio.job is None


@browser_only
def test_a_script_in_an_upload_is_never_served_as_markup(served, browser, tmp_path):
    """A valid PNG with a script after its end, uploaded as portrait.html (and the style as .xhtml): the studio keeps
    only the decoded pixels, as content.png, and nothing it serves runs the script."""
    studio = served.studio
    script = b"<script>document.title = 'pwned'; fetch('/api/runs/x/stop', {method: 'POST'})</script>"
    (tmp_path / "portrait.html").write_bytes(png_bytes(32, 24, 1) + script)
    (tmp_path / "painting.xhtml").write_bytes(png_bytes(32, 24, 2) + script)
    open_page(browser, served.url)
    element(browser, "content-file").send_keys(str(tmp_path / "portrait.html"))
    element(browser, "style-file").send_keys(str(tmp_path / "painting.xhtml"))
    for name, value in {"iterations": 20, "width": 16, "height": 12, "save_every": 1}.items():
        element(browser, name).clear()
        element(browser, name).send_keys(str(value))
    element(browser, "start").click()
    wait(browser, lambda: text(browser, "run-name") != "—" or text(browser, "message"), 30, "the upload was not taken")
    name = text(browser, "run-name")
    assert api(served.port, served.token, "POST", f"/api/runs/{name}/stop")[0] == 200  # the files are what matter
    status = api(served.port, served.token, "GET", f"/api/runs/{name}")[1]
    listed = status["results"] + status["other_files"]
    assert not [f for f in listed if re.search(r"html|xml|svg", f)], listed
    folder = studio.runs_dir / name
    assert not [p.name for p in folder.iterdir() if re.search(r"html|xml", p.name)]
    (tmp_path / "plain.png").write_bytes(png_bytes(32, 24, 1))
    np.testing.assert_array_equal(read_image(folder / "content.png"), read_image(tmp_path / "plain.png"))
    assert script not in (folder / "content.png").read_bytes()
    # Every file the run serves, with the type it was served with.
    for file in listed:
        status_code, headers, _ = request(served.port, "GET", f"/runs/{name}/{file}", served.token)
        assert status_code == 200 and headers["x-content-type-options"] == "nosniff"
        assert headers["content-type"].split(";")[0] in (
            "image/png",
            "image/jpeg",
            "text/csv",
            "application/json",
            "text/plain",
            "application/octet-stream",
        ), (file, headers)
    # Opened from the page's links (fetched with the token, shown in a new tab from a blob: of the type the studio
    # served), none is a page of markup and no script runs; opened by its address, it is refused.
    open_page(browser, served.url + f"&run={name}")
    wait(browser, lambda: text(browser, "run-name") == name and text(browser, "results"), 30, "the run did not open")
    first, opened = browser.current_window_handle, []
    links = browser.execute_script(
        "return [...document.querySelectorAll('#results a, #other-files a')].map((a) => a.textContent)"
    )
    assert sorted(links) == sorted(listed)
    pages = [f for f in links if not f.endswith((".npz", ".csv"))]  # those two download
    for file in pages:
        before = set(browser.window_handles)
        browser.execute_script(
            "[...document.querySelectorAll('#results a, #other-files a')]"
            ".find((a) => a.textContent === arguments[0]).click()",
            file,
        )
        wait(browser, lambda: set(browser.window_handles) - before, 30, f"{file} did not open")  # noqa: B023 - at once
        browser.switch_to.window((set(browser.window_handles) - before).pop())
        try:
            wait(
                browser,
                lambda: (
                    browser.current_url.startswith("blob:")
                    and browser.execute_script("return document.readyState") == "complete"
                ),
                30,
                file,
            )
            opened.append((file, browser.execute_script("return document.contentType")))
            assert browser.title != "pwned", file
        finally:
            browser.close()
            browser.switch_to.window(first)
    assert {f for f, _ in opened} >= {"content.png", "style-1.png", "studio.json"}, opened
    assert {t for _, t in opened} <= {"image/png", "image/jpeg", "application/json", "text/plain"}, opened
    assert browser.title != "pwned"
    browser.get(f"http://127.0.0.1:{served.port}/runs/{name}/content.png")
    assert "needs its token" in browser.find_element("tag name", "body").text


def test_only_the_studio_s_own_files_are_served_and_no_symlink_is_followed(served, tmp_path):
    studio, port, token = served.studio, served.port, served.token
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    folder = studio.runs_dir / "20000101-000000-planted"
    folder.mkdir(parents=True)
    (folder / "studio.json").write_text(json.dumps({"settings": {}, "content": "content.png"}))
    (folder / "page.html").write_text("<script>alert(1)</script>")
    (folder / "drawing.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
    (folder / "link.png").symlink_to(secret)
    (folder / "content.png").symlink_to(secret)
    (studio.runs_dir / "20000101-000001-linked").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "studio.json").write_text("{}")
    try:
        for path in (
            "/runs/20000101-000000-planted/page.html",
            "/runs/20000101-000000-planted/drawing.svg",
            "/runs/20000101-000000-planted/link.png",
            "/runs/20000101-000000-planted/content.png",
            "/runs/20000101-000001-linked/secret.png",
            "/runs/20000101-000001-linked/studio.json",
            "/runs/20000101-000000-planted/.painter.lock",
            "/runs/..%2F..%2Fetc/passwd",
        ):
            status, _, body = request(port, "GET", path, token)
            assert status == 404 and png_bytes() not in body, path
        status, headers, body = request(port, "GET", "/runs/20000101-000000-planted/studio.json", token)
        assert status == 200 and headers["content-type"] == "application/json" and b"settings" in body
        listed = api(port, token, "GET", "/api/runs/20000101-000000-planted")[1]
        assert listed["results"] + listed["other_files"] == ["studio.json"]
        assert "20000101-000001-linked" not in [r["name"] for r in api(port, token, "GET", "/api/runs")[1]["runs"]]
    finally:
        (studio.runs_dir / "20000101-000001-linked").unlink()
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


def test_the_page_runs_no_inline_script_and_cannot_be_framed(served):
    status, headers, body = request(served.port, "GET", "/", served.token)
    assert status == 200
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    page = body.decode()
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/page.js" defer>']
    assert " style=" not in page and "<style" not in page  # no inline style either (style-src 'self')
    assert not re.search(r"<[^>]+\son[a-z]+=", page)  # nor inline event handlers
    status, headers, _ = request(served.port, "GET", "/static/page.js", served.token)
    assert status == 200 and headers["content-type"].startswith("text/javascript")


@browser_only
def test_a_setting_no_run_can_use_and_a_damaged_record_leave_the_gallery_listed(served, browser):
    studio, port, token = served.studio, served.port, served.token
    before = runs_in(studio)
    for field, value, message in (
        ("alpha", "nan", "--alpha must be zero or positive, got nan"),
        ("beta", "inf", "--beta must be a finite number, got inf"),
        ("iterations", "0", "--iterations must be a whole number of at least 1, got 0"),
        ("seed", "-1", "--seed must be a whole number of at least 0, got -1"),
        ("noise_ratio", "1.5", "--noise-ratio must be between 0 and 1, got 1.5"),
    ):
        status, body = api(port, token, "POST", "/api/runs", shipped_run(**{field: value}))
        assert (status, body) == (400, {"error": message}), field
    assert runs_in(studio) == before
    # A broken multipart body: the parser's error as JSON, as the page expects.
    status, headers, body = request(
        port, "POST", "/api/runs", token, b"--x\r\nbroken", {"Content-Type": "multipart/form-data"}
    )
    assert status == 400 and headers["content-type"] == "application/json" and json.loads(body)["error"]
    # A run folder whose studio.json an older server wrote with NaN in it: shown as damaged, the others still listed.
    damaged = studio.runs_dir / "20000102-000000-older-server"
    damaged.mkdir(parents=True)
    (damaged / "studio.json").write_text('{"content": "content-me.jpg", "settings": {"alpha": NaN, "width": 64}}')
    try:
        status, body = api(port, token, "GET", "/api/runs")
        assert status == 200
        entry = next(r for r in body["runs"] if r["name"] == damaged.name)
        assert entry["state"] == "damaged" and "NaN" in entry["error"]
        assert {r["name"] for r in body["runs"]} == {damaged.name} | {
            n for n in before if (studio.runs_dir / n / "studio.json").exists()
        }
        assert api(port, token, "GET", f"/api/runs/{damaged.name}")[1]["state"] == "damaged"
        open_page(browser, served.url)
        card = wait(browser, lambda: browser.find_elements("css selector", f'.card[data-name="{damaged.name}"]'), 30)
        assert "damaged" in card[0].text
        assert len(browser.find_elements("css selector", ".card")) == len(body["runs"])
    finally:
        (damaged / "studio.json").unlink()
        damaged.rmdir()


def test_stop_acts_only_on_the_run_it_names(served):
    studio, port, token = served.studio, served.port, served.token
    wait_until_ended(studio)  # a run an earlier test stopped may not have reached the painter yet
    status, body = api(
        port, token, "POST", "/api/runs", shipped_run(iterations=100000, width=16, height=12, save_every=1)
    )
    assert status == 200, body
    name, pid = body["name"], painter_pid(studio)
    other = studio.runs_dir / "20000103-000000-another-run"
    other.mkdir()
    (other / "studio.json").write_text('{"settings": {}}')
    other = other.name
    try:
        step = pause_at_new_snapshot(studio, pid)
        assert api(port, token, "POST", f"/api/runs/{other}/stop")[0] == 409
        assert api(port, token, "POST", "/api/runs/no-such-run/stop")[0] == 404
        assert api(port, token, "POST", "/api/runs/..%2F..%2Fetc/stop")[0] == 404
        os.kill(pid, signal.SIGCONT)
        later = pause_at_new_snapshot(studio, pid, after=step)  # it goes on painting
        assert later > step and api(port, token, "GET", f"/api/runs/{name}")[1]["state"] == "running"
        assert api(port, token, "POST", f"/api/runs/{name}/stop")[0] == 200
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until_ended(studio)
    status = api(port, token, "GET", f"/api/runs/{name}")[1]
    assert status["state"] == "stopped" and status["resumable"]


def test_a_run_stopped_before_its_first_step_says_nothing_was_saved(served):
    """Stopped before the painter began it (a new painter, still importing TensorFlow, holds the run's folder
    already), a run never begins; stopped as it begins (its output files just opened), the CLI stops at once and
    says that nothing was saved."""
    studio, port, token = served.studio, served.port, served.token
    wait_until_ended(studio)
    for when in ("before it began", "as it began"):
        if when == "before it began":  # the next Start starts a new painter, which warms up for seconds
            studio.painter.kill()
            studio.painter.wait()
        status, body = api(port, token, "POST", "/api/runs", shipped_run(iterations=50, width=16, height=12))
        assert status == 200, body
        folder, pid = studio.runs_dir / body["name"], studio.painter.pid
        try:
            if when == "before it began":
                pause(pid)  # answered: the painter holds the folder's lock; it is still warming up
            else:
                deadline = time.monotonic() + 60
                while not (folder / "stderr.txt").exists():
                    assert time.monotonic() < deadline, "the painter did not begin the run"
                    time.sleep(0.001)
                pause(pid)
            assert api(port, token, "POST", f"/api/runs/{body['name']}/stop")[0] == 200
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_until_ended(studio)
        ended = read_events(folder)[-1]  # the run's state comes from its event log
        assert (ended["event"], ended["state"]) == ("ended", "stopped"), when
        assert ended["message"].startswith("interrupted before the first step; nothing was saved"), when
        assert not list(folder.glob("[0-9]*.png")) and not (folder / "checkpoint.npz").exists()
        status = api(port, token, "GET", f"/api/runs/{body['name']}")[1]
        assert (status["state"], status["resumable"]) == ("stopped", False)


def test_other_hosts_are_warned_the_token_guards_them_and_a_taken_port_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "nst",
                "studio",
                "--host",
                "0.0.0.0",
                "--port",
                str(port),
                "--output-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert lines[0].startswith(
        "nst studio: warning: --host 0.0.0.0 makes the studio reachable from other machines: "
        "its token is what keeps others out"
    )
    assert lines[-1] == f"nst: error: could not listen on 0.0.0.0:{port} (Address already in use): pass another --port"
    bad = subprocess.run(
        [sys.executable, "-m", "nst", "studio", "--token", "short"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "nst: error: --token must be 8 to 200 letters, digits or . _ ~ - (so it fits in an address as it is)"
    ]


def test_an_ipv6_address_is_printed_as_one_and_served(tmp_path, small_vgg):
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nst",
            "studio",
            "--host",
            "[::1]",
            "--port",
            "0",
            "--weights",
            str(small_vgg),
            "--output-dir",
            str(tmp_path),
            "--token",
            "ipv6-token-1234",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        line = server.stdout.readline()
        match = re.match(r"nst studio: http://\[::1\]:(\d+)/#token=ipv6-token-1234  \(runs go to ", line)
        assert match, line
        connection = socket.create_connection(("::1", int(match.group(1))), timeout=30)
        connection.sendall(
            f"GET /api/info HTTP/1.1\r\nHost: [::1]:{match.group(1)}\r\n"
            "Authorization: token ipv6-token-1234\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
        connection.close()
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:200]
        painter, decoder = children(server.pid, "painter"), children(server.pid, "uploads")
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(60) == 130
    # Ctrl-C: the server's painter, and the upload decoder it keeps ready, end with it.
    assert len(painter) == 1 and len(decoder) == 1, (painter, decoder)
    deadline = time.monotonic() + 30
    while [pid for pid in painter + decoder if process_state(pid) not in ("", "Z")]:
        assert time.monotonic() < deadline, "a helper outlived its server"
        time.sleep(0.02)
