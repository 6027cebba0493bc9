"""Browser fixtures: Debian's Chromium, driven by Playwright, against the local API.

Playwright is given the system Chromium (`executable_path`), so it never downloads a
browser. Without Chromium the tests are skipped with the reason below, and fail with
it when CI is set, so a CI run never passes without them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.helpers import REPO_ROOT, reset_gatekey_caches

CHROMIUM = Path(os.environ.get("GATEKEY_CHROMIUM", "/usr/bin/chromium"))
MISSING_CHROMIUM = f"chromium not found at {CHROMIUM}: apt-get install chromium"
# Headless Chromium in a container: no sandbox, no GPU, and no background traffic
# (without these it keeps trying to reach Google and logs refused connections).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "test-output" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# Chromium reports every non-2xx fetch this way; the tests provoke 401s on purpose.
EXPECTED_CONSOLE_NOISE = "Failed to load resource"


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        if os.environ.get("CI"):
            pytest.fail(MISSING_CHROMIUM, pytrace=False)
        pytest.skip(MISSING_CHROMIUM)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    """One Chromium for the session; Playwright gives it a fresh temporary profile."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def console_url(local_api: str, gatekey_env: dict[str, str]) -> str:
    reset_gatekey_caches()
    return f"{local_api}/console"


def _new_page(browser: Browser, viewport: dict[str, int]) -> tuple[BrowserContext, Page, list[str]]:
    context = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        permissions=["clipboard-read", "clipboard-write"],
        locale="en-GB",
        timezone_id="UTC",
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and EXPECTED_CONSOLE_NOISE not in message.text:
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return context, page, problems


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A desktop-sized tab; a CSP violation or script error anywhere fails the test."""
    context, page, problems = _new_page(browser, DESKTOP)
    yield page
    context.close()
    assert problems == []


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context, page, problems = _new_page(browser, PHONE)
    yield page
    context.close()
    assert problems == []


@pytest.fixture
def outbox(gatekey_env: dict[str, str]) -> Path:
    """Where the local run writes its messages (set-password, reset) as .eml files."""
    return Path(gatekey_env.get("GATEKEY_OUTBOX_DIR") or REPO_ROOT / ".local" / "outbox")
