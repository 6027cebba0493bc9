"""An HTTP API (``AWS::Serverless::HttpApi``): payload 2.0 events and responses,
Lambda authorizers of payload format 2.0 answering ``{isAuthorized, context}``
(``EnableSimpleResponses``) or an IAM policy, and JWT authorizers (``jwt_authorizer``).

HTTP APIs answer their own errors with fixed bodies that cannot be customised: 404
``Not Found``, 401 ``Unauthorized`` (an identity source is missing; the authorizer is
not called), 403 ``Forbidden`` (denied), 500 ``Internal Server Error`` (the authorizer
or the function failed).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gatekey_local.authorizers import (
    AuthorizerFailed,
    PolicyResult,
    SimpleResult,
    evaluate_policy,
    policy_result,
    simple_result,
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
from gatekey_local.jwt_authorizer import IssuerKeys, JwtAllowed, KeysUnavailable
from gatekey_local.jwt_authorizer import authorize as authorize_jwt
from gatekey_local.lambda_runner import Functions
from gatekey_local.local_aws import LOCAL_ACCOUNT_ID, LOCAL_API_ID
from gatekey_local.routing import CompiledRoute
from gatekey_local.sam_model import Api, Authorizer, Route

logger = logging.getLogger(__name__)

_TEXT_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/graphql",
    }
)


@dataclass(frozen=True)
class _HttpError:
    """One of the fixed answers of an HTTP API; they cannot be customised."""

    status: int
    message: str


_HTTP_NOT_FOUND = _HttpError(404, "Not Found")
_HTTP_UNAUTHORIZED = _HttpError(401, "Unauthorized")
_HTTP_FORBIDDEN = _HttpError(403, "Forbidden")
_HTTP_INTERNAL_ERROR = _HttpError(500, "Internal Server Error")


@dataclass(frozen=True)
class _HttpRequestParts:
    """A request in payload 2.0 terms, shared by the authorizer and integration events."""

    raw_path: str
    raw_query: str
    headers: dict[str, str]
    cookies: list[str]
    query: dict[str, str]


class HttpGateway(Gateway[PolicyResult | SimpleResult]):
    """The request pipeline of one HTTP API: routing, authorizer, integration (payload 2.0)."""

    unauthorized_is_an_answer = False

    def __init__(self, api: Api, routes: Sequence[Route], functions: Functions):
        super().__init__(api, routes, functions)
        self._issuer_keys = IssuerKeys()

    @staticmethod
    def validate_answer(authorizer: Authorizer, answer: Any) -> PolicyResult | SimpleResult:
        if authorizer.simple_responses:
            return simple_result(answer)
        return policy_result(answer, string_context=False)

    def handle(self, request: Request) -> Response:
        request_id = _http_request_id()
        split = urlsplit(request.target)
        parts = _http_request_parts(request, split.path or "/", split.query)
        matched = self._router.match(request.method, parts.raw_path)
        if matched is None:
            return _http_error(_HTTP_NOT_FOUND, request_id)
        compiled, path_parameters = matched
        request_context = self._request_context(compiled, request, parts, request_id)

        if compiled.jwt_authorizer is not None:
            answer = self._authorize_jwt(compiled, parts, request_id)
            if isinstance(answer, Response):
                return answer
            request_context["authorizer"] = {
                "jwt": {"claims": dict(answer.claims), "scopes": answer.scopes}
            }
        elif compiled.authorizer is not None:
            outcome = self._authorize(
                compiled.authorizer, request, parts, path_parameters, request_context
            )
            if isinstance(outcome, _HttpError):
                return _http_error(outcome, request_id)
            request_context["authorizer"] = {"lambda": outcome}

        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": compiled.route.route_key,
            "rawPath": parts.raw_path,
            "rawQueryString": parts.raw_query,
        }
        if parts.cookies:
            event["cookies"] = parts.cookies
        event["headers"] = parts.headers
        if parts.query:
            event["queryStringParameters"] = parts.query
        event["requestContext"] = request_context
        if request.body:
            event["body"], event["isBase64Encoded"] = _http_request_body(request)
        else:
            event["isBase64Encoded"] = False
        if path_parameters:
            event["pathParameters"] = path_parameters
        if self.api.stage_variables:
            event["stageVariables"] = dict(self.api.stage_variables)
        try:
            result = self._functions.invoke(compiled.route.function_id, event)
            return _http_integration_response(result, request_id)
        except Exception:
            logger.exception("%s: %s failed", compiled.route.route_key, compiled.route.function_id)
            return _http_error(_HTTP_INTERNAL_ERROR, request_id)

    def _authorize_jwt(
        self, compiled: CompiledRoute, parts: _HttpRequestParts, request_id: str
    ) -> JwtAllowed | Response:
        """API Gateway's own check of the route's JWT; no function is called."""
        authorizer = compiled.jwt_authorizer
        assert authorizer is not None
        header = parts.headers.get(authorizer.identity_header.lower(), "")
        if not header:
            return _http_error(_HTTP_UNAUTHORIZED, request_id)
        try:
            outcome = authorize_jwt(
                authorizer, header, compiled.route.authorization_scopes, self._issuer_keys
            )
        except (KeysUnavailable, ValueError) as exc:
            logger.error("JWT authorizer %s cannot check tokens: %s", authorizer.name, exc)
            return _http_error(_HTTP_INTERNAL_ERROR, request_id)
        if isinstance(outcome, JwtAllowed):
            return outcome
        logger.info("JWT authorizer %s refused a token: %s", authorizer.name, outcome.reason)
        error = _HTTP_FORBIDDEN if outcome.status == 403 else _HTTP_UNAUTHORIZED
        response = _http_error(error, request_id)
        if outcome.www_authenticate is not None:
            response.headers.append(("www-authenticate", outcome.www_authenticate))
        return response

    def _request_context(
        self,
        compiled: CompiledRoute,
        request: Request,
        parts: _HttpRequestParts,
        request_id: str,
    ) -> dict[str, Any]:
        now = time.time()
        return {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": request.host,
            "domainPrefix": request.host.partition(":")[0].split(".")[0],
            "http": {
                "method": request.method,
                "path": parts.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": parts.headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": compiled.route.route_key,
            "stage": self.api.stage_name,
            "time": request_time(now),
            "timeEpoch": int(now * 1000),
        }

    def _authorize(
        self,
        authorizer: Authorizer,
        request: Request,
        parts: _HttpRequestParts,
        path_parameters: Mapping[str, str],
        request_context: Mapping[str, Any],
    ) -> Mapping[str, Any] | _HttpError:
        """The authorizer's context on allow, else the error to answer with.

        Every identity source must be present and non-empty whether or not caching is
        on (API Gateway v2 validates them before calling the authorizer).
        """
        headers = tuple(parts.headers.get(name.lower(), "") for name in authorizer.identity_headers)
        if not all(headers):
            return _HTTP_UNAUTHORIZED
        # `$context.*` sources (routeKey, the source address) join the headers in the
        # identity: the cache key, and the event's identitySource list.
        identity = headers + tuple(
            _context_value(request_context, name) for name in authorizer.identity_context
        )
        route_arn = self._authorizers.resource_arn(request.method, parts.raw_path)

        def event() -> dict[str, Any]:
            return {
                "version": "2.0",
                "type": "REQUEST",
                "routeArn": route_arn,
                "identitySource": list(identity) if identity else None,
                "routeKey": request_context["routeKey"],
                "rawPath": parts.raw_path,
                "rawQueryString": parts.raw_query,
                "cookies": parts.cookies,
                "headers": parts.headers,
                "queryStringParameters": parts.query,
                "requestContext": dict(request_context),
                "pathParameters": dict(path_parameters),
                "stageVariables": dict(self.api.stage_variables),
            }

        try:
            result, _ = self._authorizers.authorize(authorizer, identity, event)
        except AuthorizerFailed:
            return _HTTP_INTERNAL_ERROR
        if isinstance(result, SimpleResult):
            return result.context if result.authorized else _HTTP_FORBIDDEN
        if evaluate_policy(result.statements, route_arn) == "allow":
            return result.context
        return _HTTP_FORBIDDEN


# `$context.<name>` of an HTTP API and where payload 2.0 keeps it in requestContext.
_CONTEXT_PATHS = {
    "identity.sourceIp": ("http", "sourceIp"),
    "identity.userAgent": ("http", "userAgent"),
    "httpMethod": ("http", "method"),
    "routeKey": ("routeKey",),
    "stage": ("stage",),
}


def _context_value(request_context: Mapping[str, Any], name: str) -> str:
    """``$context.identity.sourceIp`` is ``requestContext.http.sourceIp``: the socket's
    address, never a header."""
    value: Any = request_context
    for part in _CONTEXT_PATHS[name]:
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def _http_request_id() -> str:
    """An id shaped like API Gateway v2's (``Ab1Cd2Ef3Gh4=``)."""
    return base64.b64encode(secrets.token_bytes(10)).decode("ascii")[:-2] + "="


