"""Passwords through the local API (CONTRACT section 8): change, reset by a mailed
single-use link, set-password links for new users, and the password rule."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import re
import statistics
import time
import uuid
from pathlib import Path

import jwt
import pytest

from gatekey import clock
from gatekey.accounts import reset, users
from gatekey.store import get_store
from gatekey_local.function_worker import FrozenClock
from tests.e2e.conftest import Client, error_code
from tests.helpers import PASSWORD, make_user

NEW_PASSWORD = "a brand new passphrase 42"
RESET_LINK = re.compile(r"#reset=([A-Za-z0-9_-]+)")


# -- helpers ---------------------------------------------------------------------------


def outbox() -> Path:
    return Path(os.environ["GATEKEY_OUTBOX_DIR"])


def messages_to(address: str) -> list[email.message.EmailMessage]:
    """The messages written to the outbox for `address`, oldest first."""
    found = []
    for path in sorted(outbox().glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            found.append(message)
    return found


def token_in(message: email.message.EmailMessage) -> str:
    body = message.get_content()
    link = RESET_LINK.search(body)
    assert link is not None, body
    assert f"Token: {link.group(1)}" in body
    return link.group(1)


def request_reset(api, address: str, **extra) -> str:
    """Asks for a reset link and returns the token it mailed."""
    before = len(messages_to(address))
    response = api.post("/auth/password-reset", json={"email": address, **extra})
    assert response.status_code == 202, response.text
    mailed = messages_to(address)
    assert len(mailed) == before + 1
    assert mailed[-1]["Subject"] == "Reset your gatekey password"
    return token_in(mailed[-1])


def confirm(api, token: str, password: str = NEW_PASSWORD):
    return api.post("/auth/password-reset/confirm", json={"token": token, "new_password": password})


def login(api, address: str, password: str):
    return api.post("/auth/login", json={"email": address, "password": password})


def audit_actions(account_id: str) -> list[tuple[str, str, str | None]]:
    events, _ = get_store().list_audit_events(account_id, limit=100)
    return [(e["action"], e["outcome"], e["actor"].get("user_id")) for e in events]


def create_key(api, token, **body):
    body.setdefault("handle", f"k-{uuid.uuid4().hex[:8]}")
    response = api.post("/user/keys", token=token, json=body)
    assert response.status_code == 201, response.text
    return response.json()


# -- POST /user/password ---------------------------------------------------------------


def test_change_ends_every_other_session_and_keeps_keys(api, user, local_api):
    first = api.login(user)["access_token"]
    other_device = Client(local_api)
    try:
        second = other_device.login(user)["access_token"]
        key = create_key(api, first)["token"]

        response = api.post(
            "/user/password",
            token=first,
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"password_changed": True, "sessions_ended": 1}

        assert api.get("/user", token=first).status_code == 200  # this session goes on
        assert other_device.get("/user", token=second).status_code == 401
        assert api.get("/user", headers={"Authorization": key}).status_code == 200
        assert error_code(login(api, user.email, PASSWORD)) == "invalid_credentials"
        assert login(api, user.email, NEW_PASSWORD).status_code == 200
    finally:
        other_device.close()
    assert ("password.changed", "success", user.user_id) in audit_actions(user.account_id)


def test_wrong_current_password_is_a_failed_login_attempt(api, user, token):
    body = {"current_password": "not my password", "new_password": NEW_PASSWORD}
    for _ in range(5):
        response = api.post("/user/password", token=token, json=body)
        assert response.status_code == 401
        assert error_code(response) == "invalid_credentials"
    right = api.post(
        "/user/password",
        token=token,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert right.status_code == 429 and error_code(right) == "throttled"
    assert "Retry-After" in right.headers
    assert error_code(login(api, user.email, PASSWORD)) == "throttled"
    assert ("password.changed", "failure", user.user_id) in audit_actions(user.account_id)


def test_keys_and_client_jwts_cannot_change_the_password(api, token):
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    everything = create_key(api, token, scopes=["*", "gatekey:keys", "gatekey:sessions"])
    signing = create_key(api, token, type="jwt", scopes=["*", "gatekey:keys"])
    signed = jwt.encode(
        {"exp": int(time.time()) + 300},
        signing["secret"],
        algorithm="HS256",
        headers={"kid": signing["kid"]},
    )
    for credential in (everything["token"], signed):
        response = api.post("/user/password", headers={"Authorization": credential}, json=body)
        assert response.status_code == 403, response.text
        assert error_code(response) == "permission_denied"


@pytest.mark.parametrize(
    ("new_password", "code"),
    [
        ("short1!", "password_too_short"),
        ("x" * 257, "password_too_long"),
        ("qwertyuiop", "password_too_common"),
        ("Password123", "password_too_common"),
        ("{local}-is-my-secret", "password_too_similar"),
    ],
)
def test_the_password_rule_applies_to_a_change(api, user, token, new_password, code):
    new_password = new_password.replace("{local}", user.email.split("@")[0].upper())
    response = api.post(
        "/user/password",
        token=token,
        json={"current_password": PASSWORD, "new_password": new_password},
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "validation_error"
    assert body["errors"][0]["attr"] == "password" and body["errors"][0]["code"] == code
    assert new_password not in response.text
    assert login(api, user.email, PASSWORD).status_code == 200  # unchanged


def test_change_password_bodies_are_validated(api, token):
    response = api.post("/user/password", token=token, json={"new_password": NEW_PASSWORD})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "current_password"
    extra = api.post(
        "/user/password",
        token=token,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "x": 1},
    )
    assert extra.status_code == 400


# -- reset by mailed link --------------------------------------------------------------


def test_reset_end_to_end_through_the_outbox(api, user, local_api):
    other_device = Client(local_api)
    try:
        session = other_device.login(user)["access_token"]
        token = request_reset(api, user.email)
        message = messages_to(user.email)[-1]
        assert "/console#reset=" in message.get_content()
        assert "30 minutes" in message.get_content()

        response = confirm(api, token)
        assert response.status_code == 200, response.text
        assert response.json() == {"password_reset": True, "sessions_ended": 1}
        assert other_device.get("/user", token=session).status_code == 401
    finally:
        other_device.close()
    assert error_code(login(api, user.email, PASSWORD)) == "invalid_credentials"
    assert login(api, user.email, NEW_PASSWORD).status_code == 200
    actions = audit_actions(user.account_id)
    assert ("password.reset_requested", "success", None) in actions
    assert ("password.reset", "success", user.user_id) in actions


def test_a_reset_link_works_once(api, user):
    token = request_reset(api, user.email)
    assert confirm(api, token).status_code == 200
    again = confirm(api, token, "yet another passphrase 7")
    assert again.status_code == 400
    assert again.json()["type"] == "validation_error"
    assert again.json()["errors"][0]["attr"] == "token"
    assert login(api, user.email, NEW_PASSWORD).status_code == 200


def test_a_reset_link_dies_after_30_minutes(api, user, function_patch):
    stale, fresh = request_reset(api, user.email), request_reset(api, user.email)
    issued = clock.now()
    function_patch.patch("gatekey.clock", "now", FrozenClock(issued + 30 * 60 + 1).now)
    assert confirm(api, stale).status_code == 400
    function_patch.patch("gatekey.clock", "now", FrozenClock(issued + 30 * 60 - 10).now)
    assert confirm(api, fresh).status_code == 200


def test_a_password_change_voids_older_reset_links(api, user, token):
    link = request_reset(api, user.email)
    changed = api.post(
        "/user/password",
        token=token,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200
    assert confirm(api, link, "yet another passphrase 7").status_code == 400
    assert login(api, user.email, NEW_PASSWORD).status_code == 200


def test_the_password_rule_applies_to_a_reset_and_keeps_the_link(api, user):
    token = request_reset(api, user.email)
    local_part = user.email.split("@")[0]
    for weak in ("tooshort", "1234567890", f"my {local_part} pass"):
        response = confirm(api, token, weak)
        assert response.status_code == 400
        assert response.json()["errors"][0]["attr"] == "password"
    assert confirm(api, token).status_code == 200  # a refused password did not spend it


def test_forged_and_malformed_tokens_are_refused(api):
    for token in ("x", "A" * 43, "../../etc", "é" * 20):
        response = confirm(api, token)
        assert response.status_code == 400
        assert response.json()["errors"][0]["attr"] == "token"
    missing = api.post("/auth/password-reset/confirm", json={"new_password": NEW_PASSWORD})
    assert missing.status_code == 400 and missing.json()["errors"][0]["attr"] == "token"


def test_a_reset_lifts_the_login_lockout(api, user):
    for _ in range(5):
        login(api, user.email, "wrong password!")
    assert error_code(login(api, user.email, PASSWORD)) == "throttled"
    assert confirm(api, request_reset(api, user.email)).status_code == 200
    assert login(api, user.email, NEW_PASSWORD).status_code == 200


def test_unknown_emails_get_the_same_answer_and_no_message(api, user):
    ghost = f"ghost-{uuid.uuid4().hex[:8]}@example.com"
    known = api.post("/auth/password-reset", json={"email": user.email})
    unknown = api.post("/auth/password-reset", json={"email": ghost})
    other_account = api.post(
        "/auth/password-reset", json={"email": user.email, "account_id": str(uuid.uuid4())}
    )
    assert known.status_code == unknown.status_code == other_account.status_code == 202
    assert known.json() == unknown.json() == other_account.json()
    assert messages_to(ghost) == []
    assert len(messages_to(user.email)) == 1


def test_bots_with_an_email_get_no_reset_message(api):
    store = get_store()
    account = users.create_account(store, "Bot Mail Co")
    address = f"bot-{uuid.uuid4().hex[:8]}@example.com"
    users.create_user(
        store, account_id=account["account_id"], email=address, password=None, bot=True
    )
    assert api.post("/auth/password-reset", json={"email": address}).status_code == 202
    assert messages_to(address) == []


def test_disabled_users_get_no_reset_message(api, user):
    store = get_store()
    store.change_user(store.get_user(user.user_id), {"disabled": True})
    assert api.post("/auth/password-reset", json={"email": user.email}).status_code == 202
    assert messages_to(user.email) == []


def test_an_email_in_two_accounts_gets_one_link_per_account(api, user):
    second = make_user(email=user.email)
    assert api.post("/auth/password-reset", json={"email": user.email}).status_code == 202
    links = {}
    for message in messages_to(user.email):
        account = re.search(r"^Account: .*\((.+)\)$", message.get_content(), re.M)
        assert account is not None
        links[account.group(1)] = token_in(message)
    assert set(links) == {user.account_id, second.account_id}
    assert confirm(api, links[second.account_id], "second account passphrase").status_code == 200
    first_login = api.post(
        "/auth/login",
        json={"email": user.email, "password": PASSWORD, "account_id": user.account_id},
    )
    second_login = api.post(
        "/auth/login",
        json={
            "email": user.email,
            "password": "second account passphrase",
            "account_id": second.account_id,
        },
    )
    assert first_login.status_code == second_login.status_code == 200
    assert confirm(api, links[user.account_id]).status_code == 200


@pytest.mark.slow
def test_unknown_emails_take_about_as_long_as_known_ones(api, user):
    """Medians of interleaved requests, so a drift of the machine hits both alike."""
    ghost = f"ghost-{uuid.uuid4().hex[:8]}@example.com"
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(7):
        for label, address in (("known", user.email), ("unknown", ghost)):
            started = time.perf_counter()
            response = api.post("/auth/password-reset", json={"email": address})
            timings[label].append(time.perf_counter() - started)
            assert response.status_code == 202
    known, unknown = (statistics.median(timings[label]) for label in ("known", "unknown"))
    assert known >= reset.RESET_RESPONSE_SECONDS and unknown >= reset.RESET_RESPONSE_SECONDS
    assert abs(known - unknown) < 0.05, timings
    assert len(messages_to(user.email)) == reset.RESETS_PER_WINDOW and messages_to(ghost) == []


def test_the_log_names_the_outbox_file_and_never_the_link(api, user, caplog):
    caplog.set_level(logging.DEBUG)
    token = request_reset(api, user.email)
    records = "\n".join(str(vars(record)) for record in caplog.records)
    assert ".eml" in records
    assert token not in records and token[:20] not in records


# -- set-password links for users created without a password ----------------------------


def test_a_new_user_without_password_chooses_one_through_the_link(api, local_api):
    store = get_store()
    account = users.create_account(store, "Invited Co")
    address = f"new-{uuid.uuid4().hex[:8]}@example.com"
    invited = users.create_user(
        store, account_id=account["account_id"], email=address, password=None
    )
    assert error_code(login(api, address, NEW_PASSWORD)) == "invalid_credentials"
    assert reset.send_set_password(store, invited, console_url=f"{local_api}/console") is True
    [message] = messages_to(address)
    assert message["Subject"] == "Choose your gatekey password"
    assert f"{local_api}/console#reset=" in message.get_content()
    assert "7 days" in message.get_content()
    assert confirm(api, token_in(message)).status_code == 200
    assert login(api, address, NEW_PASSWORD).status_code == 200


def test_bots_get_no_set_password_message(api):
    store = get_store()
    account = users.create_account(store, "Bot Co")
    bot = users.create_user(
        store, account_id=account["account_id"], email="", password=None, bot=True
    )
    assert reset.send_set_password(store, bot, console_url="http://x/console") is False
