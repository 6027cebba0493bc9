"""Every route of the template, once, with each function held to its IAM role.

The local IAM gate is on (whatever GATEKEY_ENFORCE_IAM says) and the touch interval is
0, so every authorization also writes last-used: each permission a function's role
grants is needed by at least one request here. The permission loop
(tests/permission_loop.py) runs this module against copies of the template with one
permission removed (GATEKEY_TEST_TEMPLATE names the copy) and expects it to fail.

The last test checks that every route of the template was requested: a new route
needs a request here, which is how its permissions get checked.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from gatekey.records import ApiKey
from gatekey.store import get_store
from gatekey_local.lambda_runner import FunctionRunner
from gatekey_local.server import serve_in_thread
from gatekey_local.template import load_template
from tests import helpers
from tests.conftest import TEMPLATE
from tests.e2e.conftest import Client
from tests.e2e.test_mfa import StepClock
from tests.helpers import USER_AGENT, make_user, reset_gatekey_caches

ROUTE_TEMPLATE = Path(os.environ.get("GATEKEY_TEST_TEMPLATE") or TEMPLATE)
PARAMETERS = {"AuthorizerCacheSeconds": "0"}
OTHER_AGENT = "someone-else/2.0"
EXPIRING_BOTS_KEY = {"expires_in_days": 2, "scopes": ["*", "gatekey:bots"]}

requested: set[tuple[str, str]] = set()
finished: set[str] = set()


class RecordingClient(Client):
    """Remembers each (method, path) it requested; ``functions`` are its server's."""

    functions: FunctionRunner

    def request(self, method: str, path: str, **kwargs):
        requested.add((method.upper(), path.split("?")[0]))
        return super().request(method, path, **kwargs)


@pytest.fixture(scope="module")
def client(gatekey_env) -> Iterator[RecordingClient]:
    reset_gatekey_caches()
    with serve_in_thread(
        ROUTE_TEMPLATE,
        env={**gatekey_env, "GATEKEY_TOUCH_INTERVAL_SECONDS": "0"},
        table_name=gatekey_env["GATEKEY_TABLE"],
        parameter_overrides=PARAMETERS,
        enforce_iam=True,
    ) as server:
        reset_gatekey_caches()
        api = RecordingClient(server.url)
        api.functions = server.emulator.runner
        yield api
        api.close()
    reset_gatekey_caches()


@pytest.fixture(autouse=True)
def _record_completion(request) -> Iterator[None]:
    yield
    finished.add(request.node.name)


