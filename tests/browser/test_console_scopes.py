"""Scopes in the console (CONTRACT section 7): shown and set on keys and bots, in Chromium.

What the page sets is checked with the HTTP API: the scopes the key or bot holds, and
what its token may then do (a management scope opens only its own routes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Response, Route, expect

from tests.browser.helpers import api_login, call, copy, log_in, open_from_menu, shot
from tests.helpers import make_user

pytestmark = pytest.mark.browser

BY_NAME_ONLY = (
    "Scopes: gatekey's scopes are granted only by name: "
    "gatekey:bots, gatekey:keys, gatekey:sessions, gatekey:users."
)


def key_row(page: Page, handle: str) -> Locator:
    return page.locator("#keys-body").get_by_role("row").filter(has_text=handle)


def scopes_of(base: str, access: str, handle: str) -> list[str]:
    """A key's scopes as the API lists them."""
    keys = call(base, "GET", "/user/keys", access).json()["keys"]
    [key] = [key for key in keys if key["handle"] == handle]
    scopes: list[str] = key["scopes"]
    return scopes


def creates_a_key(answer: Response) -> bool:
    return answer.url.endswith("/user/keys") and answer.request.method == "POST"


def listed_scopes(row: Locator) -> Locator:
    return row.locator('td[data-label="Scopes"] li')


def test_a_key_gets_chosen_scopes_and_they_can_be_changed(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    user = make_user()
    access = api_login(local_api, user)["access_token"]
    plain = {"handle": "plain"}
    assert call(local_api, "POST", "/user/keys", access, json=plain).status_code == 201
    log_in(page, console_url, user)
    expect(listed_scopes(key_row(page, "plain"))).to_have_text(["*"])

    form = page.locator("#key-create-form")
    form.get_by_label("Handle").fill("orders-reader")
    expect(form.get_by_label("every API that uses gatekey")).to_be_checked()
    form.get_by_label("every API that uses gatekey").uncheck()
    form.get_by_label("gatekey:keys").check()
    form.get_by_label("Other scopes (optional)").fill("orders:read  orders:write")
    form.get_by_role("button", name="Create key").click()
    panel = page.get_by_role("region", name="Key “orders-reader” created")
    token = copy(page, panel, "Copy token")
    row = key_row(page, "orders-reader")
    expect(listed_scopes(row)).to_have_text(["gatekey:keys", "orders:read", "orders:write"])
    expect(form.get_by_label("every API that uses gatekey")).to_be_checked()  # the form is reset
    expect(form.get_by_label("gatekey:keys")).not_to_be_checked()
    page.get_by_role("button", name="Done").click()
    shot(page, screenshots, "11-key-scopes")

    chosen = ["gatekey:keys", "orders:read", "orders:write"]
    assert scopes_of(local_api, access, "orders-reader") == chosen
    # the management scope chosen by name opens the key routes, and only those
    assert call(local_api, "GET", "/user/keys", token).status_code == 200
    assert call(local_api, "GET", "/user/sessions", token).status_code == 403

    row.get_by_role("button", name="Change scopes of key orders-reader").click()
    dialog = page.get_by_role("dialog", name="Scopes of key “orders-reader”")
    expect(dialog.get_by_label("every API that uses gatekey")).not_to_be_checked()
    expect(dialog.get_by_label("gatekey:keys")).to_be_checked()
    expect(dialog.get_by_label("gatekey:sessions")).not_to_be_checked()
    expect(dialog.get_by_label("Other scopes (optional)")).to_have_value("orders:read orders:write")
    shot(page, screenshots, "12-key-scopes-dialog", full_page=False)
    dialog.get_by_label("every API that uses gatekey").check()
    dialog.get_by_label("gatekey:keys").uncheck()
    dialog.get_by_label("gatekey:sessions").check()
    dialog.get_by_label("Other scopes (optional)").fill("orders:*")
    dialog.get_by_role("button", name="Save scopes").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#announcer")).to_have_text("Scopes of key orders-reader changed")
    expect(listed_scopes(row)).to_have_text(["*", "gatekey:sessions", "orders:*"])
    expect(row.get_by_role("button", name="Change scopes of key orders-reader")).to_be_focused()

    assert scopes_of(local_api, access, "orders-reader") == ["*", "gatekey:sessions", "orders:*"]
    assert call(local_api, "GET", "/user/keys", token).status_code == 403
    assert call(local_api, "GET", "/user/sessions", token).status_code == 200


def test_invalid_scopes_are_explained_next_to_the_field(
    page: Page, console_url: str, local_api: str
) -> None:
    user = make_user()
    log_in(page, console_url, user)
    form = page.locator("#key-create-form")
    field_error = form.locator("#key-scopes-error")
    other = form.get_by_label("Other scopes (optional)")
    form.get_by_label("Handle").fill("bad-scopes")

    # the API's pattern, checked before sending
    other.fill("Orders:Read")
    form.get_by_role("button", name="Create key").click()
    expect(field_error).to_have_text(
        "Scopes: “Orders:Read” is not valid; a scope is * or resource:action, of lowercase "
        "letters, digits, _ and - (the action may be *), such as orders:read."
    )
    expect(field_error).to_have_role("alert")
    expect(other).to_be_focused()
    expect(other).to_have_attribute("aria-invalid", "true")
    expect(form.locator("#key-create-error")).to_be_hidden()

    # well-formed but refused by the API: its 400 is shown in the same place
    other.fill("gatekey:admin")
    with page.expect_response(creates_a_key) as sent:
        form.get_by_role("button", name="Create key").click()
    assert sent.value.status == 400
    assert sent.value.json()["errors"][0]["attr"] == "scopes"
    expect(field_error).to_have_text(BY_NAME_ONLY)
    expect(form.locator("#key-create-error")).to_be_hidden()
    expect(other).to_be_focused()

    form.get_by_label("every API that uses gatekey").uncheck()
    other.fill("")
    form.get_by_role("button", name="Create key").click()
    expect(field_error).to_have_text("Scopes: choose at least one scope.")

    # fixed: the error goes, the key is made
    other.fill("orders:read")
    form.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("region", name="Key “bad-scopes” created")).to_be_visible()
    expect(field_error).to_be_hidden()
    expect(other).not_to_have_attribute("aria-invalid", "true")
    access = api_login(local_api, user)["access_token"]
    assert scopes_of(local_api, access, "bad-scopes") == ["orders:read"]


