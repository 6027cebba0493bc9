"""Usage at the authorizer: metered keys, allowed networks and usage counts.

- **A metered key** (one with `ratelimit` or `credits`) is authorized by one conditional
  UpdateItem that spends and returns the item (`Store.meter_key`). The update is planned
  from an image of the key: the one this container remembers from its last use, or the
  item just read. When the image was stale (a new window, a refill, changed rules) the
  update fails, returns the current item, and a second update is planned from it; a
  refusal is only ever decided from such a current item. So: one call per
  authorization, two at a window's or refill's first request (and at a container's
  first use of the key, which reads it), never a read-then-write race.
- **An unmetered key** stays one GetItem; its network check needs no call.
- **Usage counts** (per UTC day, allowed and refused) are kept in this container and
  written with the key's next write: the metered update itself, or the last-used write
  of an unmetered key, which happens when the touch interval has passed or the counts
  are FLUSH_SECONDS old. docs/usage.md says how late and how lossy that is.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from gatekey import clock, usage
from gatekey.errors import (
    InvalidToken,
    IpNotAllowed,
    RateLimited,
    ServiceUnavailable,
    UsageExceeded,
    UsageRefused,
)
from gatekey.records import ApiKey
from gatekey.store import Store
from gatekey.store.key_usage import Spend

FLUSH_SECONDS = 60
REMEMBERED_KEYS = 1024
ATTEMPTS = 4  # planned updates per authorization: a stale image, then the current one


class UsageTally:
    """Usage counted in this container and not yet written: key -> day -> [a, r]."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, list[int]]] = {}
        self._since: dict[str, int] = {}

    def add(self, key_id: str, now: int, *, allowed: bool) -> None:
        days = self._counts.setdefault(key_id, {})
        days.setdefault(usage.day(now), [0, 0])[0 if allowed else 1] += 1
        self._since.setdefault(key_id, now)

    def pending(self, key_id: str) -> dict[str, tuple[int, int]]:
        return {day: (a, r) for day, (a, r) in self._counts.get(key_id, {}).items()}

    def written(self, key_id: str, counts: dict[str, tuple[int, int]]) -> None:
        """Subtracts what a successful write carried."""
        days = self._counts.get(key_id, {})
        for day, (a, r) in counts.items():
            if day in days:
                days[day][0] -= a
                days[day][1] -= r
                if days[day] == [0, 0]:
                    del days[day]
        if not days:
            self._counts.pop(key_id, None)
            self._since.pop(key_id, None)

    def due(self, key_id: str, now: int) -> bool:
        since = self._since.get(key_id)
        return since is not None and now - since >= FLUSH_SECONDS


_TALLY = UsageTally()
_IMAGES: OrderedDict[str, ApiKey] = OrderedDict()


def reset() -> None:
    """Forgets remembered keys and unwritten counts, as a new container would."""
    global _TALLY
    _TALLY = UsageTally()
    _IMAGES.clear()


def remembered(key_id: str) -> ApiKey | None:
    """This container's last image of a metered key, if any."""
    return _IMAGES.get(key_id)


def _remember(key: ApiKey) -> None:
    if not key.metered:
        _IMAGES.pop(key.key_id, None)
        return
    _IMAGES[key.key_id] = key
    _IMAGES.move_to_end(key.key_id)
    while len(_IMAGES) > REMEMBERED_KEYS:
        _IMAGES.popitem(last=False)


def forget(key_id: str) -> None:
    _IMAGES.pop(key_id, None)


def stale_days(key: ApiKey, now: int) -> tuple[str, ...]:
    """The key's day counters older than the usage route shows (removed when written)."""
    oldest = usage.day(now - usage.USAGE_DAYS_KEPT * usage.DAY_SECONDS)
    return tuple(day for day, _, _ in key.usage if day < oldest)


def limits_text(key: ApiKey) -> str | None:
    """The key's own rules as JSON text, for the principal's context (policy compares a
    key it creates against them); None when it has none."""
    limits: dict[str, Any] = {}
    if key.ratelimit is not None:
        limits["ratelimit"] = key.ratelimit
    if key.credits is not None:
        limits["credits"] = {
            "remaining": key.credits_remaining or 0,
            "refill": key.credits.get("refill"),
        }
    if key.allowed_ips is not None:
        limits["allowed_ips"] = list(key.allowed_ips)
    return json.dumps(limits, separators=(",", ":")) if limits else None


def check_network(store: Store, key: ApiKey, source_ip: str | None, now: int) -> None:
    """Refuses (and counts) a use from outside the key's networks."""
    if key.allowed_ips is not None and not usage.ip_allowed(source_ip, key.allowed_ips):
        refuse(store, key, IpNotAllowed(), now)


def refuse(store: Store, key: ApiKey, refusal: UsageRefused, now: int) -> None:
    """Counts a refused use (written once the counts are due) and raises the refusal."""
    _TALLY.add(key.key_id, now, allowed=False)
    if _TALLY.due(key.key_id, now):
        _write_counts(store, key, at=None, now=now)
    raise refusal


