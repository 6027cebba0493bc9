"""An API Gateway emulator, REST APIs and HTTP APIs, for machines without Docker.

It serves every ``Api`` and ``HttpApi`` event of a SAM template and calls the
template's handlers in this process with real proxy events:

* a REST API (``AWS::Serverless::Api``) gets payload 1.0 events, Lambda ``TOKEN`` and
  ``REQUEST`` authorizers answering with IAM policies, and the template's gateway
  responses;
* an HTTP API (``AWS::Serverless::HttpApi``) gets payload 2.0 events and responses,
  Lambda authorizers of payload format 2.0 answering ``{isAuthorized, context}``
  (``EnableSimpleResponses``) or an IAM policy, and API Gateway's fixed answers: 404
  ``Not Found``, 401 ``Unauthorized`` (an identity source is missing; the authorizer
  is not called), 403 ``Forbidden`` (denied), 500 ``Internal Server Error`` (the
  authorizer or the function failed).

Each function runs with its execution role from the template: every AWS call it makes
is checked against that role before it is sent (``iam_gate``; ``enforce_iam``, default
on unless GATEKEY_ENFORCE_IAM is false).

Authorizers run the way API Gateway runs them: identity sources, a result cache per API
and authorizer keyed by the identity-source values for ``ReauthorizeEvery`` seconds,
and policy evaluation against the method or route ARN.

Each API has its own listener, as each has its own hostname on AWS, so a REST and an
HTTP API may both declare ``GET /orders``: the first API of the template listens on
the given port, the next on port + 1, and so on (port 0 picks a free port for each).
Routes are served from the root, without the stage name in the path. All APIs share
one set of handlers (one cold start per function) and one environment. Request headers
and bodies are never logged: they carry credentials.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import importlib.util
import json
import logging
import os
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from gatekey_local import iam_gate
from gatekey_local.iam_roles import FunctionRole, function_roles
from gatekey_local.template import (
    DEFAULT_ROUTE,
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    Api,
    Authorizer,
    FunctionSource,
    Route,
    Template,
    TemplateError,
    effective_authorizer,
    load_template,
)

logger = logging.getLogger(__name__)

LOCAL_API_ID = "local"
_DEFAULT_GATEWAY_TEMPLATE = '{"message":$context.error.messageString}'
_PROXY_RESPONSE_KEYS = frozenset(
    {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
)
_UNAUTHORIZED_MESSAGE = "Unauthorized"
_TEXT_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/graphql",
    }
)

Handler = Callable[[Any, Any], Any]
Headers = list[tuple[str, str]]
_T = TypeVar("_T")


# --- Lambda side ----------------------------------------------------------------------


@dataclass
class LambdaContext:
    """The attributes of the Lambda Python runtime's context that handlers and
    Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    identity: None = None
    client_context: None = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class _LocalFunction:
    """A handler to call: where its code lives and the limits Lambda would give it."""

    name: str
    source: FunctionSource
    memory_mb: int
    timeout_seconds: int


class FunctionTimeout(Exception):
    """The handler ran past its Timeout; Lambda would have stopped it."""


