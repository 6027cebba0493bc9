"""API keys: the key item and the claim that makes its handle unique per user; read
back as `ApiKey`."""

from __future__ import annotations

from typing import Any

from gatekey.errors import Conflict, NotFound
from gatekey.records import ApiKey
from gatekey.store import item_keys
from gatekey.store.base import Action
from gatekey.store.expiry_markers import ExpiryMarkers
from gatekey.store.serialization import Item, from_item


class ApiKeys(ExpiryMarkers):
    def _key_actions(self, key: ApiKey, *, owner_name: str | None = None) -> list[Action]:
        """The key item, its handle claim (the handle is unique per user) and its ref
        under the account (`owner_name`: a bot's name, shown by `GET /account/keys`)."""
        item = {**key.to_item(), **item_keys.api_key(key.key_id)}
        claim = {**item_keys.key_handle(key.user_id, key.handle), "key_id": key.key_id}
        return [
            self._put_action(claim),
            self._put_action(item),
            self._ref_put_action(key, owner_name),
            *self._expiry_marker_actions(key),
        ]

    def _ref_put_action(self, key: ApiKey, owner_name: str | None) -> Action:
        ref = {
            **item_keys.account_key_ref(key.account_id, key.created_at, key.key_id),
            "key_id": key.key_id,
            "user_id": key.user_id,
            "owner_name": owner_name,
        }
        return self._put_action(ref, must_not_exist=False)

    def _key_delete_actions(self, key: ApiKey, *, must_exist: bool = False) -> list[Action]:
        return [
            self._delete_action(item_keys.key_handle(key.user_id, key.handle)),
            self._delete_action(item_keys.api_key(key.key_id), must_exist=must_exist),
            self._delete_action(
                item_keys.account_key_ref(key.account_id, key.created_at, key.key_id)
            ),
            *self._expiry_marker_delete_actions(key),
        ]

    def get_key(self, key_id: str) -> ApiKey | None:
        item = self._get(item_keys.api_key(key_id))
        return None if item is None else ApiKey.from_item(item)

    def get_key_by_handle(self, user_id: str, handle: str) -> ApiKey | None:
        claim = self._get(item_keys.key_handle(user_id, handle))
        if claim is None:
            return None
        key = self.get_key(claim["key_id"])
        return key if key is not None and key.user_id == user_id else None

    def list_keys(self, user_id: str) -> list[ApiKey]:
        claims = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": item_keys.user(user_id)["pk"]},
                ":prefix": {"S": item_keys.KEY_HANDLE_PREFIX},
            },
            ConsistentRead=True,
        )
        items = self._batch_get([item_keys.api_key(claim["key_id"]) for claim in claims])
        keys = map(ApiKey.from_item, items)
        return sorted(keys, key=lambda key: (key.created_at, key.handle))

    def update_key(
        self,
        key: ApiKey,
        changes: Item,
        *,
        expected_version: int | None = None,
        audit: Item | None = None,
    ) -> ApiKey:
        """Sets attributes of a live key; with `expected_version`, only if nobody rotated it.

        With an audit event, the update and the event go in one transaction.
        """
        names = {f"#a{i}": name for i, name in enumerate(changes)}
        expression_values: dict[str, Any] = {
            f":v{i}": value for i, value in enumerate(changes.values())
        }
        condition = None
        if expected_version is not None:
            condition = "version = :expected"
            expression_values[":expected"] = expected_version
        update = self._update_params(
            item_keys.api_key(key.key_id),
            "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(changes))),
            condition,
            expression_values,
            names,
        )
        failed = NotFound() if expected_version is None else Conflict()
        moved = self._expiry_marker_moves(key, changes)  # a new expiry moves its marker
        if audit is not None or moved:
            if self._transact_audited([{"Update": update}, *moved], audit):
                raise failed
            return ApiKey.from_item({**key.to_item(), **changes})
        response = self._conditional_update({**update, "ReturnValues": "ALL_NEW"})
        if response is None:
            raise failed
        return ApiKey.from_item(from_item(response["Attributes"]))

    def delete_key(self, key: ApiKey, *, audit: Item | None = None) -> None:
        """Deletes a key and its handle claim; a key already gone is NotFound (and no
        event is recorded for it)."""
        if self._transact_audited(self._key_delete_actions(key, must_exist=True), audit):
            raise NotFound()
