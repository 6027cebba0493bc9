"""An account's key policy (contract section 11) as keys meet it: the expiry cap of new
and rotated keys, the idle rule a key copies, and the status a key view shows.

- `max_key_lifetime_days`: a key created, rotated or regenerated now expires at the
  latest `now + max` days; asking for later is 400 `validation_error` (`attr`
  `expires_at`), asking for no expiry gets exactly that latest one. Lowering the maximum
  does not shorten existing keys (their next rotation does).
- `key_idle_days`: copied onto every key item (`idle_days`), so the authorizer decides
  with its one read (`ApiKey.is_idle`).
"""

from __future__ import annotations

from dataclasses import replace

from gatekey import clock
from gatekey.errors import ValidationFailed
from gatekey.records import ApiKey, KeyPolicy

DAY = 86_400
MAX_DAYS = 3650

ACTIVE = "active"
EXPIRED = "expired"
IDLE_EXPIRED = "idle_expired"
DISABLED = "disabled"
STATUSES = (ACTIVE, EXPIRED, IDLE_EXPIRED, DISABLED)


def latest_expiry(policy: KeyPolicy, now: int) -> int | None:
    """The latest expiry a key made (or rotated) now may have; None: no maximum."""
    if policy.max_key_lifetime_days is None:
        return None
    return now + policy.max_key_lifetime_days * DAY


def capped_expiry(policy: KeyPolicy, requested: int | None, now: int | None = None) -> int | None:
    """The expiry of a new key: `requested`, refused when later than the maximum; with
    no expiry requested, the maximum itself."""
    latest = latest_expiry(policy, clock.now() if now is None else now)
    if latest is None:
        return requested
    if requested is None:
        return latest
    if requested > latest:
        raise ValidationFailed.field(
            "expires_at",
            f"The account's key policy allows keys of at most {policy.max_key_lifetime_days} days.",
        )
    return requested


def rotated_expiry(policy: KeyPolicy, current: int | None, now: int) -> int | None:
    """A rotated key's expiry: its own, brought down to the maximum when later (or none)."""
    latest = latest_expiry(policy, now)
    if latest is None:
        return current
    return latest if current is None else min(current, latest)


def with_policy(key: ApiKey, policy: KeyPolicy) -> ApiKey:
    """A new key carrying the policy's idle rule and the version it copied it at."""
    return replace(key, idle_days=policy.key_idle_days, policy_version=policy.policy_version)


def key_status(key: ApiKey, now: int | None = None) -> str:
    """What a key view shows: `expired` (past `expires_at`), `idle_expired` (unused for
    the account's `key_idle_days`), `disabled` (its owner is disabled), else `active`."""
    now = clock.now() if now is None else now
    if key.is_expired(now):
        return EXPIRED
    if key.is_idle(now):
        return IDLE_EXPIRED
    if key.disabled:
        return DISABLED
    return ACTIVE
