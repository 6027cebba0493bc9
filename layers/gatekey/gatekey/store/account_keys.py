"""An account's keys as a whole: its key policy (on the account item) and the refs that
list every key and bot token of the account (`ACCOUNTKEYS#<account id>`).

A ref is written and deleted in the key's own transactions (`ApiKeys._key_actions`,
`_key_delete_actions`), so a strongly consistent Query of the partition sees every key
whose creation has committed. Keys made before refs existed get theirs from
`put_key_ref` (credentials/account_keys.py backfills an account once, then marks it).
"""

from __future__ import annotations

from typing import Any

from gatekey import usage
from gatekey.errors import Conflict
from gatekey.records import ApiKey, KeyPolicy
from gatekey.store import item_keys
from gatekey.store.base import TRANSACTION_LIMIT, Action, StoreBase
from gatekey.store.serialization import Item, from_item, values

POLICY_VERSION = "policy_version"


def policy_version_condition(version: int) -> dict[str, Any]:
    """The account item is still at policy `version` (0 = never set: absent).

    An absent account passes: whether the owner exists is the owner check's business.
    """
    condition = "#pv = :pv"
    if version == 0:
        condition = "attribute_not_exists(#pv) OR #pv = :pv"
    return {
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#pv": POLICY_VERSION},
        "ExpressionAttributeValues": values({":pv": version}),
    }


class AccountKeys(StoreBase):
    # -- the policy ------------------------------------------------------------------------

    def get_key_policy(self, account_id: str) -> KeyPolicy | None:
        """The account's key policy (strongly consistent); None when there is no account."""
        item = self._get(item_keys.account(account_id))
        return None if item is None else KeyPolicy.from_item(item)

    def policy_unchanged_check(self, account_id: str, version: int) -> Action:
        """A transaction condition of every key's creation: the account's policy is still
        at the version whose idle rule the key copied."""
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": item_keys.wire(item_keys.account(account_id)),
                **policy_version_condition(version),
            }
        }

    def set_key_policy(
        self,
        account_id: str,
        current: KeyPolicy,
        *,
        max_key_lifetime_days: int | None,
        key_idle_days: int | None,
        audit: Item | None = None,
    ) -> KeyPolicy:
        """Writes the policy and bumps its version, on the condition that the account is
        still at `current`'s version (else Conflict: read again); the event goes with it."""
        unchanged = policy_version_condition(current.policy_version)
        version = current.policy_version + 1
        update = self._update_params(
            item_keys.account(account_id),
            "SET max_key_lifetime_days = :max, key_idle_days = :idle, #pv = :next",
            f"({unchanged['ConditionExpression']})",
            {":max": max_key_lifetime_days, ":idle": key_idle_days, ":next": version},
            unchanged["ExpressionAttributeNames"],
        )
        update["ExpressionAttributeValues"].update(unchanged["ExpressionAttributeValues"])
        if self._transact_audited([{"Update": update}], audit):
            raise Conflict("The account's key policy changed meanwhile; try again.")
        return KeyPolicy(max_key_lifetime_days, key_idle_days, version, current.key_refs)

    def mark_key_refs(self, account_id: str) -> None:
        """Records that every key of the account made before refs existed has one."""
        self._conditional_update(
            self._update_params(
                item_keys.account(account_id), "SET key_refs = :true", None, {":true": True}
            )
        )

    # -- the refs --------------------------------------------------------------------------

    def account_key_refs(
        self, account_id: str, *, limit: int | None = None, start_key: Item | None = None
    ) -> tuple[list[Item], Item | None]:
        """Refs of the account's keys, oldest first (strongly consistent): one page of at
        most `limit` and the key to go on from (None at the end), or all of them."""
        params: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": item_keys.account_keys(account_id)}},
            "ConsistentRead": True,
        }
        if limit is None:
            return self._query(**params), None
        params["Limit"] = limit
        if start_key is not None:
            params["ExclusiveStartKey"] = item_keys.wire(start_key)
        response = self._query_page(TableName=self.table, **params)
        refs = [from_item(raw) for raw in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return refs, None if not last else {"pk": last["pk"]["S"], "sk": last["sk"]["S"]}

    def get_keys(self, key_ids: list[str]) -> dict[str, ApiKey]:
        """Keys by id (one strongly consistent BatchGetItem per 100); gone ones left out."""
        items = self._batch_get([item_keys.api_key(key_id) for key_id in key_ids])
        return {str(item["key_id"]): ApiKey.from_item(item) for item in items}

    def put_key_ref(self, key: ApiKey, owner_name: str | None) -> bool:
        """A ref for a key made before refs existed, on the condition that the key still
        exists (a key deleted meanwhile leaves no ref behind); False when it is gone."""
        exists = {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": item_keys.wire(item_keys.api_key(key.key_id)),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        ref = {
            **item_keys.account_key_ref(key.account_id, key.created_at, key.key_id),
            "key_id": key.key_id,
            "user_id": key.user_id,
            "owner_name": owner_name,
        }
        return not self._transact([exists, self._put_action(ref, must_not_exist=False)])

    # -- bringing every key to the policy ---------------------------------------------------

    def sync_key_policy(self, account_id: str, policy: KeyPolicy) -> int:
        """Copies the idle rule onto every key of the account still below the policy's
        version (listed through the refs, strongly consistently), in transactions of 100;
        returns how many keys were written. A key already at a later version (a later
        change) or gone is left out, so repeating it is harmless and a later change never
        loses to an earlier one. `usage_rules` is renewed too, so a metered key's image
        remembered by an authorizer container is read again before its next use."""
        refs, _ = self.account_key_refs(account_id)
        version = policy.policy_version
        written = 0
        for start in range(0, len(refs), TRANSACTION_LIMIT):
            batch = [
                self._policy_update(str(ref["key_id"]), policy.key_idle_days, version)
                for ref in refs[start : start + TRANSACTION_LIMIT]
            ]
            written += self._transact_dropping_ended(batch)
        return written

    def _policy_update(self, key_id: str, idle_days: int | None, version: int) -> Action:
        return {
            "Update": {
                "TableName": self.table,
                "Key": item_keys.wire(item_keys.api_key(key_id)),
                "UpdateExpression": "SET idle_days = :idle, #pv = :pv, usage_rules = :rules",
                "ConditionExpression": "attribute_exists(pk)"
                " AND (attribute_not_exists(#pv) OR #pv < :pv)",
                "ExpressionAttributeNames": {"#pv": POLICY_VERSION},
                "ExpressionAttributeValues": values(
                    {":idle": idle_days, ":pv": version, ":rules": usage.new_rules_token()}
                ),
            }
        }
