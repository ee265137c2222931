"""Browser fixtures: the app served for real by uvicorn on 127.0.0.1, driven by Debian's Chromium
through Playwright's sync API.

The browser tests run on SQLite only (``env`` is parametrised indirectly by each module): the
server thread and the test share the database through a file, which a PostgreSQL test
transaction could not offer.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from phongdich.app import create_app
from tests.conftest import Env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PHONE_VIEWPORT = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000


@dataclass
class LiveServer:
    base_url: str
    env: Env

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture
def live_server(env: Env) -> Iterator[LiveServer]:
    """The app on a free port of 127.0.0.1, with QR links pointing at that very address."""
    assert env.backend == "sqlite", "browser tests run against the SQLite backend only"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"

    application = create_app(env.settings.model_copy(update={"public_base_url": base_url}))
    application.state.engine.dispose()
    application.state.sessionmaker = env.factory

    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="none",  # no websocket library import (and its deprecation warnings) needed
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped during startup"
            assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
            time.sleep(0.02)
        yield LiveServer(base_url, env)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh browser context (its own cookies), Vietnamese by default."""
    contexts: list[BrowserContext] = []

    def _new_page(**options: Any) -> Page:
        settings: dict[str, Any] = {
            "locale": "vi-VN",
            "viewport": PHONE_VIEWPORT,
            "accept_downloads": True,
        }
        settings.update(options)
        context = browser.new_context(**settings)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield _new_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A phone-sized page, as a venue owner or a citizen would hold it."""
    return new_page()
