"""examples/consumer served locally: its REST and HTTP APIs behind the real gatekey
authorizer, checking tokens against this session's gatekey table."""

import importlib.util
import json
import uuid

import pytest
import requests

from gatekey.credentials.keys import get_key_service
from gatekey_local.sam_model import FunctionSource
from gatekey_local.server import serve_in_thread
from tests.e2e.conftest import Client
from tests.helpers import REPO_ROOT, load_event

CONSUMER = REPO_ROOT / "examples" / "consumer" / "template.yaml"
AUTHORIZER = {
    "GatekeyAuthorizer": FunctionSource(
        REPO_ROOT / "functions" / "authorizer", "app.lambda_handler"
    )
}
# With route scopes, the consumer's REST API answers a missing or bad credential with
# API Gateway's UNAUTHORIZED (401) and a missing scope with ACCESS_DENIED (403).
UNAUTHORIZED_BODY = {
    "type": "client_error",
    "errors": [
        {
            "code": "invalid_token",
            "detail": "Authentication credentials were not provided, or are expired or invalid.",
            "attr": None,
            "extra": None,
        }
    ],
}


def refusal(response):
    """(status, code, extra) of a REST ACCESS_DENIED: the authorizer names the code in
    its context and the gateway response inserts extra (JSON) as it is."""
    body = response.json()
    assert body["type"] == "client_error", body
    (error,) = body["errors"]
    assert error["attr"] is None
    return response.status_code, error["code"], error["extra"]


PERMISSION_DENIED = (403, "permission_denied", None)
SESSION_SCOPES = "* gatekey:bots gatekey:keys gatekey:sessions gatekey:users"
HTTP_UNAUTHORIZED = {"message": "Unauthorized"}
HTTP_FORBIDDEN = {"message": "Forbidden"}


