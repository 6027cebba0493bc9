"""Password reset and set-password tokens, stored under their SHA-256 only."""

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
