"""Contract 8b: admin power comes only from an admin's session, and bots get nothing
their creator lacks (issue 18, finding 4). Each test is a reproduction of the review."""

from __future__ import annotations

import uuid

from gatekey import clock
from tests.e2e.conftest import error_code
from tests.helpers import make_user


def key(api, session: str, scopes: list[str], days: int | None = 1) -> str:
    body = {"handle": f"k-{uuid.uuid4().hex[:8]}", "scopes": scopes}
    if days is not None:
        body["expires_in_days"] = days
    response = api.post("/user/keys", token=session, json=body)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def with_key(token: str) -> dict:
    return {"headers": {"Authorization": token}}


def token_expiry(api, token: str) -> str | None:
    response = api.get("/auth/authenticated", **with_key(token))
    assert response.status_code == 200, response.text
    return response.json()["token"]["expires_at"]


def test_a_narrow_key_cannot_regenerate_a_broad_bot_token(api, admin):
    session = api.login(admin)["access_token"]
    bot = api.post(
        "/account/bots", token=session, json={"name": "wide", "scopes": ["*", "gatekey:keys"]}
    ).json()
    narrow = key(api, session, ["gatekey:bots"])
    response = api.post(f"/account/bots/{bot['bot']['id']}/token", **with_key(narrow))
    assert response.status_code == 403, response.text
    assert error_code(response) == "permission_denied"
    # the bot's token was left alone
    assert api.get("/", **with_key(bot["token"])).status_code == 200


def test_a_bot_made_or_regenerated_by_a_key_lives_no_longer_than_the_key(api, admin):
    session = api.login(admin)["access_token"]
    one_day = key(api, session, ["gatekey:bots", "orders:read"])
    limit = token_expiry(api, one_day)
    assert limit is not None
    made = api.post(
        "/account/bots", **with_key(one_day), json={"name": "short", "scopes": ["orders:read"]}
    )
    assert made.status_code == 201, made.text
    assert token_expiry(api, made.json()["token"]) == limit
    regenerated = api.post(f"/account/bots/{made.json()['bot']['id']}/token", **with_key(one_day))
    assert regenerated.status_code == 200, regenerated.text
    expires = token_expiry(api, regenerated.json()["token"])
    assert expires is not None and clock.parse_iso(expires) <= clock.parse_iso(limit)
    # and wider scopes than the key's are refused
    wider = api.post("/account/bots", **with_key(one_day), json={"name": "w", "scopes": ["*"]})
    assert wider.status_code == 403


def test_a_users_key_cannot_make_or_change_admins(api, admin):
    session = api.login(admin)["access_token"]
    users_key = key(api, session, ["gatekey:users"], days=None)
    created = api.post(
        "/account/users",
        **with_key(users_key),
        json={
            "email": f"x-{uuid.uuid4().hex[:6]}@example.com",
            "role": "admin",
            "password": "a long unusual passphrase 42",
        },
    )
    assert created.status_code == 403, created.text
    assert created.json()["errors"][0]["attr"] == "role"
    member = make_user(account_id=admin.account_id)
    promoted = api.patch(
        f"/account/users/{member.user_id}", **with_key(users_key), json={"role": "admin"}
    )
    assert promoted.status_code == 403
    other_admin = make_user(admin=True, account_id=admin.account_id)
    demoted = api.patch(
        f"/account/users/{other_admin.user_id}", **with_key(users_key), json={"role": "member"}
    )
    assert demoted.status_code == 403
    # members are still its to manage
    disabled = api.patch(
        f"/account/users/{member.user_id}", **with_key(users_key), json={"disabled": True}
    )
    assert disabled.status_code == 200, disabled.text


def test_a_bot_is_never_an_admin(api, admin):
    session = api.login(admin)["access_token"]
    bot = api.post("/account/bots", token=session, json={"name": "b"}).json()
    response = api.patch(
        f"/account/users/{bot['bot']['id']}", token=session, json={"role": "admin"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["attr"] == "role"