def serve_consumer(gatekey_env, cache_seconds, template=CONSUMER):
    """The consumer's APIs, as clients keyed "rest" and "http", with the given cache TTL."""
    apis = serve_in_thread(
        template,
        env=gatekey_env,
        parameter_overrides={"AuthorizerCacheSeconds": cache_seconds},
        authorizer_sources=AUTHORIZER,
    )
    clients = {
        "rest": Client(apis.urls["OrdersRestApi"]),
        "http": Client(apis.urls["OrdersHttpApi"]),
        "reports": Client(apis.urls["ReportsRestApi"]),
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


def iam_consumer_template(directory):
    """The consumer's template with its HTTP API authorizer answering IAM policies, and
    without `routeKey` in its identity sources: one cached policy then serves every
    route of a caller, as on the REST API."""
    text = CONSUMER.read_text()
    route_key = "              Context: [routeKey, identity.sourceIp]\n"
    for needle in ("EnableSimpleResponses: true", route_key):
        assert text.count(needle) == 1, needle
    text = text.replace("EnableSimpleResponses: true", "EnableSimpleResponses: false")
    text = text.replace(route_key, "              Context: [identity.sourceIp]\n")
    (directory / "template.yaml").write_text(text)
    (directory / "backend").symlink_to(CONSUMER.parent / "backend")
    return directory / "template.yaml"


def serve_iam_consumer(gatekey_env, tmp_path_factory, cache_seconds):
    """As with the gatekey stack's HttpApiSimpleResponses=false."""
    template = iam_consumer_template(tmp_path_factory.mktemp("consumer-iam"))
    env = {**gatekey_env, "GATEKEY_HTTP_API_SIMPLE_RESPONSES": "false"}
    yield from serve_consumer(env, cache_seconds, template)


@pytest.fixture(scope="module")
def iam_consumer(gatekey_env, tmp_path_factory):
    yield from serve_iam_consumer(gatekey_env, tmp_path_factory, "0")


@pytest.fixture(scope="module")
def cached_iam_consumer(gatekey_env, tmp_path_factory):
    yield from serve_iam_consumer(gatekey_env, tmp_path_factory, "60")


def make_key(user, key_scopes=("*",)):
    """An API key of `user` with `key_scopes`, created through the layer: (handle, token)."""
    handle = f"orders-{uuid.uuid4().hex[:8]}"
    key = get_key_service().create(
        user.principal(),
        handle=handle,
        alias=None,
        key_type="token",
        expires_at=None,
        key_scopes=tuple(key_scopes),
    )
    return handle, key["token"]


@pytest.fixture
def api_key(user):
    return make_key(user)


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
        "scopes": SESSION_SCOPES,
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
def test_without_a_token_rest_and_http_say_unauthorized(request, fixture):
    apis = request.getfixturevalue(fixture)
    rest = apis["rest"].get("/orders")
    assert rest.status_code == 401
    assert rest.json() == UNAUTHORIZED_BODY
    http = apis["http"].get("/orders")
    assert http.status_code == 401
    assert http.json() == HTTP_UNAUTHORIZED


@pytest.mark.parametrize("fixture", ["consumer", "cached_consumer"])
def test_bad_token_is_unauthorized_on_rest_and_forbidden_on_http(request, fixture):
    apis = request.getfixturevalue(fixture)
    rest = apis["rest"].get("/orders", token="not-a-real-token")
    assert rest.status_code == 401
    assert rest.json() == UNAUTHORIZED_BODY
    http = apis["http"].get("/orders", token="not-a-real-token")
    assert http.status_code == 403
    assert http.json() == HTTP_FORBIDDEN


def test_revoked_key_is_refused_on_both_apis(consumer, user, api_key):
    handle, key_token = api_key
    get_key_service().delete(user.principal(), handle)
    assert consumer["rest"].get("/orders", headers={"Authorization": key_token}).json() == (
        UNAUTHORIZED_BODY
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


# Route scopes (CONTRACT section 7): GET /orders needs orders:read, POST orders:write.


@pytest.mark.parametrize("fixture", ["consumer", "cached_consumer"])
@pytest.mark.parametrize("first", ["GET", "POST"])
def test_read_key_may_list_orders_and_never_create_one(request, user, fixture, first):
    """Whichever route is asked first (and so cached), the other keeps its own answer."""
    apis = request.getfixturevalue(fixture)
    _, key_token = make_key(user, ["orders:read"])
    headers = {"Authorization": key_token}
    for method in (first, "POST" if first == "GET" else "GET"):
        rest = apis["rest"].request(method, "/orders", headers=headers)
        http = apis["http"].request(method, "/orders", headers=headers)
        if method == "GET":
            assert orders(rest, "rest")["scopes"] == "orders:read"
            assert orders(http, "http")["scopes"] == "orders:read"
        else:
            assert refusal(rest) == PERMISSION_DENIED
            assert (http.status_code, http.json()) == (403, HTTP_FORBIDDEN)


@pytest.mark.parametrize("fixture", ["consumer", "cached_consumer"])
def test_write_key_may_create_orders_and_not_list_them(request, user, fixture):
    apis = request.getfixturevalue(fixture)
    _, key_token = make_key(user, ["orders:write"])
    headers = {"Authorization": key_token}
    for kind in ("rest", "http"):
        created = apis[kind].post("/orders", headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["order"] == {"status": "created"}
        assert apis[kind].get("/orders", headers=headers).status_code == 403


@pytest.mark.parametrize("key_scopes", [["*"], ["orders:*"], ["orders:read", "orders:write"]])
def test_broad_keys_reach_both_routes(consumer, user, key_scopes):
    _, key_token = make_key(user, key_scopes)
    for kind in ("rest", "http"):
        for method, status in (("GET", 200), ("POST", 201)):
            response = consumer[kind].request(
                method, "/orders", headers={"Authorization": key_token}
            )
            assert response.status_code == status, (kind, method, response.text)


def test_other_scopes_open_no_route(consumer, user):
    _, key_token = make_key(user, ["invoices:read", "gatekey:keys"])
    for kind in ("rest", "http"):
        for method in ("GET", "POST"):
            response = consumer[kind].request(
                method, "/orders", headers={"Authorization": key_token}
            )
            assert response.status_code == 403, (kind, method)


def test_read_key_is_refused_on_every_gatekey_management_route(api, user):
    """The same orders:read key gets nothing from gatekey's own management routes."""
    _, key_token = make_key(user, ["orders:read"])
    headers = {"Authorization": key_token}
    for method, path in [
        ("GET", "/user/keys"),
        ("POST", "/user/keys"),
        ("GET", "/user/keys/anything"),
        ("PATCH", "/user/keys/anything"),
        ("DELETE", "/user/keys/anything"),
        ("POST", "/user/keys/anything/rotate"),
        ("GET", "/user/sessions"),
        ("DELETE", "/user/sessions/00000000-0000-0000-0000-000000000000"),
        ("GET", "/account/bots"),
        ("POST", "/account/bots"),
    ]:
        response = api.request(method, path, headers=headers, json={})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["errors"][0]["code"] == "permission_denied"


# Route scopes are exact per route (CONTRACT 8b): GET /orders/{id} needs orders:read and
# GET /orders/{id}/refunds refunds:read. In an execute-api ARN IAM's `*` also matches
# `/`, so an allow for `GET/orders/*` alone would open the refunds too.

NESTED_PATHS = ("/orders/42", "/orders/42/refunds", "/orders/7/refunds", "/orders/7")


@pytest.mark.parametrize(
    "fixture", ["consumer", "cached_consumer", "iam_consumer", "cached_iam_consumer"]
)
@pytest.mark.parametrize(
    ("key_scopes", "opened"),
    [
        (["orders:read"], {"/orders/42", "/orders/7"}),
        (["refunds:read"], {"/orders/42/refunds", "/orders/7/refunds"}),
        (["orders:read", "refunds:read"], set(NESTED_PATHS)),
    ],
)
def test_a_route_scope_never_opens_a_nested_route(request, user, fixture, key_scopes, opened):
    """Asked in either order (so that, with the cache on, each route's answer may come
    from another route's cached policy), each route answers for its own scope."""
    apis = request.getfixturevalue(fixture)
    for paths in (NESTED_PATHS, NESTED_PATHS[::-1]):
        _, key_token = make_key(user, key_scopes)
        for kind in ("rest", "http"):
            for path in paths:
                response = apis[kind].get(path, headers={"Authorization": key_token})
                if path not in opened:
                    if kind == "rest":
                        assert refusal(response) == PERMISSION_DENIED, path
                    else:
                        assert (response.status_code, response.json()) == (403, HTTP_FORBIDDEN)
                    continue
                assert response.status_code == 200, (kind, path, response.text)
                body = response.json()
                if path.endswith("/refunds"):
                    assert (body["refunds"], body["order_id"]) == ([], path.split("/")[2])
                else:
                    assert body["order"] == {"id": path.split("/")[2]}


# Usage limits (CONTRACT section 9): they count authorizer calls. GET /reports is on an
# API whose authorizer cache is 0, so every request counts; the orders APIs cache.


def metered_key(api, token, **fields):
    """A key created through gatekey's own API with the given section 9 fields."""
    handle = f"metered-{uuid.uuid4().hex[:8]}"
    response = api.post("/user/keys", token=token, json={"handle": handle, **fields})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def get_from(url, source_ip, key_token):
    """GET `url` from another loopback address (any of 127.0.0.0/8 is this machine)."""

    class FromAddress(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["source_address"] = (source_ip, 0)
            super().init_poolmanager(*args, **kwargs)

    with requests.Session() as session:
        session.mount("http://", FromAddress())
        return session.get(url, headers={"Authorization": key_token}, timeout=10)


def test_metered_route_counts_every_request_and_refuses_past_the_limit(consumer, api, token):
    key_token = metered_key(api, token, ratelimit={"limit": 3, "window_seconds": 3600})
    headers = {"Authorization": key_token}
    for _ in range(3):
        response = consumer["reports"].get("/reports", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["reports"] == []
    refused = consumer["reports"].get("/reports", headers=headers)
    status, code, extra = refusal(refused)
    assert (status, code) == (403, "rate_limited")
    assert 0 < extra["retry_after"] <= 3600


def test_spent_credits_are_usage_exceeded_with_no_retry_without_refill(consumer, api, token):
    key_token = metered_key(api, token, credits={"remaining": 2, "refill": None})
    headers = {"Authorization": key_token}
    statuses = [consumer["reports"].get("/reports", headers=headers).status_code for _ in range(2)]
    assert statuses == [200, 200]
    assert refusal(consumer["reports"].get("/reports", headers=headers)) == (
        403,
        "usage_exceeded",
        {"retry_after": None},
    )


def test_meta_reaches_the_metered_backend(consumer, api, token):
    key_token = metered_key(api, token, meta={"plan": "pro", "seats": 3})
    response = consumer["reports"].get("/reports", headers={"Authorization": key_token})
    assert response.status_code == 200, response.text
    assert response.json()["meta"] == {"plan": "pro", "seats": 3}


def test_a_key_outside_its_networks_is_ip_not_allowed(consumer, api, token):
    key_token = metered_key(api, token, allowed_ips=["127.0.0.2/32"])
    url = consumer["reports"].base_url + "/reports"
    assert get_from(url, "127.0.0.2", key_token).status_code == 200
    assert refusal(get_from(url, "127.0.0.1", key_token)) == (403, "ip_not_allowed", None)


def test_cached_allows_are_not_counted(cached_consumer, api, token):
    """What docs/authorizer.md warns of: behind a cache, one authorization serves many
    requests, so a limit of 2 lets every cached request through."""
    key_token = metered_key(api, token, ratelimit={"limit": 2, "window_seconds": 3600})
    headers = {"Authorization": key_token}
    for _ in range(5):
        assert cached_consumer["rest"].get("/orders", headers=headers).status_code == 200


def test_cached_answers_are_kept_per_source_address(cached_consumer, api, token):
    """The orders APIs put the source address in their identity sources: a cached allow
    from a permitted address is never replayed to another one."""
    key_token = metered_key(api, token, allowed_ips=["127.0.0.2/32"])
    rest = cached_consumer["rest"].base_url + "/orders"
    http = cached_consumer["http"].base_url + "/orders"
    assert get_from(rest, "127.0.0.2", key_token).status_code == 200
    assert refusal(get_from(rest, "127.0.0.1", key_token)) == (403, "ip_not_allowed", None)
    assert get_from(http, "127.0.0.2", key_token).status_code == 200
    assert get_from(http, "127.0.0.1", key_token).json() == HTTP_FORBIDDEN
