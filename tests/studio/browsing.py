"""What the studio's tests share: Debian's chromium driven by Selenium, HTTP to the real server with or without its
token, and the painter process watched (paused with SIGSTOP at a snapshot, so no check depends on timing)."""

import csv
import http.client
import json
import os
import signal
import time
from pathlib import Path

import pytest

from nst.sinks.events_log import read_events

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SETTINGS = {"iterations": 20, "width": 64, "height": 48, "save_every": 2, "seed": 3}
browser_only = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason=f"no Chromium: {CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)",
)


def start_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(arg)
    # An explicit chromedriver path: Selenium Manager is never asked to find (or download) anything.
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def wait(driver, condition, timeout=120, message=""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(), message)


def element(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def text(driver, element_id):
    return element(driver, element_id).text


def open_page(driver, url):
    """Open the studio's page (`url` may carry #token=...) and wait until its form is filled in."""
    driver.get(url)
    wait(driver, lambda: element(driver, "content-choice").get_attribute("value"), 30, "the page did not load")


def fill_in(driver, pictures, content="me.jpg", **settings):
    """Upload the content and style pictures and type the settings into the form."""
    element(driver, "content-file").send_keys(str(pictures / content))
    element(driver, "style-file").send_keys(str(pictures / "painting.jpg"))
    for name, value in {**SETTINGS, **settings}.items():
        field = element(driver, name)
        field.clear()
        field.send_keys(str(value))


def request(port, method, path, token=None, body=None, headers=None, host=None):
    """(status, headers dict with lower-case names, body bytes) of one real HTTP request to 127.0.0.1:`port`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"token {token}"
    if host is not None:
        sent["Host"] = host
    connection.request(method, path, body=body, headers=sent)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def api(port, token, method, path, fields=None):
    """A JSON API call with the token; form `fields` ({name: str or (file name, bytes)}) as multipart."""
    body, headers = None, {}
    if fields is not None:
        body, content_type = multipart(fields)
        headers["Content-Type"] = content_type
    status, _, data = request(port, method, path, token, body, headers)
    return status, json.loads(data)


def multipart(fields):
    """(body, content type) of a multipart/form-data request."""
    boundary = "nst-test-boundary-7f3a"
    parts = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, data = value
            head = (
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            )
        else:
            head, data = f'Content-Disposition: form-data; name="{name}"\r\n\r\n', str(value).encode()
        parts.append(f"--{boundary}\r\n".encode() + head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def shipped_run(**settings):
    """The form fields of a run on the shipped pictures, small and fast."""
    return {
        "content_choice": "grace_hopper.jpg",
        "style_choice": "swirls.jpg",
        **{k: v for k, v in {**SETTINGS, **settings}.items()},
    }


def painter_pid(studio, timeout=60):
    """The pid of the studio's painter once it paints a run."""
    deadline = time.monotonic() + timeout
    while studio.job is None or studio.painter is None or studio.painter.poll() is not None:
        assert time.monotonic() < deadline, "no run is being painted"
        time.sleep(0.01)
    return studio.painter.pid


def wait_until_ended(studio, timeout=180):
    deadline = time.monotonic() + timeout
    while studio.job is not None:
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(0.02)


def pause(pid):
    """SIGSTOP `pid` and wait until it is stopped."""
    os.kill(pid, signal.SIGSTOP)
    while process_state(pid) != "T":
        time.sleep(0.001)


def pause_at_new_snapshot(studio, pid, after=-1, timeout=120):
    """Wait (polling the run's event log) for a `<i>.png` with i > `after`, then SIGSTOP the painter; returns the
    newest snapshot's step once the painter is stopped with files that agree."""
    deadline = time.monotonic() + timeout
    folder = studio.job
    while True:
        assert studio.job == folder, "the run ended before a new snapshot was seen"
        assert time.monotonic() < deadline, "no new snapshot"
        if snapshot_with_costs(folder, after) is not None:
            pause(pid)
            step = snapshot_with_costs(folder, after)
            if step is not None:
                return step
            os.kill(pid, signal.SIGCONT)  # paused between a snapshot and its costs row: a little further
        time.sleep(0.002)


def logged_costs(folder):
    """The costs rows [iteration, J, J content, J style] of the run's event log (what the page shows), by step."""
    rows = {
        e["iteration"]: [e["iteration"], e["J"], e["content"], e["style"]]
        for e in read_events(folder)
        if e["event"] == "step"
    }
    return [rows[i] for i in sorted(rows)]


def snapshot_with_costs(folder, after):
    """The step of the newest snapshot the run's event log names, if it is > `after` and its file is there."""
    saved = [
        e["iteration"]
        for e in read_events(folder)
        if e["event"] == "step" and e["image"] and (Path(folder) / e["image"]).is_file()
    ]
    return saved[-1] if saved and saved[-1] > after else None


def process_state(pid):
    """The state letter of /proc/<pid>/stat (T: stopped; "" once the process is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return ""


def children(pid, module=None):
    """The pids of process `pid`'s children (only those running `python -m nst.studio.<module>`, if given)."""
    found = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    if module is None:
        return found
    wanted = f"\0-m\0nst.studio.{module}\0".encode()
    matching = []
    for child in found:
        try:
            if wanted in Path(f"/proc/{child}/cmdline").read_bytes() + b"\0":
                matching.append(child)
        except OSError:
            continue
    return matching


def read_costs(folder):
    with open(Path(folder) / "costs.csv") as f:
        return [[float(v) for v in row] for row in list(csv.reader(f))[1:]]
