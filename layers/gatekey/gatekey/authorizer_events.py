"""Reads API Gateway authorizer events and writes their responses.

Handles REST `TOKEN` and `REQUEST` events (IAM policy responses) and HTTP API payload
2.0 events (simple responses, or IAM policies when configured). On allow, the policy
covers the whole stage, so a cached result never denies the caller's next route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gatekey.errors import GatekeyError
from gatekey.principal import Principal

ANONYMOUS = "anonymous"
TOKEN = "TOKEN"
REQUEST = "REQUEST"
HTTP = "HTTP"


@dataclass(frozen=True)
class AuthorizerRequest:
    kind: str  # TOKEN, REQUEST or HTTP
    authorization: str | None
    user_agent: str | None
    resource_arn: str


def _header(headers: dict[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return None if value is None else str(value)
    return None


def read_event(event: dict[str, Any]) -> AuthorizerRequest:
    """The credential, User-Agent and resource of any supported authorizer event."""
    if event.get("version") == "2.0":
        headers = event.get("headers") or {}
        identity = event.get("identitySource") or []
        authorization = _header(headers, "authorization")
        if authorization is None and identity:
            authorization = str(identity[0])
        return AuthorizerRequest(
            HTTP, authorization, _header(headers, "user-agent"), event.get("routeArn", "")
        )
    if event.get("type") == "TOKEN":
        return AuthorizerRequest(TOKEN, event.get("authorizationToken"), None, event["methodArn"])
    headers = event.get("headers") or {}
    return AuthorizerRequest(
        REQUEST,
        _header(headers, "authorization"),
        _header(headers, "user-agent"),
        event["methodArn"],
    )


def stage_wildcard(resource_arn: str) -> str:
    """`arn:...:api-id/stage/GET/user` -> `arn:...:api-id/stage/*`: every route of the stage."""
    prefix, _, path = resource_arn.partition(":execute-api:")
    if not path:
        return resource_arn
    parts = path.split("/")
    return f"{prefix}:execute-api:{'/'.join(parts[:2])}/*"


def _policy(
    principal_id: str, effect: str, resource_arn: str, context: dict[str, Any]
) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": effect,
                    "Resource": stage_wildcard(resource_arn),
                }
            ],
        },
        "context": context,
    }


def allow(request: AuthorizerRequest, principal: Principal, *, simple: bool) -> dict[str, Any]:
    context = principal.to_context()
    if request.kind == HTTP and simple:
        return {"isAuthorized": True, "context": context}
    return _policy(principal.user_id, "Allow", request.resource_arn, context)


def deny(request: AuthorizerRequest, error: GatekeyError, *, simple: bool) -> dict[str, Any]:
    """A denial whose context lets the gateway response name the reason."""
    context = {"error_code": error.code, "error_detail": error.detail}
    if request.kind == HTTP and simple:
        return {"isAuthorized": False, "context": context}
    return _policy(ANONYMOUS, "Deny", request.resource_arn, context)
