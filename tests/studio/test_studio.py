"""`nst studio` in a real headless browser: Debian's chromium + chromedriver driven by Selenium, against the real
uvicorn server on 127.0.0.1 and its real painter process painting with a small generated VGG-19.

The small net paints 20 steps in well under a second, faster than a page can show. To watch it change without
sleeps, the test pauses the real painter process (SIGSTOP) as soon as a new snapshot is on disk, checks what
the page shows, and lets it go on (SIGCONT): every check waits on files or on the page, never on time alone.
"""

import json
import os
import signal
import time

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from nst.images import read_image
from nst.settings import PACKAGE_ROOT
from nst.studio.app import make_studio, weights_note
from tests.studio.browsing import (
    SETTINGS,
    browser_only,
    element,
    fill_in,
    logged_costs,
    open_page,
    painter_pid,
    pause,
    pause_at_new_snapshot,
    read_costs,
    request,
    text,
    wait,
    wait_until_ended,
)

ARTIFACTS = PACKAGE_ROOT / "output" / "test-artifacts"
SCREENSHOT_STEP = 4


def page_shows(driver, folder, step, width=64):
    """Wait until the page shows snapshot `step` (loaded) and the event log's last costs row; returns what it shows."""
    rows = logged_costs(folder)
    expected_total = float(f"{rows[-1][1]:.6g}")

    def shown():
        image = element(driver, "progress-image")
        return (
            image.get_attribute("data-file") == f"{step}.png"
            and f"/{step}.png" in image.get_attribute("data-src")
            and image.get_attribute("src").startswith("blob:")
            and driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) == width
            and int(text(driver, "step")) >= int(rows[-1][0]) + 1
            and float(text(driver, "cost-total")) == expected_total
        )

    wait(driver, shown, 30, f"the page does not show snapshot {step} and costs row {rows[-1]}")
    return (f"{step}.png", text(driver, "step"), text(driver, "cost-total"), text(driver, "state"))


@pytest.fixture(scope="module")
def painted(served, browser, pictures):
    """One run through the page: upload, 20 steps at 64x48 saved every 2, watched at two paused snapshots (a
    screenshot while it runs), a second Start refused, Stop, Resume, a Stop after the last step, the end.
    Returns what was seen."""
    url, studio = served.url, served.studio
    wait_until_ended(studio)  # a run an earlier test stopped may not have reached the painter yet
    open_page(browser, url)
    seen = {
        "before_any_run": (
            element(browser, "progress-image").is_displayed(),
            text(browser, "no-run"),
            text(browser, "runs-dir"),
        )
    }
    fill_in(browser, pictures)
    element(browser, "start").click()
    pid = painter_pid(studio)
    folder = studio.job
    seen["folder"], seen["views"] = folder, []
    try:
        first = pause_at_new_snapshot(studio, pid)
        seen["views"].append(page_shows(browser, folder, first))
        assert text(browser, "state") == "running" and element(browser, "stop").is_enabled()
        os.kill(pid, signal.SIGCONT)
        second = pause_at_new_snapshot(studio, pid, after=first)
        seen["views"].append(page_shows(browser, folder, second))
        seen["progress"] = (
            element(browser, "progress").get_attribute("value"),
            element(browser, "progress").get_attribute("max"),
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "studio-running.png"))
        print(f"screenshot of the page during a run: {ARTIFACTS / 'studio-running.png'}")
        # One run at a time: a second Start (the button is disabled here; another tab would have it) is refused.
        browser.execute_script("document.getElementById('start-form').requestSubmit()")
        wait(browser, lambda: "one run at a time" in text(browser, "message"), 30, "no one-run-at-a-time message")
        seen["busy_message"] = text(browser, "message")
        element(browser, "stop").click()  # the server tells the painter, which stops the run when it goes on
        wait(browser, lambda: text(browser, "state") == "running, stopping…", 30, "the Stop was not taken")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait(browser, lambda: text(browser, "state") == "stopped, resumable", 60, "the run did not stop")
    wait_until_ended(studio)
    seen["stopped_rows"] = read_costs(folder)
    seen["stderr_after_stop"] = (folder / "stderr.txt").read_text()
    wait(browser, lambda: element(browser, "resume").is_enabled(), 30)
    element(browser, "resume").click()
    wait(browser, lambda: text(browser, "state") == "running", 30, "the run did not resume")
    # The tab goes away (as if closed): the run goes on. A Stop that comes after the last step (the painter paused
    # once generated_image.jpg is written, before run.json) lets the run finish.
    browser.get("about:blank")
    deadline = time.monotonic() + 180
    while not (folder / "generated_image.jpg").exists():
        assert studio.job == folder and time.monotonic() < deadline, "the resumed run ended without its result"
        time.sleep(0.002)
    pause(pid)
    try:
        seen["late_stop"] = request(served.port, "POST", f"/api/runs/{folder.name}/stop", served.token)[0]
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until_ended(studio)
    open_page(browser, served.url)
    card = wait(browser, lambda: browser.find_elements("css selector", f'.card[data-name="{folder.name}"]'), 30)
    card[0].click()
    wait(browser, lambda: text(browser, "state") == "finished", 30, "the resumed run does not show as finished")
    seen["final"] = (
        element(browser, "progress-image").get_attribute("data-file"),
        text(browser, "step"),
        text(browser, "cost-total"),
        text(browser, "state"),
        text(browser, "done-mark"),
    )
    return seen


