"""Browser tests: example_site served by a real uvicorn process, driven through Playwright in
Debian's Chromium (/usr/bin/chromium; never a downloaded browser).

`make e2e-deps` (called by .ci/run) installs Chromium with apt when it is missing; without it the
tests skip with that reason printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ARTIFACTS = ROOT / "artifacts" / "e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """example_site under uvicorn on 127.0.0.1, restartable on the same port and database."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.env = env
        self.process: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "example_site.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT / "example_site",
            env=self.env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/chat/", timeout=1)
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("uvicorn exited") from None
                time.sleep(0.2)
        raise RuntimeError("uvicorn did not answer within 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def vapid_env() -> dict[str, str]:
    """A new VAPID key pair for the server's Web Push (LIVECHAT_VAPID_* of example_site)."""
    from django_livechat.management.commands.livechat_vapid import make_keys

    public, private = make_keys()
    return {
        "LIVECHAT_VAPID_PUBLIC_KEY": public,
        "LIVECHAT_VAPID_PRIVATE_KEY": private,
        "LIVECHAT_VAPID_SUBJECT": "mailto:e2e@example.com",
    }


@pytest.fixture(scope="module")
def server():
    if os.environ.get("LIVECHAT_TEST_DATABASE_URL"):
        pytest.skip("browser tests run once, in the SQLite + in-memory pass")
    workdir = tempfile.mkdtemp(prefix="livechat-e2e-")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir}/db.sqlite3",
        "REDIS_URL": "",
        "DEBUG": "true",
        "LIVECHAT_RATE_LIMIT": "off",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "example_site.settings",
        **vapid_env(),
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput", "-v0"], ["demo_users"]):
        subprocess.run(
            manage + command,
            cwd=ROOT / "example_site",
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    instance = Server(env)
    instance.start()
    yield instance
    instance.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: run `make e2e-deps` (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with playwright_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def contexts(browser):
    """New isolated browser contexts (separate cookies = separate visitors)."""
    made = []

    def make():
        context = browser.new_context(viewport={"width": 1100, "height": 760})
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# -- helpers of the room tests ---------------------------------------------------------------

ONLINE = '[data-livechat-room][data-state="online"]'


def open_room(context, server, slug="lobby", on_page=None):
    """A new page of ``context`` on the room ``slug``, once its socket is online; ``on_page``
    is called with the page before it opens its socket (to listen to it)."""
    page = context.new_page()
    if on_page is not None:
        on_page(page)
    page.goto(f"{server.url}/chat/rooms/{slug}/")
    page.wait_for_selector(ONLINE, timeout=15000)
    return page


def send(page, text):
    page.fill("[data-livechat-input]", text)
    page.keyboard.press("Enter")