class _FunctionRunner:
    """Imports each handler on first use (a cold start) and calls it with a context.

    Every function's module is named ``app``; each is imported under a unique module
    name with its own directory on ``sys.path`` only while it is being imported. Like
    one Lambda container, a function handles one invocation at a time (its module-level
    state, such as a Powertools resolver's current event, is not thread-safe); different
    functions run concurrently.
    """

    _import_lock = threading.Lock()

    def __init__(
        self,
        functions: Mapping[str, _LocalFunction],
        roles: Mapping[str, FunctionRole] | None = None,
    ):
        self._functions = functions
        self._roles = roles or {}
        self._invocation_locks = {key: threading.Lock() for key in functions}
        self._handlers: dict[str, Handler] = {}
        self._module_names: list[str] = []
        self._instance = uuid.uuid4().hex[:8]

    def invoke(self, function_key: str, event: Mapping[str, Any]) -> Any:
        function = self._functions[function_key]
        with iam_gate.invoking(self._roles.get(function_key)):
            return self._invoke(function_key, function, event)

    def _invoke(self, function_key: str, function: _LocalFunction, event: Mapping[str, Any]) -> Any:
        handler = self._handler(function_key, function)
        context = LambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory_mb,
            invoked_function_arn=(
                f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{function.name}"
            ),
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + function.timeout_seconds,
            log_group_name=f"/aws/lambda/{function.name}",
        )
        with self._invocation_locks[function_key]:
            result = handler(event, context)
        if time.monotonic() > context.deadline:
            raise FunctionTimeout(
                f"{function.name} ran longer than its {function.timeout_seconds} s Timeout"
            )
        return result

    def unload(self) -> None:
        for module_name in self._module_names:
            sys.modules.pop(module_name, None)
        self._module_names.clear()
        self._handlers.clear()

    def _handler(self, function_key: str, function: _LocalFunction) -> Handler:
        with self._import_lock:
            if function_key not in self._handlers:
                self._handlers[function_key] = self._import(function_key, function.source)
            return self._handlers[function_key]

    def _import(self, function_key: str, source: FunctionSource) -> Handler:
        module_path, _, attribute = source.handler.rpartition(".")
        file = source.code_dir / (module_path.replace(".", "/") + ".py")
        if not module_path or not file.is_file():
            raise FileNotFoundError(f"handler {source.handler!r}: no module at {file}")
        module_name = f"_gatekey_local_{self._instance}_{function_key}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        code_dir = str(source.code_dir)
        sys.path.insert(0, code_dir)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        finally:
            sys.path.remove(code_dir)
        self._module_names.append(module_name)
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise AttributeError(f"handler {source.handler!r}: {file} has no callable {attribute}")
        return handler  # type: ignore[no-any-return]


class _Functions:
    """The handlers of one emulator: the template's functions and its authorizers'.

    An authorizer named in ``authorizer_sources`` is one function wherever it is used,
    so REST and HTTP APIs that share an authorizer name share its (warm) handler.
    """

    def __init__(
        self,
        template: Template,
        authorizer_sources: Mapping[str, FunctionSource],
        roles: Mapping[str, FunctionRole] | None = None,
    ):
        functions = {
            logical_id: _LocalFunction(
                name=logical_id,
                source=function.source,
                memory_mb=function.memory_mb,
                timeout_seconds=function.timeout_seconds,
            )
            for logical_id, function in template.functions.items()
        }
        self._authorizers: dict[tuple[str, str], str] = {}
        for api in template.apis.values():
            for name, authorizer in api.authorizers.items():
                if name in authorizer_sources:
                    key = f"authorizer_{name}"
                    functions[key] = _LocalFunction(
                        name=name, source=authorizer_sources[name], memory_mb=128, timeout_seconds=3
                    )
                elif authorizer.function_id is not None:
                    key = authorizer.function_id
                else:
                    raise TemplateError(
                        f"authorizer {name} of {api.logical_id} calls a function outside this "
                        f"template; give its handler (e.g. {name}=functions/authorizer:"
                        "app.lambda_handler)"
                    )
                self._authorizers[(api.logical_id, name)] = key
        self._runner = _FunctionRunner(functions, roles)

    def invoke(self, function_id: str, event: Mapping[str, Any]) -> Any:
        return self._runner.invoke(function_id, event)

    def invoke_authorizer(self, api: Api, authorizer: Authorizer, event: Mapping[str, Any]) -> Any:
        return self._runner.invoke(self._authorizers[(api.logical_id, authorizer.name)], event)

    def unload(self) -> None:
        self._runner.unload()


# --- HTTP side ------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """An incoming HTTP request as API Gateway sees it."""

    method: str
    target: str
    headers: Headers
    body: bytes
    source_ip: str
    host: str

    def header(self, name: str) -> str | None:
        """The last value of a header, matched case-insensitively (as API Gateway)."""
        wanted = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found


@dataclass(frozen=True)
class Response:
    """What goes back on the wire."""

    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    api: Api
    authorizer: Authorizer | None
    pattern: re.Pattern[str]
    parameter_names: tuple[str, ...]
    specificity: tuple[bool, tuple[int, ...], bool]


