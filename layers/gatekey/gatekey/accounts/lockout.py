"""The login lockout, and the password check that login shares with other routes.

Login, changing the password and the MFA routes each count a password check as one
attempt on the same per-user lockout. Only that user's own success (or a password
reset) clears it; another user's login never does, even one with the same email in
another account. An email that names no user is throttled on a counter of its own.
Both `sessions` (login) and `mfa` use this module, so neither imports the other's
password check.
"""

from __future__ import annotations

from collections.abc import Callable

from gatekey import clock, metrics
from gatekey.accounts import audit
from gatekey.accounts.passwords import verify_password
from gatekey.errors import InvalidCredentials, Throttled
from gatekey.records import User
from gatekey.settings import Settings
from gatekey.store import Item, Store, item_keys

FAILURE_WINDOW = 3600  # failures (and past lockouts) are remembered this long
MAX_LOCKOUT_SECONDS = 3600


def user_counter(user: User) -> str:
    return item_keys.user_login_counter(user.user_id)


class Lockout:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def verify_password(
        self,
        user: User,
        password: str,
        *,
        extra_check: Callable[[User], bool] | None = None,
        failure_event: Item | None = None,
    ) -> None:
        """The password of a signed-in user (and `extra_check`, e.g. an MFA code, only once
        the password matched), as one login attempt on the user's own lockout: 401
        `invalid_credentials` when wrong, 429 once the user is locked."""
        counter = user_counter(user)
        now = clock.now()
        reserved = self.reserve_attempts([counter], now)
        if counter not in reserved:
            raise self.throttled([counter], now)
        matched = verify_password(user.password_hash, password)
        if matched and extra_check is not None:
            matched = extra_check(user)
        if not matched:
            self.record_failure(counter, reserved[counter], now)
            if failure_event is not None:
                audit.record(self.store, failure_event)
            raise InvalidCredentials()
        self.store.clear_login_failures(counter)

    def reserve_attempts(self, counters: list[str], now: int) -> dict[str, Item]:
        """Counts this attempt up front on each lockout counter, each one atomic
        conditional update: returns the counters that took it, with their counts. A
        locked counter, or one whose attempts in flight already reach the limit, refuses
        it, and the password of its user is not looked at."""
        reserved: dict[str, Item] = {}
        for counter in counters:
            throttle = self.store.reserve_login_attempt(
                counter,
                now=now,
                max_failures=self.settings.login_max_failures,
                ttl=now + FAILURE_WINDOW,
            )
            if throttle is not None:
                reserved[counter] = throttle
        return reserved

    def throttled(self, counters: list[str], now: int) -> Throttled:
        """429 until the longest of these lockouts ends."""
        until = max(
            int((self.store.get_login_throttle(counter) or {}).get("locked_until") or 0)
            for counter in counters
        )
        return Throttled(retry_after=until - now if until > now else 1)

    def record_failure(self, counter: str, throttle: Item, now: int) -> None:
        """The attempt stays counted; the one that reaches the limit starts a lockout,
        60 s (the setting) the first time and twice as long at each repeat, up to 1 h."""
        if int(throttle["failures"]) < self.settings.login_max_failures:
            return
        lockouts = int(throttle.get("lockouts") or 0)
        duration = min(self.settings.login_lockout_seconds * 2**lockouts, MAX_LOCKOUT_SECONDS)
        self.store.lock_login(
            counter,
            until=now + duration,
            lockouts=lockouts + 1,
            ttl=now + duration + FAILURE_WINDOW,
        )
        metrics.count(metrics.LOCKOUTS)
