"""Reading a template's APIs: ``AWS::Serverless::Api`` and ``AWS::Serverless::HttpApi``
resources (and the implicit ones), their Lambda authorizers (and an HTTP API's JWT
authorizers), gateway responses and stage variables, and the ``Api``/``HttpApi`` events
of functions as routes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gatekey_local.cloudformation import Resolver, TemplateError, Unresolvable
from gatekey_local.sam_model import (
    DEFAULT_ROUTE,
    IMPLICIT_API_ID,
    IMPLICIT_HTTP_API_ID,
    Api,
    Authorizer,
    GatewayResponse,
    JwtAuthorizer,
    Route,
)

_SAM_DEFAULT_REAUTHORIZE_SECONDS = 300
# An HTTP API authorizer without ReauthorizeEvery has no AuthorizerResultTtlInSeconds,
# which API Gateway v2 takes as 0: no caching.
_HTTP_API_DEFAULT_REAUTHORIZE_SECONDS = 0


def apis_and_routes(
    resources: Mapping[str, Any], globals_section: Mapping[str, Any], resolver: Resolver
) -> tuple[dict[str, Api], tuple[Route, ...]]:
    """Every API of the template (implicit ones included) and every route, checked:
    a route's API and authorizer exist."""
    apis: dict[str, Api] = {}
    for logical_id, resource in resources.items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Api":
            apis[logical_id] = _api(logical_id, properties, globals_section, resolver)
        elif resource.get("Type") == "AWS::Serverless::HttpApi":
            apis[logical_id] = _http_api(logical_id, properties, globals_section, resolver)
    routes = tuple(_routes(resources, resolver))
    if any(route.api_id == IMPLICIT_API_ID for route in routes):
        apis[IMPLICIT_API_ID] = _api(
            IMPLICIT_API_ID, {"StageName": "Prod"}, globals_section, resolver
        )
    if any(route.api_id == IMPLICIT_HTTP_API_ID for route in routes):
        apis[IMPLICIT_HTTP_API_ID] = _http_api(IMPLICIT_HTTP_API_ID, {}, globals_section, resolver)
    for route in routes:
        _check_route(route, apis)
    return apis, routes


def _api(
    logical_id: str,
    own_properties: Mapping[str, Any],
    globals_section: Mapping[str, Any],
    resolver: Resolver,
) -> Api:
    properties = {**(globals_section.get("Api") or {}), **own_properties}
    default_authorizer, authorizers = _api_authorizers(
        logical_id, properties, resolver, _authorizer, "is not defined"
    )
    responses = {
        response_type: _gateway_response(definition, resolver)
        for response_type, definition in (properties.get("GatewayResponses") or {}).items()
    }
    return Api(
        logical_id=logical_id,
        stage_name=_stage_name(logical_id, properties, resolver, "Prod"),
        default_authorizer=default_authorizer,
        authorizers=authorizers,
        gateway_responses=responses,
        stage_variables=_stage_variables(logical_id, properties.get("Variables"), resolver),
    )


# API Gateway's rules for stage variables (names and values), enforced here as in AWS.
_STAGE_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_STAGE_VARIABLE_VALUE = re.compile(r"^[A-Za-z0-9\-._~:/?#&=,]{1,2048}$")
ROUTE_SCOPES_VARIABLE = "gatekeyRouteScopes"
# `Identity.Context` names the local APIs can evaluate. SAM turns each into the identity
# source `context.<name>` (REST) or `$context.<name>` (HTTP API), after the headers.
_REST_IDENTITY_CONTEXT = frozenset(
    {"identity.sourceIp", "identity.userAgent", "httpMethod", "resourcePath", "stage"}
)
_HTTP_IDENTITY_CONTEXT = frozenset(
    {"identity.sourceIp", "identity.userAgent", "httpMethod", "routeKey", "stage"}
)


def _stage_variables(logical_id: str, raw: Any, resolver: Resolver) -> dict[str, str]:
    variables: dict[str, str] = {}
    for name, value in (raw or {}).items():
        text = resolver.text(value)
        if not _STAGE_VARIABLE_NAME.match(name) or not _STAGE_VARIABLE_VALUE.match(text):
            raise TemplateError(
                f"{logical_id}: stage variable {name} is not valid for API Gateway (names "
                "[A-Za-z0-9_]; values 1-2048 of A-Za-z0-9-._~:/?#&=,)"
            )
        variables[name] = text
    return variables