def test_an_escalation_refusal_is_shown_next_to_the_scopes(
    page: Page, console_url: str, local_api: str
) -> None:
    """A login session holds every scope, so the console itself never escalates; the
    API's 403 for a credential that lacks a scope is stubbed with the body it sends."""
    user = make_user()
    access = api_login(local_api, user)["access_token"]
    assert call(local_api, "POST", "/user/keys", access, json={"handle": "ci"}).status_code == 201
    refusal = {
        "type": "client_error",
        "errors": [
            {
                "code": "permission_denied",
                "detail": "A credential cannot hold scopes the credential managing it lacks.",
                "attr": "scopes",
            }
        ],
    }

    def refuse_patch(route: Route) -> None:
        if route.request.method != "PATCH":
            route.fallback()
            return
        route.fulfill(status=403, content_type="application/json", body=json.dumps(refusal))

    page.route("**/user/keys/ci", refuse_patch)
    log_in(page, console_url, user)
    key_row(page, "ci").get_by_role("button", name="Change scopes of key ci").click()
    dialog = page.get_by_role("dialog", name="Scopes of key “ci”")
    dialog.get_by_label("gatekey:users").check()
    dialog.get_by_role("button", name="Save scopes").click()
    expect(dialog.locator("#scopes-edit-error")).to_have_text(
        "Scopes: A credential cannot hold scopes the credential managing it lacks."
    )
    expect(dialog.locator("#scopes-error")).to_be_hidden()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(listed_scopes(key_row(page, "ci"))).to_have_text(["*"])


def test_admin_creates_a_bot_with_scopes_and_sees_them(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    admin = make_user(admin=True)
    log_in(page, console_url, admin)
    open_from_menu(page, "Bots")
    form = page.locator("#bot-create-form")
    form.get_by_label("Bot name").fill("orders-bot")
    form.get_by_label("every API that uses gatekey").uncheck()
    form.get_by_label("Other scopes (optional)").fill("orders")
    form.get_by_role("button", name="Create bot").click()
    expect(form.locator("#bot-scopes-error")).to_contain_text("Scopes: “orders” is not valid")

    form.get_by_label("gatekey:keys").check()
    form.get_by_label("Other scopes (optional)").fill("orders:read")
    form.get_by_role("button", name="Create bot").click()
    created = page.get_by_role("region", name="Bot “orders-bot” created")
    expect(created.get_by_label("Scopes", exact=True)).to_have_value("gatekey:keys orders:read")
    token = copy(page, created, "Copy token")
    row = page.locator("#bots-body").get_by_role("row").filter(has_text="orders-bot")
    expect(listed_scopes(row)).to_have_text(["gatekey:keys", "orders:read"])
    shot(page, screenshots, "13-bot-scopes")

    me = call(local_api, "GET", "/auth/authenticated", token).json()
    assert me["token"]["scopes"] == ["gatekey:keys", "orders:read"]
    assert call(local_api, "GET", "/user/keys", token).status_code == 200
    assert call(local_api, "GET", "/user/sessions", token).status_code == 403

    # after a reload the page knows only what GET /account/bots says
    access = api_login(local_api, admin)["access_token"]
    [listed] = call(local_api, "GET", "/account/bots", access).json()["bots"]
    page.reload()
    open_from_menu(page, "Bots")
    row = page.locator("#bots-body").get_by_role("row").filter(has_text="orders-bot")
    if "scopes" in listed:
        expect(listed_scopes(row)).to_have_text(listed["scopes"])
        expect(page.locator("#bots-scopes-note")).to_be_hidden()
    else:
        expect(row.locator('td[data-label="Scopes"]')).to_have_text("Not listed")
        expect(page.locator("#bots-scopes-note")).to_be_visible()

    # regenerating keeps the scopes, and the API's answer shows them again
    row.get_by_role("button", name="Regenerate token of bot orders-bot").click()
    page.get_by_role("dialog").get_by_role("button", name="Regenerate token").click()
    regenerated = page.get_by_role("region", name="New token for “orders-bot”")
    expect(regenerated.get_by_label("Scopes", exact=True)).to_have_value("gatekey:keys orders:read")
    expect(listed_scopes(row)).to_have_text(["gatekey:keys", "orders:read"])
    expect(page.locator("#bots-scopes-note")).to_be_hidden()