@pytest.fixture(scope="module")
def repeated(painted, served, browser):
    """The run reopened from its address: the form filled with its inputs and settings; Start paints it again, this
    time without a stop. Returns (the form as it was filled, the new run's folder)."""
    folder, studio = painted["folder"], served.studio
    open_page(browser, served.url + f"&run={folder.name}")
    wait(
        browser,
        lambda: element(browser, "content-choice").get_attribute("value") == f"run:{folder.name}",
        30,
        "opening the run did not put its inputs into the form",
    )
    form = {
        name: element(browser, name).get_attribute("value") for name in [*SETTINGS, "content-choice", "style-choice"]
    }
    element(browser, "start").click()
    wait(
        browser,
        lambda: text(browser, "run-name") not in ("—", folder.name) or text(browser, "message"),
        30,
        "Start did not start a run",
    )
    assert text(browser, "message") == ""
    again = studio.runs_dir / text(browser, "run-name")
    wait_until_ended(studio)
    wait(browser, lambda: text(browser, "state") == "finished", 60, "the repeated run did not finish")
    return form, again


@browser_only
def test_upload_start_watch_it_change_and_find_the_files(painted, served, browser, pictures, tmp_path):
    folder, views, final = painted["folder"], painted["views"], painted["final"]
    studio = served.studio
    # Before any run: no broken picture, a line saying what to do, the real output folder in the heading.
    assert painted["before_any_run"] == (
        False,
        "No run open yet: choose a photo and a painting, then press Start (or open a run below).",
        f"({studio.runs_dir})",
    )
    # The image and the costs changed at least twice while watched: two snapshots during the run, then the result.
    assert views[0][0] != views[1][0] and views[0][2] != views[1][2]
    assert int(painted["progress"][0]) >= int(views[1][0].split(".")[0]) + 1 and painted["progress"][1] == "20"
    # At the end: iteration 20 of 20 (counted from 1), done.
    assert final[0] == "generated_image.jpg" and final[1] == "20" and final[4] == ", done" and final[2] != views[1][2]
    assert painted["busy_message"] == (
        f"the run {folder.name} is still painting: one run at a time on this machine. "
        "Wait for it to finish, or Stop it first."
    )
    # The run's files on disk, in its own folder under output/studio/; the inputs are the studio's own PNGs with
    # the uploads' pixels, the file names the user gave kept as text.
    assert folder.parent == studio.runs_dir and folder.name[:8].isdigit()
    files = {p.name for p in folder.iterdir()}
    assert {f"{i}.png" for i in range(0, 20, 2)} | {
        "costs.csv",
        "run.json",
        "generated_image.jpg",
        "checkpoint.npz",
        "costs.png",
        "progress.png",
        "summary.png",
        "content.png",
        "style-1.png",
    } <= files
    np.testing.assert_array_equal(read_image(folder / "content.png"), read_image(pictures / "me.jpg"))
    np.testing.assert_array_equal(read_image(folder / "style-1.png"), read_image(pictures / "painting.jpg"))
    record = json.loads((folder / "studio.json").read_text())
    assert (record["content"], record["style"]) == (
        {"file": "content.png", "from": "me.jpg", "shipped": False},
        {"file": "style-1.png", "from": "painting.jpg", "shipped": False},
    )
    run = json.loads((folder / "run.json").read_text())
    assert {k: run["parameters"][k] for k in SETTINGS} == SETTINGS
    assert [r[0] for r in read_costs(folder)] == list(range(20))
    # The page shows J to 6 significant digits (JavaScript's toPrecision rounds a tie up, Python's format to even,
    # so compare within the rounding, not digit for digit).
    assert float(final[2]) == pytest.approx(run["final_costs"]["total"], rel=5e-6)
    # The result downloads from the page (fetched with the token the tab keeps), byte for byte the file on disk.
    link = element(browser, "download")
    assert link.is_displayed() and link.get_attribute("download") is not None
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    link.click()
    wait(browser, lambda: (tmp_path / "generated_image.jpg").is_file(), 30, "the result did not download")
    assert (tmp_path / "generated_image.jpg").read_bytes() == (folder / "generated_image.jpg").read_bytes()
    # The results first; the run's internal files behind a fold.
    results = [a.text for a in element(browser, "results").find_elements("tag name", "a")]
    assert results == [
        "generated_image.jpg",
        "costs.csv",
        "costs.png",
        "progress.png",
        "summary.png",
        "run.json",
        "content.png",
        "style-1.png",
    ]
    assert not element(browser, "other-files").is_displayed()
    element(browser, "other").click()
    others = [a.text for a in element(browser, "other-files").find_elements("tag name", "a")]
    assert {"checkpoint.npz", "studio.json", "stderr.txt", "stdout.txt", "0.png"} <= set(others)
    # The cost curve: a log-scaled axis, evenly spaced powers of ten from below the smallest cost to above the
    # largest, the three costs named.
    curve = element(browser, "curve")
    costs = np.array(read_costs(folder))[:, 1:]
    ticks = [int(t.removeprefix("1e")) for t in curve.get_attribute("data-y-ticks").split()]
    assert len(ticks) >= 3 and len(set(np.diff(ticks))) == 1 and np.diff(ticks)[0] >= 1
    assert 10.0 ** ticks[0] <= costs.min() and costs.max() <= 10.0 ** ticks[-1]
    assert curve.get_attribute("data-legend") == "total J,J content,J style"
    assert text(browser, "settings-line") == "64×48, 20 iterations, α 10, β 40, learning rate 2, seed 3"
    # The gallery lists it with its final J; a reload reopens it from disk.
    open_page(browser, served.url)
    card = wait(browser, lambda: browser.find_elements("css selector", f'.card[data-name="{folder.name}"]'), 30)[0]
    assert "finished" in card.text and f"20 of 20 iterations, final J {final[2]}" in card.text
    card.click()
    wait(browser, lambda: text(browser, "run-name") == folder.name and text(browser, "cost-total") == final[2], 30)