def _api_authorizers(
    logical_id: str,
    properties: Mapping[str, Any],
    resolver: Resolver,
    read_authorizer: Callable[[str, str, Mapping[str, Any], Resolver], Authorizer],
    undefined_default: str,
) -> tuple[str | None, dict[str, Authorizer]]:
    """An API's `Auth`: its authorizers by name and the default one, which must exist."""
    auth: Mapping[str, Any] = properties.get("Auth") or {}
    authorizers = {
        name: read_authorizer(logical_id, name, definition, resolver)
        for name, definition in (auth.get("Authorizers") or {}).items()
    }
    default_authorizer = auth.get("DefaultAuthorizer")
    if default_authorizer is not None and default_authorizer not in authorizers:
        raise TemplateError(
            f"{logical_id}: DefaultAuthorizer {default_authorizer} {undefined_default}"
        )
    return default_authorizer, authorizers


def _stage_name(
    logical_id: str, properties: Mapping[str, Any], resolver: Resolver, default: str
) -> str:
    try:
        return resolver.text(properties.get("StageName", default))
    except Unresolvable as exc:
        raise TemplateError(f"{logical_id}: cannot resolve StageName ({exc})") from exc


def _authorizer(
    api_id: str, name: str, definition: Mapping[str, Any], resolver: Resolver
) -> Authorizer:
    if "FunctionArn" not in definition:
        raise TemplateError(f"{api_id}: authorizer {name} is not a Lambda authorizer")
    payload_type = definition.get("FunctionPayloadType", "TOKEN")
    if payload_type not in ("TOKEN", "REQUEST"):
        raise TemplateError(f"{api_id}: authorizer {name} has payload type {payload_type!r}")
    identity: Mapping[str, Any] = definition.get("Identity") or {}
    context_sources: tuple[str, ...] = ()
    if payload_type == "TOKEN":
        headers: tuple[str, ...] = (identity.get("Header", "Authorization"),)
    else:
        headers = tuple(identity.get("Headers") or ())
        context_sources = _identity_context(api_id, name, identity, _REST_IDENTITY_CONTEXT)
    ttl = identity.get("ReauthorizeEvery", _SAM_DEFAULT_REAUTHORIZE_SECONDS)
    return Authorizer(
        name=name,
        function_id=_function_id_of_arn(definition["FunctionArn"], resolver),
        payload_type=payload_type,
        identity_headers=headers,
        validation_expression=identity.get("ValidationExpression"),
        ttl_seconds=int(resolver.text(ttl)),
        identity_context=context_sources,
    )


def _identity_context(
    api_id: str, name: str, identity: Mapping[str, Any], supported: frozenset[str]
) -> tuple[str, ...]:
    """The ``Identity.Context`` names of a REQUEST authorizer, in template order (SAM
    keeps it: the identity source, and so the cache key, is Headers then Context);
    refuses sources the local API cannot evaluate rather than ignoring them."""
    other_sources = sorted({"QueryStrings", "StageVariables"} & set(identity))
    context_sources = tuple(identity.get("Context") or ())
    unknown_context = sorted(set(context_sources) - supported)
    if other_sources or unknown_context:
        raise TemplateError(
            f"{api_id}: authorizer {name} uses identity sources the local API does not "
            f"emulate: {', '.join(other_sources + unknown_context)} (only Headers and "
            f"Context {', '.join(sorted(supported))})"
        )
    return context_sources


def _http_api(
    logical_id: str,
    own_properties: Mapping[str, Any],
    globals_section: Mapping[str, Any],
    resolver: Resolver,
) -> Api:
    properties = {**(globals_section.get("HttpApi") or {}), **own_properties}
    auth: Mapping[str, Any] = properties.get("Auth") or {}
    definitions: Mapping[str, Any] = auth.get("Authorizers") or {}
    jwt_authorizers = {
        name: _jwt_authorizer(logical_id, name, definition, resolver)
        for name, definition in definitions.items()
        if "JwtConfiguration" in definition
    }
    default_name = auth.get("DefaultAuthorizer")
    lambda_auth = {
        **auth,
        "Authorizers": {
            name: definition
            for name, definition in definitions.items()
            if name not in jwt_authorizers
        },
        "DefaultAuthorizer": None if default_name in jwt_authorizers else default_name,
    }
    default_authorizer, authorizers = _api_authorizers(
        logical_id,
        {**properties, "Auth": lambda_auth},
        resolver,
        _http_authorizer,
        "is not an authorizer defined on this API",
    )
    if default_name in jwt_authorizers:
        default_authorizer = default_name
    api = Api(
        logical_id=logical_id,
        stage_name=_stage_name(logical_id, properties, resolver, "$default"),
        default_authorizer=default_authorizer,
        authorizers=authorizers,
        gateway_responses={},
        protocol="HTTP",
        stage_variables=_stage_variables(logical_id, properties.get("StageVariables"), resolver),
        jwt_authorizers=jwt_authorizers,
    )
    if ROUTE_SCOPES_VARIABLE in api.stage_variables:
        for authorizer in authorizers.values():
            if (
                authorizer.simple_responses
                and authorizer.ttl_seconds > 0
                and "routeKey" not in authorizer.identity_context
            ):
                raise TemplateError(
                    f"{logical_id}: authorizer {authorizer.name} caches simple answers but "
                    "its identity sources lack $context.routeKey, so a cached allow for one "
                    "route would open every route (add Identity.Context: [routeKey])"
                )
    return api


