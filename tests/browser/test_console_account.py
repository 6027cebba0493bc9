"""The console's Account area (users and the audit log), for admins only, in Chromium."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import (
    api_login,
    call,
    log_in,
    login_field,
    messages_to,
    open_from_menu,
    reset_link,
    shot,
)
from tests.helpers import make_user

pytestmark = pytest.mark.browser

CHOSEN_PASSWORD = "my own passphrase 2026"
WIDTHS = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def open_users(page: Page) -> None:
    open_from_menu(page, "Users")
    expect(page.get_by_role("heading", level=1, name="Users")).to_be_focused()
    expect(page.locator("#users-empty", has_text="Loading…")).to_be_hidden()


def user_row(page: Page, email: str) -> Locator:
    return page.locator("#users-body").get_by_role("row").filter(has_text=email)


def event_actions(page: Page) -> list[str]:
    expect(page.locator("#audit-empty", has_text="Loading…")).to_be_hidden()
    rows = page.locator("#audit-body tr")
    return [rows.nth(i).get_attribute("data-action") or "" for i in range(rows.count())]


def test_admin_invites_a_user_who_chooses_a_password_from_the_link(
    page: Page, console_url: str, local_api: str, outbox: Path, screenshots: Path
) -> None:
    admin = make_user(admin=True, email=f"grace-{uuid.uuid4().hex[:6]}@example.com")
    invited = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    log_in(page, console_url, admin)
    open_users(page)

    form = page.locator("#invite-form")
    form.get_by_label("Email").fill(invited)
    form.get_by_label("Role").select_option(label="Member")
    form.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#users-notice")).to_have_text(
        f"Invitation sent to {invited}: the email has a link to choose a password."
    )
    row = user_row(page, invited)
    expect(row).to_contain_text("Member")
    expect(row).to_contain_text("Never")
    expect(user_row(page, admin.email)).to_contain_text("You")
    shot(page, screenshots, "10-users")

    form.get_by_label("Email").fill(invited)
    form.get_by_role("button", name="Send invitation").click()
    expect(form.get_by_role("alert")).to_have_text(
        "A user with this email already exists in this account."
    )

    [message] = messages_to(outbox, invited)
    assert message["Subject"] == "Choose your gatekey password"
    link = reset_link(message)
    assert link.startswith(f"{console_url}#reset=")

    page.locator("#menu-button").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#login-notice")).to_have_text("You are logged out.")
    page.goto(link)
    expect(page.get_by_role("heading", level=1, name="Choose a password")).to_be_visible()
    reset = page.locator("#reset-form")
    reset.get_by_label("New password", exact=True).fill(CHOSEN_PASSWORD)
    reset.get_by_label("New password, again").fill(CHOSEN_PASSWORD)
    reset.get_by_role("button", name="Set password").click()
    expect(page.locator("#login-notice")).to_have_text("Your password is set. Log in with it.")

    login_field(page, "Email").fill(invited)
    login_field(page, "Password").fill(CHOSEN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="API keys")).to_be_focused()
    expect(page.locator("#account-id")).to_have_text(admin.account_id)
    page.locator("#menu-button").hover()
    expect(page.locator("#menu").get_by_role("link")).to_have_text(
        ["API Keys", "Sessions", "Security"]
    )


def test_admin_changes_a_role_disables_enables_and_deletes_a_user(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    admin = make_user(admin=True)
    member = make_user(account_id=admin.account_id)
    token = api_login(local_api, member)["access_token"]
    log_in(page, console_url, admin)
    page.locator("#menu-button").hover()
    expect(page.locator("#menu").get_by_role("link")).to_have_text(
        ["API Keys", "Sessions", "Security", "Users", "All keys", "Audit log", "Bots"]
    )
    shot(page, screenshots, "17-admin-menu", full_page=False)
    open_users(page)
    row = user_row(page, member.email)
    expect(row).to_contain_text("Member")

    row.get_by_role("button", name=f"Make {member.email} an admin").click()
    expect(row).to_contain_text("Admin")
    expect(page.locator("#announcer")).to_have_text(f"{member.email} is now an admin")
    assert call(local_api, "GET", "/user", token).json()["role"] == "admin"
    row.get_by_role("button", name=f"Make {member.email} a member").click()
    expect(row.get_by_role("button", name=f"Make {member.email} an admin")).to_be_visible()
    assert call(local_api, "GET", "/user", token).json()["role"] == "member"

    row.get_by_role("button", name=f"Disable {member.email}").click()
    dialog = page.get_by_role("dialog", name=f"Disable {member.email}?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Disable user").click()
    expect(dialog).to_be_hidden()
    expect(row).to_contain_text("Disabled")
    refused = call(local_api, "GET", "/user", token)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "invalid_token"

    row.get_by_role("button", name=f"Enable {member.email}").click()
    expect(row).to_contain_text("Active")
    assert call(local_api, "GET", "/user", token).status_code == 200

    own = user_row(page, admin.email)
    own.get_by_role("button", name=f"Make {admin.email} a member").click()
    expect(page.locator("#users-error")).to_have_text(
        "The last enabled admin of an account cannot be demoted, disabled or deleted."
    )
    expect(own).to_contain_text("Admin")

    row.get_by_role("button", name=f"Delete user {member.email}").click()
    dialog = page.get_by_role("dialog", name=f"Delete user {member.email}?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(row).to_have_count(1)
    row.get_by_role("button", name=f"Delete user {member.email}").click()
    dialog.get_by_role("button", name="Delete user").click()
    expect(row).to_have_count(0)
    expect(page.locator("#announcer")).to_have_text(f"User {member.email} deleted")
    assert call(local_api, "GET", "/user", token).status_code == 401
    gone = {"email": member.email, "password": member.password}
    assert call(local_api, "POST", "/auth/login", json=gone).status_code == 401


def test_admin_resets_the_two_step_verification_of_a_member_who_lost_their_phone(
    page: Page, console_url: str, local_api: str
) -> None:
    from tests.browser.test_console_security import enrol

    admin = make_user(admin=True)
    member = make_user(account_id=admin.account_id)
    colleague = make_user(account_id=admin.account_id)
    _, codes = enrol(local_api, member)
    member_token = api_login(local_api, member, recovery_code=codes[0])["access_token"]
    log_in(page, console_url, admin)
    open_users(page)

    reset = re.compile("Reset two-step verification")
    expect(user_row(page, colleague.email).get_by_role("button", name=reset)).to_have_count(0)
    row = user_row(page, member.email)
    row.get_by_role("button", name=f"Reset two-step verification of {member.email}").click()
    dialog = page.get_by_role("dialog", name=f"Reset two-step verification of {member.email}?")
    expect(dialog).to_contain_text("all their sessions end")
    dialog.get_by_role("button", name="Reset MFA").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_role("button", name=reset)).to_have_count(0)
    expect(page.locator("#announcer")).to_have_text(
        f"Two-step verification of {member.email} reset"
    )

    assert call(local_api, "GET", "/user", member_token).status_code == 401
    assert api_login(local_api, member)["user"]["mfa"] is False  # the password alone again


def test_audit_log_lists_filters_and_pages(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    admin = make_user(admin=True)
    member = make_user(account_id=admin.account_id)
    wrong = {"email": member.email, "password": "not the password"}
    assert call(local_api, "POST", "/auth/login", json=wrong).status_code == 401
    for _ in range(11):
        api_login(local_api, member)
    access = api_login(local_api, member)["access_token"]
    assert call(local_api, "POST", "/user/keys", access, json={"handle": "ci"}).status_code == 201
    log_in(page, console_url, admin)
    open_from_menu(page, "Audit log")
    expect(page.get_by_role("heading", level=1, name="Audit log")).to_be_focused()

    actions = event_actions(page)
    assert actions[:3] == ["login.success", "key.created", "login.success"], actions
    assert actions.count("login.failure") == 1
    newest = page.locator("#audit-body tr").first
    expect(newest).to_contain_text(admin.email)
    shot(page, screenshots, "11-audit")

    filters = page.locator("#audit-filter-form")
    filters.get_by_label("Action").select_option("login.failure")
    filters.get_by_role("button", name="Show events").click()
    expect(page.locator("#audit-body tr")).to_have_count(1)
    expect(page.locator("#audit-body tr")).to_contain_text("Failure")
    expect(page.locator("#audit-body tr")).to_contain_text(member.email)

    filters.get_by_label("Action").select_option("")
    filters.get_by_label("User").select_option(label=member.email)
    filters.get_by_label("Per page").select_option("10")
    filters.get_by_role("button", name="Show events").click()
    expect(page.locator("#audit-body tr")).to_have_count(10)
    first_page = [row.get_attribute("data-event") for row in page.locator("#audit-body tr").all()]
    expect(page.locator("#audit-body")).not_to_contain_text(admin.email)
    expect(page.get_by_role("button", name="Newer events")).to_be_disabled()

    page.get_by_role("button", name="Older events").click()
    expect(page.locator("#audit-page")).to_have_text("Page 2")
    expect(page.locator("#audit-body tr")).to_have_count(4)  # 14 events of the member in all
    second_page = [row.get_attribute("data-event") for row in page.locator("#audit-body tr").all()]
    assert not set(first_page) & set(second_page)
    assert event_actions(page)[-1] == "login.failure"  # the oldest
    expect(page.get_by_role("button", name="Older events")).to_be_disabled()

    page.get_by_role("button", name="Newer events").click()
    expect(page.locator("#audit-page")).to_have_text("Page 1")
    again = [row.get_attribute("data-event") for row in page.locator("#audit-body tr").all()]
    assert again == first_page


def test_members_do_not_see_the_account_area_and_the_api_refuses_them(
    page: Page, console_url: str, local_api: str
) -> None:
    admin = make_user(admin=True)
    member = make_user(account_id=admin.account_id)
    log_in(page, console_url, member)
    page.locator("#menu-button").hover()
    expect(page.locator("#menu").get_by_role("link")).to_have_text(
        ["API Keys", "Sessions", "Security"]
    )
    for screen in ("users", "audit"):
        page.goto(f"{console_url}#{screen}")
        expect(page.get_by_role("heading", level=1, name="API keys")).to_be_visible()
        expect(page.locator(f"#screen-{screen}")).to_be_hidden()
    token = api_login(local_api, member)["access_token"]
    for path in ("/account/users", "/account/audit"):
        refused = call(local_api, "GET", path, token)
        assert refused.status_code == 403, refused.text
        assert refused.json()["errors"][0]["code"] == "permission_denied"
    user = call(local_api, "GET", "/account/users", token)
    assert re.search("permission", user.text)


def test_account_and_security_screens_fit_a_phone(
    phone: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    admin = make_user(admin=True)
    make_user(account_id=admin.account_id)
    log_in(phone, console_url, admin)
    for item, heading in (("Users", "Users"), ("Audit log", "Audit log"), ("Security", "Security")):
        open_from_menu(phone, item)
        expect(phone.get_by_role("heading", level=1, name=heading)).to_be_focused()
        expect(phone.locator(".empty", has_text="Loading…")).to_have_count(0)
        assert phone.evaluate(WIDTHS) == [390, 390], item
    open_from_menu(phone, "Users")
    shot(phone, screenshots, "16-phone-users")
