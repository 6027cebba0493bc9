"""examples/consumer served locally: its REST and HTTP APIs behind the real gatekey
authorizer, checking tokens against this session's gatekey table."""

import importlib.util
import json
import uuid

import pytest

from gatekey.keys import get_key_service
from gatekey.principal import Principal
from gatekey_local.emulator import serve_in_thread
from gatekey_local.template import FunctionSource
from tests.e2e.conftest import Client
from tests.e2e.test_login_and_token_test import INVALID_TOKEN_BODY
from tests.helpers import REPO_ROOT, load_event

CONSUMER = REPO_ROOT / "examples" / "consumer" / "template.yaml"
AUTHORIZER = {
    "GatekeyAuthorizer": FunctionSource(
        REPO_ROOT / "functions" / "authorizer", "app.lambda_handler"
    )
}
NOT_AUTHENTICATED_BODY = {
    "type": "client_error",
    "errors": [
        {
            "code": "not_authenticated",
            "detail": "Authentication credentials were not provided.",
            "attr": None,
            "extra": None,
        }
    ],
}
HTTP_UNAUTHORIZED = {"message": "Unauthorized"}
HTTP_FORBIDDEN = {"message": "Forbidden"}


def serve_consumer(gatekey_env, cache_seconds):
    """The consumer's APIs, as clients keyed "rest" and "http", with the given cache TTL."""
    apis = serve_in_thread(
        CONSUMER,
        env=gatekey_env,
        parameter_overrides={"AuthorizerCacheSeconds": cache_seconds},
        authorizer_sources=AUTHORIZER,
    )
    clients = {
        "rest": Client(apis.urls["OrdersRestApi"]),
        "http": Client(apis.urls["OrdersHttpApi"]),
    }
    try:
        yield clients
    finally:
        for client in clients.values():
            client.close()
        apis.stop()


@pytest.fixture(scope="module")
def consumer(gatekey_env):
    """With the authorizer cache off, so that every request reaches the authorizer."""
    yield from serve_consumer(gatekey_env, "0")


@pytest.fixture(scope="module")
def cached_consumer(gatekey_env):
    """With the template's default cache TTL."""
    yield from serve_consumer(gatekey_env, "60")


@pytest.fixture
def api_key(user):
    """An API key of `user`, created through the layer: (handle, token)."""
    owner = Principal(
        user_id=user.user_id,
        account_id=user.account_id,
        email=user.email,
        role="member",
        is_bot=False,
        token_type="session",
    )
    handle = f"orders-{uuid.uuid4().hex[:8]}"
    key = get_key_service().create(
        owner, handle=handle, alias=None, key_type="token", expires_at=None
    )
    return handle, key["token"]


def orders(response, kind):
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["api"] == kind
    assert body["orders"] == []
    return body["caller"]


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_session_token_reaches_the_backend_as_the_caller(consumer, user, token, kind):
    caller = orders(consumer[kind].get("/orders", token=token), kind)
    assert caller == {
        "user_id": user.user_id,
        "account_id": user.account_id,
        "email": user.email,
        "role": "member",
        "token_type": "session",
        "key_handle": "",
    }


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_api_key_reaches_the_backend_with_its_handle(consumer, user, api_key, kind):
    handle, key_token = api_key
    response = consumer[kind].get("/orders", headers={"Authorization": key_token})
    caller = orders(response, kind)
    assert caller["user_id"] == user.user_id
    assert caller["account_id"] == user.account_id
    assert caller["token_type"] == "api_key"
    assert caller["key_handle"] == handle


@pytest.mark.parametrize("fixture", ["consumer", "cached_consumer"])
def test_without_a_token_rest_says_not_authenticated_and_http_unauthorized(request, fixture):
    apis = request.getfixturevalue(fixture)
    rest = apis["rest"].get("/orders")
    assert rest.status_code == 401
    assert rest.json() == NOT_AUTHENTICATED_BODY
    http = apis["http"].get("/orders")
    assert http.status_code == 401
    assert http.json() == HTTP_UNAUTHORIZED


@pytest.mark.parametrize("fixture", ["consumer", "cached_consumer"])
def test_bad_token_is_invalid_token_on_rest_and_forbidden_on_http(request, fixture):
    apis = request.getfixturevalue(fixture)
    rest = apis["rest"].get("/orders", token="not-a-real-token")
    assert rest.status_code == 401
    assert rest.json() == INVALID_TOKEN_BODY
    http = apis["http"].get("/orders", token="not-a-real-token")
    assert http.status_code == 403
    assert http.json() == HTTP_FORBIDDEN


def test_revoked_key_is_refused_on_both_apis(consumer, user, api_key):
    handle, key_token = api_key
    owner = Principal(user.user_id, user.account_id, user.email, "member", False, "session")
    get_key_service().delete(owner, handle)
    assert consumer["rest"].get("/orders", headers={"Authorization": key_token}).json() == (
        INVALID_TOKEN_BODY
    )
    assert consumer["http"].get("/orders", headers={"Authorization": key_token}).status_code == 403


@pytest.mark.parametrize(
    ("event_file", "kind"),
    [("consumer_rest_orders.json", "rest"), ("consumer_http_orders.json", "http")],
)
def test_backend_reads_the_caller_from_both_sample_events(event_file, kind):
    spec = importlib.util.spec_from_file_location(
        "consumer_backend_app", REPO_ROOT / "examples" / "consumer" / "backend" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)

    response = backend.lambda_handler(load_event(event_file), None)
    body = json.loads(response["body"])
    assert body["api"] == kind
    assert body["caller"]["token_type"] == "api_key"
    assert body["caller"]["key_handle"] == "ci-deploy"
    assert body["caller"]["email"] == "ada@example.com"