def login(client: Client, user: helpers.TestUser, agent: str = USER_AGENT) -> dict:
    response = client.post(
        "/auth/login",
        json={"email": user.email, "password": user.password},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign(key: dict, **claims) -> str:
    claims.setdefault("exp", int(time.time()) + 60)
    return jwt.encode(claims, key["secret"], algorithm="HS256", headers={"kid": key["kid"]})


def session_exists(session_id: str) -> bool:
    return get_store().get_session(session_id) is not None


def session_id_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


def test_public_routes_and_login_throttling_state(client):
    user = make_user()
    wrong = client.post("/auth/login", json={"email": user.email, "password": "not it at all"})
    assert wrong.status_code == 401
    tokens = login(client, user)  # clears the failure count
    assert client.get("/console").status_code == 200
    refreshed = client.get("/auth/refresh-token", token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert client.get("/", token=refreshed.json()["access_token"]).status_code == 200


def test_refresh_from_another_user_agent_destroys_the_session(client):
    tokens = login(client, make_user())
    session_id = session_id_of(tokens["access_token"])
    response = client.get(
        "/auth/refresh-token", token=tokens["refresh_token"], headers={"User-Agent": OTHER_AGENT}
    )
    assert response.status_code == 401, response.text
    assert not session_exists(session_id)


def test_authorizer_other_user_agent_destroys_the_session(client):
    tokens = login(client, make_user())
    session_id = session_id_of(tokens["access_token"])
    response = client.get(
        "/auth/authenticated", token=tokens["access_token"], headers={"User-Agent": OTHER_AGENT}
    )
    assert response.status_code == 401, response.text
    assert not session_exists(session_id)
    assert client.get("/user", token=tokens["access_token"]).status_code == 401


def test_token_test_routes(client):
    token = login(client, make_user())["access_token"]
    for path in ("/", "/auth/authenticated", "/user"):
        response = client.get(path, token=token)
        assert response.status_code == 200, (path, response.text)
    is_up = client.request("HEAD", "/")  # no credentials: gazu's host_is_up()
    assert (is_up.status_code, is_up.content) == (200, b"")


def test_sessions_logout_and_access_token_revocation(client):
    user = make_user()
    first = login(client, user)
    second = login(client, user)
    listed = client.get("/user/sessions", token=first["access_token"])
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["sessions"]) == 2
    # GET /auth/revoke: the presented access token dies, its session is flagged.
    assert client.get("/auth/revoke", token=first["access_token"]).status_code == 200
    assert client.get("/user", token=first["access_token"]).status_code == 401
    fresh = client.get("/auth/refresh-token", token=first["refresh_token"]).json()["access_token"]
    assert client.get("/user", token=fresh).status_code == 200  # reads its revocation item
    # POST /auth/revoke of a token of a flagged session: the revoke function reads it too.
    other = client.get("/auth/refresh-token", token=first["refresh_token"]).json()["access_token"]
    assert client.post("/auth/revoke", token=fresh, json={"token": other}).status_code == 200
    assert client.get("/user", token=other).status_code == 401
    # POST /auth/revoke of a refresh token ends its session.
    assert (
        client.post(
            "/auth/revoke", token=fresh, json={"token": second["refresh_token"]}
        ).status_code
        == 200
    )
    assert not session_exists(session_id_of(second["access_token"]))
    third = login(client, user)
    third_id = session_id_of(third["access_token"])
    ended = client.delete(f"/user/sessions/{third_id}", token=fresh)
    assert ended.status_code == 204, ended.text
    assert not session_exists(third_id)
    assert client.post("/auth/logout", token=fresh).status_code == 200
    again = login(client, user)["access_token"]
    assert client.get("/auth/logout", token=again).status_code == 200
    assert client.get("/user", token=again).status_code == 401


def test_api_keys(client):
    token = login(client, make_user())["access_token"]
    # an expiry: the key's marker is written with it (Keys) and deleted with it (Revoke)
    created = client.post("/user/keys", token=token, json={"handle": "ci", "expires_in_days": 3})
    assert created.status_code == 201, created.text
    key = created.json()
    listed = client.get("/user/keys", token=token)
    assert listed.status_code == 200, listed.text
    assert [k["handle"] for k in listed.json()["keys"]] == ["ci"]
    assert client.get("/user/keys/ci", token=token).status_code == 200
    assert client.patch("/user/keys/ci", token=token, json={"alias": "CI"}).status_code == 200
    rotated = client.post("/user/keys/ci/rotate", token=token, json={"grace_seconds": 0})
    assert rotated.status_code == 200, rotated.text
    api_key = rotated.json()["token"]
    assert client.get("/user", headers={"Authorization": api_key}).status_code == 200
    assert client.get("/auth/revoke", headers={"Authorization": api_key}).status_code == 200
    assert client.get("/user", headers={"Authorization": api_key}).status_code == 401
    # a metered key: the authorizer's conditional update, and the usage route
    metered = client.post(
        "/user/keys", token=token, json={"handle": "metered", "credits": {"remaining": 1}}
    ).json()["token"]
    assert client.get("/user", headers={"Authorization": metered}).status_code == 200
    assert client.get("/user", headers={"Authorization": metered}).status_code == 429
    usage = client.get("/user/keys/metered/usage?days=2", token=token)
    assert usage.status_code == 200, usage.text
    assert usage.json()["days"][-1]["allowed"] == 1
    client.post("/user/keys", token=token, json={"handle": "gone", "expires_in_days": 3})
    assert client.delete("/user/keys/gone", token=token).status_code == 204
    assert client.get("/user/keys/gone", token=token).status_code == 404
    assert key["handle"] == "ci"


def test_client_jwts(client):
    token = login(client, make_user())["access_token"]
    key = client.post("/user/keys", token=token, json={"handle": "j", "type": "jwt"}).json()
    first, second = sign(key, jti="one"), sign(key, jti="two")
    assert client.get("/user", headers=bearer(first)).status_code == 200
    assert client.get("/auth/revoke", headers=bearer(first)).status_code == 200
    assert client.get("/user", headers=bearer(first)).status_code == 401
    assert client.get("/user", headers=bearer(second)).status_code == 200  # reads REVOKED#


def test_bots(client):
    admin = make_user(admin=True)
    session = login(client, admin)["access_token"]
    # an admin's expiring key: the bot tokens it makes expire with it, so they have expiry
    # markers, written and deleted with them
    made = client.post("/user/keys", token=session, json=EXPIRING_BOTS_KEY | {"handle": "b"})
    token = made.json()["token"]
    created = client.post(
        "/account/bots", token=token, json={"name": f"bot-{uuid.uuid4().hex[:6]}"}
    )
    assert created.status_code == 201, created.text
    bot_id = created.json()["bot"]["id"]
    listed = client.get("/account/bots", token=token)
    assert listed.status_code == 200, listed.text
    assert [bot["id"] for bot in listed.json()["bots"]] == [bot_id]
    regenerated = client.post(f"/account/bots/{bot_id}/token", token=token)
    assert regenerated.status_code == 200, regenerated.text
    bot_token = regenerated.json()["token"]
    assert client.get("/user", headers={"Authorization": bot_token}).status_code == 200
    assert client.delete(f"/account/bots/{bot_id}", token=token).status_code == 204
    assert client.get("/user", headers={"Authorization": bot_token}).status_code == 401


def test_scheduled_expiry_warnings(client):
    """NotifyExpiringFunction, invoked as EventBridge does, under its role: it reads the
    week's markers, the keys and owners, a bot's admins, claims each warning, drops a
    marker whose key is gone, and records the events."""
    admin = make_user(admin=True)
    session = login(client, admin)["access_token"]
    made = client.post("/user/keys", token=session, json=EXPIRING_BOTS_KEY | {"handle": "x"})
    assert made.status_code == 201, made.text
    bot = client.post("/account/bots", token=made.json()["token"], json={"name": "expiring"})
    assert bot.status_code == 201, bot.text
    gone = get_store().get_key_by_handle(admin.user_id, "x")
    assert gone is not None
    store = get_store()
    orphan = ApiKey.from_item({**gone.to_item(), "key_id": str(uuid.uuid4())})
    store._transact(store._expiry_marker_actions(orphan))  # a marker whose key is gone
    report = client.functions.invoke(
        "NotifyExpiringFunction", helpers.load_event("scheduled_daily.json")
    )
    warned = {(w["user_id"], w["handle"]) for w in report["warned"]}
    assert (admin.user_id, "x") in warned
    assert (bot.json()["bot"]["id"], "bot-token") in warned
    assert report["dropped"] >= 1


def mailed_token(address: str) -> str:
    """The token of the newest message to `address` in the outbox."""
    from tests.e2e.test_passwords import messages_to, token_in

    return token_in(messages_to(address)[-1])


def test_lockouts_read_the_throttle_state(client):
    """Only a locked email's attempt reads LOGINFAIL# (to say when to retry)."""
    user = make_user()
    for _ in range(5):
        wrong = client.post("/auth/login", json={"email": user.email, "password": "not it at all"})
        assert wrong.status_code == 401
    locked = client.post("/auth/login", json={"email": user.email, "password": user.password})
    assert locked.status_code == 429

    other = make_user()
    token = login(client, other)["access_token"]
    change = {"current_password": "not the password", "new_password": "a much better secret"}
    for _ in range(5):
        assert client.post("/user/password", token=token, json=change).status_code == 401
    assert client.post("/user/password", token=token, json=change).status_code == 429


def test_users_and_audit(client):
    admin = make_user(admin=True)
    token = login(client, admin)["access_token"]
    member = make_user(account_id=admin.account_id)
    member_token = login(client, member)["access_token"]  # a session to rewrite and end
    key = client.post("/user/keys", token=member_token, json={"handle": "m", "expires_in_days": 3})
    assert key.status_code == 201, key.text  # a key to rewrite and end
    invited = client.post(
        "/account/users", token=token, json={"email": f"new-{uuid.uuid4().hex[:8]}@example.com"}
    )
    assert invited.status_code == 201, invited.text  # set-password link: RESET#
    assert client.get("/account/users", token=token).status_code == 200
    path = f"/account/users/{member.user_id}"
    assert client.patch(path, token=token, json={"role": "admin"}).status_code == 200
    demoted = client.patch(path, token=token, json={"role": "member", "disabled": True})
    assert demoted.status_code == 200, demoted.text  # last-admin check: another admin
    assert client.get("/user", token=member_token).status_code == 401
    assert client.delete(path, token=token).status_code == 204
    audit = client.get("/account/audit?limit=5", token=token)
    assert audit.status_code == 200, audit.text
    assert audit.json()["events"]


def test_account_keys_and_policy(client):
    admin = make_user(admin=True)
    token = login(client, admin)["access_token"]
    member = make_user(account_id=admin.account_id)
    member_token = login(client, member)["access_token"]
    made = client.post("/user/keys", token=member_token, json={"handle": "m"})
    assert made.status_code == 201, made.text
    # a new account has no key-refs mark: the first listing gives every key a ref
    listing = client.get("/account/keys?limit=10", token=token)
    assert listing.status_code == 200, listing.text
    assert client.get("/account/policy", token=token).status_code == 200
    policy = {"max_key_lifetime_days": 30, "key_idle_days": 60}
    changed = client.request("PUT", "/account/policy", token=token, json=policy)
    assert changed.status_code == 200, changed.text  # bumps, then syncs every key
    key_id = listing.json()["keys"][0]["key_id"]
    assert client.delete(f"/account/keys/{key_id}", token=token).status_code == 204


@pytest.fixture
def step_clock(client) -> Iterator[StepClock]:
    yield StepClock(client.functions)
    client.functions.undo_patches()


def test_passwords_reset_and_mfa(client, step_clock):
    import pyotp

    user = make_user()
    token = login(client, user)["access_token"]
    other = login(client, user, agent=OTHER_AGENT)["access_token"]
    wrong = client.post(
        "/user/password",
        token=token,
        json={"current_password": "not the password", "new_password": "a much better secret"},
    )
    assert wrong.status_code == 401  # counted toward the lockout: LOGINFAIL#
    changed = client.post(
        "/user/password",
        token=token,
        json={"current_password": user.password, "new_password": "a much better secret"},
    )
    assert changed.status_code == 200, changed.text
    assert client.get("/user", headers=bearer(other)).status_code == 401

    assert client.post("/auth/password-reset", json={"email": user.email}).status_code == 202
    confirmed = client.post(
        "/auth/password-reset/confirm",
        json={"token": mailed_token(user.email), "new_password": "yet another good secret"},
    )
    assert confirmed.status_code == 200, confirmed.text

    fresh = client.post(
        "/auth/login", json={"email": user.email, "password": "yet another good secret"}
    ).json()["access_token"]
    password = {"password": "yet another good secret"}
    secret = client.post("/user/mfa/totp", token=fresh, json=password).json()["secret"]
    app = pyotp.TOTP(secret)
    other = client.post(
        "/auth/login", json={"email": user.email, **password}, headers={"User-Agent": OTHER_AGENT}
    ).json()["access_token"]  # a session for the confirmation to end
    enrolled = client.post(
        "/user/mfa/totp/confirm", token=fresh, json={"code": app.at(step_clock.at), **password}
    )
    assert enrolled.status_code == 200, enrolled.text
    assert client.get("/user", headers=bearer(other)).status_code == 401
    step_clock.advance()
    off = client.delete(
        "/user/mfa",
        token=fresh,
        json={"password": "yet another good secret", "code": app.at(step_clock.at)},
    )
    assert off.status_code == 204, off.text


def test_admin_mfa_reset(client, step_clock):
    import pyotp

    admin = make_user(admin=True)
    admin_token = login(client, admin)["access_token"]
    member = make_user(account_id=admin.account_id)
    member_token = login(client, member)["access_token"]
    password = {"password": member.password}
    secret = client.post("/user/mfa/totp", token=member_token, json=password).json()["secret"]
    code = pyotp.TOTP(secret).at(step_clock.at)
    enrolled = client.post(
        "/user/mfa/totp/confirm", token=member_token, json={"code": code, **password}
    )
    assert enrolled.status_code == 200, enrolled.text
    reset = client.delete(f"/account/users/{member.user_id}/mfa", token=admin_token)
    assert reset.status_code == 204, reset.text  # the user, its sessions and the event
    assert client.get("/user", token=member_token).status_code == 401


def test_oauth_discovery_token_introspection_and_publication(client, gatekey_env):
    """Issue 21's routes, and the custom resource that publishes the signing keys."""
    import base64
    import http.server
    import threading

    from gatekey_local.signing_keys import local_kms_key_arn
    from tests.conftest import LOCAL_ISSUER

    answers: list[bytes] = []

    class CloudFormation(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            answers.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    with http.server.HTTPServer(("127.0.0.1", 0), CloudFormation) as receiver:
        threading.Thread(target=receiver.handle_request, daemon=True).start()
        key_arn = local_kms_key_arn("AccessTokenSigningKey")
        client.functions.invoke(
            "OidcFunction",
            {
                "RequestType": "Update",
                "ResponseURL": f"http://127.0.0.1:{receiver.server_address[1]}/cfn",
                "StackId": "stack",
                "RequestId": "request",
                "LogicalResourceId": "SigningKeysPublication",
                "PhysicalResourceId": "gatekey-signing-keys",
                "ResourceProperties": {
                    "KeyArns": [key_arn],
                    "CurrentKeyArn": key_arn,
                    "Issuer": LOCAL_ISSUER,
                    "Audience": "",
                },
            },
        )
    assert b'"SUCCESS"' in answers[0], answers
    assert client.get("/.well-known/openid-configuration").status_code == 200
    assert client.get("/.well-known/jwks.json").status_code == 200

    user = make_user()
    tokens = login(client, user)
    created = client.post(
        "/user/keys", token=tokens["access_token"], json={"handle": "oauth", "type": "jwt"}
    )
    key = created.json()
    basic = base64.b64encode(f"{key['kid']}:{key['secret']}".encode()).decode()
    granted = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert granted.status_code == 200, granted.text
    access = granted.json()["access_token"]
    refreshed = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text
    assert client.post("/oauth/revoke", token=tokens["access_token"], data={"token": access})
    form = {"token": access, "client_id": key["kid"], "client_secret": key["secret"]}
    assert client.post("/oauth/introspect", data=form).json() == {"active": False}
    by_session = client.post(
        "/oauth/introspect", data={"token": access}, token=refreshed.json()["access_token"]
    )
    assert by_session.json() == {"active": False}
    stolen = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers={"User-Agent": OTHER_AGENT},
    )
    assert stolen.status_code == 400
    assert not session_exists(session_id_of(tokens["refresh_token"]))
    wrong = {"client_id": key["kid"], "client_secret": "gks_" + "x" * 43}
    statuses = [
        client.post("/oauth/token", data={"grant_type": "client_credentials", **wrong}).status_code
        for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]


def test_leaked_credentials_report(client):
    """A member's key (its owner read for the message) and a bot's token (its account's
    admins listed) revoked by a public report, with a forged string beside them."""
    admin = make_user(admin=True)
    token = login(client, admin)["access_token"]
    leaky = {"handle": "leaky", "expires_in_days": 3}  # its expiry marker goes with it
    key = client.post("/user/keys", token=token, json=leaky).json()["token"]
    bot = client.post("/account/bots", token=token, json={"name": "leaky-bot"}).json()
    forged = key[:-6] + "000000"
    report = client.post("/credentials/revoke", json={"credentials": [key, bot["token"], forged]})
    assert (report.status_code, report.json()) == (202, {"received": 3}), report.text
    for revoked in (key, bot["token"]):
        assert client.get("/user", headers=bearer(revoked)).status_code == 401


def test_every_route_of_the_template_was_requested(request):
    others = {
        item.name
        for item in request.session.items
        if item.module is request.module and item.name != request.node.name
    }
    if not others <= finished:
        pytest.skip("only meaningful after the whole module ran")
    routes = load_template(ROUTE_TEMPLATE).routes
    missing = []
    for route in routes:
        pattern = re.compile("^" + re.sub(r"\{[^}/]+\}", "[^/]+", route.path) + "$")
        if not any(m == route.method and pattern.match(path) for m, path in requested):
            missing.append(f"{route.method} {route.path}")
    assert not missing, f"routes no test here requests: {missing}"
