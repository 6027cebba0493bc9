"""What every HTTP handler shares: the resolver, error mapping, bodies and the caller.

Handlers stay thin: they register routes on `create_app()`, parse bodies with
`parse_body`, read the caller with `current_principal`, and call one service.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, ValidationError

from gatekey import policy
from gatekey.accounts.audit import RequestMeta
from gatekey.edges.models import path_parameter_ok
from gatekey.errors import (
    USAGE_REFUSALS,
    BadRequest,
    GatekeyError,
    NotAuthenticated,
    NotFound,
    PermissionMisconfigured,
    ServerError,
    SessionUsedElsewhere,
    ValidationFailed,
    error_entry,
)
from gatekey.principal import Principal

Model = TypeVar("Model", bound=BaseModel)
logger = Logger()

FORM = "application/x-www-form-urlencoded"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def empty_response(status: int) -> Response[str]:
    return Response(status_code=status, body="", headers={"Cache-Control": "no-store"})


def error_response(error: GatekeyError) -> Response[str]:
    return json_response(error.status, error.body(), error.headers())


def create_app() -> APIGatewayRestResolver:
    """A resolver whose errors all answer in the contract's format, never with a trace."""
    app = APIGatewayRestResolver()

    @app.exception_handler(GatekeyError)  # type: ignore[untyped-decorator]
    def _gatekey_error(error: GatekeyError) -> Response[str]:
        if error.status >= 500 and not isinstance(error, PermissionMisconfigured):
            logger.warning("request failed", extra={"code": error.code})
        if isinstance(error, SessionUsedElsewhere):  # a refresh token from another client
            _record_session_used_elsewhere(error, request_meta(app))
        return error_response(error)

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return error_response(NotFound())

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(error: Exception) -> Response[str]:
        logger.exception("unhandled error", extra={"error_type": type(error).__name__})
        return error_response(ServerError())

    app.use(middlewares=[_usage_refusal_answered, _path_parameters_checked])
    return app


def _usage_refusal_answered(
    app: APIGatewayRestResolver, next_middleware: Callable[..., Response[str]]
) -> Response[str]:
    """A key's usage refusal that the authorizer passed on as context (gatekey's own
    API sets `gatekeyRefusalsToBackend`): 429 `rate_limited`/`usage_exceeded` with
    Retry-After, or 403 `ip_not_allowed`, before any route runs."""
    context = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    code = context.get("refusal_code")
    if code:
        refusal = USAGE_REFUSALS.get(str(code))
        if refusal is None:
            raise NotAuthenticated()
        retry_after = str(context.get("refusal_retry_after") or "")
        raise refusal(int(retry_after) if retry_after.isdigit() else None)
    return next_middleware(app)


def _record_session_used_elsewhere(error: SessionUsedElsewhere, meta: RequestMeta) -> None:
    """Audits the session that authorization ended; the 401 goes out even if this fails."""
    from gatekey.accounts import audit
    from gatekey.store import get_store

    try:
        audit.session_used_elsewhere(get_store(), error.session, meta)
    except GatekeyError:
        logger.warning("session.ended not recorded", extra={"code": "audit_failed"})


def _path_parameters_checked(
    app: APIGatewayRestResolver, next_middleware: Callable[..., Response[str]]
) -> Response[str]:
    """Every route's path parameters, as API Gateway names them and as the route's
    function receives them: one that cannot name anything (an id that is not a UUID, a
    handle over 64 characters) is 404 `not_found` before the handler runs."""
    parameters = {
        **(app.current_event.path_parameters or {}),
        **(app.context.get("_route_args") or {}),
    }
    if not all(path_parameter_ok(name, value) for name, value in parameters.items()):
        raise NotFound()
    return next_middleware(app)


def lambda_handler_for(app: APIGatewayRestResolver) -> Callable[[dict[str, Any], Any], Any]:
    """The function's entry point: every log line of the invocation carries its Lambda
    context and the API Gateway request id as `correlation_id`."""

    @logger.inject_lambda_context(
        clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST
    )
    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        return app.resolve(event, context)

    return lambda_handler


def _raw_body(app: APIGatewayRestResolver) -> str:
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            body = base64.b64decode(body).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("The body is not valid UTF-8.") from None
    return body


def parse_body(
    app: APIGatewayRestResolver, model: type[Model], *, allow_form: bool = False
) -> Model:
    """The request body as `model`: JSON, or a urlencoded form where the route allows it."""
    raw = _raw_body(app)
    content_type = (app.current_event.headers.get("content-type") or "").split(";")[0].strip()
    data: Any
    if allow_form and content_type.lower() == FORM:
        data = dict(parse_qsl(raw, keep_blank_values=True))
    elif not raw.strip():
        data = {}
    else:
        try:
            data = json.loads(raw, parse_float=_json_number)
        except (ValueError, RecursionError):  # RecursionError: hostile deep nesting
            raise BadRequest("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(validation_entries(exc)) from None


def _json_number(text: str) -> int | float:
    """A JSON number with a fraction: `30.0` and `3e1` are the integer 30, as JSON
    Schema (and so the spec's `type: integer`) counts them; `1.5` stays a float, which
    an integer field refuses. Not a coercion: `"30"` and `true` are still refused."""
    value = float(text)
    return int(value) if value.is_integer() else value


def validation_entries(exc: ValidationError) -> list[dict[str, Any]]:
    """One contract error entry per bad field; the rejected input is never echoed, and
    a validator's own message is given as it wrote it (without pydantic's "Value error, "
    or "Assertion failed, " in front)."""
    entries = []
    for error in exc.errors(include_input=False, include_url=False):
        attr = ".".join(str(part) for part in error["loc"]) or None
        code = "required" if error["type"] == "missing" else "invalid"
        entries.append(error_entry(code, _message(error["type"], error["msg"]), attr))
    return entries


_PYDANTIC_PREFIXES = {"value_error": "Value error, ", "assertion_error": "Assertion failed, "}


def _message(error_type: str, message: str) -> str:
    prefix = _PYDANTIC_PREFIXES.get(error_type)
    if prefix and message.startswith(prefix):
        message = message[len(prefix) :]
    return message


def header(app: APIGatewayRestResolver, name: str) -> str | None:
    """A request header, case-insensitively."""
    value = app.current_event.headers.get(name.lower())
    return None if value is None else str(value)


def current_principal(
    app: APIGatewayRestResolver, action: policy.Action | None = None
) -> Principal:
    """The caller as the authorizer described it; no context means no access.

    With `action`, a caller the policy refuses it is refused (403) before its body is
    even read.
    """
    context = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    try:
        principal = Principal.from_context(context)
    except (KeyError, TypeError, ValueError):
        raise NotAuthenticated() from None
    if action is not None:
        policy.check(principal, action)
    return principal


def request_meta(app: APIGatewayRestResolver) -> RequestMeta:
    """The caller's IP (as API Gateway saw it) and User-Agent, for the audit log."""
    identity = (app.current_event.raw_event.get("requestContext") or {}).get("identity") or {}
    ip = identity.get("sourceIp")
    return RequestMeta(ip=str(ip) if ip else None, user_agent=header(app, "User-Agent"))
