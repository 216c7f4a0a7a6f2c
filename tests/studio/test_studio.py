"""`nst studio` in a real headless browser: Debian's chromium + chromedriver driven by Selenium, against the real
uvicorn server on 127.0.0.1 and real `python -m nst` children painting with a small generated VGG-19.

The small net paints 20 steps in well under a second, faster than a page can show. To watch it change without
sleeps, the test pauses the real painter process (SIGSTOP) as soon as a new snapshot is on disk, checks what
the page shows, and lets it go on (SIGCONT): every check waits on files or on the page, never on time alone.
"""

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from nst.config import PACKAGE_ROOT
from nst.studio.app import make_server, make_studio, weights_note
from nst.studio.runs import saved_steps

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = PACKAGE_ROOT / "output" / "test-artifacts"
SETTINGS = {"iterations": 20, "width": 64, "height": 48, "save_every": 2, "seed": 3}
browser_only = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason=f"no Chromium: {CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uploads")
    shutil.copy(PACKAGE_ROOT / "images" / "grace_hopper.jpg", folder / "me.jpg")
    shutil.copy(PACKAGE_ROOT / "images" / "swirls.jpg", folder / "painting.jpg")
    (folder / "notes.txt").write_text("this is not a picture\n")
    return folder


@pytest.fixture(scope="module")
def studio_server(small_vgg, tmp_path_factory):
    """The studio served by uvicorn in a thread on 127.0.0.1, on a free port the OS picked; yields (url, studio)."""
    studio = make_studio(tmp_path_factory.mktemp("studio-output"), small_vgg)
    server = make_server(studio, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the studio server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/", studio
    server.should_exit = True
    thread.join(60)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(arg)
    # An explicit chromedriver path: Selenium Manager is never asked to find (or download) anything.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=120, message=""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(), message)


def text(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def element(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def open_page(driver, url):
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


def child_pid(studio, timeout=30):
    """The pid of the studio's painter process once it is started."""
    deadline = time.monotonic() + timeout
    while studio.process is None or studio.process.poll() is not None:
        assert time.monotonic() < deadline, "no painter process started"
        time.sleep(0.01)
    return studio.process.pid


def pause_at_new_snapshot(studio, pid, after=-1, timeout=120):
    """Wait (polling the run folder) for a `<i>.png` with i > `after` and its costs.csv row, then SIGSTOP the
    painter; returns the newest snapshot's step once the painter is stopped with files that agree."""
    deadline = time.monotonic() + timeout
    while True:
        assert studio.process.poll() is None, "the run ended before a new snapshot was seen"
        assert time.monotonic() < deadline, "no new snapshot"
        if snapshot_with_costs(studio.folder, after) is not None:
            os.kill(pid, signal.SIGSTOP)
            while process_state(pid) != "T":
                time.sleep(0.001)
            step = snapshot_with_costs(studio.folder, after)
            if step is not None:
                return step
            os.kill(pid, signal.SIGCONT)  # paused between a snapshot and its costs row: a little further
        time.sleep(0.002)


def snapshot_with_costs(folder, after):
    """The newest snapshot's step if it is > `after` and costs.csv has reached it, else None."""
    steps = saved_steps(folder)
    rows = read_costs(folder) if (Path(folder) / "costs.csv").is_file() else []
    if steps and steps[-1][0] > after and rows and rows[-1][0] >= steps[-1][0]:
        return steps[-1][0]
    return None


def signal_pending(pid, signum):
    """Whether signal `signum` waits for (stopped) process `pid` (ShdPnd of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("ShdPnd:"):
            return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False


def process_state(pid):
    """The state letter of /proc/<pid>/stat (T: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def page_shows(driver, studio, step):
    """Wait until the page shows snapshot `step` (loaded) and the last costs.csv row; returns what it shows."""
    rows = read_costs(studio.folder)
    expected_total = float(f"{rows[-1][1]:.6g}")

    def shown():
        image = element(driver, "progress-image")
        return (image.get_attribute("data-file") == f"{step}.png" and f"/{step}.png" in image.get_attribute("src")
                and driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) == 64
                and text(driver, "step") == str(int(rows[-1][0]))
                and float(text(driver, "cost-total")) == expected_total)

    wait(driver, shown, 30, f"the page does not show snapshot {step} and costs row {rows[-1]}")
    return (f"{step}.png", text(driver, "step"), text(driver, "cost-total"), text(driver, "state"))


def read_costs(folder):
    with open(Path(folder) / "costs.csv") as f:
        return [[float(v) for v in row] for row in list(csv.reader(f))[1:]]


@pytest.fixture(scope="module")
def painted(studio_server, browser, pictures):
    """One run through the page: upload, 20 steps at 64x48 saved every 2, watched at two paused snapshots (a
    screenshot while it runs), a second Start refused, Stop, Resume, to the end. Returns what was seen."""
    url, studio = studio_server
    open_page(browser, url)
    fill_in(browser, pictures)
    element(browser, "start").click()
    pid = child_pid(studio)
    seen = {"folder": studio.folder, "views": []}
    try:
        first = pause_at_new_snapshot(studio, pid)
        seen["views"].append(page_shows(browser, studio, first))
        assert text(browser, "state") == "running" and element(browser, "stop").is_enabled()
        os.kill(pid, signal.SIGCONT)
        second = pause_at_new_snapshot(studio, pid, after=first)
        seen["views"].append(page_shows(browser, studio, second))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "studio-running.png"))
        print(f"screenshot of the page during a run: {ARTIFACTS / 'studio-running.png'}")
        # One run at a time: a second Start (the button is disabled here; another tab would have it) is refused.
        browser.execute_script("document.getElementById('start-form').requestSubmit()")
        wait(browser, lambda: "one run at a time" in text(browser, "message"), 30, "no one-run-at-a-time message")
        seen["busy_message"] = text(browser, "message")
        element(browser, "stop").click()  # the server sends SIGINT; it is handled when the painter goes on
        deadline = time.monotonic() + 30
        while not signal_pending(pid, signal.SIGINT):
            assert time.monotonic() < deadline, "Stop did not send SIGINT to the painter"
            time.sleep(0.01)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait(browser, lambda: text(browser, "state") == "stopped", 60, "the run did not stop")
    seen["stopped_rows"] = read_costs(studio.folder)
    seen["returncode"] = studio.process.returncode
    seen["stderr_after_stop"] = (studio.folder / "stderr.txt").read_text()
    wait(browser, lambda: element(browser, "resume").is_enabled(), 30)
    element(browser, "resume").click()
    wait(browser, lambda: text(browser, "state") == "running", 30, "the run did not resume")
    # The tab goes away (as if closed): the run goes on, and the reopened page finds it in the gallery.
    browser.get("about:blank")
    deadline = time.monotonic() + 180
    while studio.process.poll() is None:
        assert time.monotonic() < deadline, "the resumed run did not finish"
        time.sleep(0.05)
    assert studio.process.returncode == 0 and (studio.folder / "run.json").is_file()
    open_page(browser, url)
    card = wait(browser, lambda: browser.find_elements("css selector", f'.card[data-name="{studio.folder.name}"]'), 30)
    card[0].click()
    wait(browser, lambda: text(browser, "state") == "finished", 30, "the resumed run does not show as finished")
    seen["final"] = (element(browser, "progress-image").get_attribute("data-file"), text(browser, "step"),
                     text(browser, "cost-total"), text(browser, "state"))
    return seen


@pytest.fixture(scope="module")
def uninterrupted(painted, small_vgg, tmp_path_factory):
    """The same run straight through the CLI (same copied inputs, settings and seed), for comparison."""
    from nst.cli import main

    folder, out = painted["folder"], tmp_path_factory.mktemp("uninterrupted")
    args = ["--content", folder / "content-me.jpg", "--style", folder / "style-painting.jpg", "--weights", small_vgg,
            "--output-dir", out, "--no-progress"] + [a for k, v in SETTINGS.items() for a in (f"--{k.replace('_', '-')}", v)]
    assert main([str(a) for a in args]) == 0
    return out


@browser_only
def test_upload_start_watch_it_change_and_find_the_files(painted, studio_server, browser, pictures):
    folder, views, final = painted["folder"], painted["views"], painted["final"]
    url, studio = studio_server
    # The image and the costs changed at least twice while watched: two snapshots during the run, then the result.
    assert views[0][0] != views[1][0] and views[0][2] != views[1][2]
    assert final[0] == "generated_image.jpg" and final[1] == "19" and final[2] != views[1][2]
    assert painted["busy_message"] == (f"the run {folder.name} is still painting: one run at a time on this machine. "
                                       "Wait for it to finish, or Stop it first.")
    # The run's files on disk, in its own folder under output/studio/.
    assert folder.parent == studio.runs_dir and folder.name[:8].isdigit()
    files = {p.name for p in folder.iterdir()}
    assert {f"{i}.png" for i in range(0, 20, 2)} | {"costs.csv", "run.json", "generated_image.jpg", "checkpoint.npz",
                                                    "costs.png", "progress.png", "summary.png"} <= files
    assert (folder / "content-me.jpg").read_bytes() == (pictures / "me.jpg").read_bytes()
    assert (folder / "style-painting.jpg").read_bytes() == (pictures / "painting.jpg").read_bytes()
    run = json.loads((folder / "run.json").read_text())
    assert {k: run["parameters"][k] for k in SETTINGS} == SETTINGS
    assert [r[0] for r in read_costs(folder)] == list(range(20))
    assert float(final[2]) == float(f"{run['final_costs']['total']:.6g}")
    # The result downloads from the page, byte for byte the file on disk.
    link = element(browser, "download")
    assert link.is_displayed() and link.get_attribute("download") is not None
    with urllib.request.urlopen(link.get_attribute("href")) as response:
        assert response.read() == (folder / "generated_image.jpg").read_bytes()
    # The gallery lists it with its final J; a reload reopens it from disk.
    open_page(browser, url)
    card = wait(browser, lambda: browser.find_elements("css selector", f'.card[data-name="{folder.name}"]'), 30)[0]
    assert "finished" in card.text and f"final J {final[2]}" in card.text
    card.click()
    wait(browser, lambda: text(browser, "run-name") == folder.name and text(browser, "cost-total") == final[2], 30)


@browser_only
def test_stop_then_resume_ends_with_the_uninterrupted_costs(painted, uninterrupted):
    folder, stopped = painted["folder"], painted["stopped_rows"]
    # Stop was the CLI's interrupt: exit 130, the state so far saved, a step short of the end.
    assert painted["returncode"] == 130 and 2 <= len(stopped) < 20
    assert painted["stderr_after_stop"].rstrip().splitlines()[-1].startswith(
        f"nst: interrupted after step {int(stopped[-1][0])} of 20: saved {folder / f'{int(stopped[-1][0])}.png'}")
    # Resumed, it ends where the run without a stop ends.
    rows, expected = read_costs(folder), read_costs(uninterrupted)
    assert [r[0] for r in rows] == [r[0] for r in expected] == list(range(20))
    np.testing.assert_allclose(rows, expected, rtol=1e-6)
    diff = np.abs(iio.imread(folder / "generated_image.jpg").astype(int)
                  - iio.imread(uninterrupted / "generated_image.jpg").astype(int))
    assert diff.max() <= 1


@browser_only
def test_bad_uploads_and_missing_weights_show_one_line_on_the_page(painted, studio_server, browser, pictures):
    url, studio = studio_server
    before = sorted(studio.runs_dir.iterdir())
    open_page(browser, url)
    fill_in(browser, pictures, content="notes.txt")
    element(browser, "start").click()
    wait(browser, lambda: text(browser, "message"), 30, "no error message")
    assert text(browser, "message") == ("Image file notes.txt (content) is not a readable image (unknown or damaged "
                                        "format); use a valid JPEG, PNG, BMP, GIF or TIFF file.")
    assert sorted(studio.runs_dir.iterdir()) == before  # nothing started, no folder left behind
    # Above the pixel limit (the CLI's, here lowered): the CLI's message, read from the header.
    saved, studio.max_pixels = studio.max_pixels, 1000
    try:
        open_page(browser, url)
        fill_in(browser, pictures)
        element(browser, "start").click()
        wait(browser, lambda: text(browser, "message"), 30, "no error message")
        w, h = Image.open(pictures / "me.jpg").size
        assert text(browser, "message").startswith(f"Image file me.jpg (content) is {w}x{h} = {w * h} pixels, more "
                                                   f"than the limit of 1000; pass --max-pixels {w * h}")
    finally:
        studio.max_pixels = saved
    assert sorted(studio.runs_dir.iterdir()) == before
    # A weights file that is not there: the CLI's message, before any run starts.
    missing = studio.runs_dir.parent / "nowhere" / "vgg.mat"
    saved, studio.weights = studio.weights, missing
    try:
        open_page(browser, url)
        assert f"The VGG-19 weights file {missing} does not exist" in text(browser, "weights-note")
        fill_in(browser, pictures)
        element(browser, "start").click()
        wait(browser, lambda: text(browser, "message"), 30, "no error message")
        assert text(browser, "message").startswith(f"the weights file {missing} does not exist: check the --weights")
    finally:
        studio.weights = saved
    assert sorted(studio.runs_dir.iterdir()) == before
    # An output folder that cannot be written (a file is in its way): one line, nothing started.
    blocker = studio.runs_dir.parent / "a-file"
    blocker.write_text("")
    saved, studio.output_dir = studio.output_dir, blocker
    try:
        open_page(browser, url)
        fill_in(browser, pictures)
        element(browser, "start").click()
        wait(browser, lambda: text(browser, "message"), 30, "no error message")
        assert text(browser, "message").startswith(f"cannot create output folder {blocker / 'studio'} (Not a directory)")
    finally:
        studio.output_dir = saved
    assert studio.process.returncode is not None and sorted(studio.runs_dir.iterdir()) == before


def test_weights_note_says_the_first_run_downloads_the_default_file(tmp_path):
    studio = make_studio(tmp_path, tmp_path / "pretrained-model" / "imagenet-vgg-verydeep-19.mat")
    assert weights_note(studio).startswith(
        f"The VGG-19 weights (510 MB) are not at {studio.weights} yet: the first run downloads them")
    studio.download = False
    assert "does not exist: download imagenet-vgg-verydeep-19.mat yourself" in weights_note(studio)


def test_host_other_than_localhost_warns_and_a_taken_port_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "nst", "studio", "--host", "0.0.0.0", "--port", str(port),
                                 "--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert lines[0].startswith("nst studio: warning: --host 0.0.0.0 makes the studio reachable from other machines")
    assert lines[-1] == f"nst: error: could not listen on 0.0.0.0:{port} (in use?): pass another --port"
    assert f"http://0.0.0.0:{port}/" in result.stdout
