import json
from pathlib import Path

import pytest

from gatekey import authorizer_events
from gatekey.errors import InvalidToken
from gatekey.principal import API_KEY, Principal

EVENTS = Path(__file__).resolve().parents[2] / "events"
PRINCIPAL = Principal(
    user_id="u1",
    account_id="a1",
    email="e@example.com",
    role="member",
    is_bot=False,
    token_type=API_KEY,
    key_handle="ci",
)


def test_stage_wildcard_covers_every_route_of_the_stage():
    arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/GET/user/keys"
    assert authorizer_events.stage_wildcard(arn) == (
        "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/*"
    )


def test_request_event_reads_headers_case_insensitively():
    event = {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:1:api/v1/GET/",
        "headers": {"authorization": "Bearer x", "USER-AGENT": "ua"},
    }
    request = authorizer_events.read_event(event)
    assert (request.kind, request.authorization, request.user_agent) == (
        "REQUEST",
        "Bearer x",
        "ua",
    )


def test_token_event_has_no_user_agent():
    event = {"type": "TOKEN", "authorizationToken": "gk_x", "methodArn": "arn:x"}
    request = authorizer_events.read_event(event)
    assert (request.kind, request.authorization, request.user_agent) == ("TOKEN", "gk_x", None)


def test_http_api_event_uses_route_arn():
    event = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:1:api/$default/GET/items",
        "identitySource": ["Bearer y"],
        "headers": {"user-agent": "ua"},
    }
    request = authorizer_events.read_event(event)
    assert (request.kind, request.authorization) == ("HTTP", "Bearer y")


@pytest.mark.parametrize("simple", [True, False])
def test_http_allow_is_simple_or_iam(simple):
    request = authorizer_events.AuthorizerRequest(
        "HTTP", "t", "ua", "arn:aws:execute-api:r:1:a/s/GET/x"
    )
    response = authorizer_events.allow(request, PRINCIPAL, simple=simple)
    if simple:
        assert response == {"isAuthorized": True, "context": PRINCIPAL.to_context()}
    else:
        assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_rest_deny_carries_the_reason_for_the_gateway_response():
    request = authorizer_events.AuthorizerRequest(
        "REQUEST", "t", "ua", "arn:aws:execute-api:r:1:a/s/GET/x"
    )
    response = authorizer_events.deny(request, InvalidToken(), simple=True)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert response["context"] == {
        "error_code": "invalid_token",
        "error_detail": "The provided token is expired or invalid.",
    }
    assert json.dumps(response)


# Route scopes


ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/POST/orders"
ROUTES = "GET/orders=orders:read,POST/orders=orders:write,GET/orders/:id=orders:read,GET/health="


def key_principal(*held: str):
    from gatekey.principal import API_KEY, Principal

    return Principal("u", "a", "e", "member", False, API_KEY, scopes=held)


def rest_request(route_scopes: str | None = ROUTES, arn: str = ARN):
    from gatekey.authorizer_events import read_event

    event = {"type": "REQUEST", "methodArn": arn, "headers": {"Authorization": "x"}}
    if route_scopes is not None:
        event["stageVariables"] = {"gatekeyRouteScopes": route_scopes}
    return read_event(event)


def test_route_scopes_list_exactly_the_permitted_method_arns():
    from gatekey.authorizer_events import allow

    policy = allow(rest_request(), key_principal("orders:read"), simple=True)
    (statement,) = policy["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == [
        "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/health",
        "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/orders",
        "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/orders/*",
    ]


def test_a_credential_opening_no_route_gets_a_deny():
    from gatekey.authorizer_events import allow

    request = rest_request("POST/orders=orders:write")
    policy = allow(request, key_principal("orders:read"), simple=True)
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert policy["context"]["error_code"] == "permission_denied"


def test_without_route_scopes_the_whole_stage_is_allowed():
    from gatekey.authorizer_events import allow

    policy = allow(rest_request(None), key_principal("orders:read"), simple=True)
    assert policy["policyDocument"]["Statement"][0]["Resource"] == [
        "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/*"
    ]


@pytest.mark.parametrize(
    ("route_key", "held", "authorized"),
    [
        ("GET /orders", ("orders:read",), True),
        ("POST /orders", ("orders:read",), False),
        ("POST /orders", ("orders:*",), True),
        ("GET /orders/{id}", ("orders:read",), True),
        ("GET /health", (), True),
        ("DELETE /orders", ("*",), False),  # undeclared: refused to everyone
    ],
)
def test_http_simple_answers_are_for_the_events_own_route(route_key, held, authorized):
    from gatekey.authorizer_events import allow, read_event

    event = {
        "version": "2.0",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:xyz/$default/GET/orders",
        "routeKey": route_key,
        "headers": {"authorization": "x"},
        "stageVariables": {"gatekeyRouteScopes": ROUTES},
    }
    answer = allow(read_event(event), key_principal(*held), simple=True)
    assert answer["isAuthorized"] is authorized


@pytest.mark.parametrize(
    "bad",
    ["orders=orders:read", "get/orders=orders:read", "GET/orders=Orders", "GET/x", "x" * 3000],
)
def test_malformed_route_scopes_are_a_configuration_error(bad):
    from gatekey.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        rest_request(bad)
