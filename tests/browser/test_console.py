"""The web console in a real headless Chromium, against the local API.

Each test drives the page the way a user does (labels, roles, keyboard), then checks
the result with the HTTP API itself. Screenshots of the main screens land in
test-output/screenshots/.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    API_USER_AGENT,
    api_login,
    call,
    copy,
    log_in,
    login_field,
    open_from_menu,
    shot,
)
from tests.helpers import make_user

if TYPE_CHECKING:
    from tests.helpers import TestUser

pytestmark = pytest.mark.browser

REFRESH_STORAGE_KEY = "gatekey.console.refresh"


# helpers


def seed_keys(base: str, user: TestUser) -> None:
    """Two keys made with the API, one of them used, so the list looks lived in."""
    access = api_login(base, user)["access_token"]
    for body in (
        {
            "handle": "billing-sync",
            "alias": "Billing service",
            "type": "jwt",
            "expires_in_days": 365,
        },
        {"handle": "nightly-backup", "alias": "Nightly backup"},
    ):
        assert call(base, "POST", "/user/keys", access, json=body).status_code == 201
    backup = call(base, "GET", "/user/keys/nightly-backup", access).json()["token"]
    assert call(base, "GET", "/auth/authenticated", backup).status_code == 200


def page_width(page: Page) -> tuple[int, int]:
    """(scroll width, viewport width): equal when nothing scrolls sideways."""
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    return widths[0], widths[1]


def client_jwt(kid: str, secret: str) -> str:
    return jwt.encode(
        {"sub": "browser-test", "exp": int(time.time()) + 300},
        secret,
        algorithm="HS256",
        headers={"kid": kid},
    )


# login


def test_wrong_password_shows_the_error_in_plain_words(
    page: Page, console_url: str, screenshots: Path
) -> None:
    user = make_user()
    response = page.goto(console_url)
    assert response is not None and response.ok
    assert "default-src 'none'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", name="Log in to gatekey")).to_be_visible()
    expect(login_field(page, "Email")).to_be_focused()
    shot(page, screenshots, "01-login")

    login_field(page, "Email").fill(user.email)
    login_field(page, "Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_have_text("Invalid email or password.")
    expect(login_field(page, "Password")).to_be_focused()
    expect(login_field(page, "Password")).to_have_value("")
    expect(page.locator("#user-nav")).to_be_hidden()
    shot(page, screenshots, "02-login-error")


def test_throttled_login_says_when_to_try_again(
    page: Page, console_url: str, local_api: str
) -> None:
    user = make_user()
    for _ in range(5):
        wrong = {"email": user.email, "password": "wrong"}
        assert call(local_api, "POST", "/auth/login", json=wrong).status_code == 401
    page.goto(console_url)
    login_field(page, "Email").fill(user.email)
    login_field(page, "Password").fill(user.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^Too many failed attempts for this email\. Try again in \d+ seconds\.$")
    )


def test_keyboard_alone_logs_in_and_reaches_the_menu(page: Page, console_url: str) -> None:
    user = make_user()
    page.goto(console_url)
    expect(login_field(page, "Email")).to_be_focused()
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    page.keyboard.type(user.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="API keys")).to_be_focused()

    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Copy account ID")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    menu_button = page.locator("#menu-button")
    expect(menu_button).to_be_focused()
    expect(menu_button).to_have_accessible_name(f"Menu for {user.email}")

    page.keyboard.press("Enter")
    expect(menu_button).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Escape")
    expect(page.locator("#menu")).to_be_hidden()
    expect(menu_button).to_be_focused()

    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("link", name="API Keys")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Sessions")).to_be_focused()
    expect(page.locator("#menu")).to_be_hidden()


# API keys


def test_create_copy_use_and_delete_a_key(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    user = make_user(email="ada.lovelace@example.com")  # it shows in the README's screenshot
    seed_keys(local_api, user)
    log_in(page, console_url, user)
    open_from_menu(page, "API Keys")
    expect(page).to_have_title(re.compile("^API keys"))
    expect(page.locator("#account-id")).to_have_text(user.account_id)

    form = page.locator("#key-create-form")
    form.get_by_label("Handle").fill("ci-deploy")
    form.get_by_label("Name (optional)").fill("CI deploys")
    form.get_by_label("Expires").select_option(label="In 30 days")
    form.get_by_role("button", name="Create key").click()

    panel = page.get_by_role("region", name="Key “ci-deploy” created")
    expect(panel).to_be_focused()
    expect(panel).to_contain_text("Show")
    token = copy(page, panel, "Copy token")
    assert token.startswith("gk_")
    expect(panel.get_by_label("Token", exact=True)).to_have_value(token)
    assert copy(page, panel, "Copy account ID") == user.account_id
    shot(page, screenshots, "04-new-key")

    authenticated = call(local_api, "GET", "/auth/authenticated", token)
    assert authenticated.status_code == 200, authenticated.text
    assert authenticated.json()["token"]["type"] == "api_key"
    assert authenticated.json()["token"]["handle"] == "ci-deploy"
    expires_at = datetime.fromisoformat(authenticated.json()["token"]["expires_at"])
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)

    row = page.get_by_role("row").filter(has_text="ci-deploy")
    expect(row).to_contain_text("CI deploys")
    expect(page.get_by_role("row")).to_have_count(4)  # the header and three keys
    page.get_by_role("button", name="Done").click()
    expect(panel).to_be_hidden()
    shot(page, screenshots, "03-keys")

    row.get_by_role("button", name="Delete key ci-deploy").click()
    dialog = page.get_by_role("dialog", name="Delete key “ci-deploy”?")
    expect(dialog).to_be_visible()
    shot(page, screenshots, "09-delete-dialog", full_page=False)
    dialog.get_by_role("button", name="Delete key", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(row).to_have_count(0)
    expect(page.locator("#announcer")).to_have_text("Key ci-deploy deleted")
    deleted = call(local_api, "GET", "/auth/authenticated", token)
    assert deleted.status_code == 401
    assert deleted.json()["errors"][0]["code"] == "invalid_token"


def test_a_taken_handle_is_explained_next_to_the_form(
    page: Page, console_url: str, local_api: str
) -> None:
    user = make_user()
    seed_keys(local_api, user)
    log_in(page, console_url, user)
    form = page.locator("#key-create-form")
    form.get_by_label("Handle").fill("nightly-backup")
    form.get_by_role("button", name="Create key").click()
    expect(form.get_by_role("alert")).to_have_text(
        "You already have a key with this handle. Choose another handle."
    )
    expect(form.get_by_label("Handle")).to_be_focused()


def test_jwt_key_with_a_date_show_rename_and_rotate(
    page: Page, console_url: str, local_api: str
) -> None:
    user = make_user()
    log_in(page, console_url, user)
    expiry = date.today() + timedelta(days=10)
    form = page.locator("#key-create-form")
    form.get_by_label("Handle").fill("mobile")
    form.get_by_label("JWT signing secret").check()
    form.get_by_label("Expires").select_option(label="On a date…")
    expect(form.get_by_label("Expiration date")).to_be_focused()
    form.get_by_label("Expiration date").fill(expiry.isoformat())
    form.get_by_role("button", name="Create key").click()

    panel = page.get_by_role("region", name="Key “mobile” created")
    kid = panel.get_by_label("Key ID (kid)").input_value()
    secret = copy(page, panel, "Copy secret")
    assert secret.startswith("gks_")
    assert copy(page, panel, "Copy key ID") == kid
    first = client_jwt(kid, secret)
    authenticated = call(local_api, "GET", "/auth/authenticated", first)
    assert authenticated.json()["token"]["type"] == "client_jwt"
    access = api_login(local_api, user)["access_token"]
    [key] = call(local_api, "GET", "/user/keys", access).json()["keys"]
    assert key["expires_at"] == f"{expiry.isoformat()}T23:59:59Z"  # the browser runs in UTC
    page.get_by_role("button", name="Done").click()

    row = page.get_by_role("row").filter(has_text="mobile")
    row.get_by_role("button", name="Show key mobile").click()
    shown = page.get_by_role("region", name="Key “mobile”")
    expect(shown.get_by_label("Secret", exact=True)).to_have_value(secret)

    row.get_by_role("button", name="Rename key mobile").click()
    rename = page.get_by_role("dialog", name="Rename key “mobile”")
    expect(rename.get_by_label("Name")).to_be_focused()
    rename.get_by_label("Name").fill("Mobile app")
    rename.get_by_role("button", name="Save name").click()
    expect(rename).to_be_hidden()
    expect(row).to_contain_text("Mobile app")
    expect(row.get_by_role("button", name="Rename key mobile")).to_be_focused()

    row.get_by_role("button", name="Rotate key mobile").click()
    rotate = page.get_by_role("dialog", name="Rotate key “mobile”")
    rotate.get_by_label("Grace period (seconds)").fill("0")
    rotate.get_by_role("button", name="Rotate").click()
    rotated = page.get_by_role("region", name="Key “mobile” rotated")
    expect(rotated).to_be_focused()
    new_secret = rotated.get_by_label("Secret", exact=True).input_value()
    assert new_secret != secret
    assert call(local_api, "GET", "/auth/authenticated", first).status_code == 401
    assert call(local_api, "GET", "/auth/authenticated", client_jwt(kid, new_secret)).ok


def test_keys_screen_fits_a_phone(
    phone: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    user = make_user()
    seed_keys(local_api, user)
    log_in(phone, console_url, user)
    form = phone.locator("#key-create-form")
    form.get_by_label("Handle").fill("phone-key")
    form.get_by_label("Name (optional)").fill("Made on a phone")
    form.get_by_role("button", name="Create key").click()
    expect(phone.get_by_role("region", name="Key “phone-key” created")).to_be_visible()
    expect(phone.get_by_role("row").filter(has_text="phone-key")).to_be_visible()

    assert page_width(phone) == (390, 390)
    open_from_menu(phone, "Sessions")
    expect(phone.get_by_text("This session", exact=True)).to_be_visible()
    assert page_width(phone) == (390, 390)
    open_from_menu(phone, "API Keys")
    phone.get_by_role("button", name="Done").click()
    shot(phone, screenshots, "07-phone-keys")
    phone.set_viewport_size({"width": 360, "height": 740})
    assert page_width(phone) == (360, 360)


# sessions


def test_sessions_screen_marks_this_session_and_ends_them(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    user = make_user()
    other = api_login(local_api, user)
    log_in(page, console_url, user)
    open_from_menu(page, "Sessions")
    expect(page.get_by_role("heading", level=1, name="Sessions")).to_be_focused()

    current = page.get_by_role("row").filter(has_text="This session")
    expect(current).to_have_count(1)
    expect(current).to_contain_text(page.evaluate("navigator.userAgent"))
    elsewhere = page.get_by_role("row").filter(has_text=API_USER_AGENT)
    expect(elsewhere).to_have_count(1)
    shot(page, screenshots, "05-sessions")

    elsewhere.get_by_role("button", name=re.compile("^End session")).click()
    expect(elsewhere).to_have_count(0)
    assert call(local_api, "GET", "/user", other["access_token"]).status_code == 401

    current.get_by_role("button", name="End this session and log out").click()
    page.get_by_role("dialog").get_by_role("button", name="End session and log out").click()
    expect(page.get_by_role("heading", name="Log in to gatekey")).to_be_visible()
    expect(page.get_by_role("status").first).to_have_text(
        "You ended this session and are logged out."
    )
    assert page.evaluate("sessionStorage.length") == 0


def test_tokens_stay_out_of_local_storage_and_cookies_and_survive_a_reload(
    page: Page, console_url: str, local_api: str
) -> None:
    user = make_user()
    log_in(page, console_url, user)
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("Object.keys(sessionStorage)") == [REFRESH_STORAGE_KEY]
    refresh = page.evaluate(f"sessionStorage.getItem('{REFRESH_STORAGE_KEY}')")

    page.reload()
    expect(page.get_by_role("heading", level=1, name="API keys")).to_be_visible()
    expect(page.locator("#user-email")).to_have_text(user.email)

    page.locator("#menu-button").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to gatekey")).to_be_visible()
    expect(page.locator("#login-notice")).to_have_text("You are logged out.")
    assert page.evaluate("sessionStorage.length") == 0
    user_agent = page.evaluate("navigator.userAgent")
    refreshed = call(local_api, "GET", "/auth/refresh-token", refresh, user_agent=user_agent)
    assert refreshed.status_code == 401


def test_an_expired_access_token_is_refreshed_without_asking_to_log_in(
    page: Page, console_url: str, configure: Any
) -> None:
    # 3 s, not 1: the refreshed token must outlive the repeated request on a loaded machine
    configure(GATEKEY_ACCESS_TOKEN_SECONDS="3")
    log_in(page, console_url, make_user())
    time.sleep(4.1)
    with page.expect_response(re.compile(r"/auth/refresh-token$")) as refresh:
        page.get_by_role("button", name="Refresh").click()
    assert refresh.value.status == 200
    expect(page.get_by_text("No keys yet.")).to_be_visible()
    expect(page.locator("#screen-login")).to_be_hidden()


# bots


def test_admin_creates_a_bot_and_regenerates_its_token(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    admin = make_user(admin=True)
    log_in(page, console_url, admin)
    open_from_menu(page, "Bots")
    expect(page.get_by_role("heading", level=1, name="Bots")).to_be_focused()

    page.get_by_label("Bot name").fill("deploy-bot")
    page.get_by_role("button", name="Create bot").click()
    created = page.get_by_role("region", name="Bot “deploy-bot” created")
    first = copy(page, created, "Copy token")
    me = call(local_api, "GET", "/user", first)
    assert me.status_code == 200 and me.json()["is_bot"] is True
    page.get_by_role("button", name="Done").click()

    row = page.get_by_role("row").filter(has_text="deploy-bot")
    row.get_by_role("button", name="Regenerate token of bot deploy-bot").click()
    dialog = page.get_by_role("dialog", name="Regenerate the token of “deploy-bot”?")
    dialog.get_by_role("button", name="Regenerate token").click()
    regenerated = page.get_by_role("region", name="New token for “deploy-bot”")
    expect(regenerated).to_be_focused()
    second = copy(page, regenerated, "Copy token")
    assert second != first
    assert call(local_api, "GET", "/user", first).status_code == 401
    assert call(local_api, "GET", "/user", second).status_code == 200
    shot(page, screenshots, "06-bots")


def test_members_see_no_bots(page: Page, console_url: str, screenshots: Path) -> None:
    log_in(page, console_url, make_user())
    page.locator("#menu-button").hover()
    expect(page.locator("#menu").get_by_role("link")).to_have_text(
        ["API Keys", "Sessions", "Security"]
    )
    expect(page.get_by_text("No keys yet.")).to_be_visible()
    shot(page, screenshots, "08-menu")
    page.goto(console_url + "#bots")
    expect(page.get_by_role("heading", level=1, name="API keys")).to_be_visible()
