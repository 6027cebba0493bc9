"""The SAM model of a local run: what ``load_template`` (``template``) reads out of
``template.yaml``, already resolved.

Both ``AWS::Serverless::Api`` (REST, ``Api`` events) and ``AWS::Serverless::HttpApi``
(HTTP API, ``HttpApi`` events, payload format 2.0) are modelled, including the implicit
``ServerlessRestApi`` and ``ServerlessHttpApi`` that SAM creates for events without an
API id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gatekey.settings import DEFAULT_TABLE

IMPLICIT_API_ID = "ServerlessRestApi"
IMPLICIT_HTTP_API_ID = "ServerlessHttpApi"
DEFAULT_ROUTE = "$default"
"""The path of an HTTP API's catch-all route (an ``HttpApi`` event without Path/Method)."""


@dataclass(frozen=True)
class FunctionSource:
    """Where a handler lives: the function's code directory and its ``module.attr``."""

    code_dir: Path
    handler: str


@dataclass(frozen=True)
class Function:
    """An ``AWS::Serverless::Function`` as the local run calls it."""

    logical_id: str
    source: FunctionSource
    environment: Mapping[str, str]
    memory_mb: int
    timeout_seconds: int


@dataclass(frozen=True)
class Route:
    """One ``Api`` or ``HttpApi`` event: a method and path of an API bound to a function.

    An HTTP API's ``$default`` route has ``path`` :data:`DEFAULT_ROUTE` and method ANY.
    """

    function_id: str
    api_id: str
    path: str
    method: str
    authorizer: str | None
    authorization_scopes: tuple[str, ...] = ()
    """An HTTP API route's ``AuthorizationScopes``: a JWT authorizer lets the request in
    when the token has at least one of them."""

    @property
    def route_key(self) -> str:
        """The HTTP API route key: ``GET /orders``, or ``$default``."""
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"


@dataclass(frozen=True)
class Authorizer:
    """A Lambda authorizer of an API, with its identity sources and cache TTL.

    ``function_id`` is None when the authorizer function lives outside this template
    (an imported ARN); the caller then supplies its source explicitly. HTTP API
    authorizers are ``REQUEST`` authorizers of payload format 2.0; ``simple_responses``
    is their ``EnableSimpleResponses``.
    """

    name: str
    function_id: str | None
    payload_type: Literal["TOKEN", "REQUEST"]
    identity_headers: tuple[str, ...]
    validation_expression: str | None
    ttl_seconds: int
    simple_responses: bool = False
    identity_context: tuple[str, ...] = ()
    """``Identity.Context`` names (``identity.sourceIp``, ``routeKey``...): the identity
    sources SAM writes as ``context.<name>`` (REST) or ``$context.<name>`` (HTTP API)."""


@dataclass(frozen=True)
class JwtAuthorizer:
    """An HTTP API's JWT authorizer (``JwtConfiguration``): API Gateway itself checks the
    token against the issuer's published keys; no function is called.

    ``issuer`` and ``audiences`` are None when only AWS can resolve them (an imported
    value): the local API then answers its routes 500 and says so at start-up.
    """

    name: str
    issuer: str | None
    audiences: tuple[str, ...] | None
    identity_header: str
    """The header of ``IdentitySource`` (``$request.header.Authorization``)."""


@dataclass(frozen=True)
class GatewayResponse:
    """A customised API Gateway response (status, body templates, static headers)."""

    status_code: int | None
    templates: Mapping[str, str]
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Api:
    """An ``AWS::Serverless::Api`` or ``AWS::Serverless::HttpApi`` (or an implicit one).

    HTTP APIs have no gateway responses; their stage is ``$default`` unless named.
    """

    logical_id: str
    stage_name: str
    default_authorizer: str | None
    authorizers: Mapping[str, Authorizer]
    gateway_responses: Mapping[str, GatewayResponse]
    protocol: Literal["REST", "HTTP"] = "REST"
    stage_variables: Mapping[str, str] = field(default_factory=dict)
    jwt_authorizers: Mapping[str, JwtAuthorizer] = field(default_factory=dict)
    """An HTTP API's JWT authorizers by name (``authorizers`` holds its Lambda ones)."""


@dataclass(frozen=True)
class Table:
    """The DynamoDB table: ``create_table`` arguments (without TableName) and TTL."""

    logical_id: str
    definition: Mapping[str, Any]
    ttl_attribute: str | None


@dataclass(frozen=True)
class Template:
    """The resolved view of a SAM template for one local run."""

    path: Path
    parameters: Mapping[str, str]
    functions: Mapping[str, Function]
    apis: Mapping[str, Api]
    routes: tuple[Route, ...]
    table: Table | None
    parameter_env_vars: Mapping[str, str]
    table_name: str = DEFAULT_TABLE
    """The local name of the template's table (every ``!Ref`` of it resolves to this)."""

    def parameter_overrides_from(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Parameters whose function env var is set in ``environ``.

        A variable such as ``GATEKEY_AUTHORIZER_CACHE_SECONDS: !Ref AuthorizerCacheSeconds``
        set in the local run's environment overrides the parameter itself, so the
        authorizer cache TTL and every function see the same value.
        """
        return {
            parameter: environ[variable]
            for variable, parameter in self.parameter_env_vars.items()
            if variable in environ
        }


def effective_authorizer(route: Route, api: Api) -> Authorizer | None:
    """The Lambda authorizer API Gateway runs for ``route``: its own, else the API
    default; None when the route is public or behind a JWT authorizer."""
    name = _authorizer_name(route, api)
    return None if name is None else api.authorizers.get(name)


def effective_jwt_authorizer(route: Route, api: Api) -> JwtAuthorizer | None:
    """The JWT authorizer of ``route`` (its own, else the API default), if it has one."""
    name = _authorizer_name(route, api)
    return None if name is None else api.jwt_authorizers.get(name)


def _authorizer_name(route: Route, api: Api) -> str | None:
    name = route.authorizer if route.authorizer is not None else api.default_authorizer
    return None if name in (None, "NONE") else name
