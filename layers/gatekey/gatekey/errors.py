"""One exception tree; each leaf knows its contract code, HTTP status and error type.

`GatekeyError.body()` renders the contract's error format (CONTRACT section 4). The
detail strings never contain a credential: callers pass fixed wording only.
"""

from __future__ import annotations

from typing import Any, ClassVar


def error_entry(
    code: str, detail: str, attr: str | None = None, extra: Any = None
) -> dict[str, Any]:
    """One entry of an error body's `errors` list; the only place that spells one."""
    return {"code": code, "detail": detail, "attr": attr, "extra": extra}


class GatekeyError(Exception):
    """Root of every error gatekey reports to a client."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    error_type: ClassVar[str] = "client_error"
    default_detail: ClassVar[str] = "The request could not be processed."

    def __init__(
        self, detail: str | None = None, *, attr: str | None = None, extra: Any = None
    ) -> None:
        self.detail = detail or self.default_detail
        self.attr = attr
        self.extra = extra
        super().__init__(self.detail)

    def entry(self) -> dict[str, Any]:
        return error_entry(self.code, self.detail, self.attr, self.extra)

    def body(self) -> dict[str, Any]:
        return {"type": self.error_type, "errors": [self.entry()]}

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(GatekeyError):
    """The body is not JSON, not an object, or otherwise unreadable."""


class ValidationFailed(GatekeyError):
    """One or more fields are invalid; one entry per field."""

    code = "invalid"
    error_type = "validation_error"
    default_detail = "This field is invalid."

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        super().__init__(entries[0]["detail"] if entries else None)

    @classmethod
    def field(
        cls, attr: str, detail: str, *, code: str = "invalid", extra: Any = None
    ) -> ValidationFailed:
        """One field's error (`code` `invalid`, `required`, `password_too_short`...)."""
        return cls([error_entry(code, detail, attr, extra)])

    def body(self) -> dict[str, Any]:
        return {"type": self.error_type, "errors": self.entries}


class NotAuthenticated(GatekeyError):
    """No credentials were presented."""

    status = 401
    code = "not_authenticated"
    default_detail = "Authentication credentials were not provided."


class InvalidToken(GatekeyError):
    """The token is expired, revoked, forged, malformed or names an unknown key."""

    status = 401
    code = "invalid_token"
    default_detail = "The provided token is expired or invalid."


class SessionUsedElsewhere(InvalidToken):
    """A session token came with another User-Agent than the one that logged in: the
    session has been ended for good (contract section 5). `session` is the ended session."""

    default_detail = (
        "This session was ended because it was used from another client"
        " (a different User-Agent). Log in again."
    )

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session


class CodeAlreadyUsed(GatekeyError):
    """A right TOTP code presented a second time: each code works once."""

    status = 401
    code = "invalid_credentials"
    default_detail = "This code was already used; wait for the next one from your app."


class InvalidCredentials(GatekeyError):
    """Unknown email or wrong password; the two are deliberately indistinguishable."""

    status = 401
    code = "invalid_credentials"
    default_detail = "Invalid email or password."


class MfaRequired(GatekeyError):
    """The password is right, but the user has two-step verification on and sent no code."""

    status = 401
    code = "mfa_required"
    default_detail = "Two-step verification is on: send totp (or recovery_code) with the password."


class PermissionDenied(GatekeyError):
    """The caller is authenticated but may not do this."""

    status = 403
    code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class NotFound(GatekeyError):
    """The resource does not exist, or is not the caller's."""

    status = 404
    code = "not_found"
    default_detail = "Not found."


class Conflict(GatekeyError):
    """The write conflicts with existing data."""

    status = 409
    code = "conflict"
    default_detail = "The request conflicts with existing data."


class OwnerChanged(Conflict):
    """The owner of a credential being created changed meanwhile (role, state, password):
    the creation is decided again from a fresh read."""

    default_detail = "The user changed while this request ran; try again."


class HandleTaken(Conflict):
    """The user already has a key with this handle."""

    code = "handle_taken"
    default_detail = "A key with this handle already exists."


class EmailTaken(Conflict):
    """The account already has a user with this email."""

    code = "email_taken"
    default_detail = "A user with this email already exists in this account."


class Throttled(GatekeyError):
    """Too many attempts; retry after `retry_after` seconds."""

    status = 429
    code = "throttled"
    default_detail = "Too many failed attempts; try again later."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(detail, extra={"retry_after": self.retry_after})

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UsageRefused(GatekeyError):
    """A key's usage rules refused this authorization (contract section 9); the key is
    otherwise fine. `retry_after`: seconds until it may pass again, when known."""

    def __init__(self, retry_after: int | None = None) -> None:
        self.retry_after = None if retry_after is None else max(1, int(retry_after))
        super().__init__(extra=None if self.status == 403 else {"retry_after": self.retry_after})

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class RateLimited(UsageRefused):
    status = 429
    code = "rate_limited"
    default_detail = "This key's rate limit is reached; try again in the next window."


class UsageExceeded(UsageRefused):
    status = 429
    code = "usage_exceeded"
    default_detail = "This key has no credits left."


class IpNotAllowed(UsageRefused):
    status = 403
    code = "ip_not_allowed"
    default_detail = "This key may not be used from this network address."


USAGE_REFUSALS: dict[str, type[UsageRefused]] = {
    error.code: error for error in (RateLimited, UsageExceeded, IpNotAllowed)
}


class ServerError(GatekeyError):
    """An error of ours nobody foresaw: the 500 body, which tells nothing of the cause."""

    status = 500
    code = "error"
    error_type = "server_error"
    default_detail = "A server error occurred."


class ServiceUnavailable(GatekeyError):
    """The database (or the secret store) is unreachable or throttling."""

    status = 503
    code = "service_unavailable"
    error_type = "server_error"
    default_detail = "The service is temporarily unavailable, try again later."

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class PermissionMisconfigured(ServiceUnavailable):
    """AWS refused a call for lack of permission: the function's role misses an action.

    A deployment error, not a client's: clients get the same 503 as an outage, and the
    store logs one line naming the action and resource (`action`, `resource`).
    """

    def __init__(self, action: str = "unknown action", resource: str = "unknown resource") -> None:
        self.action = action
        self.resource = resource
        super().__init__()


class ConfigurationError(RuntimeError):
    """The function's environment is incomplete; raised at cold start, never to a client."""