@browser_only
def test_stop_then_resume_ends_with_the_uninterrupted_costs(painted, repeated):
    folder, stopped, (_, straight) = painted["folder"], painted["stopped_rows"], repeated
    # Stop was the CLI's interrupt: the state so far saved, a step short of the end.
    assert 2 <= len(stopped) < 20
    assert (
        painted["stderr_after_stop"]
        .rstrip()
        .splitlines()[-1]
        .startswith(
            f"nst: interrupted after step {int(stopped[-1][0])} of 20: saved {folder / f'{int(stopped[-1][0])}.png'}"
        )
    )
    # A Stop after the last step was taken (200) and left a finished run, the CLI's "Done" its last words.
    assert painted["late_stop"] == 200
    assert (folder / "stdout.txt").read_text().rstrip().splitlines()[-1] == f"Done: {folder / 'generated_image.jpg'}"
    assert (folder / "stderr.txt").read_text().count("nst: interrupted") == 1
    # Resumed, it ends where the same run without a stop ends.
    rows, expected = read_costs(folder), read_costs(straight)
    assert [r[0] for r in rows] == [r[0] for r in expected] == list(range(20))
    np.testing.assert_allclose(rows, expected, rtol=1e-6)
    diff = np.abs(
        iio.imread(folder / "generated_image.jpg").astype(int)
        - iio.imread(straight / "generated_image.jpg").astype(int)
    )
    assert diff.max() <= 1


@browser_only
def test_opening_a_run_fills_the_form_and_start_repeats_it(painted, repeated):
    folder, (form, again) = painted["folder"], repeated
    assert form == {
        **{name: str(value) for name, value in SETTINGS.items()},
        "content-choice": f"run:{folder.name}",
        "style-choice": f"run:{folder.name}",
    }
    first, second = (json.loads((f / "studio.json").read_text()) for f in (folder, again))
    assert second["settings"] == first["settings"] and not second["seed_drawn"]
    assert (second["content"]["from"], second["style"]["from"]) == ("me.jpg", "painting.jpg")
    for name in ("content.png", "style-1.png"):
        assert (again / name).read_bytes() == (folder / name).read_bytes()


