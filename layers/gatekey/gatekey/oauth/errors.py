"""RFC 6749 §5.2 errors: `{"error", "error_description"}`, not the contract's own body.

OAuth clients parse this shape; gatekey's other routes keep section 4's.
"""

from __future__ import annotations


class OAuthError(Exception):
    """An error answered in RFC 6749 §5.2's format."""

    status = 400
    error = "invalid_request"

    def __init__(self, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}

    def headers(self) -> dict[str, str]:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class InvalidRequest(OAuthError):
    """A parameter is missing, repeated or malformed."""


class InvalidGrant(OAuthError):
    """The refresh token is invalid, expired, revoked or not this client's."""

    error = "invalid_grant"


class InvalidScope(OAuthError):
    """The requested scope is malformed or exceeds what the client holds."""

    error = "invalid_scope"


class UnsupportedGrantType(OAuthError):
    """Only `client_credentials` and `refresh_token` are served."""

    error = "unsupported_grant_type"


class InvalidClient(OAuthError):
    """Client authentication failed (401 with a Basic challenge, RFC 6749 §5.2)."""

    status = 401
    error = "invalid_client"

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "WWW-Authenticate": 'Basic realm="gatekey"'}


class ClientLocked(InvalidClient):
    """Too many failed authentications of this client: 429 until its lockout ends."""

    status = 429

    def headers(self) -> dict[str, str]:
        return {"Cache-Control": "no-store", "Retry-After": str(self.retry_after or 1)}


class InvalidBearer(OAuthError):
    """A session token that does not authenticate the caller (RFC 6750 §3)."""

    status = 401
    error = "invalid_token"

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "WWW-Authenticate": 'Bearer error="invalid_token"'}
