"""DynamoDB outages against a real DynamoDB Local that these tests stop and restart.

The module runs its own DynamoDB Local (persisted under a temporary directory, so the
data survives a restart on the same port), its own table and two local APIs on it:
one with the authorizer cache off, where every credential is checked against the
database, and one with a long cache, warmed before the outage, so that the handlers
themselves meet the outage. Routes come from template.yaml: a new route is covered
without editing this file.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import jwt
import pytest

from gatekey_local.dynamodb_local import DynamoDBLocal, create_table, free_port
from gatekey_local.local_aws import LOCAL_AWS_ENVIRONMENT
from gatekey_local.sam_model import Route, effective_authorizer
from gatekey_local.server import function_environment, serve_in_thread
from gatekey_local.template import load_template
from tests.conftest import TEMPLATE
from tests.e2e.conftest import Client, error_code
from tests.helpers import PASSWORD, make_user, reset_gatekey_caches

if TYPE_CHECKING:
    from tests.helpers import TestUser

pytestmark = pytest.mark.slow

UNCACHED = {"AuthorizerCacheSeconds": "0"}
CACHED = {"AuthorizerCacheSeconds": "3600"}
ANSWER_WITHIN_SECONDS = 10
UNAVAILABLE_BODY = {
    "type": "server_error",
    "errors": [
        {
            "code": "service_unavailable",
            "detail": "The service is temporarily unavailable, try again later.",
            "attr": None,
            "extra": None,
        }
    ],
}
# Names of what the outage requests try to create; none of it may exist afterwards.
OUTAGE_HANDLE = "made-during-outage"
OUTAGE_BOT = "made-during-outage"
OUTAGE_EMAIL = "made-during-outage@example.com"
CREDENTIAL_KINDS = ("session", "api_key", "client_jwt")

ROUTES = load_template(TEMPLATE).routes
TEMPLATE_APIS = load_template(TEMPLATE).apis


def is_public(route: Route) -> bool:
    return effective_authorizer(route, TEMPLATE_APIS[route.api_id]) is None


def route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


@dataclass
class Stack:
    """One DynamoDB Local with data in it, and the two local APIs that use it."""

    port: int
    db_path: Path
    database: DynamoDBLocal
    api: Client
    cached_api: Client
    user: TestUser
    tokens: dict[str, str] = field(default_factory=dict)
    handles: dict[str, str] = field(default_factory=dict)
    session_id: str = ""
    bot_id: str = ""
    key_id: str = ""  # the API key's id, as GET /account/keys gives it
    client: tuple[str, str] = ("", "")  # the jwt key as an OAuth client: (kid, secret)
    before: dict[str, Any] = field(default_factory=dict)

    def stop_database(self) -> None:
        self.database.stop()

    def start_database(self) -> None:
        """Restart on the same port and files, as after a crash of the database host."""
        self.database = DynamoDBLocal(port=self.port, db_path=self.db_path).start()

    def credential(self, kind: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[kind]}"}

    def path(self, route: Route) -> str:
        """The route's path with its parameters naming this user's own items."""
        values = {
            "keys": self.handles["token"],
            "sessions": self.session_id,
            "bots": self.bot_id,
            "users": self.user.user_id,
        }
        segments = route.path.split("/")
        return "/".join(
            self.key_id
            if segment == "{key_id}"
            else values.get(segments[index - 1], "unknown")
            if segment.startswith("{")
            else segment
            for index, segment in enumerate(segments)
        )

    def body(self, route: Route) -> dict[str, Any] | None:
        """A valid body, so the request gets past validation to the database."""
        bodies: dict[tuple[str, str], dict[str, Any]] = {
            ("POST", "/user/keys"): {"handle": OUTAGE_HANDLE},
            ("PATCH", "/user/keys/{handle}"): {"alias": "renamed during the outage"},
            ("POST", "/user/keys/{handle}/rotate"): {"grace_seconds": 0},
            ("POST", "/account/bots"): {"name": OUTAGE_BOT},
            ("POST", "/account/users"): {"email": OUTAGE_EMAIL, "password": PASSWORD},
            ("PATCH", "/account/users/{id}"): {"disabled": True},
            ("POST", "/auth/revoke"): {"token": self.tokens["api_key"]},
            ("POST", "/oauth/revoke"): {"token": self.tokens["api_key"]},
            ("POST", "/user/password"): {
                "current_password": PASSWORD,
                "new_password": "changed during the outage",
            },
            ("POST", "/user/mfa/totp"): {"password": PASSWORD},
            ("POST", "/user/mfa/totp/confirm"): {"code": "123456", "password": PASSWORD},
            ("DELETE", "/user/mfa"): {"password": PASSWORD, "code": "123456"},
        }
        return bodies.get((route.method, route.path))

    def public_requests(self, route: Route) -> list[tuple[dict[str, Any], int]]:
        """How each public route is called (its credential is in the body or a header),
        and its status during an outage: 503, or 200 for a page that needs no data."""
        login = {"email": self.user.email, "password": PASSWORD}
        requests_by_route: dict[tuple[str, str], list[tuple[dict[str, Any], int]]] = {
            ("POST", "/auth/login"): [
                ({"json": login}, 503),
                ({"data": login}, 503),
                ({"json": {**login, "password": "wrong password"}}, 503),
            ],
            ("GET", "/auth/refresh-token"): [({"headers": self.credential("refresh")}, 503)],
            ("GET", "/console"): [({}, 200)],
            ("HEAD", "/"): [({}, 200)],  # "is the host up": needs no data
            ("POST", "/auth/password-reset"): [
                ({"json": {"email": self.user.email}}, 503),
                ({"json": {"email": "nobody@example.com"}}, 503),
            ],
            ("POST", "/auth/password-reset/confirm"): [
                ({"json": {"token": "x" * 43, "new_password": "changed during the outage"}}, 503)
            ],
            # a leak report: a forged string needs no data (202); a real token cannot be
            # revoked while the database is down
            ("POST", "/credentials/revoke"): [
                ({"json": {"credentials": ["gk_" + "A" * 60]}}, 202),
                ({"json": {"credentials": [self.tokens["api_key"]]}}, 503),
            ],
            ("POST", "/oauth/token"): [
                ({"auth": self.client, "data": {"grant_type": "client_credentials"}}, 503)
            ],
            ("POST", "/oauth/introspect"): [
                ({"auth": self.client, "data": {"token": self.tokens["api_key"]}}, 503)
            ],
            # discovery and the JWKS read the published keys from the table
            ("GET", "/.well-known/openid-configuration"): [({}, 503)],
            ("GET", "/.well-known/jwks.json"): [({}, 503)],
        }
        return requests_by_route.get((route.method, route.path), [])

    def snapshot(self) -> dict[str, Any]:
        """What the user can read of their data, secrets included."""
        token = self.tokens["session"]
        keys = self.api.get("/user/keys", token=token)
        sessions = self.api.get("/user/sessions", token=token)
        bots = self.api.get("/account/bots", token=token)
        for response in (keys, sessions, bots):
            assert response.status_code == 200, response.text
        return {
            "keys": keys.json()["keys"],
            "key_secrets": {
                handle: self.api.get(f"/user/keys/{handle}", token=token).json()
                for handle in self.handles.values()
            },
            "session_ids": sorted(entry["id"] for entry in sessions.json()["sessions"]),
            "bots": bots.json()["bots"],
        }


def timed(client: Client, method: str, path: str, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    response = client.request(method, path, **kwargs)
    return response, time.monotonic() - started


def request_kwargs(stack: Stack, route: Route, kind: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"headers": stack.credential(kind)}
    body = stack.body(route)
    if body is not None:
        kwargs["json"] = body
    return kwargs


def unexpected(response: Any, elapsed: float, expected_status: int = 503) -> str | None:
    """Why this answer breaks the contract during an outage, or None."""
    if elapsed >= ANSWER_WITHIN_SECONDS:
        return f"took {elapsed:.1f} s"
    if response.status_code != expected_status:
        return f"{response.status_code} {response.text[:300]}"
    if expected_status == 503 and response.json() != UNAVAILABLE_BODY:
        return f"503 with body {response.text[:300]}"
    if expected_status == 503 and response.headers.get("Retry-After") != "1":
        return f"503 without Retry-After: 1 ({response.headers.get('Retry-After')!r})"
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db_path = tmp_path_factory.mktemp("faults-dynamodb")
    port = free_port()
    table = f"gatekey-faults-{uuid.uuid4().hex[:8]}"
    database = DynamoDBLocal(port=port, db_path=db_path).start()
    state: Stack | None = None
    try:
        environment = function_environment(
            load_template(TEMPLATE, UNCACHED, table_name=table),
            {
                "GATEKEY_TABLE": table,
                "DYNAMODB_ENDPOINT": database.endpoint,
                "GATEKEY_SECRET": json.dumps({"current": "k1", "k1": secrets.token_urlsafe(48)}),
                # the access-token signing key's file: the local API publishes it at start
                "GATEKEY_LOCAL_KMS_DIR": str(tmp_path_factory.mktemp("faults-kms")),
                **LOCAL_AWS_ENVIRONMENT,
            },
        )
        # The session's own environment (tests/conftest.py) is put back on exit: the
        # emulators restore what they changed, then the MonkeyPatch what it changed.
        with pytest.MonkeyPatch.context() as patch, ExitStack() as servers:
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
                patch.delenv(name, raising=False)
            for name, value in environment.items():
                patch.setenv(name, value)
            client = boto3.client("dynamodb", endpoint_url=database.endpoint)
            try:
                create_table(client, table, load_template(TEMPLATE, table_name=table))
            finally:
                client.close()
            urls = [
                servers.enter_context(
                    serve_in_thread(
                        TEMPLATE, env=environment, table_name=table, parameter_overrides=overrides
                    )
                ).url
                for overrides in (UNCACHED, CACHED)
            ]
            reset_gatekey_caches()
            api, cached_api = Client(urls[0]), Client(urls[1])
            servers.callback(api.close)
            servers.callback(cached_api.close)
            state = Stack(port, db_path, database, api, cached_api, make_user(admin=True))
            populate(state)
            yield state
    finally:
        (state.database if state is not None else database).stop()
        reset_gatekey_caches()


def populate(stack: Stack) -> None:
    """A session, an API key, a jwt key and its client JWT, and a bot; each used once."""
    api = stack.api
    login = api.login(stack.user)
    stack.tokens["session"] = login["access_token"]
    stack.tokens["refresh"] = login["refresh_token"]
    for key_type in ("token", "jwt"):
        handle = f"{key_type}-{uuid.uuid4().hex[:6]}"
        response = api.post(
            "/user/keys", token=login["access_token"], json={"handle": handle, "type": key_type}
        )
        assert response.status_code == 201, response.text
        stack.handles[key_type] = handle
        key = response.json()
        if key_type == "token":
            stack.tokens["api_key"] = key["token"]
        else:
            stack.client = (key["kid"], key["secret"])
            stack.tokens["client_jwt"] = jwt.encode(
                {"exp": int(time.time()) + 3600, "jti": uuid.uuid4().hex},
                key["secret"],
                algorithm="HS256",
                headers={"kid": key["kid"]},
            )
    listed = api.get("/account/keys", token=login["access_token"]).json()["keys"]
    (stack.key_id,) = (k["key_id"] for k in listed if k["handle"] == stack.handles["token"])
    bot = api.post("/account/bots", token=login["access_token"], json={"name": "nightly"})
    assert bot.status_code == 201, bot.text
    stack.bot_id = bot.json()["bot"]["id"]
    stack.tokens["bot"] = bot.json()["token"]
    sessions = api.get("/user/sessions", token=login["access_token"]).json()["sessions"]
    (stack.session_id,) = (entry["id"] for entry in sessions)
    # First use writes last_used_at; afterwards the snapshot no longer moves. It also
    # fills the cached API's authorizer cache for each credential.
    for kind in (*CREDENTIAL_KINDS, "bot"):
        for client in (api, stack.cached_api):
            assert client.get("/user", headers=stack.credential(kind)).status_code == 200
    stack.before = stack.snapshot()


@pytest.fixture(scope="module")
def outage(stack: Stack) -> Stack:
    stack.stop_database()
    return stack


@pytest.fixture(scope="module")
def restarted(outage: Stack) -> Stack:
    outage.start_database()
    return outage


def test_every_public_route_has_a_way_to_be_called(stack):
    """A new public route fails here until Stack.public_requests says how to call it."""
    assert len(ROUTES) >= 20
    missing = [
        route_id(route) for route in ROUTES if is_public(route) and not stack.public_requests(route)
    ]
    assert missing == []


def test_every_route_answers_503_with_each_credential_while_dynamodb_is_down(outage):
    wrong = []
    for route in ROUTES:
        if is_public(route):
            calls = [
                (f"request {index}", kwargs, expected)
                for index, (kwargs, expected) in enumerate(outage.public_requests(route))
            ]
        else:
            calls = [(kind, request_kwargs(outage, route, kind), 503) for kind in CREDENTIAL_KINDS]
        for label, kwargs, expected in calls:
            response, elapsed = timed(outage.api, route.method, outage.path(route), **kwargs)
            problem = unexpected(response, elapsed, expected)
            if problem:
                wrong.append(f"{route_id(route)} [{label}]: {problem}")
    assert not wrong, "\n".join(wrong)


def expected_from_handler(route: Route, kind: str) -> int:
    """What a handler answers during an outage when the authorizer's allow was cached:
    503, except where it can answer without reading the database."""
    if (route.method, route.path) == ("GET", "/"):
        return 200
    if route.path == "/auth/logout" and kind != "session":
        return 400  # logout needs a session token; refused before any read
    management = route.path.startswith(("/user/keys", "/user/sessions", "/account/"))
    if management and kind != "session":
        return 403  # a key of default scopes ("*") may not manage: refused before any read
    if route.path.startswith(("/user/password", "/user/mfa")) and kind != "session":
        return 403  # only a login session changes them: refused before any read
    return 503


def test_handlers_answer_503_behind_a_cached_authorizer_allow(outage):
    """API Gateway may still hold an allow for the caller: the handler must fail cleanly."""
    wrong = []
    for route in filter(lambda route: not is_public(route), ROUTES):
        for kind in CREDENTIAL_KINDS:
            kwargs = request_kwargs(outage, route, kind)
            response, elapsed = timed(outage.cached_api, route.method, outage.path(route), **kwargs)
            problem = unexpected(response, elapsed, expected_from_handler(route, kind))
            if problem:
                wrong.append(f"{route_id(route)} [{kind}]: {problem}")
    assert not wrong, "\n".join(wrong)


def test_missing_or_malformed_credentials_are_refused_without_the_database(outage):
    """No credential, or one that fails its own checks, never needs a read: 401, not 503."""
    token = outage.tokens["api_key"]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")  # fails the checksum
    for route in filter(lambda route: not is_public(route), ROUTES):
        path = outage.path(route)
        for client in (outage.api, outage.cached_api):
            response = client.request(route.method, path)
            assert response.status_code == 401, (route_id(route), response.text)
            assert error_code(response) == "not_authenticated"
            response = client.request(route.method, path, headers={"Authorization": forged})
            assert response.status_code == 401, (route_id(route), response.text)
            assert error_code(response) == "invalid_token"


@pytest.fixture
def hung_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A DynamoDB endpoint that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        monkeypatch.setenv("DYNAMODB_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
        reset_gatekey_caches()
        yield
        monkeypatch.undo()
        reset_gatekey_caches()


def test_a_hung_database_answers_503_within_the_client_timeouts(outage, hung_database):
    """The store's short timeouts turn a database that never answers into a quick 503."""
    login = {"email": outage.user.email, "password": PASSWORD}
    calls = [
        (outage.api, "GET", "/user", {"headers": outage.credential("api_key")}),
        (outage.api, "POST", "/auth/login", {"json": login}),
    ]
    for client, method, path, kwargs in calls:
        response, elapsed = timed(client, method, path, **kwargs)
        assert unexpected(response, elapsed) is None, (method, path, elapsed, response.text)
        assert elapsed >= 2, "the request never waited on the hung database"


