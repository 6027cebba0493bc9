"""The consumer's backend: shows who gatekey says the caller is.

REST APIs (payload 1.0) put the authorizer context at requestContext.authorizer; HTTP
APIs (payload 2.0) at requestContext.authorizer.lambda. Either way the values are
strings or scalars: user_id, account_id, email, role, token_type, key_handle, ...
"""

from __future__ import annotations

import json
from typing import Any

CALLER_FIELDS = ("user_id", "account_id", "email", "role", "token_type", "key_handle")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    caller = authorizer.get("lambda", authorizer)  # HTTP API nests it under "lambda"
    body = {
        "orders": [],
        "caller": {field: caller.get(field) for field in CALLER_FIELDS},
        "api": "http" if event.get("version") == "2.0" else "rest",
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
