"""Reads API Gateway authorizer events and writes their responses.

Handles REST `TOKEN` and `REQUEST` events (IAM policy responses) and HTTP API payload
2.0 events (simple responses, or IAM policies when configured). On allow, the policy
covers the whole stage, so a cached result never denies the caller's next route.

Route scopes: an API that attaches the authorizer may declare, in the stage variable
`gatekeyRouteScopes`, which scope each route needs (docs/authorizer.md):

    GET/orders=orders:read,POST/orders=orders:write,GET/orders/:id=orders:read

Then an IAM policy answer allows the ARN patterns of the routes the credential may
call and explicitly denies what those patterns would match beyond them (so a cached
policy never opens a route it was not computed for), and a simple HTTP API answer is
computed for the event's own route (its `routeKey` must be an identity source).

Why the Deny statements: in an execute-api ARN, IAM's `*` matches any run of
characters, `/` included, so `.../GET/orders/*` (for `GET /orders/{id}`) also matches
`GET /orders/42/refunds`. An explicit Deny wins over any Allow, so a policy allows
exactly: the permitted patterns, minus the declared routes the credential lacks (when
a permitted pattern reaches them), minus each parameter holding a `/` (unless that
would refuse a permitted route). When a refused route's pattern also reaches a
permitted route, the Deny stays and that permitted route is refused too: never more
access, sometimes less (docs/authorizer.md, "Overlapping routes").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gatekey import scopes
from gatekey.errors import ConfigurationError, GatekeyError, PermissionDenied, UsageRefused
from gatekey.principal import Principal

ANONYMOUS = "anonymous"
TOKEN = "TOKEN"
REQUEST = "REQUEST"
HTTP = "HTTP"
ROUTE_SCOPES_VARIABLE = "gatekeyRouteScopes"
# Set (to "true") on gatekey's own REST stage: a usage refusal is passed to the handler
# as context (which answers 429/403 itself) rather than denied, because a gateway
# response's status code is fixed per response type and gatekey's ACCESS_DENIED is 401.
# An API whose every integration does not check `refusal_code` must never set it.
REFUSALS_TO_BACKEND_VARIABLE = "gatekeyRefusalsToBackend"
REFUSED = "refused"
# API Gateway's limit on a stage variable's value, REST and HTTP APIs alike (the
# "Length, in characters, of the value in a stage variable" quota).
MAX_ROUTE_SCOPES_LENGTH = 512
# IAM wildcards (`?` one character, `*` any run, `/` included): a path parameter is
# never empty. Its `/`-holding values are denied separately (RouteScope.wider_tails).
_PARAMETER_PATTERN = "?*"


@dataclass(frozen=True)
class RouteScope:
    """One declared route (`GET`, `/orders/:id`) and the scope it needs ("" = none)."""

    method: str
    path: str
    scope: str

    def segments(self) -> tuple[str, ...]:
        """The method and path segments of its ARNs; `:name` is one whole segment
        (`ANY` is `:method`), `:name+` one or more (a greedy `{name+}`)."""
        return (":method" if self.method == "ANY" else self.method, *self.path.split("/")[1:])

    def tail(self) -> str:
        """Its ARN pattern after `arn:...:api-id/stage/`: `GET/orders/?*`."""
        return _pattern(self.segments())

    def wider_tails(self) -> tuple[str, ...]:
        """What `tail` matches beyond this route: one pattern per one-segment
        parameter, for that parameter holding a `/` (`GET/orders/*/*`)."""
        segments = self.segments()
        return tuple(
            _pattern((*segments[:index], "*/*", *segments[index + 1 :]))
            for index, segment in enumerate(segments)
            if _is_parameter(segment) and not segment.endswith("+")
        )

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


def _is_parameter(segment: str) -> bool:
    return segment.startswith(":")


def _pattern(segments: Sequence[str]) -> str:
    return "/".join(_PARAMETER_PATTERN if _is_parameter(part) else part for part in segments)


# Whether a policy pattern can match an ARN of a route: both are read as sequences of
# atoms (a character class, and whether it repeats), and a search of the pair of
# positions finds a string both accept. Classes: one character, any character, or any
# but `/`.
_ANY = "any"
_NOT_SLASH = "not /"
_Atom = tuple[str, bool]


def _pattern_atoms(pattern: str) -> tuple[_Atom, ...]:
    """IAM's `*` (any run, `/` included) and `?` (one character)."""
    return tuple((_ANY, char == "*") if char in "*?" else (char, False) for char in pattern)


