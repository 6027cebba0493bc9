"""The review's other reproductions: re-encoded revoked JWTs, long `jti`s, parallel
password guessing, and hostile nesting. Each must now fail as it should."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests

from gatekey import clock
from gatekey.accounts.sessions import get_session_service
from tests.e2e.conftest import error_code
from tests.helpers import USER_AGENT, make_user


def jwt_key(api, token) -> dict:
    response = api.post(
        "/user/keys", token=token, json={"handle": f"j-{uuid.uuid4().hex[:6]}", "type": "jwt"}
    )
    assert response.status_code == 201, response.text
    return response.json()


def sign(key: dict, **claims) -> str:
    payload = {"exp": int(time.time()) + 300, **claims}
    return jwt.encode(payload, key["secret"], algorithm="HS256", headers={"kid": key["kid"]})


def status(api, token: str) -> int:
    return api.get("/", headers={"Authorization": token}).status_code


def respell_signature(token: str) -> str:
    """The same signature bytes with different trailing bits in its last character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    return token[:-1] + alphabet[last ^ 1]


def test_revoked_client_jwt_stays_revoked_however_it_is_re_encoded(api, token):
    """Reproduction: a revoked client JWT without jti worked again with `=` appended."""
    key = jwt_key(api, token)
    signed = sign(key)
    assert status(api, signed) == 200
    assert api.get("/auth/revoke", headers={"Authorization": signed}).status_code == 200
    for variant in (signed, signed + "=", signed + "==", respell_signature(signed)):
        assert status(api, variant) == 401, variant[-4:]


def test_unrevoked_client_jwt_is_still_refused_when_padded(api, token):
    """Padding or stray bits make a different spelling; no spelling but one is valid."""
    signed = sign(jwt_key(api, token))
    assert status(api, signed + "=") == 401
    assert status(api, respell_signature(signed)) == 401
    assert status(api, signed) == 200


@pytest.mark.parametrize("length", [1, 100, 2100, 2800])
def test_any_jti_length_can_be_revoked(api, token, length):
    """Reproduction: a jti of ~2100 characters made GET /auth/revoke answer 500."""
    signed = sign(jwt_key(api, token), jti="j" * length)
    assert status(api, signed) == 200
    revoked = api.get("/auth/revoke", headers={"Authorization": signed})
    assert revoked.status_code == 200, revoked.text
    assert status(api, signed) == 401


def test_parallel_wrong_passwords_evaluate_at_most_five(local_api, gatekey_env):
    """Reproduction: 40 parallel wrong passwords were all evaluated."""
    user = make_user()

    def attempt(_: int) -> int:
        return requests.post(
            f"{local_api}/auth/login",
            json={"email": user.email, "password": "wrong password"},
            headers={"User-Agent": USER_AGENT},
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(attempt, range(40)))
    assert statuses.count(401) <= 5, statuses
    assert set(statuses) <= {401, 429}
    right = requests.post(
        f"{local_api}/auth/login",
        json={"email": user.email, "password": user.password},
        headers={"User-Agent": USER_AGENT},
        timeout=30,
    )
    assert right.status_code == 429


def test_repeat_lockouts_double_up_to_an_hour(monkeypatch, gatekey_env):
    """60 s, then 120 s, 240 s ... capped at 3600 s, counted from the moment of locking."""
    from gatekey.errors import InvalidCredentials, Throttled

    user = make_user()
    service = get_session_service()
    now = [clock.now()]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    lockouts = []
    for _ in range(8):
        for _ in range(5):
            with pytest.raises(InvalidCredentials):
                service.login(user.email, "wrong password", None, USER_AGENT)
        with pytest.raises(Throttled) as throttled:
            service.login(user.email, user.password, None, USER_AGENT)
        lockouts.append(throttled.value.retry_after)
        now[0] += throttled.value.retry_after
    assert lockouts == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert service.login(user.email, user.password, None, USER_AGENT)["login"] is True
    # A success forgets the history: the next lockout is 60 s again.
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            service.login(user.email, "wrong password", None, USER_AGENT)
    with pytest.raises(Throttled) as throttled:
        service.login(user.email, user.password, None, USER_AGENT)
    assert throttled.value.retry_after == 60


def test_login_response_also_carries_token(api, user):
    body = api.login(user)
    assert body["token"] == body["access_token"]


# Hostile nesting and sizes


def nested_header_jwt(depth: int) -> str:
    header = "[" * depth + "]" * depth
    encoded = base64.urlsafe_b64encode(header.encode()).rstrip(b"=").decode()
    return f"{encoded}.e30.c2ln"


def test_deeply_nested_login_body_is_a_400(api):
    """Reproduction: POST /auth/login with 5000 `[` answered 500."""
    for body in ("[" * 5000, '{"email": ' + "[" * 5000, '{"a":' * 5000):
        response = api.post("/auth/login", data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert error_code(response) == "bad_request"


def test_deeply_nested_jwt_header_is_a_401_without_an_error_log(api, token, caplog):
    """Reproduction: a JWT whose header is deeply nested JSON made the authorizer fail."""
    caplog.set_level(logging.DEBUG)
    for depth in (10, 1400, 5000):
        response = api.get("/", headers={"Authorization": nested_header_jwt(depth)})
        assert response.status_code == 401
        assert error_code(response) == "invalid_token"
    revoke = api.post("/auth/revoke", token=token, json={"token": nested_header_jwt(1400)})
    assert revoke.status_code == 200, revoke.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_deeply_nested_jwt_payload_is_a_401(api, token):
    key = jwt_key(api, token)
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": key["kid"]}).encode())
    payload = base64.urlsafe_b64encode(("[" * 2000).encode())
    forged = f"{header.rstrip(b'=').decode()}.{payload.rstrip(b'=').decode()}.c2ln"
    assert status(api, forged) == 401
    revoke = api.post("/auth/revoke", token=token, json={"token": forged})
    assert revoke.status_code == 200


@pytest.mark.parametrize("size", [600, 4000, 5000])
def test_oversized_tokens_and_headers_are_401(api, size):
    huge_header = base64.urlsafe_b64encode(json.dumps({"kid": "k" * size}).encode()).decode()
    for credential in (f"{huge_header.rstrip('=')}.e30.c2ln", "gk_" + "A" * size):
        response = api.get("/", headers={"Authorization": credential})
        assert response.status_code == 401


def test_logins_are_counted_by_outcome(gatekey_env, capsys):
    from gatekey.errors import InvalidCredentials

    user = make_user()
    service = get_session_service()
    capsys.readouterr()
    with pytest.raises(InvalidCredentials):
        service.login(user.email, "wrong password", None, USER_AGENT)
    service.login(user.email, user.password, None, USER_AGENT)
    documents = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"Logins"' in line
    ]
    assert [document["outcome"] for document in documents] == ["failure", "success"]