def test_credentials_work_again_after_dynamodb_restarts(restarted):
    for kind in (*CREDENTIAL_KINDS, "bot"):
        response = restarted.api.get("/user", headers=restarted.credential(kind))
        assert response.status_code == 200, (kind, response.text)
    refreshed = restarted.api.get("/auth/refresh-token", headers=restarted.credential("refresh"))
    assert refreshed.status_code == 200, refreshed.text


def test_data_written_before_the_outage_is_all_there_after_the_restart(restarted):
    after = restarted.snapshot()
    assert after["keys"] == restarted.before["keys"]
    assert after["key_secrets"] == restarted.before["key_secrets"]  # no rotation happened
    assert after["session_ids"] == restarted.before["session_ids"] == [restarted.session_id]
    assert after["bots"] == restarted.before["bots"]


def test_writes_attempted_during_the_outage_left_nothing_behind(restarted):
    api, token = restarted.api, restarted.tokens["session"]
    assert api.get(f"/user/keys/{OUTAGE_HANDLE}", token=token).status_code == 404
    bots = api.get("/account/bots", token=token).json()["bots"]
    assert OUTAGE_BOT not in {bot["name"] for bot in bots}
    users = api.get("/account/users", token=token).json()["users"]
    assert OUTAGE_EMAIL not in {user["email"] for user in users}
    assert {user["disabled"] for user in users} == {False}
    assert api.get("/account/audit", token=token).status_code == 200
    # The logins during the outage (right password included) opened no session.
    sessions = api.get("/user/sessions", token=token).json()["sessions"]
    assert [entry["id"] for entry in sessions] == [restarted.session_id]
    # Logout, revoke, delete and rotate all failed: every credential still works.
    for kind in (*CREDENTIAL_KINDS, "bot"):
        assert api.get("/user", headers=restarted.credential(kind)).status_code == 200, kind


def test_login_works_again_after_dynamodb_restarts(restarted):
    assert restarted.api.login(restarted.user)["login"] is True
