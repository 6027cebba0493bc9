"""The console's Security screen and login with two-step verification, in Chromium.

The enrolment QR code is read back from the page's <canvas>: decoded with zxing-cpp and
compared module by module with segno's encoding of the same text (tests/browser/qr.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.helpers import log_in, open_from_menu, shot
from tests.browser.qr import read_qr, reference_modules
from tests.helpers import make_user

pytestmark = pytest.mark.browser

ISSUER = "gatekey"


def otpauth_uri(account: str, secret: str) -> str:
    return f"otpauth://totp/{ISSUER}:{account}?secret={secret}&issuer={ISSUER}&digits=6&period=30"


def open_security(page: Page) -> None:
    open_from_menu(page, "Security")
    expect(page.get_by_role("heading", level=1, name="Security")).to_be_focused()


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
    log_in(page, console_url, make_user())
    open_security(page)

    versions = []
    for uri in uris:
        page.get_by_role("button", name="Set up two-step verification").click()
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
