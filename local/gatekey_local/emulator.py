"""An API Gateway REST API (payload v1) emulator for machines without Docker.

It serves every ``Api`` event of a SAM template, runs Lambda authorizers the way API
Gateway does (identity sources, result cache, IAM policy evaluation, gateway
responses) and calls the template's handlers in this process with real REST proxy
events. Request headers and bodies are never logged: they carry credentials.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from gatekey_local.template import (
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

Handler = Callable[[Any, Any], Any]
Headers = list[tuple[str, str]]


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
    name with its own directory on ``sys.path`` only while it is being imported.
    """

    _import_lock = threading.Lock()

    def __init__(self, functions: Mapping[str, _LocalFunction]):
        self._functions = functions
        self._handlers: dict[str, Handler] = {}
        self._module_names: list[str] = []
        self._instance = uuid.uuid4().hex[:8]

    def invoke(self, function_key: str, event: Mapping[str, Any]) -> Any:
        function = self._functions[function_key]
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
class _CompiledRoute:
    route: Route
    api: Api
    authorizer: Authorizer | None
    pattern: re.Pattern[str]
    parameter_names: tuple[str, ...]
    specificity: tuple[tuple[int, ...], bool]


def _compile_route(route: Route, api: Api) -> _CompiledRoute:
    """Turn ``/user/keys/{handle}`` into a regex; literal segments outrank parameters,
    which outrank greedy ``{proxy+}`` ones, as in API Gateway."""
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
        authorizer=effective_authorizer(route, api),
        pattern=pattern,
        parameter_names=tuple(names),
        specificity=(tuple(kinds), route.method == "ANY"),
    )


@dataclass(frozen=True)
class _AuthorizerResult:
    """A well-formed authorizer answer, as cached by API Gateway."""

    principal_id: str
    statements: tuple[Mapping[str, Any], ...]
    context: Mapping[str, str]


@dataclass(frozen=True)
class _Allowed:
    principal_id: str
    context: Mapping[str, str]
    latency_ms: int


@dataclass(frozen=True)
class _Refused:
    error: _GatewayError
    context: Mapping[str, str] = field(default_factory=dict)


class _MalformedAuthorizerResponse(Exception):
    """The authorizer answered with something API Gateway cannot use as a policy."""


