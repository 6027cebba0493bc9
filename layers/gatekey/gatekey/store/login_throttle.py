"""Login throttling: failures counted before the password is checked, per user (and per
email for an email that names no user). A counter is named by
`item_keys.user_login_counter` or `item_keys.email_login_counter`."""

from __future__ import annotations

from gatekey.store import item_keys
from gatekey.store.base import StoreBase
from gatekey.store.serialization import Item, from_item


class LoginThrottle(StoreBase):
    def reserve_login_attempt(
        self, counter: str, *, now: int, max_failures: int, ttl: int
    ) -> Item | None:
        """Counts an attempt before its password is checked, atomically.

        Returns the throttle item after counting, or None when the counter is locked or
        already has `max_failures` attempts counted (some perhaps still in flight): so
        however many requests race, at most `max_failures` passwords are evaluated.
        """
        update = self._update_params(
            item_keys.login_failures(counter),
            "ADD failures :one SET #ttl = :ttl",
            "(attribute_not_exists(locked_until) OR locked_until <= :now)"
            " AND (attribute_not_exists(failures) OR failures < :max OR #ttl <= :now)",
            {":one": 1, ":ttl": ttl, ":now": now, ":max": max_failures},
            {"#ttl": "ttl"},
            must_exist=False,
        )
        response = self._conditional_update({**update, "ReturnValues": "ALL_NEW"})
        return None if response is None else from_item(response["Attributes"])

    def get_login_throttle(self, counter: str) -> Item | None:
        return self._get(item_keys.login_failures(counter))

    def lock_login(self, counter: str, *, until: int, lockouts: int, ttl: int) -> None:
        """Starts a lockout and resets the count, so the next lockout takes 5 new failures;
        `lockouts` remembers how many there were, for the doubling back-off."""
        self._update_item(
            **self._update_params(
                item_keys.login_failures(counter),
                "SET failures = :zero, locked_until = :until, lockouts = :lockouts, #ttl = :ttl",
                None,
                {":zero": 0, ":until": until, ":lockouts": lockouts, ":ttl": ttl},
                {"#ttl": "ttl"},
                must_exist=False,
            )
        )

    def clear_login_failures(self, counter: str) -> None:
        self._delete(item_keys.login_failures(counter))
