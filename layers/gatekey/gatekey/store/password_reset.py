"""Password reset and set-password tokens, stored under their SHA-256 only, and the
bound on how many reset tokens a user is sent."""

from __future__ import annotations

from gatekey import clock
from gatekey.errors import Conflict
from gatekey.store import item_keys
from gatekey.store.base import StoreBase
from gatekey.store.serialization import Item


class PasswordResets(StoreBase):
    def put_reset_token(self, token: Item, *, audit: Item | None = None) -> None:
        """Stores a reset or set-password token under its hash (never the token itself)."""
        item = {**token, **item_keys.reset_token(token["token_hash"])}
        if self._transact_audited([self._put_action(item)], audit):
            raise Conflict()

    def put_bounded_reset_token(
        self, token: Item, *, limit: int, window_seconds: int, audit: Item | None = None
    ) -> bool:
        """Stores a reset token unless `limit` were issued for its user in the last
        `window_seconds`; False (nothing stored, no event) when the bound is reached.

        The user's recent issues are `limit` slots of one item, each holding when it was
        last taken. A token takes a slot that is empty or older than the window, in the
        transaction that stores the token, on the condition that the slot is still free:
        two requests can never take one slot, so no window ever holds more than `limit`
        tokens, however many requests run at once. No read comes first.
        """
        now = int(token["created_at"])
        item = {**token, **item_keys.reset_token(token["token_hash"])}
        for slot in range(limit):
            take = self._update_params(
                item_keys.reset_bound(token["user_id"]),
                "SET #slot = :now, #ttl = :ttl",
                "(attribute_not_exists(#slot) OR #slot <= :cutoff)",
                {":now": now, ":ttl": now + window_seconds, ":cutoff": now - window_seconds},
                {"#slot": f"issued_{slot}", "#ttl": "ttl"},
                must_exist=False,
            )
            codes = self._transact_audited([{"Update": take}, self._put_action(item)], audit)
            if not codes:
                return True
            if codes[0] != "ConditionalCheckFailed":
                raise Conflict()
        return False

    def discarded_reset_write(self, token_hash: str) -> None:
        """The transaction `put_reset_token` commits for a known email, of items that are
        expired when written: an unknown email's reset request pays the same write, and
        leaves nothing any read returns (every read treats them as absent; TTL removes
        them)."""
        now = clock.now()
        placeholders = [
            {**item_keys.reset_token(token_hash), "ttl": now},
            {**item_keys.placeholder(token_hash), "ttl": now},
        ]
        self._transact([self._put_action(item, must_not_exist=False) for item in placeholders])

    def get_reset_token(self, token_hash: str) -> Item | None:
        return self._get(item_keys.reset_token(token_hash))
