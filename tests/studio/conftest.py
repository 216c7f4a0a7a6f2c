"""The studio's fixtures: one real server (uvicorn in a thread on 127.0.0.1, its painter a real child process on a
small generated VGG-19) and one headless Chromium, shared by the studio's tests."""

import shutil
import threading
import time
from typing import NamedTuple

import pytest

from nst.settings import PACKAGE_ROOT
from nst.studio.app import make_server, make_studio
from tests.studio.browsing import start_browser

TOKEN = "studio-test-token-4b1d"


class Served(NamedTuple):
    url: str  # the address to open first: it carries the token
    studio: object
    port: int
    token: str


@pytest.fixture(scope="package")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uploads")
    shutil.copy(PACKAGE_ROOT / "images" / "grace_hopper.jpg", folder / "me.jpg")
    shutil.copy(PACKAGE_ROOT / "images" / "swirls.jpg", folder / "painting.jpg")
    (folder / "notes.txt").write_text("this is not a picture\n")
    return folder


@pytest.fixture(scope="package")
def served(small_vgg, tmp_path_factory):
    """The studio served by uvicorn in a thread on 127.0.0.1, on a free port the OS picked."""
    studio = make_studio(tmp_path_factory.mktemp("studio-output"), small_vgg)
    server = make_server(studio, TOKEN, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the studio server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Served(f"http://127.0.0.1:{port}/#token={TOKEN}", studio, port, TOKEN)
    server.should_exit = True
    thread.join(60)


@pytest.fixture(scope="package")
def browser():
    driver = start_browser()
    yield driver
    driver.quit()
