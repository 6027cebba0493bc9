"""Expiry markers: one item per key or bot token with an expiry, under the UTC day it
expires (`EXPIRING#<yyyy-mm-dd>` / `KEY#<key id>`), so the daily expiry warnings read a
week of day partitions rather than the table.

A marker is put in the transaction that creates its key and deleted in every transaction
that deletes the key (`ApiKeys._key_actions`, `_key_delete_actions`); its TTL is a week
after the expiry. Which warnings were sent is recorded on the marker by a conditional
update, so two runs at the same time never send one warning twice.
"""

from __future__ import annotations

from gatekey import usage
from gatekey.records import ApiKey, ExpiryMarker, User
from gatekey.store import item_keys
from gatekey.store.base import Action, StoreBase

DAY = 86_400
MARKER_TTL_DAYS = 7  # kept after the expiry only to be cleaned up by TTL
WARNINGS = ("7d", "1d")


class ExpiryMarkers(StoreBase):
    def _expiry_marker_key(self, key: ApiKey) -> item_keys.ItemKey | None:
        if key.expires_at is None:
            return None
        return item_keys.expiry_marker(usage.day(key.expires_at), key.key_id)

    def _expiry_marker_actions(self, key: ApiKey) -> list[Action]:
        """The Put of a new key's marker (none for a key that never expires)."""
        marker_key = self._expiry_marker_key(key)
        if marker_key is None or key.expires_at is None:
            return []
        marker = ExpiryMarker(
            key_id=key.key_id,
            user_id=key.user_id,
            account_id=key.account_id,
            handle=key.handle,
            expires_at=key.expires_at,
            is_bot=key.is_bot,
        )
        item = {
            **marker.to_item(),
            **marker_key,
            "ttl": key.expires_at + MARKER_TTL_DAYS * DAY,
        }
        return [self._put_action(item, must_not_exist=False)]

    def _expiry_marker_delete_actions(self, key: ApiKey) -> list[Action]:
        """The Delete of a key's marker, in the transaction that deletes the key."""
        marker_key = self._expiry_marker_key(key)
        return [] if marker_key is None else [self._delete_action(marker_key)]

    def expiring_markers(self, days: list[str]) -> list[ExpiryMarker]:
        """The markers of the keys that expire on these UTC days (one Query per day)."""
        markers: list[ExpiryMarker] = []
        for day in days:
            items = self._query_partition(item_keys.expiring_on(day))
            markers.extend(ExpiryMarker.from_item(item) for item in items)
        return markers

    def keys_by_id(self, key_ids: list[str]) -> dict[str, ApiKey]:
        items = self._batch_get([item_keys.api_key(key_id) for key_id in key_ids])
        return {key.key_id: key for key in map(ApiKey.from_item, items)}

    def users_by_id(self, user_ids: list[str]) -> dict[str, User]:
        items = self._batch_get([item_keys.user(user_id) for user_id in user_ids])
        return {user.user_id: user for user in map(User.from_item, items)}

    def claim_expiry_warning(self, marker: ExpiryMarker, warning: str, now: int) -> bool:
        """Records that `warning` (`7d` or `1d`) is being sent for the marker's key; False
        when another run recorded it first (or the marker is gone). A 1-day warning
        makes the 7-day one moot, so a 7-day one is never sent after it."""
        if warning not in WARNINGS:
            raise ValueError(f"unknown warning {warning!r}")
        condition = "attribute_not_exists(warned_1d)"
        if warning == "7d":
            condition += " AND attribute_not_exists(warned_7d)"
        update = self._update_params(
            item_keys.expiry_marker(usage.day(marker.expires_at), marker.key_id),
            f"SET warned_{warning} = :now",
            condition,
            {":now": now},
        )
        return self._conditional_update(update) is not None

    def release_expiry_warning(self, marker: ExpiryMarker, warning: str, now: int) -> None:
        """Undoes this run's claim when its message could not be sent: the next run tries
        again."""
        update = self._update_params(
            item_keys.expiry_marker(usage.day(marker.expires_at), marker.key_id),
            f"REMOVE warned_{warning}",
            f"warned_{warning} = :now",
            {":now": now},
        )
        self._conditional_update(update)

    def drop_expiry_marker(self, marker: ExpiryMarker) -> None:
        """Deletes a marker whose key is gone, or whose expiry is no longer its own."""
        self._delete(item_keys.expiry_marker(usage.day(marker.expires_at), marker.key_id))

    def _expiry_marker_moves(self, key: ApiKey, changes: dict[str, object]) -> list[Action]:
        """When an update gives a key another expiry: its old marker's Delete and the new
        one's Put, for the update's transaction."""
        if "expires_at" not in changes or changes["expires_at"] == key.expires_at:
            return []
        changed = ApiKey.from_item({**key.to_item(), "expires_at": changes["expires_at"]})
        return [*self._expiry_marker_delete_actions(key), *self._expiry_marker_actions(changed)]
