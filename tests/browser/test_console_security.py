"""The console's Security screen and login with two-step verification, in Chromium.

The enrolment QR code is read back from the page's <canvas>: decoded with zxing-cpp and
compared module by module with segno's encoding of the same text (tests/browser/qr.py).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.helpers import (
    api_login,
    call,
    copy,
    log_in,
    login_field,
    messages_to,
    open_from_menu,
    reset_link,
    shot,
    submit_login,
)
from tests.browser.qr import read_qr, reference_modules
from tests.helpers import make_user

if TYPE_CHECKING:
    from tests.helpers import TestUser

pytestmark = pytest.mark.browser

ISSUER = "gatekey"
NEW_PASSWORD = "a brand new passphrase 42"


def credentials(user: TestUser, **changes: str) -> dict[str, str]:
    return {"email": user.email, "password": user.password, **changes}


def api_login_with(base: str, user: TestUser, **second_factor: str) -> dict[str, Any]:
    response = call(base, "POST", "/auth/login", json=credentials(user, **second_factor))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def next_code(secret: str, steps: int = 1) -> str:
    """A code of a later 30 s window: the server accepts one window of drift, and a
    window's code only once, so each use in a test takes the next one."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def wrong_code(secret: str) -> str:
    valid = {pyotp.TOTP(secret).at(time.time() + 30 * step) for step in range(-2, 4)}
    return next(code for code in ("000000", "111111", "222222") if code not in valid)


def enrol(base: str, user: TestUser) -> tuple[str, list[str]]:
    """Two-step verification turned on through the API: the secret and recovery codes."""
    access = api_login(base, user)["access_token"]
    reauth = {"password": user.password}
    pending = call(base, "POST", "/user/mfa/totp", access, json=reauth).json()
    code = pyotp.TOTP(pending["secret"]).now()
    confirmed = call(base, "POST", "/user/mfa/totp/confirm", access, json={"code": code, **reauth})
    assert confirmed.status_code == 200, confirmed.text
    return pending["secret"], confirmed.json()["recovery_codes"]


def otpauth_uri(account: str, secret: str) -> str:
    return f"otpauth://totp/{ISSUER}:{account}?secret={secret}&issuer={ISSUER}&digits=6&period=30"


def open_security(page: Page) -> None:
    open_from_menu(page, "Security")
    expect(page.get_by_role("heading", level=1, name="Security")).to_be_focused()


def start_setup(page: Page, password: str) -> None:
    """Set-up asks for the password first (a stolen session cannot turn MFA on)."""
    start = page.locator("#mfa-start-form")
    start.get_by_label("Password").fill(password)
    start.get_by_role("button", name="Set up two-step verification").click()