def _route_atoms(route: RouteScope) -> tuple[_Atom, ...]:
    """The ARN tails a request for `route` has: a parameter is one or more characters
    other than `/` (a greedy one: any characters)."""
    atoms: list[_Atom] = []
    for index, segment in enumerate(route.segments()):
        if index:
            atoms.append(("/", False))
        if _is_parameter(segment):
            kind = _ANY if segment.endswith("+") else _NOT_SLASH
            atoms += [(kind, False), (kind, True)]
        else:
            atoms += [(char, False) for char in segment]
    return tuple(atoms)


def _compatible(first: str, second: str) -> bool:
    if _ANY in (first, second):
        return True
    if first == _NOT_SLASH or second == _NOT_SLASH:
        return "/" not in (first, second)
    return first == second


def _overlap(pattern: tuple[_Atom, ...], route: tuple[_Atom, ...]) -> bool:
    seen: set[tuple[int, int]] = set()
    todo = [(0, 0)]
    while todo:
        state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        i, j = state
        if i == len(pattern) and j == len(route):
            return True
        if i < len(pattern) and pattern[i][1]:
            todo.append((i + 1, j))
        if j < len(route) and route[j][1]:
            todo.append((i, j + 1))
        if i < len(pattern) and j < len(route) and _compatible(pattern[i][0], route[j][0]):
            todo.append((i if pattern[i][1] else i + 1, j if route[j][1] else j + 1))
    return False


@lru_cache(maxsize=4096)
def reaches(pattern: str, route: RouteScope) -> bool:
    """Whether the ARN pattern tail `pattern` matches a request for `route`."""
    return _overlap(_pattern_atoms(pattern), _route_atoms(route))


