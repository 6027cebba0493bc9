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

from gatekey import authorizer_events
from gatekey.authorization import get_authorizer
from gatekey.errors import (
    InvalidToken,
    NotAuthenticated,
    PermissionMisconfigured,
    ServiceUnavailable,
)
from gatekey.settings import get_settings
from gatekey.store import get_store

logger = logging.getLogger("gatekey.authorizer")
logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))


class AuthorizerUnavailable(Exception):
    """Raised to API Gateway when the credential could not be checked."""


# Build the DynamoDB client during init, then move everything allocated so far (mostly
# botocore's models) out of the garbage collector's reach: later collections, at cold
# start and in every warm invocation, no longer rescan that heap.
get_store()
gc.freeze()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = authorizer_events.read_event(event)
    except (KeyError, TypeError, AttributeError):
        logger.warning("unrecognised authorizer event")
        raise AuthorizerUnavailable("unrecognised event") from None
    simple = get_settings().http_api_simple_responses
    try:
        principal = get_authorizer().authorize(
            request.authorization,
            request.user_agent,
            user_agent_known=request.kind != authorizer_events.TOKEN,
        )
    except (NotAuthenticated, InvalidToken) as error:
        logger.info("denied %s event: %s", request.kind, error.code)
        return authorizer_events.deny(request, error, simple=simple)
    except PermissionMisconfigured:
        # The store logged the one line that says which permission is missing.
        raise AuthorizerUnavailable("permission missing") from None
    except ServiceUnavailable:
        logger.warning("store unavailable; failing closed")
        raise AuthorizerUnavailable("service unavailable") from None
    except Exception:
        logger.exception("authorizer error; failing closed")
        raise AuthorizerUnavailable("authorizer error") from None
    return authorizer_events.allow(request, principal, simple=simple)