def _http_request_parts(request: Request, raw_path: str, raw_query: str) -> _HttpRequestParts:
    """Headers lowercased with repeats joined by commas, cookies split out of them, and
    query parameters with repeats joined by commas, as payload 2.0 has them."""
    headers: dict[str, list[str]] = {}
    cookies: list[str] = []
    for name, value in forwarded_headers(request):
        lowered = name.lower()
        if lowered == "cookie":
            cookies += [cookie.strip() for cookie in value.split(";") if cookie.strip()]
        else:
            headers.setdefault(lowered, []).append(value)
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    return _HttpRequestParts(
        raw_path=raw_path,
        raw_query=raw_query,
        headers={name: ",".join(values) for name, values in headers.items()},
        cookies=cookies,
        query={name: ",".join(values) for name, values in query.items()},
    )


def _http_request_body(request: Request) -> tuple[str, bool]:
    """The body as text when its media type is textual and it is UTF-8, else base64."""
    media_type = (request.header("Content-Type") or "").partition(";")[0].strip().lower()
    textual = (
        not media_type
        or media_type.startswith("text/")
        or media_type in _TEXT_MEDIA_TYPES
        or media_type.endswith(("+json", "+xml"))
    )
    if textual:
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode("ascii"), True


def _http_integration_response(result: Any, request_id: str) -> Response:
    """Turn a payload 2.0 response into HTTP.

    A dict with ``statusCode`` is read as ``{statusCode, headers, cookies, body,
    isBase64Encoded}``; anything else is the body of a 200 JSON response, as API
    Gateway infers it. A malformed response is an error (500).
    """
    headers: Headers = [("apigw-requestid", request_id)]
    if not isinstance(result, Mapping) or "statusCode" not in result:
        inferred = json.dumps(result).encode("utf-8")
        return Response(200, [("Content-Type", "application/json"), *headers], inferred)
    status = status_code(result)
    single: Mapping[str, Any] = result.get("headers") or {}
    cookies: list[Any] = result.get("cookies") or []
    if not isinstance(single, Mapping) or not isinstance(cookies, list):
        raise ValueError("malformed Lambda response: headers or cookies of the wrong type")
    if not all(isinstance(cookie, str) for cookie in cookies):
        raise ValueError("malformed Lambda response: a cookie is not a string")
    headers += [(name, header_text(value)) for name, value in single.items()]
    headers += [("Set-Cookie", cookie) for cookie in cookies]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    body = result.get("body")
    if body is None:
        return Response(status, headers, b"")
    if not isinstance(body, str):
        raise ValueError("malformed Lambda response: body is not a string")
    if result.get("isBase64Encoded") is True:
        try:
            return Response(status, headers, base64.b64decode(body, validate=True))
        except binascii.Error as exc:
            raise ValueError("malformed Lambda response: body is not base64") from exc
    return Response(status, headers, body.encode("utf-8"))


def _http_error(error: _HttpError, request_id: str) -> Response:
    body = json.dumps({"message": error.message}, separators=(",", ":")).encode("utf-8")
    headers = [("Content-Type", "application/json"), ("apigw-requestid", request_id)]
    return Response(error.status, headers, body)