@lru_cache(maxsize=256)
def route_resources(
    declared: tuple[RouteScope, ...], permitted: tuple[RouteScope, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ARN tails to allow and to deny so that exactly the `permitted` routes open.

    Deny a refused route's pattern when a permitted pattern reaches it (even if the
    Deny also refuses a permitted route: fail closed), and each permitted pattern's
    wider matches unless one of them is a permitted route's.
    """
    allowed = sorted({route.tail() for route in permitted})
    denied = {
        route.tail()
        for route in declared
        if route not in permitted and any(reaches(tail, route) for tail in allowed)
    }
    denied.update(
        wider
        for route in permitted
        for wider in route.wider_tails()
        if not any(reaches(wider, other) for other in permitted)
    )
    return tuple(allowed), tuple(sorted(denied))


@dataclass(frozen=True)
class AuthorizerRequest:
    kind: str  # TOKEN, REQUEST or HTTP
    authorization: str | None
    user_agent: str | None
    resource_arn: str
    route_scopes: tuple[RouteScope, ...] | None = None
    route_key: str | None = None
    source_ip: str | None = None  # as API Gateway saw it; TOKEN events carry none
    refusals_to_backend: bool = False


def parse_route_scopes(text: str) -> tuple[RouteScope, ...]:
    """`METHOD/path=scope,...` as a stage variable allows it (no spaces, braces or `*`)."""
    if len(text) > MAX_ROUTE_SCOPES_LENGTH:
        raise ConfigurationError(f"{ROUTE_SCOPES_VARIABLE} is longer than a stage variable")
    routes = []
    for entry in filter(None, text.split(",")):
        route, separator, scope = entry.partition("=")
        method, slash, path = route.partition("/")
        if (
            not separator
            or not slash
            or not method.isalpha()
            or not method.isupper()
            or "?" in route  # an IAM wildcard in the policy
        ):
            raise ConfigurationError(f"{ROUTE_SCOPES_VARIABLE}: bad entry {entry!r}")
        if scope and scopes.problem(scope):
            raise ConfigurationError(f"{ROUTE_SCOPES_VARIABLE}: bad scope {scope!r}")
        routes.append(RouteScope(method, "/" + path, scope))
    return tuple(routes)


def _route_scopes(event: dict[str, Any]) -> tuple[RouteScope, ...] | None:
    text = (event.get("stageVariables") or {}).get(ROUTE_SCOPES_VARIABLE)
    return None if text is None else parse_route_scopes(str(text))


def _refusals_to_backend(event: dict[str, Any]) -> bool:
    return (event.get("stageVariables") or {}).get(REFUSALS_TO_BACKEND_VARIABLE) == "true"


def _source_ip(context: dict[str, Any] | None, part: str) -> str | None:
    value = ((context or {}).get(part) or {}).get("sourceIp")
    return str(value) if value else None


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
            _source_ip(event.get("requestContext"), "http"),
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
        source_ip=_source_ip(event.get("requestContext"), "identity"),
        refusals_to_backend=_refusals_to_backend(event),
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
    principal_id: str,
    effect: str,
    resources: list[str],
    context: dict[str, Any],
    denied: Sequence[str] = (),
) -> dict[str, Any]:
    statements = [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}]
    if denied:
        statements.append(
            {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": list(denied)}
        )
    return {
        "principalId": principal_id,
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
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
    credential's scopes open (`route_resources`); a credential that opens none gets a
    Deny (403)."""
    context: dict[str, Any] = principal.to_context()
    if request.route_scopes is not None and not (request.kind == HTTP and simple):
        # This allow's own Deny statements (and a cached copy of it) answer through
        # ACCESS_DENIED with this context: its body names the refusal.
        context.update(_denial_context(PermissionDenied()))
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
    allowed, denied = route_resources(request.route_scopes, tuple(routes))
    denied_arns = [f"{stage}/{tail}" for tail in denied]
    own_tail = request.resource_arn.removeprefix(f"{stage}/")
    own = tuple((char, False) for char in own_tail)
    if not any(_overlap(own, _route_atoms(route)) for route in routes) and any(
        _overlap(_pattern_atoms(tail), own) for tail in allowed
    ):
        # Not a route this credential may call, yet a permitted pattern reaches it (an
        # undeclared route under a parameter): refuse this very ARN as well.
        denied_arns.append(request.resource_arn)
    return _policy(
        principal.user_id,
        "Allow",
        [f"{stage}/{tail}" for tail in allowed],
        context,
        denied_arns,
    )


def _denial_context(error: GatekeyError) -> dict[str, str]:
    return {
        "error_code": error.code,
        "error_detail": error.detail,
        "error_extra": json.dumps(error.extra, separators=(",", ":")),
    }


def deny(request: AuthorizerRequest, error: GatekeyError, *, simple: bool) -> dict[str, Any]:
    """A denial whose context lets the gateway response name the reason: `error_extra`
    is JSON text, inserted as it is into the body (`null` when there is none)."""
    context = _denial_context(error)
    if request.kind == HTTP and simple:
        return {"isAuthorized": False, "context": context}
    return _policy(ANONYMOUS, "Deny", [stage_wildcard(request.resource_arn)], context)


def refusal_for_backend(request: AuthorizerRequest, error: UsageRefused) -> dict[str, Any]:
    """For an API that answers usage refusals itself (REFUSALS_TO_BACKEND_VARIABLE): an
    allow that carries only the refusal, never a principal (edges/api.py answers it)."""
    retry_after = "" if error.retry_after is None else error.retry_after
    context = {
        "refusal_code": error.code,
        "refusal_detail": error.detail,
        "refusal_retry_after": retry_after,
    }
    return _policy(REFUSED, "Allow", [stage_wildcard(request.resource_arn)], context)
