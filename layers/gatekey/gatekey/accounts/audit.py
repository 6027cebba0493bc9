"""The audit log: who did what to which user, key, bot or session (CONTRACT section 8).

An event is built here, stored by the store in the SAME transaction as the write it
records (`Store.audit_put_action`), so no write goes unrecorded and no event exists
for a write that failed. Events of actions that write nothing (a failed or throttled
login) are stored on their own with `record`. Every stored event is also one
structured log line (`emit`), written only once the event is stored.

Events live under `AUDIT#<account_id>`, sorted by `<at:012d>#<id>` where `id` is a
time-ordered UUID (version 7 layout), so a reverse query reads them newest first.
They carry only ids, names and the request's IP and User-Agent (cut to 256
characters): never a password, token or secret (the builder takes no free-form data).
Failed and throttled logins, which anyone who knows an email can cause, are stored at
most once a minute per email; the rest of that minute's are counted on the stored event
(`extra.repeats`), see `record_unauthenticated_failure`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gatekey import clock
from gatekey.errors import ValidationFailed
from gatekey.store import item_keys

if TYPE_CHECKING:
    from gatekey.principal import Principal
    from gatekey.records import Session, User
    from gatekey.store import Item, Store

LOGIN_SUCCESS = "login.success"
LOGIN_FAILURE = "login.failure"
LOGIN_THROTTLED = "login.throttled"
MFA_ENROLLED = "mfa.enrolled"
MFA_DISABLED = "mfa.disabled"
MFA_RESET_BY_ADMIN = "mfa.reset_by_admin"
PASSWORD_CHANGED = "password.changed"
PASSWORD_RESET_REQUESTED = "password.reset_requested"
PASSWORD_RESET = "password.reset"
SESSION_ENDED = "session.ended"
KEY_CREATED = "key.created"
KEY_UPDATED = "key.updated"
KEY_ROTATED = "key.rotated"
KEY_DELETED = "key.deleted"
KEY_EXPIRY_WARNED = "key.expiry_warned"
TOKEN_REVOKED = "token.revoked"
KEY_LEAKED_REVOKED = "key.leaked_revoked"  # POST /credentials/revoke: a leak report
BOT_CREATED = "bot.created"
BOT_DELETED = "bot.deleted"
BOT_TOKEN_REGENERATED = "bot.token_regenerated"
USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
USER_DELETED = "user.deleted"
ACCOUNT_CREATED = "account.created"
ACCOUNT_POLICY_UPDATED = "account.policy_updated"  # PUT /account/policy

ACTIONS: tuple[str, ...] = (
    LOGIN_SUCCESS,
    LOGIN_FAILURE,
    LOGIN_THROTTLED,
    MFA_ENROLLED,
    MFA_DISABLED,
    MFA_RESET_BY_ADMIN,
    PASSWORD_CHANGED,
    PASSWORD_RESET_REQUESTED,
    PASSWORD_RESET,
    SESSION_ENDED,
    KEY_CREATED,
    KEY_UPDATED,
    KEY_ROTATED,
    KEY_DELETED,
    KEY_EXPIRY_WARNED,
    TOKEN_REVOKED,
    KEY_LEAKED_REVOKED,
    BOT_CREATED,
    BOT_DELETED,
    BOT_TOKEN_REGENERATED,
    USER_CREATED,
    USER_UPDATED,
    USER_DELETED,
    ACCOUNT_CREATED,
    ACCOUNT_POLICY_UPDATED,
)
SUCCESS = "success"
FAILURE = "failure"
OUTCOMES = (SUCCESS, FAILURE)

TARGET_USER = "user"
TARGET_KEY = "key"
TARGET_SESSION = "session"
TARGET_ACCOUNT = "account"
TARGET_TYPES = (TARGET_USER, TARGET_KEY, TARGET_SESSION, TARGET_ACCOUNT)

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_USER_AGENT = 256  # a client-chosen string: kept, but not at any length
UNKNOWN_ACCOUNT = "-"  # the account of a login failure for an email no account knows
DAY = 86_400

# Audit lines are part of the contract, not diagnostics: INFO whatever LogLevel says.
logger = logging.getLogger("gatekey.audit")
logger.setLevel(logging.INFO)

_SORT_KEY = re.compile(
    r"^\d{12}#[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
# a user id: the canonical uuid4 the store writes (the spec's Uuid)
_USER_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_LIMIT = re.compile(r"^[0-9]{1,3}$")  # ASCII digits only (str.isdigit takes any script)


@dataclass(frozen=True)
class Actor:
    """Who acted: a user and the kind of credential they used (None for a login)."""

    user_id: str | None
    token_type: str | None = None
    key_handle: str | None = None


@dataclass(frozen=True)
class RequestMeta:
    """Where the request came from; handlers build it with `gatekey.edges.api.request_meta`."""

    ip: str | None = None
    user_agent: str | None = None


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.user_id, principal.token_type, principal.key_handle)


def _event_id(at_ms: int) -> str:
    """A UUID with version 7's layout (48-bit millisecond time first), so ids made in
    the same second still sort in the order they were made."""
    value = (at_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= secrets.randbits(12) << 64
    value |= 0b10 << 62
    value |= secrets.randbits(62)
    return str(uuid.UUID(int=value))


def user_event(
    user: User,
    action: str,
    *,
    actor: Actor | Principal | None = None,
    meta: RequestMeta | None = None,
    outcome: str = SUCCESS,
    retention_days: int | None = None,
) -> Item:
    """An event about a user, in their account; by default the user is also the actor."""
    return new_event(
        user.account_id,
        action,
        actor=Actor(user.user_id) if actor is None else actor,
        target=(TARGET_USER, user.user_id),
        meta=meta,
        outcome=outcome,
        retention_days=retention_days,
    )


def _retention_days() -> int:
    """The configured retention; the admin CLI, which holds no signing secret, reads it
    from the environment alone (`gatekey notify-expiring` records events too)."""
    from gatekey.errors import ConfigurationError
    from gatekey.settings import Settings, get_settings

    try:
        return get_settings().audit_retention_days
    except ConfigurationError:
        return Settings.from_environ(require_secret=False).audit_retention_days


def new_event(
    account_id: str,
    action: str,
    *,
    actor: Actor | Principal | None,
    target: tuple[str, str],
    meta: RequestMeta | None = None,
    outcome: str = SUCCESS,
    retention_days: int | None = None,
    reason: str | None = None,
) -> Item:
    """An event item, ready for `Store.audit_put_action` or `record`; `reason` says why,
    where an action has several causes (shown as `extra.reason`).

    `retention_days` defaults to the `AuditRetentionDays` setting; the item's `ttl`
    lets DynamoDB remove it after that long.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    if target[0] not in TARGET_TYPES:
        raise ValueError(f"unknown audit target type {target[0]!r}")
    if retention_days is None:
        retention_days = _retention_days()
    if actor is None:
        actor = Actor(None)
    elif not isinstance(actor, Actor):
        actor = actor_of(actor)
    at_ms = time.time_ns() // 1_000_000
    at = at_ms // 1000
    event_id = _event_id(at_ms)
    meta = meta or RequestMeta()
    actor_map: Item = {"user_id": actor.user_id, "token_type": actor.token_type}
    if actor.key_handle:
        actor_map["key_handle"] = actor.key_handle
    return {
        **item_keys.audit_event(account_id, at, event_id),
        "account_id": account_id,
        "id": event_id,
        "at": at,
        "action": action,
        "outcome": outcome,
        "actor": actor_map,
        "actor_user_id": actor.user_id or "-",
        "target": {"type": target[0], "id": target[1]},
        "target_user_id": target[1] if target[0] == TARGET_USER else "-",
        "ip": meta.ip,
        "user_agent": (meta.user_agent or "")[:MAX_USER_AGENT] or None,
        "ttl": at + retention_days * DAY,
        **({"reason": reason} if reason else {}),
    }


