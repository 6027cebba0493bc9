import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt

from tests.e2e.conftest import error_code
from tests.e2e.test_login_and_token_test import INVALID_TOKEN_BODY
from tests.helpers import make_user


def create_key(api, token, **body):
    body.setdefault("handle", f"key-{uuid.uuid4().hex[:8]}")
    response = api.post("/user/keys", token=token, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_key_returns_the_contract_body(api, user, token):
    key = create_key(api, token, handle="ci.deploy_1", alias="CI")
    assert set(key) == {
        "handle",
        "alias",
        "type",
        "account_id",
        "created_at",
        "expires_at",
        "last_used_at",
        "status",
        "scopes",
        "ratelimit",
        "credits",
        "meta",
        "allowed_ips",
        "token",
    }
    assert (key["handle"], key["alias"], key["type"]) == ("ci.deploy_1", "CI", "token")
    assert key["account_id"] == user.account_id
    assert key["expires_at"] is None
    assert key["token"].startswith("gk_")


def test_key_token_works_with_both_header_forms(api, user, token):
    key = create_key(api, token)
    for header in (f"Bearer {key['token']}", key["token"]):
        response = api.get("/auth/authenticated", headers={"Authorization": header})
        assert response.status_code == 200
        assert response.json()["token"]["type"] == "api_key"
        assert response.json()["token"]["handle"] == key["handle"]
        assert response.json()["user"]["id"] == user.user_id


def test_key_tokens_are_not_bound_to_a_user_agent(api, token):
    key = create_key(api, token)
    response = api.get("/user", headers={"Authorization": key["token"], "User-Agent": "bot/2"})
    assert response.status_code == 200


def test_list_has_no_secrets_and_get_returns_the_same_token(api, token):
    key = create_key(api, token)
    listed = api.get("/user/keys", token=token).json()["keys"]
    assert [entry["handle"] for entry in listed] == [key["handle"]]
    assert "token" not in listed[0] and "secret" not in listed[0]
    again = api.get(f"/user/keys/{key['handle']}", token=token).json()
    assert again["token"] == key["token"]


def test_duplicate_handle_is_taken(api, token):
    key = create_key(api, token)
    response = api.post("/user/keys", token=token, json={"handle": key["handle"]})
    assert response.status_code == 409
    assert error_code(response) == "handle_taken"


def test_concurrent_creates_of_one_handle_yield_exactly_one_key(api, token):
    handle = f"race-{uuid.uuid4().hex[:6]}"

    def attempt(_):
        return api.post("/user/keys", token=token, json={"handle": handle}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [201] + [409] * 7
    assert len(api.get("/user/keys", token=token).json()["keys"]) == 1


def test_bad_handles_and_bodies_are_validation_errors(api, token):
    for body in ({"handle": ""}, {"handle": "has space"}, {"handle": "x" * 65}, {}):
        response = api.post("/user/keys", token=token, json=body)
        assert response.status_code == 400, body
        assert response.json()["type"] == "validation_error"
        assert response.json()["errors"][0]["attr"] == "handle"
    both = api.post(
        "/user/keys",
        token=token,
        json={"handle": "x", "expires_at": "2030-01-01T00:00:00Z", "expires_in_days": 3},
    )
    assert both.status_code == 400
    past = api.post(
        "/user/keys", token=token, json={"handle": "x", "expires_at": "2001-01-01T00:00:00Z"}
    )
    assert past.status_code == 400
    assert past.json()["errors"][0]["attr"] == "expires_at"


def test_expiry_is_fixed_at_creation(api, token):
    key = create_key(api, token, expires_in_days=30)
    assert key["expires_at"] is not None
    patch = api.patch(
        f"/user/keys/{key['handle']}", token=token, json={"expires_at": "2040-01-01T00:00:00Z"}
    )
    assert patch.status_code == 400
    assert patch.json()["errors"][0]["attr"] == "expires_at"
    renamed = api.patch(f"/user/keys/{key['handle']}", token=token, json={"alias": "new name"})
    assert renamed.status_code == 200
    assert renamed.json()["alias"] == "new name"
    assert renamed.json()["expires_at"] == key["expires_at"]


def test_expired_key_gets_exactly_the_invalid_token_body(api, token):
    key = create_key(api, token, expires_at=_iso(time.time() + 2))
    assert api.get("/user", headers={"Authorization": key["token"]}).status_code == 200
    time.sleep(2.5)
    response = api.get("/", headers={"Authorization": key["token"]})
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN_BODY


def test_keys_are_private_to_their_owner(api, token):
    key = create_key(api, token)
    other = api.login(make_user())["access_token"]
    for method in ("get", "delete"):
        response = getattr(api, method)(f"/user/keys/{key['handle']}", token=other)
        assert response.status_code == 404
        assert error_code(response) == "not_found"
    assert (
        api.patch(f"/user/keys/{key['handle']}", token=other, json={"alias": "x"}).status_code
        == 404
    )
    assert api.post(f"/user/keys/{key['handle']}/rotate", token=other, json={}).status_code == 404
    assert api.get("/user/keys", token=other).json() == {"keys": []}


def test_deleting_a_key_stops_its_token(api, token):
    key = create_key(api, token)
    assert api.delete(f"/user/keys/{key['handle']}", token=token).status_code == 204
    response = api.get("/user", headers={"Authorization": key["token"]})
    assert response.status_code == 401
    assert api.get(f"/user/keys/{key['handle']}", token=token).status_code == 404


def test_rotation_without_grace_kills_the_old_token_at_once(api, token):
    key = create_key(api, token)
    rotated = api.post(f"/user/keys/{key['handle']}/rotate", token=token, json={}).json()
    assert rotated["token"] != key["token"]
    assert api.get("/user", headers={"Authorization": rotated["token"]}).status_code == 200
    assert api.get("/user", headers={"Authorization": key["token"]}).status_code == 401


def test_rotation_grace_keeps_the_old_token_for_a_while(api, token):
    key = create_key(api, token)
    rotated = api.post(
        f"/user/keys/{key['handle']}/rotate", token=token, json={"grace_seconds": 2}
    ).json()
    assert api.get("/", headers={"Authorization": key["token"]}).status_code == 200
    assert api.get("/", headers={"Authorization": rotated["token"]}).status_code == 200
    time.sleep(3)
    assert api.get("/user", headers={"Authorization": key["token"]}).status_code == 401
    assert api.get("/user", headers={"Authorization": rotated["token"]}).status_code == 200


def test_rotation_grace_is_bounded(api, token):
    key = create_key(api, token)
    for grace in (-1, 86401, "soon"):
        response = api.post(
            f"/user/keys/{key['handle']}/rotate", token=token, json={"grace_seconds": grace}
        )
        assert response.status_code == 400


def test_request_types_are_never_coerced(api, token):
    """`false`, `true` and `"60"` are no integers: 400 naming the field (issue 23)."""
    key = create_key(api, token)
    for grace in (False, True, "60", 60.5):
        response = api.post(
            f"/user/keys/{key['handle']}/rotate", token=token, json={"grace_seconds": grace}
        )
        assert response.status_code == 400, (grace, response.text)
        body = response.json()
        assert body["type"] == "validation_error"
        assert [entry["attr"] for entry in body["errors"]] == ["grace_seconds"]
    for days in ("30", True):
        response = api.post(
            "/user/keys", token=token, json={"handle": "typed", "expires_in_days": days}
        )
        assert response.status_code == 400, (days, response.text)
        assert [entry["attr"] for entry in response.json()["errors"]] == ["expires_in_days"]
    assert api.get("/user/keys/typed", token=token).status_code == 404
    # 30.0 is the JSON Schema integer 30 (what the spec's `type: integer` accepts)
    assert create_key(api, token, expires_in_days=30.0)["expires_at"] is not None


def test_validator_messages_have_no_pydantic_prefix(api, token):
    response = api.post("/user/keys", token=token, json={"handle": "k", "scopes": ["NO SCOPE"]})
    assert response.status_code == 400
    (entry,) = response.json()["errors"]
    assert entry["attr"] == "scopes"
    assert not entry["detail"].startswith(("Value error", "Assertion failed")), entry


def test_last_used_is_recorded(api, token):
    key = create_key(api, token)
    assert key["last_used_at"] is None
    api.get("/", headers={"Authorization": key["token"]})
    listed = api.get("/user/keys", token=token).json()["keys"][0]
    assert listed["last_used_at"] is not None


def test_client_signed_jwt(api, user, token):
    key = create_key(api, token, type="jwt")
    assert "token" not in key
    uuid.UUID(key["kid"])
    assert key["secret"].startswith("gks_")
    signed = jwt.encode(
        {"sub": "my-client", "exp": int(time.time()) + 60},
        key["secret"],
        algorithm="HS256",
        headers={"kid": key["kid"]},
    )
    for header in (f"Bearer {signed}", signed):
        response = api.get("/auth/authenticated", headers={"Authorization": header})
        assert response.status_code == 200, response.text
        assert response.json()["token"]["type"] == "client_jwt"
        assert response.json()["token"]["handle"] == key["handle"]
        assert response.json()["user"]["id"] == user.user_id


def test_client_jwt_without_kid_gets_the_contract_detail(api, token):
    key = create_key(api, token, type="jwt")
    signed = jwt.encode({"exp": int(time.time()) + 60}, key["secret"], algorithm="HS256")
    response = api.get("/user", headers={"Authorization": signed})
    assert response.status_code == 401
    assert response.json()["errors"][0] == {
        "code": "invalid_token",
        "detail": "jwt token is missing 'kid' header parameter",
        "attr": None,
        "extra": None,
    }


def test_client_jwt_requires_exp_and_a_valid_signature(api, token):
    key = create_key(api, token, type="jwt")
    no_exp = jwt.encode({"sub": "c"}, key["secret"], algorithm="HS256", headers={"kid": key["kid"]})
    forged = jwt.encode(
        {"exp": int(time.time()) + 60},
        "gks_" + "x" * 43,
        algorithm="HS256",
        headers={"kid": key["kid"]},
    )
    expired = jwt.encode(
        {"exp": int(time.time()) - 5}, key["secret"], algorithm="HS256", headers={"kid": key["kid"]}
    )
    far = jwt.encode(
        {"exp": int(time.time()) + 10 * 365 * 86400},
        key["secret"],
        algorithm="HS256",
        headers={"kid": key["kid"]},
    )
    for bad in (no_exp, forged, expired):
        response = api.get("/user", headers={"Authorization": bad})
        assert response.status_code == 401
        assert response.json() == INVALID_TOKEN_BODY
    assert api.get("/user", headers={"Authorization": far}).status_code == 200


def test_client_jwt_alg_none_is_refused(api, token):
    key = create_key(api, token, type="jwt")
    unsigned = jwt.encode(
        {"exp": int(time.time()) + 60}, None, algorithm="none", headers={"kid": key["kid"]}
    )
    assert api.get("/user", headers={"Authorization": unsigned}).status_code == 401


def test_deleting_a_jwt_key_stops_its_jwts(api, token):
    key = create_key(api, token, type="jwt")
    signed = jwt.encode(
        {"exp": int(time.time()) + 60},
        key["secret"],
        algorithm="HS256",
        headers={"kid": key["kid"]},
    )
    assert api.get("/user", headers={"Authorization": signed}).status_code == 200
    api.delete(f"/user/keys/{key['handle']}", token=token)
    assert api.get("/auth/authenticated", headers={"Authorization": signed}).status_code == 401


def test_rotating_a_jwt_key_changes_its_secret(api, token):
    key = create_key(api, token, type="jwt")
    rotated = api.post(f"/user/keys/{key['handle']}/rotate", token=token, json={}).json()
    assert rotated["kid"] == key["kid"] and rotated["secret"] != key["secret"]
    old = jwt.encode(
        {"exp": int(time.time()) + 60},
        key["secret"],
        algorithm="HS256",
        headers={"kid": key["kid"]},
    )
    new = jwt.encode(
        {"exp": int(time.time()) + 60},
        rotated["secret"],
        algorithm="HS256",
        headers={"kid": key["kid"]},
    )
    assert api.get("/auth/authenticated", headers={"Authorization": old}).status_code == 401
    assert api.get("/auth/authenticated", headers={"Authorization": new}).status_code == 200


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