def _compile_route(route: Route, api: Api) -> _CompiledRoute:
    """Turn ``/user/keys/{handle}`` into a regex; literal segments outrank parameters,
    which outrank greedy ``{proxy+}`` ones, and an HTTP API's ``$default`` route comes
    last, as in API Gateway."""
    authorizer = effective_authorizer(route, api)
    if route.path == DEFAULT_ROUTE:
        return _CompiledRoute(route, api, authorizer, re.compile(".*"), (), (True, (), True))
    parts: list[str] = []
    names: list[str] = []
    kinds: list[int] = []
    for segment in filter(None, route.path.split("/")):
        parameter = re.fullmatch(r"\{([^{}+]+)(\+?)\}", segment)
        if parameter is None:
            parts.append(re.escape(segment))
            kinds.append(0)
        else:
            names.append(parameter.group(1))
            greedy = parameter.group(2) == "+"
            parts.append("(.+)" if greedy else "([^/]+)")
            kinds.append(2 if greedy else 1)
    pattern = re.compile("/" + "/".join(parts) + ("/?" if parts else ""))
    return _CompiledRoute(
        route=route,
        api=api,
        authorizer=authorizer,
        pattern=pattern,
        parameter_names=tuple(names),
        specificity=(False, tuple(kinds), route.method == "ANY"),
    )


class _Router:
    """The routes of one API."""

    def __init__(self, api: Api, routes: Sequence[Route]):
        self._routes = [_compile_route(route, api) for route in routes]
        _reject_duplicate_routes(self._routes)

    def match(self, method: str, path: str) -> tuple[_CompiledRoute, dict[str, str]] | None:
        candidates = []
        for compiled in self._routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.fullmatch(path)
            if found is not None:
                values = [unquote(value) for value in found.groups()]
                candidates.append(
                    (compiled, dict(zip(compiled.parameter_names, values, strict=True)))
                )
        if not candidates:
            return None
        return min(candidates, key=lambda candidate: candidate[0].specificity)


def _reject_duplicate_routes(routes: Sequence[_CompiledRoute]) -> None:
    seen: set[tuple[str, str]] = set()
    for compiled in routes:
        key = (compiled.route.method, compiled.pattern.pattern)
        if key in seen:
            raise TemplateError(
                f"{compiled.route.method} {compiled.route.path} is declared twice on "
                f"{compiled.api.logical_id}"
            )
        seen.add(key)


class _ResultCache(Generic[_T]):
    """Authorizer answers by (authorizer name, identity-source values), each kept for
    the authorizer's TTL; one cache per API, as on AWS."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[float, _T]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, tuple[str, ...]]) -> _T | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, result = entry
            if time.monotonic() >= expires_at:
                del self._entries[key]
                return None
            return result

    def put(self, key: tuple[str, tuple[str, ...]], result: _T, ttl_seconds: int) -> None:
        if ttl_seconds > 0:
            with self._lock:
                self._entries[key] = (time.monotonic() + ttl_seconds, result)


@dataclass(frozen=True)
class _AuthorizerResult:
    """A well-formed IAM policy answer, as cached by API Gateway."""

    principal_id: str
    statements: tuple[Mapping[str, Any], ...]
    context: Mapping[str, Any]


@dataclass(frozen=True)
class _SimpleResult:
    """A well-formed simple answer of an HTTP API authorizer."""

    authorized: bool
    context: Mapping[str, Any]


class _MalformedAuthorizerResponse(Exception):
    """The authorizer answered with something API Gateway cannot use."""


def _evaluate_policy(
    statements: Sequence[Mapping[str, Any]], resource_arn: str
) -> Literal["allow", "explicit_deny", "implicit_deny"]:
    """An explicit Deny wins; otherwise a matching Allow is needed."""
    allowed = False
    for statement in statements:
        actions = _as_list(statement["Action"])
        resources = _as_list(statement["Resource"])
        if not any(
            _wildcard_match(action, "execute-api:Invoke", fold_case=True) for action in actions
        ):
            continue
        if not any(_wildcard_match(resource, resource_arn) for resource in resources):
            continue
        if statement["Effect"] == "Deny":
            return "explicit_deny"
        allowed = True
    return "allow" if allowed else "implicit_deny"


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _wildcard_match(pattern: str, value: str, fold_case: bool = False) -> bool:
    """IAM matching: ``*`` is any run of characters (``/`` included), ``?`` one character."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, value, re.IGNORECASE if fold_case else 0) is not None


