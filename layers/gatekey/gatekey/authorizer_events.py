"""Reads API Gateway authorizer events and writes their responses.

Handles REST `TOKEN` and `REQUEST` events (IAM policy responses) and HTTP API payload
2.0 events (simple responses, or IAM policies when configured). On allow, the policy
covers the whole stage, so a cached result never denies the caller's next route.

Route scopes: an API that attaches the authorizer may declare, in the stage variable
`gatekeyRouteScopes`, which scope each route needs (docs/authorizer.md):

    GET/orders=orders:read,POST/orders=orders:write,GET/orders/:id=orders:read

Then an allow lists exactly the method ARNs the credential may call (so a cached
policy never opens a route it was not computed for), and a simple HTTP API answer
is computed for the event's own route (its `routeKey` must be an identity source).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gatekey import scopes
from gatekey.errors import ConfigurationError, GatekeyError, PermissionDenied
from gatekey.principal import Principal

ANONYMOUS = "anonymous"
TOKEN = "TOKEN"
REQUEST = "REQUEST"
HTTP = "HTTP"
ROUTE_SCOPES_VARIABLE = "gatekeyRouteScopes"
MAX_ROUTE_SCOPES_LENGTH = 2048  # API Gateway's own limit on a stage variable's value


@dataclass(frozen=True)
class RouteScope:
    """One declared route (`GET`, `/orders/:id`) and the scope it needs ("" = none)."""

    method: str
    path: str
    scope: str

    def arn(self, stage_arn: str) -> str:
        """The method ARN pattern of this route under `arn:...:api-id/stage`."""
        method = "*" if self.method == "ANY" else self.method
        segments = ["*" if part.startswith(":") else part for part in self.path.split("/")[1:]]
        return f"{stage_arn}/{method}/{'/'.join(segments)}"

    def matches_route_key(self, route_key: str) -> bool:
        """Whether an HTTP API `routeKey` (`GET /orders/{id}`) is this route."""
        method, _, path = route_key.partition(" ")
        if self.method not in ("ANY", method):
            return False
        declared, actual = self.path.split("/"), path.split("/")
        return len(declared) == len(actual) and all(
            mine == theirs or (mine.startswith(":") and theirs.startswith("{"))
            for mine, theirs in zip(declared, actual, strict=True)
        )


@dataclass(frozen=True)
class AuthorizerRequest:
    kind: str  # TOKEN, REQUEST or HTTP
    authorization: str | None
    user_agent: str | None
    resource_arn: str
    route_scopes: tuple[RouteScope, ...] | None = None
    route_key: str | None = None


def parse_route_scopes(text: str) -> tuple[RouteScope, ...]:
    """`METHOD/path=scope,...` as a stage variable allows it (no spaces, braces or `*`)."""
    if len(text) > MAX_ROUTE_SCOPES_LENGTH:
        raise ConfigurationError(f"{ROUTE_SCOPES_VARIABLE} is longer than a stage variable")
    routes = []
    for entry in filter(None, text.split(",")):
        route, separator, scope = entry.partition("=")
        method, slash, path = route.partition("/")
        if not separator or not slash or not method.isalpha() or not method.isupper():
            raise ConfigurationError(f"{ROUTE_SCOPES_VARIABLE}: bad entry {entry!r}")
        if scope and scopes.problem(scope):
            raise ConfigurationError(f"{ROUTE_SCOPES_VARIABLE}: bad scope {scope!r}")
        routes.append(RouteScope(method, "/" + path, scope))
    return tuple(routes)


def _route_scopes(event: dict[str, Any]) -> tuple[RouteScope, ...] | None:
    text = (event.get("stageVariables") or {}).get(ROUTE_SCOPES_VARIABLE)
    return None if text is None else parse_route_scopes(str(text))


def _header(headers: dict[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return None if value is None else str(value)
    return None


def read_event(event: dict[str, Any]) -> AuthorizerRequest:
    """The credential, User-Agent and resource of any supported authorizer event."""
    if event.get("version") == "2.0":
        headers = event.get("headers") or {}
        identity = event.get("identitySource") or []
        authorization = _header(headers, "authorization")
        if authorization is None and identity:
            authorization = str(identity[0])
        return AuthorizerRequest(
            HTTP,
            authorization,
            _header(headers, "user-agent"),
            event.get("routeArn", ""),
            _route_scopes(event),
            event.get("routeKey"),
        )
    if event.get("type") == "TOKEN":
        return AuthorizerRequest(TOKEN, event.get("authorizationToken"), None, event["methodArn"])
    headers = event.get("headers") or {}
    return AuthorizerRequest(
        REQUEST,
        _header(headers, "authorization"),
        _header(headers, "user-agent"),
        event["methodArn"],
        _route_scopes(event),
    )


def stage_arn(resource_arn: str) -> str:
    """`arn:...:api-id/stage/GET/user` -> `arn:...:api-id/stage`."""
    prefix, _, path = resource_arn.partition(":execute-api:")
    if not path:
        return resource_arn
    parts = path.split("/")
    return f"{prefix}:execute-api:{'/'.join(parts[:2])}"


def stage_wildcard(resource_arn: str) -> str:
    """`arn:...:api-id/stage/GET/user` -> `arn:...:api-id/stage/*`: every route of the stage."""
    if ":execute-api:" not in resource_arn:
        return resource_arn
    return stage_arn(resource_arn) + "/*"


def _policy(
    principal_id: str, effect: str, resources: list[str], context: dict[str, Any]
) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}
            ],
        },
        "context": context,
    }


def permitted_routes(request: AuthorizerRequest, principal: Principal) -> list[RouteScope]:
    """The declared routes whose scope the principal holds."""
    return [
        route
        for route in request.route_scopes or ()
        if not route.scope or principal.has_scope(route.scope)
    ]


def allow(request: AuthorizerRequest, principal: Principal, *, simple: bool) -> dict[str, Any]:
    """An allow for the whole stage, or, with route scopes, for exactly the routes the
    credential's scopes open; a credential that opens none gets a Deny (403)."""
    context = principal.to_context()
    if request.route_scopes is None:
        if request.kind == HTTP and simple:
            return {"isAuthorized": True, "context": context}
        return _policy(principal.user_id, "Allow", [stage_wildcard(request.resource_arn)], context)
    routes = permitted_routes(request, principal)
    if request.kind == HTTP and simple:
        if any(route.matches_route_key(request.route_key or "") for route in routes):
            return {"isAuthorized": True, "context": context}
        return deny(request, PermissionDenied(), simple=True)
    if not routes:
        return deny(request, PermissionDenied(), simple=simple)
    stage = stage_arn(request.resource_arn)
    resources = sorted({route.arn(stage) for route in routes})
    return _policy(principal.user_id, "Allow", resources, context)


def deny(request: AuthorizerRequest, error: GatekeyError, *, simple: bool) -> dict[str, Any]:
    """A denial whose context lets the gateway response name the reason."""
    context = {"error_code": error.code, "error_detail": error.detail}
    if request.kind == HTTP and simple:
        return {"isAuthorized": False, "context": context}
    return _policy(ANONYMOUS, "Deny", [stage_wildcard(request.resource_arn)], context)