@browser_only
def test_an_empty_iterations_field_is_the_chosen_optimizers_default(served, browser):
    """The form leaves iterations to the optimiser: 200 Adam steps, 35 L-BFGS evaluations (the picture of the
    homework, not a faceless one); switching optimiser clears the other one's default, never a number typed."""
    from selenium.webdriver.support.ui import Select

    open_page(browser, served.url)
    browser.find_element("css selector", "details > summary").click()  # the optimiser is under Advanced
    field, optimizer = element(browser, "iterations"), Select(element(browser, "optimizer"))
    assert field.get_attribute("value") == "" and field.get_attribute("placeholder") == "200 (adam's default)"
    optimizer.select_by_visible_text("lbfgs")
    assert field.get_attribute("placeholder") == "35 (lbfgs's default)"
    optimizer.select_by_visible_text("adam")
    field.send_keys("200")
    optimizer.select_by_visible_text("lbfgs")
    assert field.get_attribute("value") == ""  # the Adam default does not follow to L-BFGS
    field.send_keys("60")
    optimizer.select_by_visible_text("adam")
    assert field.get_attribute("value") == "60"


@browser_only
def test_bad_uploads_and_missing_weights_show_one_line_on_the_page(painted, served, browser, pictures):
    url, studio = served.url, served.studio
    before = sorted(studio.runs_dir.iterdir())
    open_page(browser, url)
    fill_in(browser, pictures, content="notes.txt")
    element(browser, "start").click()
    wait(browser, lambda: text(browser, "message"), 30, "no error message")
    assert text(browser, "message") == (
        "Image file notes.txt (content) is not a readable image (unknown or damaged "
        "format); use a valid JPEG, PNG, BMP, GIF or TIFF file."
    )
    assert sorted(studio.runs_dir.iterdir()) == before  # nothing started, no folder left behind
    # Above the pixel limit (the CLI's, here lowered): the CLI's message, read from the header.
    saved, studio.max_pixels = studio.max_pixels, 1000
    try:
        open_page(browser, url)
        fill_in(browser, pictures)
        element(browser, "start").click()
        wait(browser, lambda: text(browser, "message"), 30, "no error message")
        w, h = Image.open(pictures / "me.jpg").size
        assert text(browser, "message").startswith(
            f"Image file me.jpg (content) is {w}x{h} = {w * h} pixels, more "
            f"than the limit of 1000; pass --max-pixels {w * h}"
        )
    finally:
        studio.max_pixels = saved
    assert sorted(studio.runs_dir.iterdir()) == before
    # A setting no run can use: the CLI's own check, on the page.
    open_page(browser, url)
    fill_in(browser, pictures, learning_rate=0)
    element(browser, "start").click()
    wait(browser, lambda: text(browser, "message"), 30, "no error message")
    assert text(browser, "message") == "--learning-rate must be positive, got 0.0"
    open_page(browser, url)
    fill_in(browser, pictures, width=100000, height=100000)
    element(browser, "start").click()
    wait(browser, lambda: text(browser, "message"), 30, "no error message")
    message = text(browser, "message")  # the smallest budget of any plan of tiles: 1,687 GB with VGG-19's widths
    assert message.startswith("--width 100000 --height 100000 needs at least 1687 GB of memory by any plan of tiles")
    assert message.endswith("is free on this machine now: pass a smaller --width and --height")
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
        assert text(browser, "message").startswith(
            f"cannot create output folder {blocker / 'studio'} (Not a directory)"
        )
    finally:
        studio.output_dir = saved
    assert studio.job is None and sorted(studio.runs_dir.iterdir()) == before


@browser_only
def test_a_screenshot_of_a_run_on_the_imagenet_network(painted, served, browser, imagenet_vgg16):
    """The README's picture of the page: a run at 200x150 on the real ImageNet VGG-16, the painter paused at a
    snapshot; written (reduced for the docs, at most 150 KB) to output/test-artifacts/studio.png."""
    studio = served.studio
    saved, studio.weights = studio.weights, imagenet_vgg16
    try:
        open_page(browser, served.url)
        for name, value in {"iterations": 200, "width": 200, "height": 150, "save_every": 2, "seed": 1}.items():
            element(browser, name).clear()
            element(browser, name).send_keys(str(value))
        element(browser, "start").click()
        pid = painter_pid(studio)
        try:
            step = pause_at_new_snapshot(studio, pid, after=SCREENSHOT_STEP - 1)
            page_shows(browser, studio.job, step, width=200)
            browser.save_screenshot(str(ARTIFACTS / "studio-imagenet.png"))
            request(served.port, "POST", f"/api/runs/{studio.job.name}/stop", served.token)
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_until_ended(studio)
    finally:
        studio.weights = saved
    shot = Image.open(ARTIFACTS / "studio-imagenet.png").convert("RGB")
    shot = shot.crop((0, 0, shot.width, 700)).resize((960, 525), Image.Resampling.LANCZOS)
    shot.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(ARTIFACTS / "studio.png", optimize=True)
    size = (ARTIFACTS / "studio.png").stat().st_size
    print(f"the docs' screenshot: {ARTIFACTS / 'studio.png'} ({size // 1024} KB); cp it to docs/images/studio.png")
    assert size <= 150_000