def _authorizer_result(answer: Any, *, string_context: bool) -> _AuthorizerResult:
    """Validate an IAM policy answer as API Gateway does.

    A REST API allows only scalar context values and hands them on as strings
    (``string_context``); an HTTP API (payload 2.0) passes any JSON value through.
    """
    if not isinstance(answer, Mapping):
        raise _MalformedAuthorizerResponse("the response is not an object")
    principal_id = answer.get("principalId")
    if not isinstance(principal_id, str | int | float) or isinstance(principal_id, bool):
        raise _MalformedAuthorizerResponse("principalId is missing or not a string")
    document = answer.get("policyDocument")
    if not isinstance(document, Mapping):
        raise _MalformedAuthorizerResponse("policyDocument is missing")
    raw_statements = document.get("Statement")
    statements = [raw_statements] if isinstance(raw_statements, Mapping) else raw_statements
    if not isinstance(statements, list) or not statements:
        raise _MalformedAuthorizerResponse("policyDocument.Statement is missing")
    for statement in statements:
        if not isinstance(statement, Mapping) or statement.get("Effect") not in ("Allow", "Deny"):
            raise _MalformedAuthorizerResponse("a statement has no Effect of Allow or Deny")
        for key in ("Action", "Resource"):
            value = statement.get(key)
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
                raise _MalformedAuthorizerResponse(f"a statement's {key} is not a string or list")
    raw_context = answer.get("context") or {}
    if not isinstance(raw_context, Mapping):
        raise _MalformedAuthorizerResponse("context is not an object")
    context = _string_context(raw_context) if string_context else dict(raw_context)
    return _AuthorizerResult(str(principal_id), tuple(statements), context)


def _string_context(raw_context: Mapping[str, Any]) -> dict[str, str]:
    context: dict[str, str] = {}
    for key, value in raw_context.items():
        if isinstance(value, bool):
            context[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            context[key] = str(value)
        else:
            kind = "null" if value is None else type(value).__name__
            raise _MalformedAuthorizerResponse(
                f"context[{key!r}] is {kind}; only strings, numbers and booleans are allowed"
            )
    return context


def _simple_result(answer: Any) -> _SimpleResult:
    """Validate an HTTP API authorizer's simple answer, ``{isAuthorized, context}``."""
    if not isinstance(answer, Mapping):
        raise _MalformedAuthorizerResponse("the response is not an object")
    authorized = answer.get("isAuthorized")
    if not isinstance(authorized, bool):
        raise _MalformedAuthorizerResponse("isAuthorized is missing or not a boolean")
    context = answer.get("context") or {}
    if not isinstance(context, Mapping):
        raise _MalformedAuthorizerResponse("context is not an object")
    return _SimpleResult(authorized, dict(context))


def _forwarded_headers(request: Request) -> Headers:
    """The request headers plus the X-Forwarded-* ones API Gateway adds."""
    headers = list(request.headers)
    forwarded_for = request.header("X-Forwarded-For")
    headers = [(key, value) for key, value in headers if key.lower() != "x-forwarded-for"]
    headers.append(
        (
            "X-Forwarded-For",
            f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip,
        )
    )
    if request.header("X-Forwarded-Proto") is None:
        headers.append(("X-Forwarded-Proto", "http"))
    if request.header("X-Forwarded-Port") is None:
        headers.append(("X-Forwarded-Port", request.host.rpartition(":")[2] or "80"))
    return headers


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError("malformed Lambda proxy response: a header value is not a scalar")


def _status_code(result: Mapping[str, Any]) -> int:
    status = result.get("statusCode", 200)
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"malformed Lambda proxy response: statusCode {status!r}")
    return status


def _request_time(now: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))


# --- REST APIs (payload 1.0) ----------------------------------------------------------


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
_UNAUTHORIZED = _GatewayError("UNAUTHORIZED", 401, "UnauthorizedException", _UNAUTHORIZED_MESSAGE)
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


