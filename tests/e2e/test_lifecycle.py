"""Lifecycle rules of CONTRACT section 5, through the local API with short settings."""

import time

from tests.e2e.test_keys import create_key
from tests.e2e.test_login_and_token_test import INVALID_TOKEN_BODY
from tests.helpers import USER_AGENT


def test_idle_session_is_gone_and_use_keeps_a_session_alive(api, user, configure):
    configure(GATEKEY_SESSION_IDLE_SECONDS="3", GATEKEY_TOUCH_INTERVAL_SECONDS="0")
    used, idle = api.login(user), api.login(user)
    for _ in range(4):
        time.sleep(1.0)
        assert api.get("/user", token=used["access_token"]).status_code == 200
    response = api.get("/user", token=idle["access_token"])
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN_BODY
    assert api.get("/auth/refresh-token", token=idle["refresh_token"]).status_code == 401


def test_expired_access_token_gets_exactly_the_invalid_token_body(api, user, configure):
    configure(GATEKEY_ACCESS_TOKEN_SECONDS="1")
    tokens = api.login(user)
    assert tokens["expires_in"] == 1
    time.sleep(2.1)
    response = api.get("/user", token=tokens["access_token"])
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN_BODY


def test_user_agent_binding_can_be_switched_off(api, user, configure):
    configure(GATEKEY_BIND_USER_AGENT="false")
    tokens = api.login(user)
    other = {"Authorization": f"Bearer {tokens['access_token']}", "User-Agent": "other/1"}
    assert api.get("/user", headers=other).status_code == 200
    assert api.get("/user", headers={"User-Agent": USER_AGENT}, token=tokens["access_token"]).ok


def test_cached_authorizer_lets_a_deleted_key_pass_until_the_cache_expires(cached_api, user):
    token = cached_api.login(user)["access_token"]
    key = create_key(cached_api, token)
    headers = {"Authorization": key["token"]}
    assert cached_api.get("/user", headers=headers).status_code == 200
    assert cached_api.delete(f"/user/keys/{key['handle']}", token=token).status_code == 204
    assert cached_api.get("/", headers=headers).status_code == 200  # cached allow, as on AWS
    time.sleep(2.2)
    assert cached_api.get("/", headers=headers).status_code == 401


def test_cached_allow_covers_every_route_of_the_api(cached_api, user):
    token = cached_api.login(user)["access_token"]
    for path in ("/", "/user", "/auth/authenticated", "/user/keys", "/user/sessions"):
        assert cached_api.get(path, token=token).status_code == 200, path
