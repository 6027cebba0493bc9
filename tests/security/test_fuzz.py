"""Property-based fuzzing: never a 5xx, never an allow, always the contract's error body."""

import base64
import json
import string
import time
import uuid

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekey.errors import InvalidToken, NotAuthenticated
from gatekey_local.function_worker import LambdaContext
from tests.helpers import USER_AGENT, load_event, load_handler, make_user

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ERROR_TYPES = {"client_error", "validation_error", "server_error"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
jwt_like = st.builds(
    lambda header, payload, signature: f"{b64(header)}.{b64(payload)}.{b64(signature)}",
    st.one_of(
        st.binary(max_size=60),
        st.builds(
            lambda kid, alg: json.dumps({"alg": alg, "kid": kid}).encode(),
            st.one_of(st.text(max_size=40), st.just("k1"), st.uuids().map(str)),
            st.sampled_from(["HS256", "none", "RS256", "HS512", ""]),
        ),
    ),
    st.one_of(st.binary(max_size=80), json_values.map(lambda v: json.dumps(v).encode())),
    st.binary(max_size=40),
)
key_like = st.text(alphabet=string.ascii_letters + string.digits, min_size=55, max_size=65).map(
    lambda body: "gk_" + body
)
headers = st.one_of(
    st.text(max_size=200),
    jwt_like,
    jwt_like.map(lambda token: f"Bearer {token}"),
    key_like,
    key_like.map(lambda token: f"Bearer {token}"),
    st.builds(lambda scheme, rest: f"{scheme} {rest}", st.text(max_size=10), st.text(max_size=80)),
)


@pytest.mark.slow
@FUZZ
@given(header=headers, user_agent=st.one_of(st.none(), st.text(max_size=40)))
def test_authorization_of_arbitrary_headers_never_allows(authorizer, header, user_agent):
    try:
        principal = authorizer.authorize(header, user_agent)
    except (NotAuthenticated, InvalidToken) as error:
        assert error.status == 401
        assert error.body()["errors"][0]["code"] in {"not_authenticated", "invalid_token"}
    else:
        pytest.fail(f"allowed {principal!r}")


NO_USER = str(uuid.uuid4())  # PATCH bodies are validated before the user is looked up
BODY_ROUTES = [
    ("login", "POST", "/auth/login", "/auth/login", {}),
    ("keys", "POST", "/user/keys", "/user/keys", {}),
    ("keys", "PATCH", "/user/keys/fuzz", "/user/keys/{handle}", {"handle": "fuzz"}),
    ("keys", "POST", "/user/keys/fuzz/rotate", "/user/keys/{handle}/rotate", {"handle": "fuzz"}),
    ("bots", "POST", "/account/bots", "/account/bots", {}),
    ("revoke", "POST", "/auth/revoke", "/auth/revoke", {}),
    ("login", "POST", "/auth/password-reset", "/auth/password-reset", {}),
    ("login", "POST", "/auth/password-reset/confirm", "/auth/password-reset/confirm", {}),
    ("security", "POST", "/user/password", "/user/password", {}),
    ("security", "POST", "/user/mfa/totp", "/user/mfa/totp", {}),
    ("security", "POST", "/user/mfa/totp/confirm", "/user/mfa/totp/confirm", {}),
    ("security", "DELETE", "/user/mfa", "/user/mfa", {}),
    ("users", "POST", "/account/users", "/account/users", {}),
    ("users", "PATCH", f"/account/users/{NO_USER}", "/account/users/{id}", {"id": NO_USER}),
]
HANDLERS = {
    name: load_handler(name) for name in {"login", "keys", "bots", "revoke", "users", "security"}
}


@pytest.fixture
def admin_context(gatekey_env):
    from gatekey.accounts.sessions import get_session_service
    from gatekey.credentials.keys import get_key_service
    from tests.helpers import reset_gatekey_caches

    reset_gatekey_caches()
    admin = make_user(admin=True)
    login = get_session_service().login(admin.email, admin.password, None, USER_AGENT)
    claims = jwt.decode(login["access_token"], options={"verify_signature": False})
    principal = admin.principal(  # a real session: keys are created only by live credentials
        token_expires_at=int(time.time()) + 3600,
        session_id=claims["sid"],
        token_id="access:fuzz",
    )
    get_key_service().create(
        principal, handle="fuzz", alias=None, key_type="token", expires_at=None
    )
    return {**principal.to_context(), "principalId": admin.user_id}


def invoke(route, body: str, content_type: str, context: dict, query: dict | None = None) -> dict:
    handler_name, method, path, resource, path_parameters = route
    event = load_event("keys_create.json", access_token="x")
    event.update(
        httpMethod=method,
        path=path,
        resource=resource,
        pathParameters=path_parameters or None,
        body=body,
        queryStringParameters=query or None,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
    )
    event["headers"]["Content-Type"] = content_type
    event["headers"]["User-Agent"] = USER_AGENT
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["requestContext"].update(httpMethod=method, path=f"/v1{path}", resourcePath=resource)
    event["requestContext"]["authorizer"] = context
    lambda_context = LambdaContext(
        function_name=handler_name,
        memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{handler_name}",
        aws_request_id=str(uuid.uuid4()),
        deadline=time.monotonic() + 10,
    )
    return HANDLERS[handler_name].lambda_handler(event, lambda_context)


def assert_contract_answer(response: dict) -> None:
    assert response["statusCode"] < 500, response
    if response["statusCode"] >= 400:
        body = json.loads(response["body"])
        assert set(body) == {"type", "errors"}
        assert body["type"] in ERROR_TYPES
        assert body["errors"]
        for entry in body["errors"]:
            assert set(entry) == {"code", "detail", "attr", "extra"}
            assert isinstance(entry["code"], str) and isinstance(entry["detail"], str)


@pytest.mark.slow
@pytest.mark.parametrize("route", BODY_ROUTES, ids=[f"{r[1]} {r[3]}" for r in BODY_ROUTES])
@FUZZ
@given(value=json_values)
def test_every_json_body_gets_a_contract_answer(admin_context, route, value):
    assert_contract_answer(invoke(route, json.dumps(value), "application/json", admin_context))


@pytest.mark.slow
@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["limit", "cursor", "action", "user_id", "other"]),
        st.one_of(
            st.text(max_size=60),
            st.integers(-5, 200).map(str),
            st.binary(max_size=80).map(b64),
            json_values.map(lambda value: b64(json.dumps(value).encode())),
            st.builds(
                lambda pk, sk: b64(json.dumps({"pk": pk, "sk": sk}).encode()),
                st.text(max_size=30),
                st.text(max_size=60),
            ),
        ),
        max_size=4,
    )
)
def test_every_audit_query_gets_a_contract_answer(admin_context, query):
    """`GET /account/audit` with any limit, cursor, action and user_id: 200 or 400."""
    route = ("users", "GET", "/account/audit", "/account/audit", {})
    response = invoke(route, "", "", admin_context, query=query)
    assert_contract_answer(response)
    assert response["statusCode"] in (200, 400), response


