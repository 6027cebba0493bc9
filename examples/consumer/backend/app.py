"""The consumer's backend: shows who gatekey says the caller is.

REST APIs (payload 1.0) put the authorizer context at requestContext.authorizer; HTTP
APIs (payload 2.0) at requestContext.authorizer.lambda. Either way the values are
strings or scalars: user_id, account_id, email, role, token_type, key_handle, ...

The route behind API Gateway's own JWT authorizer (GET /native/orders) gets no gatekey
context: only the token's claims, every value a string, at
requestContext.authorizer.jwt.claims, and its scopes at .jwt.scopes.
"""

from __future__ import annotations

import json
from typing import Any

CALLER_FIELDS = ("user_id", "account_id", "email", "role", "token_type", "key_handle", "scopes")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """GET /orders lists (none, here); POST /orders "creates" one; GET /orders/{id} and
    GET /orders/{id}/refunds show one order and its refunds; GET /reports (the metered
    API) lists reports. API Gateway has already checked the route's scope and the key's
    limits: only callers holding them get this far."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    if "jwt" in authorizer:
        return _native(authorizer["jwt"])
    caller = authorizer.get("lambda", authorizer)  # HTTP API nests it under "lambda"
    method = event.get("httpMethod") or event.get("requestContext", {}).get("http", {}).get(
        "method"
    )
    # REST names the route by its resource, the HTTP API by its routeKey.
    route = event.get("resource") or event.get("routeKey", "").partition(" ")[2]
    order_id = (event.get("pathParameters") or {}).get("id")
    body: dict[str, Any] = {
        "caller": {field: caller.get(field) for field in CALLER_FIELDS},
        "api": "http" if event.get("version") == "2.0" else "rest",
    }
    if method == "POST":
        body["order"] = {"status": "created"}
    elif route == "/reports":
        # The metered route: the key's metadata (JSON text, "" when none) arrives too.
        body["reports"] = []
        body["meta"] = json.loads(caller["meta"]) if caller.get("meta") else None
    elif route == "/orders/{id}/refunds":
        body["refunds"] = []
        body["order_id"] = order_id
    elif route == "/orders/{id}":
        body["order"] = {"id": order_id}
    else:
        body["orders"] = []
    return {
        "statusCode": 201 if method == "POST" else 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def _native(jwt: dict[str, Any]) -> dict[str, Any]:
    """GET /native/orders: API Gateway checked the token's signature, issuer, audience,
    expiry and scope; who the caller is comes from the claims (sub is the user, client_id
    is there when an OAuth client got the token)."""
    claims = jwt.get("claims") or {}
    body: dict[str, Any] = {
        "orders": [],
        "caller": {
            "user_id": claims.get("sub"),
            "account_id": claims.get("account_id"),
            "client_id": claims.get("client_id"),
            "scopes": jwt.get("scopes"),
        },
        "claims": claims,
        "api": "http-jwt",
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
