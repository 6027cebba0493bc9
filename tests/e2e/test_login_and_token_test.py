import re

from tests.e2e.conftest import error_code
from tests.helpers import USER_AGENT

INVALID_TOKEN_BODY = {
    "type": "client_error",
    "errors": [
        {
            "code": "invalid_token",
            "detail": "The provided token is expired or invalid.",
            "attr": None,
            "extra": None,
        }
    ],
}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_login_returns_the_contract_body(api, user):
    response = api.post("/auth/login", json={"email": user.email, "password": user.password})
    assert response.status_code == 200
    body = response.json()
    assert body["login"] is True
    assert body["token_type"] == "Bearer"
    assert body["account_id"] == user.account_id
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert body["user"]["id"] == user.user_id
    assert set(body["user"]) == {"id", "email", "account_id", "role", "is_bot", "mfa", "created_at"}
    assert body["user"]["mfa"] is False
    assert ISO_Z.match(body["user"]["created_at"])
    assert response.headers["Cache-Control"] == "no-store"


def test_login_accepts_a_form_body(api, user):
    response = api.post("/auth/login", data={"email": user.email, "password": user.password})
    assert response.status_code == 200
    assert response.json()["login"] is True


def test_wrong_password_and_unknown_email_answer_the_same(api, user):
    wrong = api.post("/auth/login", json={"email": user.email, "password": "nope"})
    unknown = api.post("/auth/login", json={"email": "ghost@example.com", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert error_code(wrong) == "invalid_credentials"


def test_bad_login_bodies_are_validation_errors(api):
    response = api.post("/auth/login", json={"email": "not-an-email"})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert {entry["attr"] for entry in body["errors"]} == {"email", "password"}
    assert "not-an-email" not in response.text

    broken = api.post("/auth/login", data="{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert error_code(broken) == "bad_request"


def test_root_says_hello_with_the_time(api, token):
    response = api.get("/", token=token)
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Oh, Hello"
    assert ISO_Z.match(body["time"])


def test_authenticated_reports_a_session_token(api, user, token):
    body = api.get("/auth/authenticated", token=token).json()
    assert body["authenticated"] is True
    assert body["user"]["id"] == user.user_id
    assert body["token"]["type"] == "session"
    assert ISO_Z.match(body["token"]["expires_at"])
    assert "handle" not in body["token"]


def test_user_returns_the_current_user(api, user, token):
    response = api.get("/user", token=token)
    assert response.status_code == 200
    assert response.json() == {
        "id": user.user_id,
        "email": user.email,
        "account_id": user.account_id,
        "role": "member",
        "is_bot": False,
        "mfa": False,
        "created_at": response.json()["created_at"],
    }


def test_token_without_bearer_scheme_works(api, token):
    assert api.get("/user", headers={"Authorization": token}).status_code == 200


def test_missing_token_is_not_authenticated(api):
    for path in ("/", "/auth/authenticated", "/user"):
        response = api.get(path)
        assert response.status_code == 401
        assert error_code(response) == "not_authenticated"


def test_garbage_tokens_get_exactly_the_invalid_token_body(api):
    for garbage in ("Bearer garbage", "Bearer a.b.c", "gk_nope", "Basic dXNlcjpwYXNz"):
        response = api.get("/user", headers={"Authorization": garbage})
        assert response.status_code == 401
        assert response.json() == INVALID_TOKEN_BODY


def test_refresh_token_gives_a_new_access_token_for_the_same_session(api, user):
    tokens = api.login(user)
    response = api.get("/auth/refresh-token", token=tokens["refresh_token"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in"}
    assert api.get("/user", token=body["access_token"]).json()["id"] == user.user_id


def test_access_token_cannot_refresh(api, user):
    tokens = api.login(user)
    response = api.get("/auth/refresh-token", token=tokens["access_token"])
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN_BODY


def test_session_token_from_another_user_agent_is_refused(api, token):
    stolen = api.get("/user", headers={"Authorization": f"Bearer {token}", "User-Agent": "evil"})
    assert stolen.status_code == 401
    assert api.get("/user", headers={"User-Agent": USER_AGENT}, token=token).status_code == 401


def test_a_session_ended_by_another_user_agent_says_so_and_is_audited(api, user):
    """Issue 19: the 401 names the reason, and session.ended is audited with it."""
    from gatekey.store import get_store

    tokens = api.login(user)
    stolen = api.get(
        "/user",
        headers={"Authorization": f"Bearer {tokens['access_token']}", "User-Agent": "curl/8.5.0"},
    )
    assert stolen.status_code == 401
    (entry,) = stolen.json()["errors"]
    assert entry["code"] == "invalid_token" and "another client" in entry["detail"]
    # the refresh path (a handler, not the authorizer) says and records the same
    again = api.login(user)
    refresh = api.get(
        "/auth/refresh-token",
        headers={"Authorization": f"Bearer {again['refresh_token']}", "User-Agent": "other/1"},
    )
    assert refresh.status_code == 401 and "another client" in refresh.json()["errors"][0]["detail"]
    events, _ = get_store().list_audit_events(user.account_id, limit=50)
    ended = [
        e
        for e in events
        if e["action"] == "session.ended" and e.get("reason") == "user_agent_mismatch"
    ]
    assert len(ended) == 2
    assert {e["user_agent"] for e in ended} == {"curl/8.5.0", "other/1"}


def test_unknown_route_is_not_found(api, token):
    response = api.get("/no/such/route", token=token)
    assert response.status_code == 404
    assert error_code(response) == "not_found"