class RestGateway:
    """The request pipeline of one REST API: routing, authorizer, integration (payload 1.0)."""

    def __init__(self, api: Api, routes: Sequence[Route], functions: _Functions):
        self.api = api
        self._router = _Router(api, routes)
        self._functions = functions
        self._cache: _ResultCache[_AuthorizerResult] = _ResultCache()

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
        headers = _forwarded_headers(request)
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
        self, compiled: _CompiledRoute, request: Request, path: str, request_id: str
    ) -> dict[str, Any]:
        stage = self.api.stage_name
        now = time.time()
        return {
            "resourceId": hashlib.sha256(compiled.route.path.encode()).hexdigest()[:6],
            "resourcePath": compiled.route.path,
            "httpMethod": request.method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": _request_time(now),
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
        compiled: _CompiledRoute,
        authorizer: Authorizer,
        request: Request,
        path: str,
        path_parameters: Mapping[str, str],
        query: Sequence[tuple[str, str]],
        request_context: Mapping[str, Any],
    ) -> _Allowed | _Refused:
        identity = tuple(request.header(name) or "" for name in authorizer.identity_headers)
        if authorizer.payload_type == "TOKEN":
            token = identity[0]
            expression = authorizer.validation_expression
            if not token or (expression is not None and not re.fullmatch(expression, token)):
                return _Refused(_UNAUTHORIZED)
        elif authorizer.ttl_seconds > 0 and not all(identity):
            return _Refused(_UNAUTHORIZED)

        method_arn = (
            f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{LOCAL_API_ID}/"
            f"{self.api.stage_name}/{request.method}/{path.lstrip('/')}"
        )
        cache_key = (authorizer.name, identity)
        result = self._cache.get(cache_key)
        latency_ms = 0
        if result is None:
            if authorizer.payload_type == "TOKEN":
                event: dict[str, Any] = {
                    "type": "TOKEN",
                    "authorizationToken": identity[0],
                    "methodArn": method_arn,
                }
            else:
                headers = _forwarded_headers(request)
                event = {
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
            started = time.monotonic()
            try:
                answer = self._functions.invoke_authorizer(self.api, authorizer, event)
            except Exception as exc:
                if str(exc) == _UNAUTHORIZED_MESSAGE:
                    return _Refused(_UNAUTHORIZED)
                logger.exception("authorizer %s failed", authorizer.name)
                return _Refused(_AUTHORIZER_ERROR)
            latency_ms = int((time.monotonic() - started) * 1000)
            try:
                result = _authorizer_result(answer, string_context=True)
            except _MalformedAuthorizerResponse as exc:
                logger.error("authorizer %s returned an invalid response: %s", authorizer.name, exc)
                return _Refused(_AUTHORIZER_ERROR)
            self._cache.put(cache_key, result, authorizer.ttl_seconds)

        decision = _evaluate_policy(result.statements, method_arn)
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
    status = _status_code(result)
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
        headers += [(name, _header_text(value)) for value in values]
    headers += [
        (name, _header_text(value))
        for name, value in single.items()
        if name.lower() not in multi_names
    ]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))
    return Response(status=status, headers=headers, body=(body or "").encode("utf-8"))


# --- HTTP APIs (payload 2.0) ----------------------------------------------------------


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


