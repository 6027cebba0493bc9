"""A REST API (``AWS::Serverless::Api``): payload 1.0 events, ``TOKEN`` and ``REQUEST``
authorizers answering with IAM policies, and the template's gateway responses."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gatekey_local.authorizers import (
    UNAUTHORIZED_MESSAGE,
    AuthorizerFailed,
    PolicyResult,
    evaluate_policy,
    policy_result,
)
from gatekey_local.gateway import Gateway
from gatekey_local.http_types import (
    Headers,
    Request,
    Response,
    forwarded_headers,
    header_text,
    request_time,
    status_code,
)
from gatekey_local.local_aws import LOCAL_ACCOUNT_ID, LOCAL_API_ID
from gatekey_local.routing import CompiledRoute
from gatekey_local.sam_model import Authorizer

logger = logging.getLogger(__name__)

_DEFAULT_GATEWAY_TEMPLATE = '{"message":$context.error.messageString}'
_PROXY_RESPONSE_KEYS = frozenset(
    {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
)


@dataclass(frozen=True)
class _GatewayError:
    """An error API Gateway answers itself, before or instead of the integration."""

    response_type: str
    status: int
    error_type: str
    message: str | None


_MISSING_ROUTE = _GatewayError(
    "MISSING_AUTHENTICATION_TOKEN",
    403,
    "MissingAuthenticationTokenException",
    "Missing Authentication Token",
)
_UNAUTHORIZED = _GatewayError("UNAUTHORIZED", 401, "UnauthorizedException", UNAUTHORIZED_MESSAGE)
_EXPLICIT_DENY = _GatewayError(
    "ACCESS_DENIED",
    403,
    "AccessDeniedException",
    "User is not authorized to access this resource with an explicit deny",
)
_IMPLICIT_DENY = _GatewayError(
    "ACCESS_DENIED", 403, "AccessDeniedException", "User is not authorized to access this resource"
)
# API Gateway reports an authorizer that raises (other than "Unauthorized") or answers
# with something that is not a valid policy as AuthorizerConfigurationException.
_AUTHORIZER_ERROR = _GatewayError(
    "AUTHORIZER_CONFIGURATION_ERROR", 500, "AuthorizerConfigurationException", None
)
_BAD_INTEGRATION_RESPONSE = _GatewayError(
    "DEFAULT_5XX", 502, "InternalServerErrorException", "Internal server error"
)


@dataclass(frozen=True)
class _Allowed:
    principal_id: str
    context: Mapping[str, Any]
    latency_ms: int


@dataclass(frozen=True)
class _Refused:
    error: _GatewayError
    context: Mapping[str, Any] = field(default_factory=dict)


class RestGateway(Gateway[PolicyResult]):
    """The request pipeline of one REST API: routing, authorizer, integration (payload 1.0)."""

    unauthorized_is_an_answer = True

    @staticmethod
    def validate_answer(authorizer: Authorizer, answer: Any) -> PolicyResult:
        return policy_result(answer, string_context=True)

    def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        split = urlsplit(request.target)
        path = split.path or "/"
        matched = self._router.match(request.method, path)
        if matched is None:
            return self._gateway_response(_MISSING_ROUTE, request, request_id)
        compiled, path_parameters = matched
        request_context = self._request_context(compiled, request, path, request_id)
        query = parse_qsl(split.query, keep_blank_values=True)

        if compiled.authorizer is not None:
            outcome = self._authorize(
                compiled,
                compiled.authorizer,
                request,
                path,
                path_parameters,
                query,
                request_context,
            )
            if isinstance(outcome, _Refused):
                return self._gateway_response(outcome.error, request, request_id, outcome.context)
            request_context["authorizer"] = {
                **outcome.context,
                "principalId": outcome.principal_id,
                "integrationLatency": outcome.latency_ms,
            }
        headers = forwarded_headers(request)
        event = {
            "resource": compiled.route.path,
            "path": path,
            "httpMethod": request.method,
            "headers": _single_values(headers),
            "multiValueHeaders": _multi_values(headers),
            "queryStringParameters": _single_values(query) or None,
            "multiValueQueryStringParameters": _multi_values(query) or None,
            "pathParameters": path_parameters or None,
            "stageVariables": dict(self.api.stage_variables) or None,
            "requestContext": request_context,
            "body": request.body.decode("utf-8", errors="replace") if request.body else None,
            "isBase64Encoded": False,
        }
        try:
            result = self._functions.invoke(compiled.route.function_id, event)
            return _proxy_response(result, request_id)
        except Exception:
            logger.exception(
                "%s %s: %s failed", request.method, compiled.route.path, compiled.route.function_id
            )
            return self._gateway_response(_BAD_INTEGRATION_RESPONSE, request, request_id)

    def _request_context(
        self, compiled: CompiledRoute, request: Request, path: str, request_id: str
    ) -> dict[str, Any]:
        stage = self.api.stage_name
        now = time.time()
        return {
            "resourceId": hashlib.sha256(compiled.route.path.encode()).hexdigest()[:6],
            "resourcePath": compiled.route.path,
            "httpMethod": request.method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": request_time(now),
            "path": f"/{stage}{path}",
            "accountId": LOCAL_ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": request.host.partition(":")[0].split(".")[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": request.source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": request.header("User-Agent"),
                "user": None,
            },
            "domainName": request.host,
            "apiId": LOCAL_API_ID,
        }

    def _authorize(
        self,
        compiled: CompiledRoute,
        authorizer: Authorizer,
        request: Request,
        path: str,
        path_parameters: Mapping[str, str],
        query: Sequence[tuple[str, str]],
        request_context: Mapping[str, Any],
    ) -> _Allowed | _Refused:
        # Headers, then `context.<name>` sources (e.g. the source address): the cache key.
        identity = tuple(
            request.header(name) or "" for name in authorizer.identity_headers
        ) + tuple(_context_value(request_context, name) for name in authorizer.identity_context)
        if authorizer.payload_type == "TOKEN":
            token = identity[0]
            expression = authorizer.validation_expression
            if not token or (expression is not None and not re.fullmatch(expression, token)):
                return _Refused(_UNAUTHORIZED)
        elif authorizer.ttl_seconds > 0 and not all(identity):
            return _Refused(_UNAUTHORIZED)
        method_arn = self._authorizers.resource_arn(request.method, path)

        def event() -> dict[str, Any]:
            if authorizer.payload_type == "TOKEN":
                return {"type": "TOKEN", "authorizationToken": identity[0], "methodArn": method_arn}
            headers = forwarded_headers(request)
            return {
                "type": "REQUEST",
                "methodArn": method_arn,
                "resource": compiled.route.path,
                "path": path,
                "httpMethod": request.method,
                "headers": _single_values(headers),
                "multiValueHeaders": _multi_values(headers),
                "queryStringParameters": _single_values(query),
                "multiValueQueryStringParameters": _multi_values(query),
                "pathParameters": dict(path_parameters),
                "stageVariables": dict(self.api.stage_variables),
                "requestContext": dict(request_context),
            }

        try:
            result, latency_ms = self._authorizers.authorize(authorizer, identity, event)
        except AuthorizerFailed as failure:
            return _Refused(_UNAUTHORIZED if failure.unauthorized else _AUTHORIZER_ERROR)
        decision = evaluate_policy(result.statements, method_arn)
        if decision == "allow":
            return _Allowed(result.principal_id, result.context, latency_ms)
        error = _EXPLICIT_DENY if decision == "explicit_deny" else _IMPLICIT_DENY
        return _Refused(error, {**result.context, "principalId": result.principal_id})

    def _gateway_response(
        self,
        error: _GatewayError,
        request: Request,
        request_id: str,
        authorizer_context: Mapping[str, Any] | None = None,
    ) -> Response:
        """Render a gateway response from the template, falling back to DEFAULT_4XX or
        DEFAULT_5XX and then to API Gateway's own ``{"message": ...}`` body."""
        responses = self.api.gateway_responses
        specific = responses.get(error.response_type)
        fallback = responses.get("DEFAULT_4XX" if error.status < 500 else "DEFAULT_5XX")
        chosen = specific or fallback
        status = (chosen.status_code if chosen is not None else None) or error.status
        templates = (specific.templates if specific is not None else {}) or (
            fallback.templates if fallback is not None else {}
        )
        media_type = (
            "application/json"
            if "application/json" in templates or not templates
            else (next(iter(templates)))
        )
        body_template = templates.get(media_type, _DEFAULT_GATEWAY_TEMPLATE)

        variables = {
            "requestId": request_id,
            "error.message": error.message or "",
            "error.messageString": json.dumps(error.message),
            "error.responseType": error.response_type,
        }
        for key, value in (authorizer_context or {}).items():
            variables[f"authorizer.{key}"] = str(value)
        body = _render_context_variables(body_template, variables)

        headers: Headers = [("Content-Type", media_type)]
        for name, expression in (chosen.headers if chosen is not None else {}).items():
            header_value = _header_mapping_value(expression, request)
            if header_value is not None:
                headers.append((name, header_value))
        headers += [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", error.error_type)]
        return Response(status=status, headers=headers, body=body.encode("utf-8"))


def _context_value(request_context: Mapping[str, Any], name: str) -> str:
    """``$context.<name>`` of a REST request: ``identity.sourceIp`` is
    ``requestContext.identity.sourceIp`` (the socket's address, never a header)."""
    value: Any = request_context
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def _single_values(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    return dict(pairs)


def _multi_values(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


_CONTEXT_VARIABLE = re.compile(
    r"\$!?\{context\.([A-Za-z0-9_.]+)\}|\$!?context\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)"
)


def _render_context_variables(template: str, variables: Mapping[str, str]) -> str:
    """Substitute ``$context.x`` references as API Gateway's mapping templates do;
    an unknown reference renders as an empty string."""

    def substitute(match: re.Match[str]) -> str:
        return variables.get(match.group(1) or match.group(2), "")

    return _CONTEXT_VARIABLE.sub(substitute, template)


def _header_mapping_value(expression: str, request: Request) -> str | None:
    """A gateway response header: a quoted static value or ``method.request.header.X``."""
    if len(expression) >= 2 and expression[0] == expression[-1] == "'":
        return expression[1:-1]
    prefix = "method.request.header."
    if expression.startswith(prefix):
        return request.header(expression[len(prefix) :])
    return None


def _proxy_response(result: Any, request_id: str) -> Response:
    """Turn a Lambda proxy response into HTTP; anything malformed is an error (502).

    ``isBase64Encoded`` bodies are sent as they are, as a REST API without
    ``BinaryMediaTypes`` does.
    """
    if not isinstance(result, Mapping) or not set(result) <= _PROXY_RESPONSE_KEYS:
        raise ValueError("malformed Lambda proxy response: not an object of the v1 keys")
    status = status_code(result)
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise ValueError("malformed Lambda proxy response: body is not a string")
    headers: Headers = []
    multi: Mapping[str, Any] = result.get("multiValueHeaders") or {}
    single: Mapping[str, Any] = result.get("headers") or {}
    if not isinstance(multi, Mapping) or not isinstance(single, Mapping):
        raise ValueError("malformed Lambda proxy response: headers are not objects")
    multi_names = {name.lower() for name in multi}
    for name, values in multi.items():
        if not isinstance(values, list):
            raise ValueError("malformed Lambda proxy response: multiValueHeaders need lists")
        headers += [(name, header_text(value)) for value in values]
    headers += [
        (name, header_text(value))
        for name, value in single.items()
        if name.lower() not in multi_names
    ]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))
    return Response(status=status, headers=headers, body=(body or "").encode("utf-8"))