def test_weights_note_says_the_first_run_downloads_the_default_file(tmp_path):
    studio = make_studio(tmp_path, tmp_path / "pretrained-model" / "imagenet-vgg-verydeep-19.mat")
    assert weights_note(studio).startswith(
        f"The VGG-19 weights (510 MB) are not at {studio.weights} yet: the first run downloads them"
    )
    studio.download = False
    assert "does not exist: download imagenet-vgg-verydeep-19.mat yourself" in weights_note(studio)


@browser_only
def test_print_sizes_are_offered_and_a_print_size_run_shows_its_scale_and_tile(served, browser, tmp_path):
    """The size menu fills width and height (4K: 3840x2160, a note on coarse to fine and tiles; a size of its
    own shows "other"); a run stopped at scale 2 of 3 shows where it was; a painting run's status carries the
    tile in progress from its event log."""
    from selenium.webdriver.support.ui import Select

    from nst.studio import runs

    open_page(browser, served.url)
    preset = Select(element(browser, "size-preset"))
    assert preset.first_selected_option.text == "the homework's 400×300" and text(browser, "size-note") == ""
    preset.select_by_visible_text("print 3840×2160 (4K)")
    assert (element(browser, "width").get_attribute("value"), element(browser, "height").get_attribute("value")) == (
        "3840",
        "2160",
    )
    assert "coarse to fine" in text(browser, "size-note") and "tiles" in text(browser, "size-note")
    element(browser, "width").send_keys("0")  # 38400
    assert preset.first_selected_option.text.startswith("other")

    studio, saved = served.studio, served.studio.output_dir
    wait_until_ended(studio)
    studio.output_dir = tmp_path
    try:
        folder = studio.runs_dir / "20000101-000000-print"
        folder.mkdir(parents=True)
        (folder / "studio.json").write_text(json.dumps({"settings": {"width": 1920, "height": 1080}}))
        events = [
            {
                "event": "started",
                "scale": 0,
                "scales": 3,
                "width": 480,
                "height": 270,
                "optimizer": "adam",
                "iterations": 200,
                "first": 0,
            },
            {"event": "scale_finished", "scale": 0, "evaluations": 200, "reason": "done", "stopped": False},
            {
                "event": "started",
                "scale": 1,
                "scales": 3,
                "width": 960,
                "height": 540,
                "optimizer": "adam",
                "iterations": 100,
                "first": 0,
            },
            {
                "event": "step",
                "scale": 1,
                "iteration": 0,
                "J": 5.0,
                "content": 1.0,
                "style": 2.0,
                "seconds": 3.0,
                "evaluations": 1,
                "image": None,
            },
            {"event": "tile", "sweep": "backward", "segment": 1, "tile": 6, "tiles": 12},
        ]
        (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        painting = runs.read_status(studio, folder, alive=True)
        assert painting["scale"] == {"scale": 1, "scales": 3, "width": 960, "height": 540}
        assert painting["tile"] == {"sweep": "backward", "segment": 1, "tile": 6, "tiles": 12}
        with open(folder / "events.jsonl", "a") as f:
            f.write(
                json.dumps({"event": "ended", "state": "stopped", "message": "interrupted", "resumable": True}) + "\n"
            )
        open_page(browser, served.url.replace("#token=", f"#run={folder.name}&token="))
        wait(browser, lambda: text(browser, "run-name") == folder.name, 30, "the run did not open")
        wait(
            browser,
            lambda: text(browser, "scale-line") == "Scale 2 of 3 (960×540)",
            30,
            f"the scale is not shown: {text(browser, 'scale-line')!r}",
        )
        assert runs.read_status(studio, folder, alive=False)["tile"] is None  # a stopped run has no tile in progress
    finally:
        studio.output_dir = saved
