import time
import uuid

import jwt

from tests.e2e.conftest import error_code
from tests.e2e.test_keys import create_key
from tests.e2e.test_login_and_token_test import INVALID_TOKEN_BODY
from tests.helpers import USER_AGENT


def test_logout_ends_access_and_refresh_tokens(api, user):
    tokens = api.login(user)
    for method in ("get", "post"):
        tokens = api.login(user)
        response = getattr(api, method)("/auth/logout", token=tokens["access_token"])
        assert response.status_code == 200
        assert response.json() == {"logout": True}
        assert api.get("/user", token=tokens["access_token"]).json() == INVALID_TOKEN_BODY
        refreshed = api.get("/auth/refresh-token", token=tokens["refresh_token"])
        assert refreshed.status_code == 401


def test_logout_with_an_api_key_is_a_bad_request(api, token):
    key = create_key(api, token)
    response = api.post("/auth/logout", headers={"Authorization": key["token"]})
    assert response.status_code == 400
    assert error_code(response) == "bad_request"


def test_get_revoke_revokes_the_presented_access_token(api, user):
    tokens = api.login(user)
    response = api.get("/auth/revoke", token=tokens["access_token"])
    assert response.status_code == 200
    assert response.text == ""
    assert api.get("/user", token=tokens["access_token"]).status_code == 401
    refreshed = api.get("/auth/refresh-token", token=tokens["refresh_token"]).json()
    assert api.get("/user", token=refreshed["access_token"]).status_code == 200


def test_get_revoke_revokes_an_api_key(api, token):
    key = create_key(api, token)
    assert api.get("/auth/revoke", headers={"Authorization": key["token"]}).status_code == 200
    assert api.get("/user", headers={"Authorization": key["token"]}).status_code == 401
    assert api.get(f"/user/keys/{key['handle']}", token=token).status_code == 404


def sign(key, **claims):
    claims.setdefault("exp", int(time.time()) + 60)
    return jwt.encode(claims, key["secret"], algorithm="HS256", headers={"kid": key["kid"]})


def test_get_revoke_revokes_one_client_jwt_by_jti(api, token):
    key = create_key(api, token, type="jwt")
    first, second = sign(key, jti="one"), sign(key, jti="two")
    assert api.get("/auth/revoke", headers={"Authorization": first}).status_code == 200
    assert api.get("/user", headers={"Authorization": first}).status_code == 401
    assert api.get("/user", headers={"Authorization": sign(key, jti="one", n=2)}).status_code == 401
    assert api.get("/user", headers={"Authorization": second}).status_code == 200


def test_client_jwt_without_jti_is_revoked_by_digest(api, token):
    key = create_key(api, token, type="jwt")
    first, second = sign(key), sign(key, n=2)
    assert api.get("/auth/revoke", headers={"Authorization": first}).status_code == 200
    assert api.get("/user", headers={"Authorization": first}).status_code == 401
    assert api.get("/user", headers={"Authorization": second}).status_code == 200


def test_post_revoke_revokes_the_callers_own_tokens(api, user, token):
    key = create_key(api, token)
    other_session = api.login(user)
    for target in (key["token"], other_session["refresh_token"]):
        response = api.post("/auth/revoke", token=token, json={"token": target})
        assert response.status_code == 200
        assert response.text == ""
    assert api.get("/user", headers={"Authorization": key["token"]}).status_code == 401
    assert api.get("/user", token=other_session["access_token"]).status_code == 401
    assert api.get("/user", token=token).status_code == 200


def test_post_revoke_accepts_a_form_body_and_unknown_tokens(api, token):
    response = api.post("/auth/revoke", token=token, data={"token": "unknown-token"})
    assert response.status_code == 200
    assert response.text == ""


def test_post_revoke_leaves_other_users_tokens_alone(api, token):
    from tests.helpers import make_user

    victim = api.login(make_user())
    response = api.post("/auth/revoke", token=token, json={"token": victim["access_token"]})
    assert response.status_code == 200
    assert api.get("/user", token=victim["access_token"]).status_code == 200


def test_sessions_are_listed_and_can_be_ended(api, user):
    first, second = api.login(user), api.login(user)
    listed = api.get("/user/sessions", token=first["access_token"]).json()["sessions"]
    assert len(listed) == 2
    assert {entry["user_agent"] for entry in listed} == {USER_AGENT}
    assert sum(entry["current"] for entry in listed) == 1
    assert set(listed[0]) >= {"id", "user_agent", "created_at", "last_used_at"}
    other = next(entry for entry in listed if not entry["current"])
    response = api.delete(f"/user/sessions/{other['id']}", token=first["access_token"])
    assert response.status_code == 204
    assert api.get("/user", token=second["access_token"]).status_code == 401
    remaining = api.get("/user/sessions", token=first["access_token"]).json()["sessions"]
    assert len(remaining) == 1


def test_other_users_sessions_are_not_found(api, token):
    from tests.helpers import make_user

    victim = api.login(make_user())
    victim_sessions = api.get("/user/sessions", token=victim["access_token"]).json()["sessions"]
    response = api.delete(f"/user/sessions/{victim_sessions[0]['id']}", token=token)
    assert response.status_code == 404
    assert api.delete(f"/user/sessions/{uuid.uuid4()}", token=token).status_code == 404
    assert api.get("/user", token=victim["access_token"]).status_code == 200


def test_throttled_login_answers_429_with_retry_after(api, user):
    for _ in range(5):
        assert (
            api.post("/auth/login", json={"email": user.email, "password": "x"}).status_code == 401
        )
    response = api.post("/auth/login", json={"email": user.email, "password": user.password})
    assert response.status_code == 429
    assert error_code(response) == "throttled"
    assert 55 <= int(response.headers["Retry-After"]) <= 60