@pytest.mark.slow
@pytest.mark.parametrize("route", BODY_ROUTES, ids=[f"{r[1]} {r[3]}" for r in BODY_ROUTES])
@FUZZ
@given(
    body=st.text(max_size=200),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    ),
)
def test_every_raw_body_gets_a_contract_answer(admin_context, route, body, content_type):
    assert_contract_answer(invoke(route, body, content_type, admin_context))


# Scopes: arbitrary scope lists in the bodies that take them, from a narrow credential.

scope_text = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"(\*|[a-z0-9_-]{1,8}:([a-z0-9_-]{1,8}|\*))", fullmatch=True),
    st.sampled_from(["gatekey:keys", "gatekey:bots", "gatekey:users", "gatekey:*", "*"]),
)
SCOPED_BODIES = [route for route in BODY_ROUTES if route[2] in ("/user/keys", "/user/keys/fuzz")]


@pytest.fixture
def narrow_key_context(admin_context):
    """The same admin, but presenting an API key that holds only gatekey:keys and ci:deploy."""
    return {
        **admin_context,
        "token_type": "api_key",
        "key_handle": "fuzz",
        "session_id": "",
        "scopes": "gatekey:keys ci:deploy",
    }


@pytest.mark.slow
@pytest.mark.parametrize("route", SCOPED_BODIES, ids=[f"{r[1]} {r[3]}" for r in SCOPED_BODIES])
@FUZZ
@given(
    requested=st.lists(scope_text, max_size=6), handle=st.from_regex(r"[a-z]{1,12}", fullmatch=True)
)
def test_a_narrow_key_never_grants_more_than_it_holds(narrow_key_context, route, requested, handle):
    from gatekey import scopes

    body = json.dumps({"handle": handle, "scopes": requested, "expires_in_days": 1})
    if route[1] == "PATCH":
        body = json.dumps({"scopes": requested})
    response = invoke(route, body, "application/json", narrow_key_context)
    assert_contract_answer(response)
    if response["statusCode"] in (200, 201):
        granted = json.loads(response["body"])["scopes"]
        assert scopes.covers_all(("gatekey:keys", "ci:deploy"), granted), granted
