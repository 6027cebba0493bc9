"""Least-privilege credentials (CONTRACT section 7), and the review's reproductions.

Each test named after an attack reproduced against the first release is its
regression test: the attack must now fail.
"""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from gatekey import scopes
from gatekey.store import get_store
from tests.e2e.conftest import error_code
from tests.helpers import make_user

DAY = 86_400


def create_key(api, token, **body):
    body.setdefault("handle", f"k-{uuid.uuid4().hex[:8]}")
    response = api.post("/user/keys", token=token, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def as_key(token: str) -> dict:
    """Headers that present an API key or client JWT without a scheme."""
    return {"Authorization": token}


def client_jwt(key: dict, **claims) -> str:
    payload = {"exp": int(time.time()) + 300, **claims}
    return jwt.encode(payload, key["secret"], algorithm="HS256", headers={"kid": key["kid"]})


def test_narrow_key_cannot_read_another_keys_token(api, token):
    """Reproduction: a 1-day CI key read the prod key's token with GET /user/keys/prod."""
    create_key(api, token, handle="prod")
    ci = create_key(api, token, expires_in_days=1)
    response = api.get("/user/keys/prod", headers=as_key(ci["token"]))
    assert response.status_code == 403
    assert error_code(response) == "permission_denied"
    assert "token" not in response.text.replace('"token"', "")


def test_narrow_key_cannot_create_a_key_that_never_expires(api, token):
    """Reproduction: a 1-day key created a key that never expires."""
    ci = create_key(api, token, expires_in_days=1, scopes=["gatekey:keys", "ci:deploy"])
    refused = api.post(
        "/user/keys",
        headers=as_key(ci["token"]),
        json={"handle": "forever", "scopes": ["ci:deploy"]},
    )
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["attr"] == "expires_at"
    longer = api.post(
        "/user/keys",
        headers=as_key(ci["token"]),
        json={"handle": "x", "expires_in_days": 2, "scopes": ["ci:deploy"]},
    )
    assert longer.status_code == 403
    allowed = api.post(
        "/user/keys",
        headers=as_key(ci["token"]),
        json={"handle": "child", "scopes": ["ci:deploy"], "expires_at": ci["expires_at"]},
    )
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["scopes"] == ["ci:deploy"]


@pytest.mark.parametrize(
    "wanted", [["*"], ["ci:*"], ["gatekey:sessions"], ["ci:deploy", "orders:read"]]
)
def test_no_escalation_through_a_key(api, token, wanted):
    manager = create_key(api, token, scopes=["gatekey:keys", "ci:deploy"])
    response = api.post(
        "/user/keys", headers=as_key(manager["token"]), json={"handle": "esc", "scopes": wanted}
    )
    assert response.status_code == 403, response.text
    assert response.json()["errors"][0]["attr"] == "scopes"


def test_key_cannot_widen_itself_or_another_key(api, token):
    manager = create_key(api, token, scopes=["gatekey:keys", "ci:deploy"])
    for handle in (manager["handle"], create_key(api, token, scopes=["ci:deploy"])["handle"]):
        response = api.patch(
            f"/user/keys/{handle}", headers=as_key(manager["token"]), json={"scopes": ["*"]}
        )
        assert response.status_code == 403, response.text


def test_key_reads_and_rotates_only_keys_no_broader_than_itself(api, token):
    manager = create_key(api, token, scopes=["gatekey:keys", "ci:*"])
    narrow = create_key(api, token, scopes=["ci:deploy"])
    broad = create_key(api, token, scopes=["*"])
    headers = as_key(manager["token"])
    assert (
        api.get(f"/user/keys/{narrow['handle']}", headers=headers).json()["token"]
        == (narrow["token"])
    )
    assert api.get(f"/user/keys/{broad['handle']}", headers=headers).status_code == 403
    assert api.post(f"/user/keys/{broad['handle']}/rotate", headers=headers).status_code == 403
    rotated = api.post(f"/user/keys/{narrow['handle']}/rotate", headers=headers)
    assert rotated.status_code == 200
    listed = api.get("/user/keys", headers=headers)
    assert listed.status_code == 200
    assert {key["handle"]: key["scopes"] for key in listed.json()["keys"]}[broad["handle"]] == ["*"]


def test_client_jwt_cannot_manage_keys_or_bots(api, admin):
    """Reproduction: a client JWT (its secret ships in mobile apps) managed keys and bots."""
    session = api.login(admin)["access_token"]
    key = create_key(api, session, type="jwt")
    token = client_jwt(key)
    assert api.get("/auth/authenticated", token=token).json()["token"]["scopes"] == ["*"]
    for method, path in [
        ("GET", "/user/keys"),
        ("POST", "/user/keys"),
        ("GET", f"/user/keys/{key['handle']}"),
        ("GET", "/user/sessions"),
        ("POST", "/account/bots"),
        ("GET", "/account/bots"),
    ]:
        response = api.request(method, path, token=token, json={"handle": "x", "name": "x"})
        assert response.status_code == 403, (method, path, response.text)
        assert error_code(response) == "permission_denied"


def test_scope_change_applies_at_the_next_authorization(api, token):
    key = create_key(api, token, scopes=["ci:deploy"])
    headers = as_key(key["token"])
    assert api.get("/user/keys", headers=headers).status_code == 403
    updated = api.patch(
        f"/user/keys/{key['handle']}", token=token, json={"scopes": ["gatekey:keys", "ci:deploy"]}
    )
    assert updated.status_code == 200
    assert updated.json()["scopes"] == ["ci:deploy", "gatekey:keys"]
    assert api.get("/user/keys", headers=headers).status_code == 200
    shown = api.get("/auth/authenticated", headers=headers).json()["token"]["scopes"]
    assert shown == ["ci:deploy", "gatekey:keys"]


@pytest.mark.parametrize(
    "bad",
    [
        ["gatekey:*"],
        ["gatekey:admin"],
        ["Orders:read"],
        ["orders"],
        ["orders:read write"],
        [""],
        [],
    ],
)
def test_malformed_scopes_are_validation_errors(api, token, bad):
    response = api.post("/user/keys", token=token, json={"handle": "bad", "scopes": bad})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"].startswith("scopes")


def test_session_shows_every_scope(api, token):
    shown = api.get("/auth/authenticated", token=token).json()["token"]["scopes"]
    assert shown == list(scopes.SESSION_SCOPES)


def test_member_key_with_bots_scope_is_still_not_an_admin(api, token):
    key = create_key(api, token, scopes=["gatekey:bots"])
    response = api.post("/account/bots", headers=as_key(key["token"]), json={"name": "b"})
    assert response.status_code == 403


# Bots


def create_bot(api, token, **body):
    body.setdefault("name", "nightly")
    response = api.post("/account/bots", token=token, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_bot_scopes_are_chosen_at_creation(api, admin):
    session = api.login(admin)["access_token"]
    created = create_bot(api, session, scopes=["reports:read"])
    assert created["bot"]["scopes"] == ["reports:read"]
    shown = api.get("/auth/authenticated", headers=as_key(created["token"])).json()
    assert shown["token"]["scopes"] == ["reports:read"]


def test_regenerating_a_bot_token_ends_its_spare_keys(api, admin):
    """Reproduction: a bot made a spare key; regenerating its token left the spare alive."""
    session = api.login(admin)["access_token"]
    created = create_bot(api, session, scopes=["gatekey:keys", "reports:read"])
    bot_token = created["token"]
    spare = create_key(api, bot_token, scopes=["reports:read"])
    jwt_key = create_key(api, bot_token, type="jwt", scopes=["reports:read"])
    assert api.get("/", headers=as_key(spare["token"])).status_code == 200

    regenerated = api.post(f"/account/bots/{created['bot']['id']}/token", token=session)
    assert regenerated.status_code == 200
    for dead in (bot_token, spare["token"], client_jwt(jwt_key)):
        assert api.get("/", headers=as_key(dead)).status_code == 401
    new_token = regenerated.json()["token"]
    assert api.get("/auth/authenticated", headers=as_key(new_token)).json()["token"]["scopes"] == [
        "gatekey:keys",
        "reports:read",
    ]


def test_a_bot_with_many_keys_can_be_deleted(api, admin):
    """Reproduction: with 50 spare keys, deleting the bot failed (over 100 actions)."""
    session = api.login(admin)["access_token"]
    created = create_bot(api, session, scopes=["gatekey:keys"])
    bot_id = created["bot"]["id"]
    spares = [create_key(api, created["token"], scopes=["gatekey:keys"]) for _ in range(60)]
    response = api.delete(f"/account/bots/{bot_id}", token=session)
    assert response.status_code == 204, response.text
    for token in [created["token"], spares[0]["token"], spares[-1]["token"]]:
        assert api.get("/", headers=as_key(token)).status_code == 401
    assert get_store().list_keys(bot_id) == []
    assert get_store().get_user(bot_id) is None


# Fresh role


def test_demoting_a_user_takes_their_keys_admin_powers(api, admin):
    """Reproduction: a key kept the role it was created with after its owner's demotion."""
    session = api.login(admin)["access_token"]
    key = create_key(api, session, scopes=["gatekey:bots"])
    assert api.get("/account/bots", headers=as_key(key["token"])).status_code == 200
    store = get_store()
    store.change_user(store.get_user(admin.user_id), {"role": "member"})
    assert api.get("/account/bots", headers=as_key(key["token"])).status_code == 403
    assert api.get("/account/bots", token=session).status_code == 403
    assert api.get("/user", headers=as_key(key["token"])).json()["role"] == "member"


def test_disabling_a_user_refuses_every_credential_at_once(api):
    user = make_user()
    session = api.login(user)["access_token"]
    key = create_key(api, session)
    jwt_key = create_key(api, session, type="jwt")
    store = get_store()
    store.change_user(store.get_user(user.user_id), {"disabled": True})
    for credential in (f"Bearer {session}", key["token"], client_jwt(jwt_key)):
        response = api.get("/", headers={"Authorization": credential})
        assert response.status_code == 401
        assert error_code(response) == "invalid_token"
    refused = api.post("/auth/login", json={"email": user.email, "password": user.password})
    assert refused.status_code == 401
    store.change_user(store.get_user(user.user_id), {"disabled": False})
    assert api.get("/", headers=as_key(key["token"])).status_code == 200


def test_credential_update_covers_more_than_one_transaction(api):
    """Over 100 credentials: several transactions, every one updated."""
    user = make_user()
    session = api.login(user)["access_token"]
    store = get_store()
    owner = user.principal()
    from gatekey.credentials.keys import get_key_service

    keys = get_key_service()
    for index in range(120):
        keys.create(owner, handle=f"bulk-{index}", alias=None, key_type="token", expires_at=None)
    store.change_user(store.get_user(user.user_id), {"role": "admin"})
    assert {key.role for key in store.list_keys(user.user_id)} == {"admin"}
    assert api.get("/user", token=session).json()["role"] == "admin"