def test_qr_code_is_drawn_in_the_page_and_matches_a_reference_encoder(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    """Short, typical and long otpauth URIs (QR versions 4 to 10), from a stubbed API."""
    uris = [
        otpauth_uri("a%40b.co", "JBSWY3DPEHPK3PXP"),
        otpauth_uri("ada.lovelace%40example.com", "K5MXQ3ZP2T7GJ4NYWQ2KX3BDMRC6LVPA"),
        otpauth_uri("x" * 120 + "%40example.com", "A" * 64),
    ]
    served: list[str] = []

    def enrol(route: Route) -> None:
        uri = uris[len(served)]
        served.append(uri)
        secret = parse_qs(urlsplit(uri).query)["secret"][0]
        body = json.dumps({"secret": secret, "otpauth_uri": uri})
        route.fulfill(status=200, content_type="application/json", body=body)

    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.route("**/user/mfa/totp", enrol)
    user = make_user()
    log_in(page, console_url, user)
    open_security(page)

    versions = []
    for uri in uris:
        start_setup(page, user.password)
        qr = page.get_by_role("img", name="QR code to add gatekey to an authenticator app")
        expect(qr).to_be_visible()
        secret = parse_qs(urlsplit(uri).query)["secret"][0]
        expect(page.get_by_label("Setup key", exact=True)).to_have_value(secret)
        drawn = read_qr(page)
        assert drawn.text == uri
        assert drawn.level == "M"
        assert drawn.modules == reference_modules(uri, "M", drawn.mask, drawn.version)
        versions.append(drawn.version)
        if len(versions) == 2:
            shot(page, screenshots, "12-security-mfa-qr")
        page.get_by_role("button", name="Cancel").click()
        expect(qr).to_be_hidden()

    assert versions == sorted(versions) and versions[0] < versions[-1], versions
    assert served == uris
    assert all(url.startswith(local_api) for url in requests), requests


# password


def test_change_password_keeps_this_session_and_ends_the_others(
    page: Page, console_url: str, local_api: str
) -> None:
    user = make_user()
    elsewhere = api_login(local_api, user)["access_token"]
    log_in(page, console_url, user)
    open_security(page)
    form = page.locator("#password-form")

    form.get_by_label("Current password").fill(user.password)
    form.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    form.get_by_label("New password, again").fill(NEW_PASSWORD + "!")
    form.get_by_role("button", name="Change password").click()
    expect(form.get_by_role("alert")).to_have_text(
        "The two new passwords are not the same. Type them again."
    )
    expect(form.get_by_label("New password, again")).to_be_focused()

    form.get_by_label("New password", exact=True).fill("password123")
    form.get_by_label("New password, again").fill("password123")
    form.get_by_role("button", name="Change password").click()
    expect(form.get_by_role("alert")).to_contain_text("Password: ")
    expect(form.get_by_label("New password", exact=True)).to_have_attribute("aria-invalid", "true")

    form.get_by_label("Current password").fill("not my password")
    form.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    form.get_by_label("New password, again").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(form.get_by_role("alert")).to_have_text("Your current password is not right.")
    expect(form.get_by_label("Current password")).to_be_focused()
    expect(page.get_by_role("heading", level=1, name="Security")).to_be_visible()

    form.get_by_label("Current password").fill(user.password)
    form.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    form.get_by_label("New password, again").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-notice")).to_have_text(
        "Password changed. Your other sessions have ended; this one goes on."
    )
    expect(form.get_by_label("Current password")).to_have_value("")

    assert call(local_api, "GET", "/user", elsewhere).status_code == 401
    assert call(local_api, "POST", "/auth/login", json=credentials(user)).status_code == 401
    renewed = credentials(user, password=NEW_PASSWORD)
    assert call(local_api, "POST", "/auth/login", json=renewed).status_code == 200
    open_from_menu(page, "Sessions")
    expect(page.get_by_text("This session", exact=True)).to_be_visible()


# two-step verification


