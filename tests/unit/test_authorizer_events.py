import json
from pathlib import Path

import pytest

from gatekey.edges import authorizer_events
from gatekey.errors import InvalidToken, RateLimited, UsageExceeded
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
        "error_extra": "null",
    }
    assert json.dumps(response)


def test_a_usage_refusal_names_its_wait_in_the_deny_context():
    request = authorizer_events.AuthorizerRequest(
        "REQUEST", "t", "ua", "arn:aws:execute-api:r:1:a/s/GET/x"
    )
    response = authorizer_events.deny(request, RateLimited(12), simple=False)
    assert response["context"]["error_code"] == "rate_limited"
    assert json.loads(response["context"]["error_extra"]) == {"retry_after": 12}


def test_gatekeys_own_api_gets_the_refusal_as_an_allow_without_a_principal():
    event = {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:r:1:a/s/GET/user",
        "headers": {"Authorization": "t"},
        "requestContext": {"identity": {"sourceIp": "10.0.0.1"}},
        "stageVariables": {"gatekeyRefusalsToBackend": "true"},
    }
    request = authorizer_events.read_event(event)
    assert request.source_ip == "10.0.0.1"
    assert request.refusals_to_backend
    response = authorizer_events.refusal_for_backend(request, UsageExceeded(None))
    assert response["principalId"] == "refused"
    assert response["context"] == {
        "refusal_code": "usage_exceeded",
        "refusal_detail": UsageExceeded.default_detail,
        "refusal_retry_after": "",
    }
    assert "user_id" not in response["context"]


def test_route_scoped_allows_name_permission_denied_for_their_deny_statements():
    """An Allow with Deny statements (or a cached Allow reused for a route it does not
    cover) reaches ACCESS_DENIED with the allow's context: it must name the refusal."""
    request = authorizer_events.AuthorizerRequest(
        "REQUEST",
        "t",
        "ua",
        "arn:aws:execute-api:r:1:a/s/GET/orders",
        authorizer_events.parse_route_scopes("GET/orders=orders:read,POST/orders=orders:write"),
    )
    context = authorizer_events.allow(request, PRINCIPAL, simple=False)["context"]
    assert context["error_code"] == "permission_denied"
    assert context["error_extra"] == "null"


# Route scopes


ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/POST/orders"
ROUTES = "GET/orders=orders:read,POST/orders=orders:write,GET/orders/:id=orders:read,GET/health="


def key_principal(*held: str):
    from gatekey.principal import API_KEY, Principal

    return Principal("u", "a", "e", "member", False, API_KEY, scopes=held)


def rest_request(route_scopes: str | None = ROUTES, arn: str = ARN):
    from gatekey.edges.authorizer_events import read_event

    event = {"type": "REQUEST", "methodArn": arn, "headers": {"Authorization": "x"}}
    if route_scopes is not None:
        event["stageVariables"] = {"gatekeyRouteScopes": route_scopes}
    return read_event(event)


def test_route_scopes_list_exactly_the_permitted_method_arns():
    from gatekey.edges.authorizer_events import allow

    policy = allow(rest_request(), key_principal("orders:read"), simple=True)
    allowed, denied = policy["policyDocument"]["Statement"]
    stage = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1"
    assert allowed["Effect"] == "Allow"
    assert allowed["Resource"] == [
        f"{stage}/GET/health",
        f"{stage}/GET/orders",
        f"{stage}/GET/orders/?*",  # `?`: a path parameter is never empty
    ]
    # `*` also matches `/`: an id holding a `/` would be another route.
    assert (denied["Effect"], denied["Resource"]) == ("Deny", [f"{stage}/GET/orders/*/*"])


def test_a_credential_opening_no_route_gets_a_deny():
    from gatekey.edges.authorizer_events import allow

    request = rest_request("POST/orders=orders:write")
    policy = allow(request, key_principal("orders:read"), simple=True)
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert policy["context"]["error_code"] == "permission_denied"


def test_without_route_scopes_the_whole_stage_is_allowed():
    from gatekey.edges.authorizer_events import allow

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
    from gatekey.edges.authorizer_events import allow, read_event

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
    [
        "orders=orders:read",
        "get/orders=orders:read",
        "GET/orders=Orders",
        "GET/x",
        "GET/orders/?=orders:read",  # `?` would be an IAM wildcard in the policy
        "GET/orders=orders:read," * 23,  # over 512 characters, API Gateway's limit
    ],
)
def test_malformed_route_scopes_are_a_configuration_error(bad):
    from gatekey.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        rest_request(bad)


# Route scopes are exact per route (CONTRACT 8b): in an execute-api ARN IAM's `*`
# matches any characters, `/` included, so the policy must deny what its patterns
# reach beyond the permitted routes. Each policy is evaluated as API Gateway does
# (explicit Deny wins) against the ARN of every request that may reuse it from the
# authorizer cache, including the request it was computed for.