_HEADER_IDENTITY_SOURCE = re.compile(r"\$request\.header\.([A-Za-z0-9!#$%&'*+.^_`|~-]+)")


def _jwt_authorizer(
    api_id: str, name: str, definition: Mapping[str, Any], resolver: Resolver
) -> JwtAuthorizer:
    """SAM's ``JwtConfiguration`` (``issuer``, ``audience``; CloudFormation spells them
    ``Issuer``, ``Audience``) and ``IdentitySource``, one request header."""
    where = f"{api_id}: JWT authorizer {name}"
    if "AuthorizationScopes" in definition:
        raise TemplateError(
            f"{where}: AuthorizationScopes on the authorizer are not emulated; put them on "
            "each route's Auth"
        )
    source = resolver.text(definition.get("IdentitySource", "$request.header.Authorization"))
    header = _HEADER_IDENTITY_SOURCE.fullmatch(source)
    if header is None:
        raise TemplateError(
            f"{where}: IdentitySource {source!r}; the local API emulates one $request.header.<name>"
        )
    configuration: Mapping[str, Any] = definition["JwtConfiguration"] or {}
    raw_issuer = configuration.get("issuer", configuration.get("Issuer"))
    raw_audience = configuration.get("audience", configuration.get("Audience"))
    if raw_issuer is None or not raw_audience:
        raise TemplateError(f"{where}: JwtConfiguration needs an issuer and an audience")
    try:
        issuer: str | None = resolver.text(raw_issuer)
        audience = resolver.value(raw_audience)
        audiences: tuple[str, ...] | None = tuple(
            str(item) for item in (audience if isinstance(audience, list) else [audience])
        )
    except Unresolvable:
        issuer, audiences = None, None  # an imported value: the local API says so
    return JwtAuthorizer(
        name=name, issuer=issuer, audiences=audiences, identity_header=header.group(1)
    )


def _http_authorizer(
    api_id: str, name: str, definition: Mapping[str, Any], resolver: Resolver
) -> Authorizer:
    if "FunctionArn" not in definition:
        raise TemplateError(
            f"{api_id}: authorizer {name} is neither a Lambda authorizer (FunctionArn) nor "
            "a JWT authorizer (JwtConfiguration)"
        )
    version = resolver.text(definition.get("AuthorizerPayloadFormatVersion", ""))
    if version != "2.0":
        raise TemplateError(
            f"{api_id}: authorizer {name} has AuthorizerPayloadFormatVersion {version!r}; "
            "the local HTTP API emulates payload format 2.0 only"
        )
    identity: Mapping[str, Any] = definition.get("Identity") or {}
    context_sources = _identity_context(api_id, name, identity, _HTTP_IDENTITY_CONTEXT)
    ttl = identity.get("ReauthorizeEvery", _HTTP_API_DEFAULT_REAUTHORIZE_SECONDS)
    return Authorizer(
        name=name,
        function_id=_function_id_of_arn(definition["FunctionArn"], resolver),
        payload_type="REQUEST",
        identity_headers=tuple(identity.get("Headers") or ()),
        validation_expression=None,
        ttl_seconds=int(resolver.text(ttl)),
        simple_responses=resolver.text(definition.get("EnableSimpleResponses", False)) == "true",
        identity_context=context_sources,
    )