class HttpGateway:
    """The request pipeline of one HTTP API: routing, authorizer, integration (payload 2.0)."""

    def __init__(self, api: Api, routes: Sequence[Route], functions: _Functions):
        self.api = api
        self._router = _Router(api, routes)
        self._functions = functions
        self._cache: _ResultCache[_AuthorizerResult | _SimpleResult] = _ResultCache()

    def handle(self, request: Request) -> Response:
        request_id = _http_request_id()
        split = urlsplit(request.target)
        parts = _http_request_parts(request, split.path or "/", split.query)
        matched = self._router.match(request.method, parts.raw_path)
        if matched is None:
            return _http_error(_HTTP_NOT_FOUND, request_id)
        compiled, path_parameters = matched
        request_context = self._request_context(compiled, request, parts, request_id)

        if compiled.authorizer is not None:
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

    def _request_context(
        self,
        compiled: _CompiledRoute,
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
            "time": _request_time(now),
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
        # `$context.*` sources (e.g. routeKey) join the headers in the identity: the
        # cache key, and the event's identitySource list.
        identity = headers + tuple(
            str(request_context.get(name, "")) for name in authorizer.identity_context
        )
        route_arn = (
            f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{LOCAL_API_ID}/"
            f"{self.api.stage_name}/{request.method}/{parts.raw_path.lstrip('/')}"
        )
        cache_key = (authorizer.name, identity)
        result = self._cache.get(cache_key)
        if result is None:
            event = {
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
                answer = self._functions.invoke_authorizer(self.api, authorizer, event)
            except Exception:
                logger.exception("authorizer %s failed", authorizer.name)
                return _HTTP_INTERNAL_ERROR
            try:
                result = (
                    _simple_result(answer)
                    if authorizer.simple_responses
                    else _authorizer_result(answer, string_context=False)
                )
            except _MalformedAuthorizerResponse as exc:
                logger.error("authorizer %s returned an invalid response: %s", authorizer.name, exc)
                return _HTTP_INTERNAL_ERROR
            self._cache.put(cache_key, result, authorizer.ttl_seconds)

        if isinstance(result, _SimpleResult):
            return result.context if result.authorized else _HTTP_FORBIDDEN
        if _evaluate_policy(result.statements, route_arn) == "allow":
            return result.context
        return _HTTP_FORBIDDEN


def _http_request_id() -> str:
    """An id shaped like API Gateway v2's (``Ab1Cd2Ef3Gh4=``)."""
    return base64.b64encode(secrets.token_bytes(10)).decode("ascii")[:-2] + "="


def _http_request_parts(request: Request, raw_path: str, raw_query: str) -> _HttpRequestParts:
    """Headers lowercased with repeats joined by commas, cookies split out of them, and
    query parameters with repeats joined by commas, as payload 2.0 has them."""
    headers: dict[str, list[str]] = {}
    cookies: list[str] = []
    for name, value in _forwarded_headers(request):
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
    status = _status_code(result)
    single: Mapping[str, Any] = result.get("headers") or {}
    cookies: list[Any] = result.get("cookies") or []
    if not isinstance(single, Mapping) or not isinstance(cookies, list):
        raise ValueError("malformed Lambda response: headers or cookies of the wrong type")
    if not all(isinstance(cookie, str) for cookie in cookies):
        raise ValueError("malformed Lambda response: a cookie is not a string")
    headers += [(name, _header_text(value)) for name, value in single.items()]
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


# --- Servers --------------------------------------------------------------------------

Gateway = RestGateway | HttpGateway


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiServer

    def _dispatch(self) -> None:
        started = time.monotonic()
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.send_error(411, "Send a Content-Length; chunked bodies are not supported")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Invalid Content-Length")
            return
        request = Request(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self.rfile.read(length) if length > 0 else b"",
            source_ip=self.client_address[0],
            host=self.headers.get("Host") or f"{self.server.host}:{self.server.port}",
        )
        response = self.server.gateway.handle(request)
        self.send_response_only(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        logger.info(
            "%s %s %s -> %d (%d ms)",
            self.server.gateway.api.logical_id,
            self.command,
            urlsplit(self.path).path,
            response.status,
            (time.monotonic() - started) * 1000,
        )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: the default line holds the query string; ``_dispatch`` logs instead."""

    def log_error(self, format: str, *args: Any) -> None:
        logger.warning("rejected a malformed HTTP request")


class ApiServer(ThreadingHTTPServer):
    """The listener of one API.

    The listen backlog is far above socketserver's default of 5, so a burst of clients
    waits in the kernel's queue (and then behind the one-invocation-per-function rule)
    instead of getting a reset connection.
    """

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, gateway: Gateway, host: str, port: int):
        super().__init__((host, port), _RequestHandler)
        self.gateway = gateway

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-response (a closed browser tab) is not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s went away mid-response", client_address[0])
            return
        super().handle_error(request, client_address)


class PortInUseError(OSError):
    """An API's port is already taken."""

    def __init__(self, port: int):
        super().__init__(errno.EADDRINUSE, f"port {port} is in use")
        self.port = port

    def __str__(self) -> str:
        return f"port {self.port} is in use"


class ApiGatewayEmulator:
    """Every API of a template, each on its own listener (bound, not yet serving).

    The APIs take ``port``, ``port + 1``, ... in template order (free ports when
    ``port`` is 0) and share one set of handlers and one environment, ``environment``,
    which is set in ``os.environ`` until :meth:`close` restores it.
    """

    def __init__(
        self,
        template: Template,
        host: str = "127.0.0.1",
        port: int = 0,
        environment: Mapping[str, str] | None = None,
        authorizer_sources: Mapping[str, FunctionSource] | None = None,
        *,
        enforce_iam: bool | None = None,
    ):
        self.template = template
        self.enforce_iam = (
            iam_gate.enforcement_enabled(os.environ) if enforce_iam is None else enforce_iam
        )
        roles = function_roles(template) if self.enforce_iam else None
        if roles is not None:
            iam_gate.install()
        self._functions = _Functions(template, authorizer_sources or {}, roles)
        gateways = _gateways(template, self._functions)
        if not gateways:
            raise TemplateError(f"{template.path} has no Api or HttpApi event to serve")
        self.servers: dict[str, ApiServer] = {}
        try:
            for index, gateway in enumerate(gateways):
                wanted = port + index if port else 0
                try:
                    self.servers[gateway.api.logical_id] = ApiServer(gateway, host, wanted)
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        raise PortInUseError(wanted) from exc
                    raise
        except BaseException:
            self._close_servers()
            self._functions.unload()
            raise
        environment = dict(environment or {})
        self._previous_environment = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)

    @property
    def url(self) -> str:
        """The base URL of the first API (the only one, for most templates)."""
        return next(iter(self.servers.values())).url

    @property
    def urls(self) -> dict[str, str]:
        """Base URL by API logical id."""
        return {api_id: server.url for api_id, server in self.servers.items()}

    def close(self) -> None:
        self._close_servers()
        self._functions.unload()
        for name, value in self._previous_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _close_servers(self) -> None:
        for server in self.servers.values():
            server.server_close()


def _gateways(template: Template, functions: _Functions) -> list[Gateway]:
    """A gateway for each API that has routes, in template order."""
    gateways: list[Gateway] = []
    for api in template.apis.values():
        routes = [route for route in template.routes if route.api_id == api.logical_id]
        if not routes:
            continue
        if api.protocol == "HTTP":
            gateways.append(HttpGateway(api, routes, functions))
        else:
            gateways.append(RestGateway(api, routes, functions))
    return gateways


def function_environment(
    template: Template, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The one environment every function shares locally: the union of the template's
    resolved variables (those only AWS can resolve, like the secret's ARN, left out),
    overridden by ``env``."""
    merged: dict[str, str] = {}
    for function in template.functions.values():
        merged.update(function.environment)
    merged.update(env or {})
    return merged


def create_server(
    template_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    env: Mapping[str, str] | None = None,
    *,
    table_name: str = "gatekey",
    parameter_overrides: Mapping[str, str] | None = None,
    authorizer_sources: Mapping[str, FunctionSource] | None = None,
    enforce_iam: bool | None = None,
) -> ApiGatewayEmulator:
    """Build (not start) the emulator for a template; port 0 picks free ports.

    ``env`` is added to the functions' environment (e.g. DYNAMODB_ENDPOINT and
    GATEKEY_SECRET). ``authorizer_sources`` names the handler of an authorizer whose
    FunctionArn points outside the template (keyed by authorizer name, for every API).
    ``enforce_iam`` (default: GATEKEY_ENFORCE_IAM, on unless "false") checks each AWS
    call of a function against its role in the template (see ``iam_gate``).
    """
    template = load_template(template_path, parameter_overrides, table_name)
    return ApiGatewayEmulator(
        template,
        host,
        port,
        function_environment(template, env),
        authorizer_sources,
        enforce_iam=enforce_iam,
    )


class BackgroundApi:
    """An emulator serving from daemon threads, one per API; ``stop()`` shuts it down
    and closes it."""

    def __init__(self, emulator: ApiGatewayEmulator):
        self.emulator = emulator
        self._stopped = False
        self._threads = [
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            )
            for server in emulator.servers.values()
        ]
        for thread in self._threads:
            thread.start()

    @property
    def url(self) -> str:
        """The base URL of the first API."""
        return self.emulator.url

    @property
    def urls(self) -> dict[str, str]:
        """Base URL by API logical id."""
        return self.emulator.urls

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            for server in self.emulator.servers.values():
                server.shutdown()
            for thread in self._threads:
                thread.join()
            self.emulator.close()

    def __enter__(self) -> BackgroundApi:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(
    template_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> BackgroundApi:
    """Create the emulator (see :func:`create_server`) and serve it from threads."""
    return BackgroundApi(create_server(template_path, host, port, env, **options))


def parse_function_source(spec: str) -> FunctionSource:
    """Parse ``CODE_DIR:MODULE.FUNCTION`` (e.g. ``functions/authorizer:app.lambda_handler``)."""
    code_dir, separator, handler = spec.rpartition(":")
    if not separator or not code_dir or "." not in handler:
        raise ValueError(f"expected CODE_DIR:MODULE.FUNCTION, got {spec!r}")
    return FunctionSource(code_dir=Path(code_dir).resolve(), handler=handler)
