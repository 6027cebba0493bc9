"""The account's key policy and every key in view in the console (CONTRACT section 11),
in Chromium against the local API.

An admin sets the policy on the All keys screen and finds it after a reload; a bad
number is explained beside its field before anything is sent, and an API refusal about
one field is shown beside that field. The screen lists a member's key and a bot token
with their owners, pages with the API's cursor, and revokes a key: its token is then
refused by the authorizer, and the audit log names the admin. Members have no such
screen. Each key list shows the key's status, `idle_expired` included.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Request, Route, expect

from gatekey import clock
from gatekey.store import get_store, item_keys
from tests.browser.helpers import api_login, call, log_in, open_from_menu, shot
from tests.helpers import make_user

pytestmark = pytest.mark.browser

DAY = 86_400
LIFETIME = "Maximum key lifetime (days) (optional)"
IDLE = "Idle keys stop after (days) (optional)"


def open_all_keys(page: Page) -> None:
    open_from_menu(page, "All keys")
    expect(page.get_by_role("heading", level=1, name="All keys")).to_be_focused()
    expect(page.locator(".empty", has_text="Loading…")).to_have_count(0)


def all_keys_row(page: Page, handle: str) -> Locator:
    return (
        page.locator("#allkeys-body")
        .get_by_role("row")
        .filter(has=page.locator('td[data-label="Key"]', has_text=handle))
    )


def own_key_row(page: Page, handle: str) -> Locator:
    return page.locator(f'#keys-body tr[data-handle="{handle}"]')


def status_of(row: Locator) -> Locator:
    return row.locator('td[data-label="Status"] .key-status')


def requests_to(page: Page, path: str) -> list[tuple[str, str, Any]]:
    """(method, url, body) of each request the page sends to `path` from now on."""
    seen: list[tuple[str, str, Any]] = []

    def remember(request: Request) -> None:
        if request.url.split("?")[0].endswith(path):
            body = request.post_data_json if request.post_data else None
            seen.append((request.method, request.url, body))

    page.on("request", remember)
    return seen


def make_key(base: str, access: str, handle: str, **body: Any) -> dict[str, Any]:
    response = call(base, "POST", "/user/keys", access, json={"handle": handle, **body})
    assert response.status_code == 201, response.text
    key: dict[str, Any] = response.json()
    return key


def backdate(user_id: str, handle: str, **seconds_ago: int) -> None:
    """Sets a key's timestamps (created_at, expires_at, ...) that long ago, in the store,
    as the end-to-end test of the idle rule does."""
    store = get_store()
    stored = store.get_key_by_handle(user_id, handle)
    assert stored is not None
    names = {f"#{name}": name for name in seconds_ago}
    values = {f":{name}": {"N": str(clock.now() - ago)} for name, ago in seconds_ago.items()}
    store._update_item(
        TableName=store.table,
        Key=item_keys.wire(item_keys.api_key(stored.key_id)),
        UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in seconds_ago),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def test_an_admin_sets_the_key_policy_sees_it_after_reload_and_bad_values_are_explained(
    page: Page, console_url: str, local_api: str
) -> None:
    admin = make_user(admin=True)
    access = api_login(local_api, admin)["access_token"]
    log_in(page, console_url, admin)
    open_all_keys(page)
    form = page.locator("#policy-form")
    lifetime, idle = form.get_by_label(LIFETIME, exact=True), form.get_by_label(IDLE, exact=True)
    expect(lifetime).to_have_value("")
    expect(idle).to_have_value("")
    sent = requests_to(page, "/account/policy")

    # checked before sending, and said beside the field concerned
    idle.fill("0")
    form.get_by_role("button", name="Save policy").click()
    idle_error = form.locator("#policy-idle-error")
    expect(idle_error).to_have_text(
        "Idle keys stop after: enter a whole number of days from 1 to 3,650, "
        "or leave it empty for no limit."
    )
    expect(idle).to_have_attribute("aria-invalid", "true")
    expect(idle).to_be_focused()
    expect(form.locator("#policy-error")).to_be_hidden()
    idle.fill("")
    lifetime.fill("2.5")
    form.get_by_role("button", name="Save policy").click()
    expect(form.locator("#policy-lifetime-error")).to_contain_text("Maximum key lifetime: enter")
    expect(idle_error).to_be_hidden()
    expect(idle).not_to_have_attribute("aria-invalid", "true")
    assert [method for method, _, _ in sent if method == "PUT"] == []

    # what the API refuses about one field is shown beside that field too
    def refuse(route: Route) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        route.fulfill(
            status=400,
            content_type="application/json",
            body=json.dumps(
                {
                    "errors": [
                        {
                            "code": "validation_error",
                            "detail": "Input should be less than or equal to 3650",
                            "attr": "max_key_lifetime_days",
                        }
                    ]
                }
            ),
        )

    page.route("**/account/policy", refuse)
    lifetime.fill("30")
    form.get_by_role("button", name="Save policy").click()
    expect(form.locator("#policy-lifetime-error")).to_have_text(
        "Maximum key lifetime: Input should be less than or equal to 3650"
    )
    expect(lifetime).to_have_attribute("aria-invalid", "true")
    page.unroute("**/account/policy", refuse)

    lifetime.fill("30")
    idle.fill("90")
    form.get_by_role("button", name="Save policy").click()
    expect(page.locator("#policy-notice")).to_have_text(
        "Policy saved. New and rotated keys expire within 30 days. "
        "Keys unused for 90 days stop working."
    )
    expect(form.locator("#policy-lifetime-error")).to_be_hidden()
    assert [(m, b) for m, _, b in sent][-1] == (
        "PUT",
        {"max_key_lifetime_days": 30, "key_idle_days": 90},
    )
    policy = call(local_api, "GET", "/account/policy", access).json()
    assert policy == {"max_key_lifetime_days": 30, "key_idle_days": 90}

    page.reload()
    expect(page.get_by_role("heading", level=1, name="All keys")).to_be_focused()
    expect(lifetime).to_have_value("30")
    expect(idle).to_have_value("90")
    expect(page.locator("#policy-notice")).to_be_hidden()

    # emptied: no rule (null), and the API's audit log has both changes
    lifetime.fill("")
    form.get_by_role("button", name="Save policy").click()
    expect(page.locator("#policy-notice")).to_contain_text(
        "Keys may live as long as their owners choose."
    )
    assert [(m, b) for m, _, b in sent][-1] == (
        "PUT",
        {"max_key_lifetime_days": None, "key_idle_days": 90},
    )
    policy = call(local_api, "GET", "/account/policy", access).json()
    assert policy == {"max_key_lifetime_days": None, "key_idle_days": 90}
    events = call(local_api, "GET", "/account/audit?action=account.policy_updated", access).json()[
        "events"
    ]
    assert len(events) == 2 and events[0]["actor"]["user_id"] == admin.user_id


def test_all_keys_lists_owners_pages_by_cursor_and_revokes_a_key(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    admin = make_user(admin=True)
    member = make_user(account_id=admin.account_id)
    access = api_login(local_api, admin)["access_token"]
    member_access = api_login(local_api, member)["access_token"]
    made = make_key(local_api, member_access, "deploy", alias="CI deploys", scopes=["orders:read"])
    bot = call(local_api, "POST", "/account/bots", access, json={"name": "nightly"})
    assert bot.status_code == 201, bot.text
    for index in range(9):  # 11 keys in all: two pages of 10
        make_key(local_api, access, f"admin-{index}")

    log_in(page, console_url, admin)
    open_all_keys(page)
    rows = page.locator("#allkeys-body").get_by_role("row")
    expect(rows).to_have_count(11)  # 50 a page by default
    expect(page.get_by_role("button", name="More keys")).to_be_hidden()

    deploy = all_keys_row(page, "deploy")
    expect(deploy.locator('td[data-label="Key"]')).to_have_text("deployCI deploys")
    expect(deploy.locator('td[data-label="Owner"]')).to_have_text(member.email)
    expect(deploy.locator('td[data-label="Type"]')).to_have_text("Token")
    expect(deploy.locator('td[data-label="Scopes"] li')).to_have_text(["orders:read"])
    expect(deploy.locator('td[data-label="Last used"]')).to_have_text("Never")
    expect(status_of(deploy)).to_have_text("Active")
    expires = deploy.locator('td[data-label="Expires"]')
    expect(expires).to_have_text("Never")
    token_row = all_keys_row(page, "bot-token")
    expect(token_row.locator('td[data-label="Owner"]')).to_have_text("nightlyBot")
    expect(token_row.locator('td[data-label="Type"]')).to_have_text("Bot token")
    expect(all_keys_row(page, "admin-0").locator('td[data-label="Owner"]')).to_have_text(
        f"{admin.email}You"
    )

    # ten a page: the API's cursor brings the rest, appended below
    sent = requests_to(page, "/account/keys")
    page.get_by_label("Keys per page").select_option("10")
    expect(rows).to_have_count(10)
    expect(page.locator("#allkeys-count")).to_have_text("10 keys shown; there are more")
    more = page.get_by_role("button", name="More keys")
    more.click()
    expect(rows).to_have_count(11)
    expect(more).to_be_hidden()
    expect(page.locator("#allkeys-count")).to_have_text("11 keys shown")
    urls = [url for _, url, _ in sent]
    assert len(urls) == 2 and "limit=10" in urls[0] and "cursor=" not in urls[0]
    assert "limit=10" in urls[1] and "cursor=" in urls[1]
    # oldest first, and keys made in the same second by their ids: each once, none lost
    handles = [row.get_attribute("data-handle") or "" for row in rows.all()]
    assert sorted(handles) == sorted(["deploy", "bot-token", *(f"admin-{i}" for i in range(9))])
    shot(page, screenshots, "20-all-keys")

    # revoking asks first, then the row goes and the token no longer authorizes
    assert call(local_api, "GET", "/auth/authenticated", made["token"]).status_code == 200
    deploy.get_by_role("button", name=f"Revoke key deploy of {member.email}").click()
    dialog = page.get_by_role("dialog", name=f"Revoke key “deploy” of {member.email}?")
    expect(dialog).to_contain_text("Its owner cannot undo this.")
    dialog.get_by_role("button", name="Revoke key").click()
    expect(dialog).to_be_hidden()
    expect(deploy).to_have_count(0)
    expect(rows).to_have_count(10)
    expect(page.locator("#announcer")).to_have_text(f"Key deploy of {member.email} revoked")
    refused = call(local_api, "GET", "/auth/authenticated", made["token"])
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "invalid_token"
    assert call(local_api, "GET", "/user/keys", member_access).json()["keys"] == []
    listed = call(local_api, "GET", "/account/keys", access).json()["keys"]
    assert "deploy" not in [key["handle"] for key in listed]
    event = call(local_api, "GET", "/account/audit?action=key.deleted", access).json()["events"][0]
    assert event["actor"]["user_id"] == admin.user_id
    assert event["target"]["type"] == "key"
    assert event["extra"] == {"reason": "account_admin"}

    page.reload()
    expect(page.get_by_role("heading", level=1, name="All keys")).to_be_focused()
    expect(rows).to_have_count(10)
    expect(all_keys_row(page, "deploy")).to_have_count(0)


def test_a_member_sees_no_all_keys_screen_and_the_api_refuses_them(
    page: Page, console_url: str, local_api: str
) -> None:
    admin = make_user(admin=True)
    member = make_user(account_id=admin.account_id)
    log_in(page, console_url, member)
    page.locator("#menu-button").hover()
    expect(page.locator("#menu").get_by_role("link")).to_have_text(
        ["API Keys", "Sessions", "Security"]
    )
    expect(page.locator("#menu").get_by_role("link", name="All keys")).to_have_count(0)
    page.goto(f"{console_url}#allkeys")
    expect(page.get_by_role("heading", level=1, name="API keys")).to_be_visible()
    expect(page.locator("#screen-allkeys")).to_be_hidden()
    token = api_login(local_api, member)["access_token"]
    for method, path in (("GET", "/account/keys"), ("GET", "/account/policy")):
        refused = call(local_api, method, path, token)
        assert refused.status_code == 403, refused.text
        assert refused.json()["errors"][0]["code"] == "permission_denied"


def test_key_lists_show_each_keys_status_idle_expired_included(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    admin = make_user(admin=True)
    member = make_user(account_id=admin.account_id)
    leaver = make_user(account_id=admin.account_id)
    access = api_login(local_api, admin)["access_token"]
    member_access = api_login(local_api, member)["access_token"]
    make_key(local_api, member_access, "fresh")
    stale = make_key(local_api, member_access, "stale")
    make_key(local_api, member_access, "lapsed", expires_in_days=1)
    make_key(local_api, api_login(local_api, leaver)["access_token"], "leavers")
    policy = call(local_api, "PUT", "/account/policy", access, json={"key_idle_days": 1})
    assert policy.status_code == 200, policy.text
    # made (and never used) two days ago: idle for the 1-day rule; `lapsed` ran out an hour ago
    backdate(member.user_id, "stale", created_at=2 * DAY)
    backdate(member.user_id, "lapsed", expires_at=3600)
    disabled = call(
        local_api, "PATCH", f"/account/users/{leaver.user_id}", access, json={"disabled": True}
    )
    assert disabled.status_code == 200, disabled.text
    refused = call(local_api, "GET", "/auth/authenticated", stale["token"])
    assert refused.status_code == 401

    log_in(page, console_url, member)
    for handle, text, status in (
        ("fresh", "Active", "active"),
        ("stale", "Idle expired", "idle_expired"),
        ("lapsed", "Expired", "expired"),
    ):
        badge = status_of(own_key_row(page, handle))
        expect(badge).to_have_text(text)
        expect(badge).to_have_attribute("data-status", status)
    expect(status_of(own_key_row(page, "stale"))).to_have_attribute(
        "title", re.compile("Unused for longer than the account's idle limit")
    )
    expect(own_key_row(page, "lapsed").locator('td[data-label="Expires"]')).to_contain_text(
        "(expired)"
    )
    shot(page, screenshots, "21-key-status")

    page.locator("#menu-button").hover()
    page.locator("#menu").get_by_role("button", name="Log out").click()
    expect(page.locator("#login-notice")).to_have_text("You are logged out.")
    log_in(page, console_url, admin)
    open_all_keys(page)
    for handle, status in (
        ("fresh", "active"),
        ("stale", "idle_expired"),
        ("lapsed", "expired"),
        ("leavers", "disabled"),
    ):
        expect(status_of(all_keys_row(page, handle))).to_have_attribute("data-status", status)
    expect(status_of(all_keys_row(page, "leavers"))).to_have_text("Disabled")

    # lifting the idle rule from the console makes the idle key active again, at once
    page.locator("#policy-form").get_by_label(IDLE, exact=True).fill("")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator("#policy-notice")).to_contain_text("Unused keys never stop on their own.")
    expect(status_of(all_keys_row(page, "stale"))).to_have_text("Active")
    assert call(local_api, "GET", "/auth/authenticated", stale["token"]).status_code == 200


def test_the_all_keys_screen_fits_a_phone(phone: Page, console_url: str, local_api: str) -> None:
    admin = make_user(admin=True)
    member = make_user(account_id=admin.account_id)
    make_key(local_api, api_login(local_api, member)["access_token"], "a-rather-long-handle.v2")
    log_in(phone, console_url, admin)
    open_all_keys(phone)
    expect(status_of(all_keys_row(phone, "a-rather-long-handle.v2"))).to_have_text("Active")
    widths = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    assert phone.evaluate(widths) == [390, 390]
    open_from_menu(phone, "API Keys")
    expect(phone.get_by_role("heading", level=1, name="API keys")).to_be_focused()
    assert phone.evaluate(widths) == [390, 390]