def _function_id_of_arn(function_arn: Any, resolver: Resolver) -> str | None:
    """The logical id behind ``!GetAtt Fn.Arn``, ``!Sub ${Fn.Arn}`` or ``!Ref Fn.Alias``
    (SAM's AutoPublishAlias); None otherwise."""
    if isinstance(function_arn, dict) and isinstance(function_arn.get("Ref"), str):
        resource, _, attribute = function_arn["Ref"].partition(".")
        return resource if attribute == "Alias" else None
    if isinstance(function_arn, dict) and "Fn::GetAtt" in function_arn:
        resource, attribute = function_arn["Fn::GetAtt"]
        return str(resource) if attribute == "Arn" else None
    if isinstance(function_arn, dict) and isinstance(function_arn.get("Fn::Sub"), str):
        match = re.fullmatch(r"\$\{([A-Za-z0-9]+)\.Arn\}", function_arn["Fn::Sub"])
        return match.group(1) if match else None
    return None


def _gateway_response(definition: Mapping[str, Any], resolver: Resolver) -> GatewayResponse:
    status = definition.get("StatusCode")
    parameters: Mapping[str, Any] = definition.get("ResponseParameters") or {}
    return GatewayResponse(
        status_code=int(resolver.text(status)) if status is not None else None,
        templates={
            media_type: resolver.text(body)
            for media_type, body in (definition.get("ResponseTemplates") or {}).items()
        },
        headers={
            name: resolver.text(value) for name, value in (parameters.get("Headers") or {}).items()
        },
    )


# Event type -> (the property naming its API, that API's resource type, the implicit API)
_API_EVENTS = {
    "Api": ("RestApiId", "AWS::Serverless::Api", IMPLICIT_API_ID),
    "HttpApi": ("ApiId", "AWS::Serverless::HttpApi", IMPLICIT_HTTP_API_ID),
}


def _routes(resources: Mapping[str, Any], resolver: Resolver) -> Iterable[Route]:
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        events: Mapping[str, Any] = (resource.get("Properties") or {}).get("Events") or {}
        for event_name, event in events.items():
            event_type = event.get("Type")
            if event_type not in _API_EVENTS:
                continue
            where = f"{logical_id}.{event_name}"
            id_property, api_type, implicit_id = _API_EVENTS[event_type]
            properties: Mapping[str, Any] = event.get("Properties") or {}
            api_ref = properties.get(id_property)
            if api_ref is None:
                api_id = implicit_id
            elif isinstance(api_ref, dict) and isinstance(api_ref.get("Ref"), str):
                api_id = api_ref["Ref"]
                declared = resources.get(api_id)
                if isinstance(declared, dict) and declared.get("Type") != api_type:
                    raise TemplateError(f"{where}: {id_property} {api_id} is not an {api_type}")
            else:
                raise TemplateError(f"{where}: {id_property} must be a !Ref")
            if event_type == "HttpApi":
                path, method = _http_api_route(where, properties, resolver)
            else:
                path = resolver.text(properties["Path"])
                method = resolver.text(properties["Method"]).upper()
            auth: Mapping[str, Any] = properties.get("Auth") or {}
            scopes = resolver.value(auth.get("AuthorizationScopes") or [])
            yield Route(
                function_id=logical_id,
                api_id=api_id,
                path=path,
                method=method,
                authorizer=auth.get("Authorizer"),
                authorization_scopes=tuple(str(scope) for scope in scopes),
            )


def _http_api_route(
    where: str, properties: Mapping[str, Any], resolver: Resolver
) -> tuple[str, str]:
    """Path and method of an ``HttpApi`` event, as SAM reads them: no Path is the
    ``$default`` route, no Method is ANY."""
    version = resolver.text(properties.get("PayloadFormatVersion", "2.0"))
    if version != "2.0":
        raise TemplateError(
            f"{where}: PayloadFormatVersion {version!r}; the local HTTP API emulates 2.0 only"
        )
    if "Path" not in properties:
        return DEFAULT_ROUTE, "ANY"
    method = resolver.text(properties.get("Method", "ANY")).upper()
    return resolver.text(properties["Path"]), method


def _check_route(route: Route, apis: Mapping[str, Api]) -> None:
    api = apis.get(route.api_id)
    if api is None:
        raise TemplateError(f"{route.function_id}: API {route.api_id} is not an API here")
    where = f"{route.function_id} {route.method} {route.path}"
    if route.authorizer not in (None, "NONE") and not (
        route.authorizer in api.authorizers or route.authorizer in api.jwt_authorizers
    ):
        raise TemplateError(
            f"{where}: authorizer {route.authorizer} is not defined on {route.api_id}"
        )
    if route.authorization_scopes and api.protocol == "HTTP":
        name = route.authorizer if route.authorizer is not None else api.default_authorizer
        if name not in api.jwt_authorizers:
            # API Gateway refuses the route: scopes are for JWT authorizers only.
            raise TemplateError(
                f"{where}: AuthorizationScopes need a JWT authorizer; {name} is not one"
            )
