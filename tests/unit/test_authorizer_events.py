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