class Gateway:
    """The request pipeline of one emulated REST API: routing, authorizer, integration."""

    def __init__(
        self,
        template: Template,
        authorizer_sources: Mapping[str, FunctionSource] | None = None,
    ):
        self.template = template
        self._routes = [
            _compile_route(route, template.apis[route.api_id]) for route in template.routes
        ]
        _reject_duplicate_routes(self._routes)
        self._default_api = next(iter(template.apis.values()), None)
        self._authorizer_functions: dict[str, str] = {}
        self._runner = _FunctionRunner(self._local_functions(authorizer_sources or {}))
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, _AuthorizerResult]] = {}
        self._cache_lock = threading.Lock()

    def _local_functions(
        self, authorizer_sources: Mapping[str, FunctionSource]
    ) -> dict[str, _LocalFunction]:
        functions = {
            logical_id: _LocalFunction(
                name=logical_id,
                source=function.source,
                memory_mb=function.memory_mb,
                timeout_seconds=function.timeout_seconds,
            )
            for logical_id, function in self.template.functions.items()
        }
        for api in self.template.apis.values():
            for name, authorizer in api.authorizers.items():
                if name in authorizer_sources:
                    functions[f"authorizer_{name}"] = _LocalFunction(
                        name=name, source=authorizer_sources[name], memory_mb=128, timeout_seconds=3
                    )
                    self._authorizer_functions[name] = f"authorizer_{name}"
                elif authorizer.function_id is not None:
                    self._authorizer_functions[name] = authorizer.function_id
                else:
                    raise TemplateError(
                        f"authorizer {name} of {api.logical_id} calls a function outside this "
                        f"template; give its handler (e.g. {name}=functions/authorizer:"
                        "app.lambda_handler)"
                    )
        return functions

    def close(self) -> None:
        self._runner.unload()

    def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        split = urlsplit(request.target)
        path = split.path or "/"
        matched = self._match(request.method, path)
        if matched is None:
            return self._gateway_response(self._default_api, _MISSING_ROUTE, request, request_id)
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
                return self._gateway_response(
                    compiled.api, outcome.error, request, request_id, outcome.context
                )
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
            "stageVariables": None,
            "requestContext": request_context,
            "body": request.body.decode("utf-8", errors="replace") if request.body else None,
            "isBase64Encoded": False,
        }
        try:
            result = self._runner.invoke(compiled.route.function_id, event)
            return _proxy_response(result, request_id)
        except Exception:
            logger.exception(
                "%s %s: %s failed", request.method, compiled.route.path, compiled.route.function_id
            )
            return self._gateway_response(
                compiled.api, _BAD_INTEGRATION_RESPONSE, request, request_id
            )

    # routing

    def _match(self, method: str, path: str) -> tuple[_CompiledRoute, dict[str, str]] | None:
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

    def _request_context(
        self, compiled: _CompiledRoute, request: Request, path: str, request_id: str
    ) -> dict[str, Any]:
        stage = compiled.api.stage_name
        now = time.time()
        return {
            "resourceId": hashlib.sha256(compiled.route.path.encode()).hexdigest()[:6],
            "resourcePath": compiled.route.path,
            "httpMethod": request.method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
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

    # authorizer

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
            f"{compiled.api.stage_name}/{request.method}/{path.lstrip('/')}"
        )
        cache_key = (authorizer.name, identity)
        result = self._cached(cache_key)
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
                    "stageVariables": {},
                    "requestContext": dict(request_context),
                }
            started = time.monotonic()
            try:
                answer = self._runner.invoke(self._authorizer_functions[authorizer.name], event)
            except Exception as exc:
                if str(exc) == _UNAUTHORIZED_MESSAGE:
                    return _Refused(_UNAUTHORIZED)
                logger.exception("authorizer %s failed", authorizer.name)
                return _Refused(_AUTHORIZER_ERROR)
            latency_ms = int((time.monotonic() - started) * 1000)
            try:
                result = _authorizer_result(answer)
            except _MalformedAuthorizerResponse as exc:
                logger.error("authorizer %s returned an invalid response: %s", authorizer.name, exc)
                return _Refused(_AUTHORIZER_ERROR)
            if authorizer.ttl_seconds > 0:
                with self._cache_lock:
                    self._cache[cache_key] = (time.monotonic() + authorizer.ttl_seconds, result)

        decision = _evaluate_policy(result.statements, method_arn)
        if decision == "allow":
            return _Allowed(result.principal_id, result.context, latency_ms)
        error = _EXPLICIT_DENY if decision == "explicit_deny" else _IMPLICIT_DENY
        return _Refused(error, {**result.context, "principalId": result.principal_id})

    def _cached(self, key: tuple[str, tuple[str, ...]]) -> _AuthorizerResult | None:
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            expires_at, result = entry
            if time.monotonic() >= expires_at:
                del self._cache[key]
                return None
            return result

    # gateway responses

    def _gateway_response(
        self,
        api: Api | None,
        error: _GatewayError,
        request: Request,
        request_id: str,
        authorizer_context: Mapping[str, str] | None = None,
    ) -> Response:
        """Render a gateway response from the template, falling back to DEFAULT_4XX or
        DEFAULT_5XX and then to API Gateway's own ``{"message": ...}`` body."""
        responses = api.gateway_responses if api is not None else {}
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
            variables[f"authorizer.{key}"] = value
        body = _render_context_variables(body_template, variables)

        headers: Headers = [("Content-Type", media_type)]
        for name, expression in (chosen.headers if chosen is not None else {}).items():
            header_value = _header_mapping_value(expression, request)
            if header_value is not None:
                headers.append((name, header_value))
        headers += [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", error.error_type)]
        return Response(status=status, headers=headers, body=body.encode("utf-8"))


def _reject_duplicate_routes(routes: Sequence[_CompiledRoute]) -> None:
    seen: set[tuple[str, str]] = set()
    for compiled in routes:
        key = (compiled.route.method, compiled.pattern.pattern)
        if key in seen:
            raise TemplateError(
                f"{compiled.route.method} {compiled.route.path} is declared twice; "
                "the local API serves all APIs of a template on one port"
            )
        seen.add(key)


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


def _single_values(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    return dict(pairs)


def _multi_values(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


def _authorizer_result(answer: Any) -> _AuthorizerResult:
    """Validate an authorizer's output as API Gateway does; context values become strings."""
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
    return _AuthorizerResult(str(principal_id), tuple(statements), context)


def _evaluate_policy(
    statements: Sequence[Mapping[str, Any]], method_arn: str
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
        if not any(_wildcard_match(resource, method_arn) for resource in resources):
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
    status = result.get("statusCode", 200)
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"malformed Lambda proxy response: statusCode {status!r}")
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


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError("malformed Lambda proxy response: a header value is not a scalar")


# --- Server ---------------------------------------------------------------------------


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiGatewayEmulator

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
            "%s %s -> %d (%d ms)",
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


class ApiGatewayEmulator(ThreadingHTTPServer):
    """The HTTP server; closing it also restores the environment it changed."""

    daemon_threads = True

    def __init__(self, gateway: Gateway, host: str, port: int, environment: Mapping[str, str]):
        super().__init__((host, port), _RequestHandler)
        self.gateway = gateway
        self._previous_environment = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def server_close(self) -> None:
        super().server_close()
        self.gateway.close()
        for name, value in self._previous_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
) -> ApiGatewayEmulator:
    """Build (not start) the emulator for a template; port 0 picks a free port.

    ``env`` is added to the functions' environment (e.g. DYNAMODB_ENDPOINT and
    GATEKEY_SECRET). ``authorizer_sources`` names the handler of an authorizer whose
    FunctionArn points outside the template (keyed by authorizer name).
    """
    template = load_template(template_path, parameter_overrides, table_name)
    gateway = Gateway(template, authorizer_sources)
    return ApiGatewayEmulator(gateway, host, port, function_environment(template, env))


class BackgroundApi:
    """An emulator serving from a daemon thread; ``stop()`` shuts it down and closes it."""

    def __init__(self, server: ApiGatewayEmulator):
        self.server = server
        self._stopped = False
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.server.shutdown()
            self._thread.join()
            self.server.server_close()

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
    """Create the emulator (see :func:`create_server`) and serve it from a thread."""
    return BackgroundApi(create_server(template_path, host, port, env, **options))


def parse_function_source(spec: str) -> FunctionSource:
    """Parse ``CODE_DIR:MODULE.FUNCTION`` (e.g. ``functions/authorizer:app.lambda_handler``)."""
    code_dir, separator, handler = spec.rpartition(":")
    if not separator or not code_dir or "." not in handler:
        raise ValueError(f"expected CODE_DIR:MODULE.FUNCTION, got {spec!r}")
    return FunctionSource(code_dir=Path(code_dir).resolve(), handler=handler)