STAGE = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1"
NESTED = "GET/orders/:id=orders:read,GET/orders/:id/refunds=refunds:read,POST/orders=orders:write"
NESTED_REQUESTS = ("GET/orders/42", "GET/orders/42/refunds", "POST/orders")


def decide(policy: dict, tail: str) -> str:
    from gatekey_local.authorizers import evaluate_policy

    return evaluate_policy(policy["policyDocument"]["Statement"], f"{STAGE}/{tail}")


def route_policy(route_scopes: str, tail: str, held: tuple[str, ...], kind: str = "rest"):
    """The authorizer's answer for a request to `tail`, on a REST API or an HTTP API
    answered with IAM policies."""
    from gatekey.edges.authorizer_events import allow, read_event

    event: dict = {"stageVariables": {"gatekeyRouteScopes": route_scopes}}
    if kind == "rest":
        event |= {"type": "REQUEST", "methodArn": f"{STAGE}/{tail}", "headers": {}}
    else:
        method, _, path = tail.partition("/")
        event |= {"version": "2.0", "routeArn": f"{STAGE}/{tail}", "routeKey": f"{method} /"}
        event["routeKey"] += path
    return allow(read_event(event), key_principal(*held), simple=False)


@pytest.mark.parametrize("kind", ["rest", "http"])
@pytest.mark.parametrize("first", NESTED_REQUESTS)
@pytest.mark.parametrize(
    ("held", "opened"),
    [
        (("orders:read",), {"GET/orders/42"}),
        (("refunds:read",), {"GET/orders/42/refunds"}),
        (("orders:read", "refunds:read"), {"GET/orders/42", "GET/orders/42/refunds"}),
        (("orders:read", "orders:write"), {"GET/orders/42", "POST/orders"}),
        (("*",), set(NESTED_REQUESTS)),
    ],
)
def test_a_route_scope_never_opens_a_nested_route(kind, first, held, opened):
    policy = route_policy(NESTED, first, held, kind)
    decisions = {tail: decide(policy, tail) == "allow" for tail in NESTED_REQUESTS}
    assert decisions == {tail: tail in opened for tail in NESTED_REQUESTS}


@pytest.mark.parametrize(
    "tail",
    [
        "GET/orders/4/2",  # an "id" holding a `/`
        "GET/orders/",  # an empty id
        "GET/orders/42/refunds/7",
        "GET/orders/42/notes",  # not declared: refused to everyone
    ],
)
def test_a_parameter_is_one_whole_segment(tail):
    policy = route_policy(NESTED, "GET/orders/42", ("orders:read",))
    assert decide(policy, tail) != "allow"
    # ...and a request for that ARN itself is refused whatever the key holds.
    assert decide(route_policy(NESTED, tail, ("*",)), tail) != "allow"


def test_any_stands_for_one_method_never_for_a_path():
    routes = "ANY/orders=orders:read,GET/users/:id/orders=users:read"
    policy = route_policy(routes, "PUT/orders", ("orders:read",))
    assert decide(policy, "PUT/orders") == decide(policy, "DELETE/orders") == "allow"
    assert decide(policy, "GET/users/7/orders") == "explicit_deny"


def test_a_greedy_parameter_opens_every_path_below_it():
    policy = route_policy("GET/files/:path+=files:read", "GET/files/a/b/c", ("files:read",))
    assert decide(policy, "GET/files/a/b/c") == decide(policy, "GET/files/a") == "allow"
    assert decide(policy, "GET/other/a") == "implicit_deny"


def test_overlapping_routes_fail_closed():
    """`GET /a/{x}/b` is refused, and its pattern `GET/a/?*/b` also matches the
    permitted `GET /a/{x}/{y}/b`: the Deny stays (docs/authorizer.md)."""
    routes = "GET/a/:x=one:read,GET/a/:x/b=two:read,GET/a/:x/:y/b=one:read"
    policy = route_policy(routes, "GET/a/1", ("one:read",))
    assert decide(policy, "GET/a/1") == "allow"
    assert decide(policy, "GET/a/1/b") == "explicit_deny"
    assert decide(policy, "GET/a/1/2/b") == "explicit_deny"  # less access, never more


def test_the_policy_of_the_longest_declaration_stays_small():
    """At most one resource per declared route and one per path parameter: a policy
    for the longest declaration a stage variable holds (512 characters) stays well
    under 8 KB, the only authorizer result size API Gateway documents (WebSocket)."""
    entries = [f"GET/r{n:02}/:a/:b/:c=s{n:02}:read" for n in range(40)]
    routes = ",".join(entries)
    while len(routes) > 512:
        entries.pop()
        routes = ",".join(entries)
    held = tuple(f"s{n:02}:read" for n in range(0, len(entries), 2))
    policy = route_policy(routes, "GET/r00/1/2/3", held)
    assert len(json.dumps(policy["policyDocument"])) < 8 * 1024
