"""A real server (waitress on a free port, real database) and the system Chromium driven by Playwright.

Never downloads a browser: Playwright launches /usr/bin/chromium with flags that keep it off the network.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from waitress.server import create_server

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="session")
def live_server(database_url: str, demo_city: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from webapp import create_app

    app = create_app({"DATABASE_URL": database_url, "GRIDLINK_MODE": "test", "SECRET_KEY": "e2e-secret",
                      "GRIDLINK_CITY": "330781", "GRIDLINK_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads"))})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture()
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    """A fresh browser context per test that records every request leaving the server's origin."""
    context = browser.new_context(viewport={"width": 1366, "height": 820}, locale="zh-CN")
    page = context.new_page()
    page.foreign_requests = []  # type: ignore[attr-defined]
    page.on("request", lambda r: None if r.url.startswith((live_server, "data:", "blob:"))
            else page.foreign_requests.append(r.url))  # type: ignore[attr-defined]
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)  # type: ignore
    page.on("pageerror", lambda error: page.console_errors.append(f"uncaught: {error}"))  # type: ignore
    yield page
    context.close()


def browser_login(page: Page, base: str, username: str, password: str = "gridlink-demo") -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
