"""Typed records of the table's items: `Session`, `ApiKey`, `User`.

Frozen dataclasses rather than pydantic models: the authorizer imports this module,
and pydantic's import would cost its cold start (`make bench`). `from_item` reads an
item as the store returns it (attributes it does not know, such as `pk` or `gsi1pk`,
are ignored; numbers become ints); `to_item` gives the attributes back under the same
names, for the store to add its keys to (None attributes are not written). Absent
flags read as False and are written back as false, which every reader treats alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal, Self, cast

KeyType = Literal["token", "jwt"]
TOKEN: KeyType = "token"
JWT: KeyType = "jwt"
KEY_TYPES: tuple[KeyType, ...] = (TOKEN, JWT)


class TokenType(StrEnum):
    """What kind of credential a principal presented (the context's `token_type`)."""

    SESSION = "session"
    API_KEY = "api_key"
    CLIENT_JWT = "client_jwt"


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _int_map(value: Any) -> dict[str, int] | None:
    return None if value is None else {str(k): int(v) for k, v in value.items()}


USAGE_PREFIX = "u"
ALLOWED_SUFFIX = "a"
REFUSED_SUFFIX = "r"


def usage_attribute(day: str, suffix: str) -> str:
    """The attribute counting one UTC day's allowed (`a`) or refused (`r`) authorizations
    of a key: `u20261204a`. Short, as the authorizer reads the whole item on each call."""
    return f"{USAGE_PREFIX}{day.replace('-', '')}{suffix}"


def usage_days(item: dict[str, Any]) -> tuple[tuple[str, int, int], ...]:
    """((`2026-12-04`, allowed, refused), ...) from a key item's usage attributes."""
    days: dict[str, list[int]] = {}
    for name, value in item.items():
        if (
            len(name) == 10
            and name[0] == USAGE_PREFIX
            and name[1:9].isdigit()
            and name[9] in (ALLOWED_SUFFIX, REFUSED_SUFFIX)
        ):
            day = f"{name[1:5]}-{name[5:7]}-{name[7:9]}"
            counts = days.setdefault(day, [0, 0])
            counts[0 if name[9] == ALLOWED_SUFFIX else 1] += int(value)
    return tuple((day, a, r) for day, (a, r) in sorted(days.items()))


class _Record:
    """`to_item` for the dataclasses below: every field under its own name."""

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {}
        for spec in fields(cast(Any, self)):
            value = getattr(self, spec.name)
            if isinstance(value, tuple):
                value = list(value)
            item[spec.name] = value
        return item


@dataclass(frozen=True)
class Session(_Record):
    """A login: the user's role and flags are copied here, so one read authorizes."""

    session_id: str
    user_id: str
    account_id: str
    email: str
    role: str
    created_at: int
    last_used_at: int
    max_expires_at: int
    ttl: int
    is_bot: bool = False
    disabled: bool = False
    user_agent: str = ""
    revoked_until: int | None = None
    credentials_version: int = 0

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Self:
        return cls(
            session_id=str(item["session_id"]),
            user_id=str(item["user_id"]),
            account_id=str(item["account_id"]),
            email=str(item["email"]),
            role=str(item["role"]),
            created_at=int(item["created_at"]),
            last_used_at=int(item["last_used_at"]),
            max_expires_at=int(item["max_expires_at"]),
            ttl=int(item["ttl"]),
            is_bot=bool(item.get("is_bot", False)),
            disabled=bool(item.get("disabled", False)),
            user_agent=str(item.get("user_agent", "")),
            revoked_until=_int(item.get("revoked_until")),
            credentials_version=int(item.get("credentials_version") or 0),
        )


@dataclass(frozen=True)
class ApiKey(_Record):
    """An API key (`token`) or a client-JWT key (`jwt`), with its rotation state."""

    key_id: str
    user_id: str
    account_id: str
    role: str
    handle: str
    type: KeyType
    created_at: int
    version: int
    secret_kid: str
    email: str = ""
    is_bot: bool = False
    disabled: bool = False
    alias: str | None = None
    expires_at: int | None = None
    last_used_at: int | None = None
    scopes: tuple[str, ...] = field(default=())
    previous_version: int | None = None
    previous_secret_kid: str | None = None
    previous_valid_until: int | None = None
    revoked_until: int | None = None
    credentials_version: int = 0
    # Usage rules (contract section 9; credentials/usage.py) and the counters the
    # authorizer's metered update keeps (tokens/metering.py). `usage_rules` is a fresh
    # token on every change of the rules or of `credits_remaining`: a metered update
    # conditions on it, so it never acts on rules it did not read.
    ratelimit: dict[str, int] | None = None  # {"limit", "window_seconds"}
    credits: dict[str, Any] | None = None  # {"refill": {"interval", "amount"} | None}
    credits_remaining: int | None = None
    credits_period: str | None = None  # the refill period last applied: "2026-12-04"/"2026-12"
    rl_window: int | None = None  # start of the window `rl_count` counts
    rl_count: int | None = None
    meta: str | None = None  # a flat JSON object, as text: passed on as it is
    allowed_ips: tuple[str, ...] | None = None
    usage_rules: str | None = None
    # The account policy's idle rule, copied here so one read decides (credentials/
    # key_policy.py): unused for `idle_days` days (since `last_used_at`, else
    # `created_at`), the key stops authorizing. `policy_version`: the account policy it
    # was copied from (a later policy's sync never loses to an earlier one).
    idle_days: int | None = None
    policy_version: int = 0
    # Authorizations per UTC day, from the `u<yyyymmdd>a`/`u<yyyymmdd>r` attributes:
    # ((day, allowed, refused), ...) oldest first. Read only; never written by to_item.
    usage: tuple[tuple[str, int, int], ...] = field(default=())

    @property
    def metered(self) -> bool:
        """Whether each authorization must go through the conditional metered update."""
        return self.ratelimit is not None or self.credits is not None

    def to_item(self) -> dict[str, Any]:
        item = super().to_item()
        del item["usage"]
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Self:
        key_type = item["type"]
        if key_type not in KEY_TYPES:
            raise ValueError(f"unknown key type {key_type!r}")
        previous_kid = item.get("previous_secret_kid")
        ips = item.get("allowed_ips")
        return cls(
            key_id=str(item["key_id"]),
            user_id=str(item["user_id"]),
            account_id=str(item["account_id"]),
            role=str(item["role"]),
            handle=str(item["handle"]),
            type=key_type,
            created_at=int(item["created_at"]),
            version=int(item["version"]),
            secret_kid=str(item["secret_kid"]),
            email=str(item.get("email") or ""),
            is_bot=bool(item.get("is_bot", False)),
            disabled=bool(item.get("disabled", False)),
            alias=item.get("alias"),
            expires_at=_int(item.get("expires_at")),
            last_used_at=_int(item.get("last_used_at")),
            scopes=tuple(item.get("scopes") or ()),
            previous_version=_int(item.get("previous_version")),
            previous_secret_kid=None if previous_kid is None else str(previous_kid),
            previous_valid_until=_int(item.get("previous_valid_until")),
            revoked_until=_int(item.get("revoked_until")),
            credentials_version=int(item.get("credentials_version") or 0),
            ratelimit=_int_map(item.get("ratelimit")),
            credits=item.get("credits"),
            credits_remaining=_int(item.get("credits_remaining")),
            credits_period=item.get("credits_period"),
            rl_window=_int(item.get("rl_window")),
            rl_count=_int(item.get("rl_count")),
            meta=item.get("meta"),
            allowed_ips=None if ips is None else tuple(str(ip) for ip in ips),
            usage_rules=item.get("usage_rules"),
            idle_days=_int(item.get("idle_days")),
            policy_version=int(item.get("policy_version") or 0),
            usage=usage_days(item),
        )

    def valid_versions(self, now: int) -> list[tuple[int, str]]:
        """The current version, and the previous one while its rotation grace lasts."""
        versions = [(self.version, self.secret_kid)]
        if (
            self.previous_valid_until is not None
            and self.previous_valid_until > now
            and self.previous_version is not None
            and self.previous_secret_kid is not None
        ):
            versions.append((self.previous_version, self.previous_secret_kid))
        return versions

    def is_expired(self, now: int) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def is_idle(self, now: int) -> bool:
        """Unused for its account's `key_idle_days` (last use, else creation)."""
        if self.idle_days is None:
            return False
        return (self.last_used_at or self.created_at) + self.idle_days * 86_400 <= now


@dataclass(frozen=True)
class User(_Record):
    """A person or a bot (`is_bot`: no email, no password, a `name`) of one account."""

    user_id: str
    account_id: str
    role: str
    created_at: int
    email: str | None = None
    name: str | None = None
    is_bot: bool = False
    disabled: bool = False
    password_hash: str | None = None
    password_version: int | None = None
    password_changed_at: int | None = None
    last_login_at: int | None = None
    mfa_enabled: bool = False
    mfa_enabled_at: int | None = None
    totp_nonce: str | None = None
    totp_kid: str | None = None
    totp_last_step: int | None = None
    totp_pending_nonce: str | None = None
    totp_pending_kid: str | None = None
    totp_pending_at: int | None = None
    recovery_codes: dict[str, int] | None = None
    recovery_kid: str | None = None
    credentials_version: int = 0

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Self:
        codes = item.get("recovery_codes")
        return cls(
            user_id=str(item["user_id"]),
            account_id=str(item["account_id"]),
            role=str(item["role"]),
            created_at=int(item["created_at"]),
            email=item.get("email"),
            name=item.get("name"),
            is_bot=bool(item.get("is_bot", False)),
            disabled=bool(item.get("disabled", False)),
            password_hash=item.get("password_hash"),
            password_version=_int(item.get("password_version")),
            password_changed_at=_int(item.get("password_changed_at")),
            last_login_at=_int(item.get("last_login_at")),
            mfa_enabled=bool(item.get("mfa_enabled", False)),
            mfa_enabled_at=_int(item.get("mfa_enabled_at")),
            totp_nonce=item.get("totp_nonce"),
            totp_kid=item.get("totp_kid"),
            totp_last_step=_int(item.get("totp_last_step")),
            totp_pending_nonce=item.get("totp_pending_nonce"),
            totp_pending_kid=item.get("totp_pending_kid"),
            totp_pending_at=_int(item.get("totp_pending_at")),
            recovery_codes=None if codes is None else {str(k): int(v) for k, v in codes.items()},
            recovery_kid=item.get("recovery_kid"),
            credentials_version=int(item.get("credentials_version") or 0),
        )


@dataclass(frozen=True)
class ExpiryMarker(_Record):
    """The marker of a key or bot token that expires: what its warning needs, and which
    warnings were sent (`warned_7d`, `warned_1d`: when)."""

    key_id: str
    user_id: str
    account_id: str
    handle: str
    expires_at: int
    is_bot: bool = False
    warned_7d: int | None = None
    warned_1d: int | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Self:
        return cls(
            key_id=str(item["key_id"]),
            user_id=str(item["user_id"]),
            account_id=str(item["account_id"]),
            handle=str(item["handle"]),
            expires_at=int(item["expires_at"]),
            is_bot=bool(item.get("is_bot", False)),
            warned_7d=_int(item.get("warned_7d")),
            warned_1d=_int(item.get("warned_1d")),
        )


@dataclass(frozen=True)
class KeyPolicy:
    """An account's key policy (contract section 11), kept on its account item.

    `policy_version` counts its changes: a key copies the idle rule at a version and its
    creation conditions on the account still being at it; a change bumps it, then brings
    every key of the account to it (docs/architecture.md, "Account policy"). `key_refs`:
    the account's keys made before account key refs existed have been given one.
    """

    max_key_lifetime_days: int | None = None
    key_idle_days: int | None = None
    policy_version: int = 0
    key_refs: bool = False

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Self:
        return cls(
            max_key_lifetime_days=_int(item.get("max_key_lifetime_days")),
            key_idle_days=_int(item.get("key_idle_days")),
            policy_version=int(item.get("policy_version") or 0),
            key_refs=bool(item.get("key_refs", False)),
        )
