"""Request bodies, validated with pydantic (never imported by the authorizer)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gatekey import scopes as scope_rules
from gatekey import usage
from gatekey.accounts.users import email_problem
from gatekey.errors import ValidationFailed
from gatekey.records import KeyType

MAX_PASSWORD_LENGTH = 1024


def _valid_scopes(value: list[str] | None) -> list[str] | None:
    """Each scope well-formed (CONTRACT section 7); duplicates collapse."""
    if value is None:
        return None
    for scope in value:
        reason = scope_rules.problem(scope)
        if reason:
            raise ValueError(reason)
    return list(scope_rules.normalize(value))


def _valid_email(value: str) -> str:
    problem = email_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def scopes_field() -> Any:
    return Field(default=None, min_length=1, max_length=scope_rules.MAX_SCOPES)


class StrictModel(BaseModel):
    """Every request body: types are never coerced (`false`, `true` or `"60"` is no
    integer, `60` no string). A urlencoded form's values are all strings, and the only
    models that take a form (login, revoke) have string fields only."""

    model_config = ConfigDict(strict=True)


class LoginRequest(StrictModel):
    model_config = ConfigDict(str_strip_whitespace=False)

    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    account_id: str | None = Field(default=None, min_length=1, max_length=64)
    # with MFA on, one of these (an empty form field counts as absent)
    totp: str | None = Field(default=None, max_length=16)
    recovery_code: str | None = Field(default=None, max_length=64)

    _email = field_validator("email")(_valid_email)


HANDLE_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
RFC3339_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
MAX_GRACE_SECONDS = 86_400

# -- path parameters -------------------------------------------------------------------
# Ids are the canonical form of uuid4 that the store writes; a handle is a key's handle;
# any other parameter is held to a handle's alphabet and length.
_PATH_PARAMETER_RULES = {
    "id": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    "handle": re.compile(HANDLE_PATTERN),
}


def path_parameter_ok(name: str, value: object) -> bool:
    """Whether a path parameter can name anything at all: `id` and `*_id` are UUIDs,
    anything else (`handle`) is 1 to 64 of `[A-Za-z0-9_.-]`. Checked before any read,
    as DynamoDB refuses keys over 1 KB (it would be a 500) and nothing longer exists."""
    kind = "id" if name == "id" or name.endswith("_id") else "handle"
    return isinstance(value, str) and bool(_PATH_PARAMETER_RULES[kind].fullmatch(value))


# -- usage rules (contract section 9) ----------------------------------------------------


class RateLimit(StrictModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(ge=1, le=usage.MAX_LIMIT)
    window_seconds: int = Field(ge=1, le=usage.MAX_WINDOW_SECONDS)


class Refill(StrictModel):
    model_config = ConfigDict(extra="forbid")

    interval: Literal["daily", "monthly"]
    amount: int = Field(ge=1, le=usage.MAX_CREDITS)


class Credits(StrictModel):
    model_config = ConfigDict(extra="forbid")

    remaining: int = Field(ge=0, le=usage.MAX_CREDITS)
    refill: Refill | None = None


MetaValue = str | int | float | bool
NETWORK_TEXT_LENGTH = 64  # an IPv6 CIDR is at most 43 characters


class UsageRules(StrictModel):
    """`ratelimit`, `credits`, `meta` and `allowed_ips`: null (or absent) = no rule."""

    ratelimit: RateLimit | None = None
    credits: Credits | None = None
    meta: dict[str, MetaValue] | None = Field(default=None, max_length=128)
    allowed_ips: list[str] | None = Field(default=None, max_length=usage.MAX_NETWORKS)

    @field_validator("meta")
    @classmethod
    def _flat_and_small(cls, value: dict[str, MetaValue] | None) -> dict[str, MetaValue] | None:
        if value is not None:
            problem = usage.meta_problem(value)
            if problem:
                raise PydanticCustomError("meta", problem)
        return value

    @field_validator("allowed_ips")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if any(len(text) > NETWORK_TEXT_LENGTH for text in value):
            raise PydanticCustomError("network", "A network is at most 64 characters.")
        try:
            return usage.normalize_networks(value)
        except ValueError as error:
            raise PydanticCustomError("network", str(error)) from None

    def rules(self) -> dict[str, Any]:
        """The rules the body sets (a field sent as null included), as a key view shows them."""
        return self.model_dump(include=set(usage.RULE_FIELDS), exclude_unset=True)


class CreateKeyRequest(UsageRules):
    model_config = ConfigDict(extra="forbid")

    handle: str = Field(pattern=HANDLE_PATTERN)
    alias: str | None = Field(default=None, max_length=128)
    type: KeyType = "token"
    expires_at: str | None = Field(default=None, max_length=64)
    expires_in_days: int | None = Field(default=None, ge=1, le=36_500)
    scopes: list[str] | None = scopes_field()

    _scopes = field_validator("scopes")(_valid_scopes)

    @field_validator("expires_at")
    @classmethod
    def _rfc3339(cls, value: str | None) -> str | None:
        """An RFC 3339 date-time (the spec's `format: date-time`): a date alone or a
        timestamp without `Z` or an offset is refused, not guessed."""
        if value is not None and not RFC3339_DATE_TIME.fullmatch(value):
            raise PydanticCustomError(
                "date_time", "expires_at must be an RFC 3339 date-time, e.g. 2027-01-01T00:00:00Z."
            )
        return value


class UpdateKeyRequest(UsageRules):
    model_config = ConfigDict(extra="forbid")

    alias: str | None = Field(default=None, max_length=128)
    scopes: list[str] = Field(
        default_factory=lambda: list(scope_rules.DEFAULT_SCOPES),
        min_length=1,
        max_length=scope_rules.MAX_SCOPES,
    )
    expires_at: object = Field(default=None, description="refused: fixed at creation")

    _scopes = field_validator("scopes")(_valid_scopes)

    @field_validator("expires_at")
    @classmethod
    def _expiry_is_fixed(cls, value: object) -> object:
        raise ValueError("expires_at is set at creation only")


DEFAULT_USAGE_DAYS = 30


def usage_days(text: str | None) -> int:
    """`?days=` of the usage route: 1 to 90, default 30; anything else is a 400."""
    if text is None:
        return DEFAULT_USAGE_DAYS
    if not text.isdigit() or not 1 <= int(text) <= usage.USAGE_DAYS_KEPT:
        raise ValidationFailed.field("days", "days must be a whole number from 1 to 90.")
    return int(text)


class RotateKeyRequest(StrictModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int = Field(default=0, ge=0, le=MAX_GRACE_SECONDS)


class CreateBotRequest(UsageRules):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    scopes: list[str] | None = scopes_field()

    _scopes = field_validator("scopes")(_valid_scopes)


class RevokeRequest(StrictModel):
    """RFC 7009 body; `token_type_hint` is accepted and ignored, as the RFC allows."""

    token: str = Field(min_length=1, max_length=4096)
    token_type_hint: str | None = Field(default=None, max_length=64)


class LeakReport(StrictModel):
    """`POST /credentials/revoke`: strings found in public that may be gatekey tokens."""

    model_config = ConfigDict(extra="forbid")

    credentials: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        min_length=1, max_length=100
    )


# -- user administration (issue #12, part A) ------------------------------------------


class CreateUserRequest(StrictModel):
    """`POST /account/users`; without a password the user gets a set-password message."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Literal["admin", "member"] = "member"
    password: str | None = Field(default=None, min_length=1, max_length=MAX_PASSWORD_LENGTH)

    _email = field_validator("email")(_valid_email)


class UpdateUserRequest(StrictModel):
    """`PATCH /account/users/{id}`: a role and/or the disabled flag; at least one."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["admin", "member"] | None = None
    disabled: bool | None = Field(default=None, strict=True)

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateUserRequest:
        if self.role is None and self.disabled is None:
            raise PydanticCustomError("nothing_to_change", "Give role and/or disabled.")
        return self


# -- passwords and MFA (issue #12, part B) --------------------------------------------
# New passwords are checked by `passwords.check_password_rule` (attr `password`), not
# here, so every route reports the rule the same way.


class PasswordResetRequest(StrictModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    account_id: str | None = Field(default=None, min_length=1, max_length=64)

    _email = field_validator("email")(_valid_email)


class PasswordResetConfirm(StrictModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=512)
    new_password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class ChangePasswordRequest(StrictModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class TotpEnrolRequest(StrictModel):
    """`POST /user/mfa/totp`: the password again, so a stolen session cannot do it."""

    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class TotpConfirmRequest(StrictModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=16)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class DisableMfaRequest(StrictModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    code: str = Field(min_length=1, max_length=64, description="a TOTP code or a recovery code")


# -- the account's key policy (contract section 11) -------------------------------------


class KeyPolicyRequest(StrictModel):
    """`PUT /account/policy`: the whole policy (an absent field is null: no rule)."""

    model_config = ConfigDict(extra="forbid")

    max_key_lifetime_days: int | None = Field(default=None, ge=1, le=3650)
    key_idle_days: int | None = Field(default=None, ge=1, le=3650)