def event_view(event: Item) -> dict[str, Any]:
    """What an admin sees (and what the log line holds) of one event."""
    actor = dict(event.get("actor") or {})
    view_actor: dict[str, Any] = {
        "user_id": actor.get("user_id"),
        "token_type": actor.get("token_type"),
    }
    if actor.get("key_handle"):
        view_actor["key_handle"] = actor["key_handle"]
    details: dict[str, Any] = {}
    if event.get("repeats"):
        details["repeats"] = int(event["repeats"])
    if event.get("reason"):
        details["reason"] = str(event["reason"])
    extra = {"extra": details} if details else {}
    return {
        "id": event["id"],
        "at": clock.iso(event["at"]),
        "action": event["action"],
        "outcome": event["outcome"],
        "actor": view_actor,
        "target": dict(event["target"]),
        "ip": event.get("ip"),
        "user_agent": event.get("user_agent"),
        **extra,
    }


def emit(event: Item) -> None:
    """The event's structured log line (JSON), once it is stored."""
    logger.info("audit", extra={"account_id": event["account_id"], "audit": event_view(event)})


USER_AGENT_MISMATCH = "user_agent_mismatch"


def session_used_elsewhere(store: Store, session: Session, meta: RequestMeta | None) -> None:
    """Records `session.ended` for a session that authorization ended because its token
    came from another client (User-Agent); best effort, as the session is already gone."""
    event = new_event(
        session.account_id,
        SESSION_ENDED,
        actor=Actor(session.user_id),
        target=(TARGET_SESSION, session.session_id),
        meta=meta,
        reason=USER_AGENT_MISMATCH,
    )
    record(store, event)


