"""What the browser tests share: driving the console like a user, and the API beside it."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from playwright.sync_api import Locator, Page, expect

if TYPE_CHECKING:
    from tests.helpers import TestUser

API_USER_AGENT = "gatekey-browser-tests/1.0"
RESET_LINK = re.compile(r"(\S+/console)#reset=([A-Za-z0-9_-]+)")


def shot(page: Page, screenshots: Path, name: str, *, full_page: bool = True) -> None:
    """A full-page screenshot, once the "Copied" toast and button states have gone."""
    expect(page.locator(".copied")).to_have_count(0)
    expect(page.locator("#announcer")).to_be_empty()
    expect(page.locator(".empty", has_text="Loading…")).to_have_count(0)
    page.screenshot(path=screenshots / f"{name}.png", full_page=full_page)


def call(
    base: str, method: str, path: str, token: str | None = None, **kwargs: Any
) -> requests.Response:
    headers = {"User-Agent": kwargs.pop("user_agent", API_USER_AGENT)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, base + path, headers=headers, timeout=30, **kwargs)


def api_login(base: str, user: TestUser, **extra: str) -> dict[str, Any]:
    body = {"email": user.email, "password": user.password, **extra}
    response = call(base, "POST", "/auth/login", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def login_field(page: Page, label: str) -> Locator:
    """A field of the login form (other screens have an Email or a Password field too)."""
    return page.locator("#login-form").get_by_label(label, exact=True)


def submit_login(page: Page, console_url: str, email_address: str, password: str) -> None:
    page.goto(console_url)
    login_field(page, "Email").fill(email_address)
    login_field(page, "Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def log_in(page: Page, console_url: str, user: TestUser) -> None:
    submit_login(page, console_url, user.email, user.password)
    expect(page.get_by_role("heading", level=1, name="API keys")).to_be_focused()


def open_from_menu(page: Page, item: str) -> None:
    """Hover the user's name, then pick an item of the menu it opens."""
    page.locator("#menu-button").hover()
    page.locator("#menu").get_by_role("link", name=item, exact=True).click()
    expect(page.locator("#menu")).to_be_hidden()


def copy(page: Page, scope: Locator, button: str) -> str:
    """Clicks a Copy button and reads the real clipboard back."""
    copy_button = scope.get_by_role("button", name=button, exact=True)
    copy_button.click()
    expect(copy_button).to_have_text("Copied")
    expect(page.locator("#announcer")).to_have_text("Copied")
    text: str = page.evaluate("navigator.clipboard.readText()")
    return text


def messages(outbox: Path) -> list[email.message.EmailMessage]:
    """The messages written to the local outbox, oldest first."""
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        found.append(message)
    return found


def reset_link(message: email.message.EmailMessage) -> str:
    """The `<console url>#reset=<token>` link of a set-password or reset message."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = RESET_LINK.search(body.get_content())
    assert found, body.get_content()
    return found.group(0)


def messages_to(outbox: Path, address: str) -> list[email.message.EmailMessage]:
    return [message for message in messages(outbox) if message["To"] == address]
