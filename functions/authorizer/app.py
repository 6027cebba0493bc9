"""The gatekey Lambda authorizer: REST TOKEN/REQUEST and HTTP API payload 2.0 events.

Fails closed: a bad credential gets a Deny (401 through the ACCESS_DENIED gateway
response); a database outage or any other failure raises, which API Gateway answers
with AUTHORIZER_CONFIGURATION_ERROR or AUTHORIZER_FAILURE (both mapped to 503).
The event and the Authorization header are never logged.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

from gatekey import aws, metrics
from gatekey.edges import authorizer_events
from gatekey.errors import (
    ConfigurationError,
    InvalidToken,
    NotAuthenticated,
    PermissionMisconfigured,
    ServiceUnavailable,
    SessionUsedElsewhere,
    UsageRefused,
)
from gatekey.settings import get_settings
from gatekey.store import get_lean_store
from gatekey.tokens.authorization import get_authorizer

logger = logging.getLogger("gatekey.authorizer")
logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))


class AuthorizerUnavailable(Exception):
    """Raised to API Gateway when the credential could not be checked."""


class Unauthorized(Exception):
    """API Gateway's own 401 (UNAUTHORIZED): raised with exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


# The authorizer talks to AWS through gatekey.aws, not boto3: its cold start is paid by
# every API that attaches it. Build the client during init; under SnapStart or
# provisioned concurrency, init runs before any user waits, so load the CA certificates
# then too. Afterwards move everything allocated so far out of the garbage collector's
# reach: later collections, at cold start and in every warm invocation, skip that heap.
get_lean_store()
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in {"snap-start", "provisioned-concurrency"}:
    aws.tls_context()
gc.freeze()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The answer to API Gateway, counted as metric `Authorizations` by outcome and type."""
    try:
        answer, outcome, token_type = _authorize(event)
    except Unauthorized:
        metrics.emit(metrics.AUTHORIZATIONS, outcome="deny", token_type="unknown")
        raise
    except AuthorizerUnavailable:
        metrics.emit(metrics.AUTHORIZATIONS, outcome="error", token_type="unknown")
        raise
    metrics.emit(metrics.AUTHORIZATIONS, outcome=outcome, token_type=token_type)
    return answer


def _record_session_used_elsewhere(
    event: dict[str, Any], error: SessionUsedElsewhere, user_agent: str | None
) -> None:
    """Audits `session.ended` (reason: another User-Agent); best effort, never an allow.
    Imported here only: it runs once per stolen session, never on the warm path."""
    from gatekey.accounts import audit

    context = event.get("requestContext") or {}
    ip = (context.get("identity") or {}).get("sourceIp") or (context.get("http") or {}).get(
        "sourceIp"
    )
    try:
        meta = audit.RequestMeta(ip=str(ip) if ip else None, user_agent=user_agent)
        audit.session_used_elsewhere(get_lean_store(), error.session, meta)
    except Exception:
        logger.warning("session.ended not recorded", exc_info=True)


def _authorize(event: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    try:
        request = authorizer_events.read_event(event)
    except (KeyError, TypeError, AttributeError):
        logger.warning("unrecognised authorizer event")
        raise AuthorizerUnavailable("unrecognised event") from None
    except ConfigurationError as error:
        logger.warning("misconfigured API: %s", error)
        raise AuthorizerUnavailable("configuration error") from None
    simple = get_settings().http_api_simple_responses
    try:
        principal = get_authorizer(lean=True).authorize(
            request.authorization,
            request.user_agent,
            user_agent_known=request.kind != authorizer_events.TOKEN,
            source_ip=request.source_ip,
        )
    except UsageRefused as error:
        # The key is fine, its usage rules refuse this call: a Deny that names why
        # (ACCESS_DENIED's body), or for gatekey's own API an allow carrying the refusal.
        logger.info("refused %s event: %s", request.kind, error.code)
        if request.refusals_to_backend:
            answer = authorizer_events.refusal_for_backend(request, error)
        else:
            answer = authorizer_events.deny(request, error, simple=simple)
        return answer, "refused", "unknown"
    except (NotAuthenticated, InvalidToken) as error:
        logger.info("denied %s event: %s", request.kind, error.code)
        if isinstance(error, SessionUsedElsewhere):
            _record_session_used_elsewhere(event, error, request.user_agent)
        if request.route_scopes is not None and request.kind == authorizer_events.REQUEST:
            # This API's ACCESS_DENIED (403) means "lacks the route's scope"; a bad
            # credential must get the 401 that only raising "Unauthorized" gives.
            raise Unauthorized() from None
        return authorizer_events.deny(request, error, simple=simple), "deny", "unknown"
    except PermissionMisconfigured:
        # The store logged the one line that says which permission is missing.
        raise AuthorizerUnavailable("permission missing") from None
    except ServiceUnavailable:
        logger.warning("store unavailable; failing closed")
        raise AuthorizerUnavailable("service unavailable") from None
    except Exception:
        logger.exception("authorizer error; failing closed")
        raise AuthorizerUnavailable("authorizer error") from None
    return authorizer_events.allow(request, principal, simple=simple), "allow", principal.token_type