def record(store: Store, event: Item) -> None:
    """Stores an event of an action that wrote nothing else (login failure, throttling)."""
    store.put_audit_event(event)
    emit(event)


def record_unauthenticated_failure(
    store: Store, email: str, events: list[Item], *, now: int
) -> None:
    """Stores the events of a failed or throttled login, one per account the email names
    (an event of account UNKNOWN_ACCOUNT is logged only), unless this email's failures
    of this minute are stored already: then this one is counted on them as a repeat.
    Log lines follow the stored events, so they are bounded the same way."""
    stored = [event for event in events if event["account_id"] != UNKNOWN_ACCOUNT]
    digest = hashlib.sha256(email.encode()).hexdigest()
    if store.put_unauthenticated_failure(digest, stored, now=now):
        for event in events:
            emit(event)


# -- the cursor of GET /account/audit ---------------------------------------------------


def encode_cursor(last_key: Item) -> str:
    """An opaque cursor: base64url of the last event's key (no padding)."""
    raw = json.dumps({"pk": last_key["pk"], "sk": last_key["sk"]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str, account_id: str) -> dict[str, str]:
    """The key a cursor names, refused (400) unless it is one of this account's events:
    a cursor can never page into another account."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        data = None
    if (
        not isinstance(data, dict)
        or set(data) != {"pk", "sk"}
        or data["pk"] != item_keys.audit_events(account_id)
        or not isinstance(data["sk"], str)
        or not _SORT_KEY.match(data["sk"])
    ):
        raise _invalid("cursor", "The cursor is not valid for this account.")
    return {"pk": data["pk"], "sk": data["sk"]}


def check_filters(action: str | None, user_id: str | None) -> None:
    if action is not None and action not in ACTIONS:
        raise _invalid("action", "Unknown action; see the documented list.")
    if user_id is not None and not _USER_ID.match(user_id):
        raise _invalid("user_id", "Not a user id.")


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not _LIMIT.match(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise _invalid("limit", f"limit is a whole number from 1 to {MAX_LIMIT}.")
    return int(raw)


def _invalid(attr: str, detail: str) -> ValidationFailed:
    return ValidationFailed.field(attr, detail)
