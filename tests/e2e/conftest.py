"""A live server on a free port and a real headless Chromium (Debian's, via Playwright)."""

from __future__ import annotations

import os
import queue
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        if os.environ.get("HELPDESK_REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail("Chromium is required for end-to-end tests (apt-get install chromium)")
        pytest.skip("Chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=path,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def live_server(app, configure) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configure(WTF_CSRF_ENABLED=True)  # the browser goes through the real forms
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class BrowserThread:
    """Chromium driven from a thread of its own.

    The ``browser`` fixture keeps a session-wide Playwright in the main thread, and a thread can hold
    only one sync Playwright; so this one lives in its own thread and runs the test's
    browsing script there (``run(script)`` returns its result or re-raises its error).
    """

    def __init__(self, path: str) -> None:
        self.jobs: queue.Queue = queue.Queue()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, args=(path,), name="kb-chromium", daemon=True)
        self.thread.start()
        self.ready.wait(60)
        if self.error is not None:
            raise self.error

    def _serve(self, path: str) -> None:
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=path, headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run"],
                )
                self.ready.set()
                while (job := self.jobs.get()) is not None:
                    script, answer = job
                    try:
                        answer.put((True, script(browser)))
                    except BaseException as exc:  # handed to the test's thread
                        answer.put((False, exc))
                browser.close()
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    def run(self, script, timeout: float = 120):
        answer: queue.Queue = queue.Queue()
        self.jobs.put((script, answer))
        ok, value = answer.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(30)


@pytest.fixture(scope="session")
def kb_browser():
    path = chromium_path()
    if path is None:
        if os.environ.get("HELPDESK_REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail("Chromium is required for end-to-end tests (apt-get install chromium)")
        pytest.skip("Chromium not installed")
    runner = BrowserThread(path)
    yield runner
    runner.close()