def record_unmetered_use(store: Store, key: ApiKey, now: int, touch_interval: int) -> None:
    """Counts an allowed use of an unmetered key; writes last use and counts when the
    touch interval has passed or the counts are due."""
    _TALLY.add(key.key_id, now, allowed=True)
    if now - (key.last_used_at or 0) >= touch_interval or _TALLY.due(key.key_id, now):
        _write_counts(store, key, at=now, now=now)


def _write_counts(store: Store, key: ApiKey, *, at: int | None, now: int) -> None:
    counts = _TALLY.pending(key.key_id)
    store.record_key_use(key.key_id, at=at, counts=counts, stale_days=stale_days(key, now))
    _TALLY.written(key.key_id, counts)


def _plan(
    image: ApiKey,
    version: tuple[int, str],
    now: int,
    check_revocations: bool,
    pending: dict[str, tuple[int, int]],
) -> Spend:
    spend = Spend(
        key_id=image.key_id,
        key_type=image.type,
        version=version,
        now=now,
        usage_rules=image.usage_rules or "",
        check_revocations=check_revocations,
        stale_days=stale_days(image, now),
    )
    if image.ratelimit is not None:
        window = max(
            usage.window_start(now, image.ratelimit["window_seconds"]), image.rl_window or 0
        )
        spend.window, spend.limit = window, image.ratelimit["limit"]
        spend.new_window = image.rl_window is None or image.rl_window < window
    if image.credits is not None:
        spend.spend_credit = True
        refill = image.credits.get("refill")
        if refill is not None:
            period = max(usage.refill_period(refill["interval"], now), image.credits_period or "")
            spend.period = period
            if image.credits_period != period:
                spend.refilled = int(refill["amount"]) - 1
    today = usage.day(now)
    allowed, refused = pending.get(today, (0, 0))
    spend.counts = {**pending, today: (allowed + 1, refused)}
    return spend


def _refusal(image: ApiKey, now: int) -> UsageRefused | None:
    """What refuses a use of a key as it is now, by its rules and counters."""
    if image.ratelimit is not None:
        window_seconds = image.ratelimit["window_seconds"]
        window = usage.window_start(now, window_seconds)
        if (
            image.rl_window is not None
            and image.rl_window >= window
            and (image.rl_count or 0) >= image.ratelimit["limit"]
        ):
            return RateLimited(image.rl_window + window_seconds - now)
    if image.credits is not None:
        refill = image.credits.get("refill")
        if refill is not None and (image.credits_period or "") < usage.refill_period(
            refill["interval"], now
        ):
            return None  # the refill is due: this use applies it
        if (image.credits_remaining or 0) <= 0:
            retry = None if refill is None else usage.next_refill_at(refill["interval"], now) - now
            return UsageExceeded(retry)
    return None


def spend(
    store: Store,
    image: ApiKey,
    version: tuple[int, str],
    source_ip: str | None,
    *,
    fresh: bool,
    live: Callable[[ApiKey, tuple[int, str]], bool],
    revoked: Callable[[ApiKey], bool] | None = None,
) -> ApiKey:
    """One metered use of a key: the key after it, or a refusal (counted).

    `image`: the key as last seen (`fresh`: read by this very authorization). `live`:
    whether a current item still authorizes `version`. `revoked`: for a client JWT,
    whether its own revocation is recorded (a second read, only while the key has live
    revocations). Returns an unmetered key as it is when its rules were removed meanwhile
    (the caller then treats it as unmetered).
    """
    check_revocations = revoked is not None
    for _ in range(ATTEMPTS):
        now = clock.now()
        if image.allowed_ips is not None and not usage.ip_allowed(source_ip, image.allowed_ips):
            if not fresh:  # networks of a remembered image may have changed: read them
                image, fresh = _current(store, image.key_id), True
                continue
            _remember(image)
            refuse(store, image, IpNotAllowed(), now)
        pending = _TALLY.pending(image.key_id)
        ok, current = store.meter_key(_plan(image, version, now, check_revocations, pending))
        if ok and current is not None:
            _TALLY.written(image.key_id, pending)  # the update carried them, and this use
            _remember(current)
            return current
        if current is None or not live(current, version):
            forget(image.key_id)
            raise InvalidToken()
        image, fresh = current, True
        _remember(image)
        if not image.metered:
            return image
        if check_revocations and revoked is not None and (image.revoked_until or 0) > now:
            if revoked(image):
                raise InvalidToken()
            check_revocations = False
        refusal = _refusal(image, now)
        if refusal is not None:
            refuse(store, image, refusal, now)
    raise ServiceUnavailable()  # the key changed under every attempt: try again


def _current(store: Store, key_id: str) -> ApiKey:
    key = store.get_key(key_id)
    if key is None:
        forget(key_id)
        raise InvalidToken()
    return key