def test_enrol_with_the_qr_code_see_recovery_codes_once_and_log_in_with_a_code(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    user = make_user()
    elsewhere = api_login(local_api, user)["access_token"]
    log_in(page, console_url, user)
    open_security(page)
    card = page.get_by_role("region", name="Two-step verification")
    expect(card.locator("#mfa-status")).to_have_text("Off")
    start_setup(page, "not my password")
    expect(card.get_by_role("alert")).to_have_text("Your password is not right.")
    expect(page.locator("#mfa-start-password")).to_be_focused()
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_hidden()
    start_setup(page, user.password)
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    expect(page.locator("#mfa-start-password")).to_have_value("")
    drawn = read_qr(page)
    assert drawn.modules == reference_modules(drawn.text, drawn.level, drawn.mask, drawn.version)
    uri = urlsplit(drawn.text)
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    secret = parse_qs(uri.query)["secret"][0]
    expect(card.get_by_label("Setup key", exact=True)).to_have_value(secret)
    expect(card.get_by_label("Enter the 6-digit code the app shows")).to_be_focused()

    card.get_by_label("Enter the 6-digit code the app shows").fill(wrong_code(secret))
    card.get_by_role("button", name="Turn on").click()
    expect(card.get_by_role("alert")).to_contain_text("This code is not right.")
    card.get_by_label("Enter the 6-digit code the app shows").fill(pyotp.TOTP(secret).now())
    card.get_by_role("button", name="Turn on").click()

    panel = page.get_by_role("region", name=re.compile("Save your recovery codes"))
    expect(panel).to_be_focused()
    codes = page.locator("#recovery-codes").inner_text().split()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert copy(page, panel, "Copy recovery codes").split() == codes
    expect(card.locator("#mfa-status")).to_have_text("On")
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_hidden()
    shot(page, screenshots, "13-security-recovery-codes")
    assert call(local_api, "GET", "/user", elsewhere).status_code == 401  # other sessions end

    open_from_menu(page, "API Keys")
    open_security(page)
    expect(card.locator("#mfa-status")).to_have_text("On")
    expect(panel).to_be_hidden()
    expect(page.locator("#recovery-codes")).to_have_text("")
    expect(card.get_by_role("button", name="Turn off")).to_be_visible()
    without_code = call(local_api, "POST", "/auth/login", json=credentials(user))
    assert without_code.status_code == 401
    assert without_code.json()["errors"][0]["code"] == "mfa_required"

    page.locator("#menu-button").click()
    page.get_by_role("button", name="Log out").click()
    submit_login(page, console_url, user.email, user.password)
    step = page.get_by_role("form", name="Two-step verification")
    expect(step.get_by_label("Authentication code")).to_be_focused()
    expect(login_field(page, "Password")).to_be_hidden()
    shot(page, screenshots, "14-login-code")
    step.get_by_label("Authentication code").fill(wrong_code(secret))
    step.get_by_role("button", name="Verify and log in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "This code is not right, or it was already used. Wait for the next code and try again."
    )
    step.get_by_label("Authentication code").fill(next_code(secret))
    step.get_by_role("button", name="Verify and log in").click()
    expect(page.get_by_role("heading", level=1, name="API keys")).to_be_focused()
    expect(page.locator("#user-email")).to_have_text(user.email)


def test_log_in_with_a_recovery_code_then_turn_two_step_verification_off(
    page: Page, console_url: str, local_api: str
) -> None:
    user = make_user()
    secret, codes = enrol(local_api, user)
    submit_login(page, console_url, user.email, user.password)
    step = page.get_by_role("form", name="Two-step verification")
    step.get_by_role("button", name="Use a recovery code instead").click()
    expect(step.get_by_label("Recovery code")).to_be_focused()
    expect(step.get_by_label("Authentication code")).to_be_hidden()
    step.get_by_label("Recovery code").fill(codes[0])
    step.get_by_role("button", name="Verify and log in").click()
    expect(page.get_by_role("heading", level=1, name="API keys")).to_be_focused()
    used = credentials(user, recovery_code=codes[0])
    assert call(local_api, "POST", "/auth/login", json=used).status_code == 401

    open_security(page)
    card = page.get_by_role("region", name="Two-step verification")
    expect(card.locator("#mfa-status")).to_have_text("On")
    form = card.get_by_role("form", name="Turn off two-step verification")
    form.get_by_label("Password").fill(user.password)
    form.get_by_label("Authentication code").fill(wrong_code(secret))
    form.get_by_role("button", name="Turn off").click()
    expect(card.get_by_role("alert")).to_have_text("The password or the code is not right.")
    expect(page.get_by_role("heading", level=1, name="Security")).to_be_visible()

    form.get_by_label("Password").fill(user.password)
    form.get_by_label("Authentication code").fill(next_code(secret))
    form.get_by_role("button", name="Turn off").click()
    expect(card.locator("#mfa-status")).to_have_text("Off")
    expect(page.locator("#mfa-start-form").get_by_label("Password")).to_be_focused()
    expect(page.locator("#announcer")).to_have_text("Two-step verification is off")
    assert call(local_api, "POST", "/auth/login", json=credentials(user)).status_code == 200


# forgotten password


def test_forgotten_password_link_sets_a_new_one_once(
    page: Page, console_url: str, local_api: str, outbox: Path, screenshots: Path
) -> None:
    user = make_user()
    page.goto(console_url)
    login_field(page, "Email").fill(user.email)
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", level=1, name="Reset your password")).to_be_visible()
    form = page.locator("#forgot-form")
    expect(form.get_by_label("Email")).to_have_value(user.email)
    form.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("status").first).to_contain_text(
        f"If {user.email} has a gatekey account, an email with a link"
    )

    [message] = messages_to(outbox, user.email)
    assert message["Subject"] == "Reset your gatekey password"
    link = reset_link(message)
    assert link.startswith(f"{console_url}#reset=")
    page.goto(link)
    expect(page.get_by_role("heading", level=1, name="Choose a password")).to_be_visible()
    assert "reset=" not in page.url  # the token leaves the address bar and the history
    reset = page.locator("#reset-form")
    expect(reset.get_by_label("New password", exact=True)).to_be_focused()
    reset.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    reset.get_by_label("New password, again").fill(NEW_PASSWORD)
    shot(page, screenshots, "15-choose-password")
    reset.get_by_role("button", name="Set password").click()
    expect(page.locator("#login-notice")).to_have_text("Your password is set. Log in with it.")

    renewed = credentials(user, password=NEW_PASSWORD)
    assert call(local_api, "POST", "/auth/login", json=renewed).status_code == 200
    page.goto(link)
    reset.get_by_label("New password", exact=True).fill(NEW_PASSWORD + "2")
    reset.get_by_label("New password, again").fill(NEW_PASSWORD + "2")
    reset.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("alert")).to_contain_text("This link is not valid any more")
