"""The audit log (CONTRACT section 8): every recorded write with its actor and target,
newest first with a cursor, filters, retention by TTL, nothing for a failed write, and
no secret in an event or its log line."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Iterator

import jwt
import pytest

from gatekey.accounts import audit
from gatekey.store import from_item, get_store
from tests.e2e.conftest import error_code
from tests.helpers import PASSWORD, USER_AGENT, make_user

EVENT_FIELDS = {"id", "at", "action", "outcome", "actor", "target", "ip", "user_agent"}


def create_key(api, token, **body):
    body.setdefault("handle", f"k-{uuid.uuid4().hex[:8]}")
    response = api.post("/user/keys", token=token, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def events(api, token, **params) -> list[dict]:
    response = api.get("/account/audit", token=token, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"events", "cursor"}
    for event in body["events"]:
        assert set(event) == EVENT_FIELDS, event
    return list(body["events"])


def stored_events(account_id: str) -> list[dict]:
    store = get_store()
    response = store.client.query(
        TableName=store.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{account_id}"}},
        ConsistentRead=True,
    )
    return [from_item(item) for item in response["Items"]]


@pytest.fixture
def audit_lines() -> Iterator[list[logging.LogRecord]]:
    """The audit log lines, captured at their own logger."""
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Capture(level=logging.INFO)
    logger = logging.getLogger("gatekey.audit")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def test_key_actions_are_recorded_with_actor_and_target_newest_first(api, admin):
    token = api.login(admin)["access_token"]
    key = create_key(api, token, handle="deploy", scopes=["gatekey:keys"])
    assert api.patch("/user/keys/deploy", token=token, json={"alias": "CI"}).status_code == 200
    assert api.post("/user/keys/deploy/rotate", token=token, json={}).status_code == 200
    rotated = api.get("/user/keys/deploy", token=token).json()["token"]
    # The key manages a key of its own: the actor is the key, by handle.
    made = api.post(
        "/user/keys",
        headers={"Authorization": rotated},
        json={"handle": "spare", "scopes": ["gatekey:keys"]},
    )
    assert made.status_code == 201, made.text
    assert api.delete("/user/keys/spare", token=token).status_code == 204
    assert key["handle"] == "deploy"

    logged = events(api, token, user_id=admin.user_id)
    key_events = [e for e in logged if e["action"].startswith("key.")]
    assert [(e["action"], e["target"]["id"]) for e in key_events] == [
        ("key.deleted", "spare"),
        ("key.created", "spare"),
        ("key.rotated", "deploy"),
        ("key.updated", "deploy"),
        ("key.created", "deploy"),
    ]
    by_key = key_events[1]
    assert by_key["actor"] == {
        "user_id": admin.user_id,
        "token_type": "api_key",
        "key_handle": "deploy",
    }
    for event in key_events[:1] + key_events[2:]:
        assert event["actor"] == {"user_id": admin.user_id, "token_type": "session"}
    for event in key_events:
        assert event["target"]["type"] == "key"
        assert event["outcome"] == "success"
        assert event["user_agent"] == USER_AGENT
        assert event["ip"] == "127.0.0.1"
        assert event["at"].endswith("Z")
    ats = [e["at"] for e in logged]
    assert ats == sorted(ats, reverse=True)


def test_user_administration_is_recorded_with_the_admin_as_actor(api, admin):
    token = api.login(admin)["access_token"]
    created = api.post(
        "/account/users",
        token=token,
        json={"email": f"n-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD},
    ).json()["user"]
    path = f"/account/users/{created['id']}"
    assert api.patch(path, token=token, json={"role": "admin"}).status_code == 200
    assert api.patch(path, token=token, json={"disabled": True}).status_code == 200
    assert api.delete(path, token=token).status_code == 204

    logged = events(api, token, user_id=created["id"])
    assert [e["action"] for e in logged] == [
        "user.deleted",
        "user.updated",
        "user.updated",
        "user.created",
    ]
    for event in logged:
        assert event["actor"] == {"user_id": admin.user_id, "token_type": "session"}
        assert event["target"] == {"type": "user", "id": created["id"]}


def test_bot_and_session_actions_are_recorded(api, admin):
    login = api.login(admin)
    token = login["access_token"]
    bot = api.post("/account/bots", token=token, json={"name": "nightly"}).json()
    bot_id = bot["bot"]["id"]
    assert api.post(f"/account/bots/{bot_id}/token", token=token).status_code == 200
    assert api.delete(f"/account/bots/{bot_id}", token=token).status_code == 204
    second = api.login(admin)
    session_id = next(
        s["id"]
        for s in api.get("/user/sessions", token=token).json()["sessions"]
        if not s["current"]
    )
    assert api.delete(f"/user/sessions/{session_id}", token=token).status_code == 204
    third = api.login(admin)["access_token"]
    assert api.get("/auth/revoke", token=third).status_code == 200
    assert api.post("/auth/logout", token=token).status_code == 200
    assert second["access_token"]

    token = api.login(admin)["access_token"]
    logged = events(api, token)
    actions = [(e["action"], e["target"]["type"], e["target"]["id"]) for e in logged]
    assert ("bot.created", "user", bot_id) in actions
    assert ("bot.token_regenerated", "user", bot_id) in actions
    assert ("bot.deleted", "user", bot_id) in actions
    assert ("session.ended", "session", session_id) in actions
    ended = [a for a in actions if a[0] == "session.ended"]
    assert len(ended) == 2  # the one ended from the list, and the logout
    assert any(a[0] == "token.revoked" and a[1] == "session" for a in actions)
    order = [a[0] for a in actions if a[0].startswith("bot.")]
    assert order == ["bot.deleted", "bot.token_regenerated", "bot.created"]


def test_revoking_a_key_token_is_recorded_as_that_key(api, admin):
    token = api.login(admin)["access_token"]
    key = create_key(api, token, handle="gone")
    assert api.get("/auth/revoke", headers={"Authorization": key["token"]}).status_code == 200
    revoked = events(api, token, action="token.revoked")
    assert revoked[0]["target"] == {"type": "key", "id": "gone"}
    assert revoked[0]["actor"] == {
        "user_id": admin.user_id,
        "token_type": "api_key",
        "key_handle": "gone",
    }


def test_a_failed_write_leaves_no_event(api, admin):
    token = api.login(admin)["access_token"]
    create_key(api, token, handle="taken")
    duplicate = api.post("/user/keys", token=token, json={"handle": "taken"})
    assert duplicate.status_code == 409
    assert error_code(duplicate) == "handle_taken"
    last_admin = api.patch(f"/account/users/{admin.user_id}", token=token, json={"role": "member"})
    assert last_admin.status_code == 409
    assert api.delete("/user/keys/missing", token=token).status_code == 404

    logged = events(api, token)
    assert [e["target"]["id"] for e in logged if e["action"] == "key.created"] == ["taken"]
    assert [e for e in logged if e["action"] in ("user.updated", "key.deleted")] == []


def test_cursor_pages_through_every_event_newest_first(api, admin):
    token = api.login(admin)["access_token"]
    for index in range(7):
        create_key(api, token, handle=f"page-{index}")
    everything = events(api, token)
    assert len(everything) >= 7
    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = api.get("/account/audit", token=token, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["events"]) <= 3
        pages.append(body["events"])
        cursor = body["cursor"]
        if cursor is None:
            break
        assert len(body["events"]) == 3
    assert [e["id"] for page in pages for e in page] == [e["id"] for e in everything]
    assert len(pages) == -(-len(everything) // 3)


def test_filters_by_action_and_by_user_as_actor_or_target(api, admin):
    token = api.login(admin)["access_token"]
    member = make_user(account_id=admin.account_id)
    member_token = api.login(member)["access_token"]
    create_key(api, member_token, handle="members-key")
    patched = api.patch(f"/account/users/{member.user_id}", token=token, json={"role": "admin"})
    assert patched.status_code == 200

    created = events(api, token, action="key.created")
    assert created and all(e["action"] == "key.created" for e in created)
    mine = events(api, token, user_id=member.user_id)
    assert {"key.created", "user.updated"} <= {e["action"] for e in mine}
    for event in mine:
        assert member.user_id in (event["actor"]["user_id"], event["target"]["id"])
    both = events(api, token, user_id=member.user_id, action="user.updated")
    assert [e["actor"]["user_id"] for e in both] == [admin.user_id]


def test_filtered_pages_end_on_the_last_event_returned(api, admin):
    token = api.login(admin)["access_token"]
    for index in range(4):
        create_key(api, token, handle=f"f-{index}")
        assert (
            api.patch(f"/user/keys/f-{index}", token=token, json={"alias": "x"}).status_code == 200
        )
    first = api.get("/account/audit", token=token, params={"limit": 3, "action": "key.updated"})
    body = first.json()
    assert len(body["events"]) == 3 and body["cursor"]
    rest = api.get(
        "/account/audit",
        token=token,
        params={"limit": 3, "action": "key.updated", "cursor": body["cursor"]},
    ).json()
    assert [e["target"]["id"] for e in body["events"] + rest["events"]] == [
        "f-3",
        "f-2",
        "f-1",
        "f-0",
    ]
    assert rest["cursor"] is None


def test_bad_cursor_limit_and_filters_are_validation_errors(api, admin):
    token = api.login(admin)["access_token"]
    create_key(api, token)
    stranger = make_user(admin=True)
    foreign = base64.urlsafe_b64encode(
        json.dumps({"pk": f"AUDIT#{stranger.account_id}", "sk": "0" * 12}).encode()
    ).decode()
    for params, attr in (
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": foreign}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"action": "key.exploded"}, "action"),
        ({"user_id": "a b"}, "user_id"),
    ):
        response = api.get("/account/audit", token=token, params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["type"] == "validation_error"
        assert response.json()["errors"][0]["attr"] == attr


def test_a_cursor_cannot_read_another_accounts_events(api, admin):
    token = api.login(admin)["access_token"]
    for index in range(3):
        create_key(api, token, handle=f"c-{index}")
    cursor = api.get("/account/audit", token=token, params={"limit": 1}).json()["cursor"]
    assert cursor
    other = make_user(admin=True)
    other_token = api.login(other)["access_token"]
    response = api.get("/account/audit", token=other_token, params={"cursor": cursor})
    assert response.status_code == 400
    assert {e["actor"]["user_id"] for e in events(api, other_token)} == {other.user_id}


def test_events_expire_after_the_retention_setting(api, admin):
    token = api.login(admin)["access_token"]
    create_key(api, token, handle="kept")
    (stored,) = [e for e in stored_events(admin.account_id) if e["action"] == "key.created"]
    assert stored["ttl"] == stored["at"] + 365 * 86_400


def test_retention_follows_its_environment_variable(configure):
    configure(GATEKEY_AUDIT_RETENTION_DAYS="7")
    event = audit.new_event("acct", audit.KEY_CREATED, actor=None, target=(audit.TARGET_KEY, "k"))
    assert event["ttl"] == event["at"] + 7 * 86_400


def test_no_secret_in_events_or_their_log_lines(api, admin, audit_lines):
    login = api.login(admin)
    token = login["access_token"]
    key = create_key(api, token, handle="secretive")
    jwt_key = create_key(api, token, type="jwt", handle="signer")
    signed = jwt.encode(
        {"exp": int(time.time()) + 300, "jti": uuid.uuid4().hex},
        jwt_key["secret"],
        algorithm="HS256",
        headers={"kid": jwt_key["kid"]},
    )
    assert api.get("/auth/revoke", headers={"Authorization": signed}).status_code == 200
    rotated = api.post("/user/keys/secretive/rotate", token=token, json={}).json()
    api.post(
        "/account/users",
        token=token,
        json={"email": f"s-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD},
    )
    api.post("/auth/revoke", token=token, json={"token": login["refresh_token"]})

    secrets = [
        PASSWORD,
        token,
        login["refresh_token"],
        key["token"],
        rotated["token"],
        jwt_key["secret"],
        signed,
    ]
    stored = json.dumps(stored_events(admin.account_id))
    lines = [
        json.dumps(getattr(record, "audit", None)) + record.getMessage() for record in audit_lines
    ]
    assert len([r for r in audit_lines if getattr(r, "account_id", None) == admin.account_id]) >= 5
    for secret in secrets:
        for fragment in (secret, secret[:20], *secret.split(".")[1:]):
            assert fragment not in stored
            assert all(fragment not in line for line in lines)


def test_each_stored_event_is_one_log_line(api, admin, audit_lines):
    token = api.login(admin)["access_token"]
    create_key(api, token, handle="logged")
    api.post("/user/keys", token=token, json={"handle": "logged"})  # 409: no line
    mine = [r for r in audit_lines if getattr(r, "account_id", None) == admin.account_id]
    created = [r for r in mine if r.audit["action"] == "key.created"]  # type: ignore[attr-defined]
    assert len(created) == 1
    (stored,) = [e for e in stored_events(admin.account_id) if e["action"] == "key.created"]
    assert created[0].audit == audit.event_view(stored)  # type: ignore[attr-defined]


def test_logins_appear_in_the_log_of_the_users_account(api, admin):
    member = make_user(account_id=admin.account_id)
    wrong = api.post("/auth/login", json={"email": member.email, "password": "not the password"})
    assert wrong.status_code == 401
    api.login(member)
    token = api.login(admin)["access_token"]
    logged = events(api, token, user_id=member.user_id)
    assert [(e["action"], e["outcome"]) for e in logged] == [
        ("login.success", "success"),
        ("login.failure", "failure"),
    ]
    for event in logged:
        assert event["actor"] == {"user_id": member.user_id, "token_type": None}
        assert event["target"] == {"type": "user", "id": member.user_id}
        assert event["user_agent"] == USER_AGENT
