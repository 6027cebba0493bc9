"""Accounts and users: the account item, the user item, its email claim."""

from __future__ import annotations

from typing import Any

from gatekey import clock
from gatekey.errors import Conflict, EmailTaken, NotFound
from gatekey.records import User
from gatekey.store import item_keys
from gatekey.store.base import Action, StoreBase
from gatekey.store.serialization import Item, values

CREDENTIALS_VERSION = "credentials_version"


def credentials_version_condition(version: int) -> dict[str, Any]:
    """The user item exists and is still at `version` (0 = never changed: absent)."""
    condition = "attribute_exists(pk) AND #cv = :cv"
    if version == 0:
        condition = "attribute_exists(pk) AND (attribute_not_exists(#cv) OR #cv = :cv)"
    return {
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#cv": CREDENTIALS_VERSION},
        "ExpressionAttributeValues": values({":cv": version}),
    }


class Users(StoreBase):
    def put_account(self, account_id: str, name: str, *, audit: Item | None = None) -> Item:
        """A new account, listed in gsi1 under `ACCOUNTS`; with `audit`, the event goes in
        the same transaction."""
        created_at = clock.now()
        item = {
            **item_keys.account(account_id),
            **item_keys.account_index(account_id, created_at),
            "account_id": account_id,
            "name": name,
            "created_at": created_at,
        }
        if audit is None:
            self._put(item, must_not_exist=True)
        elif self._transact_audited([self._put_action(item)], audit):
            raise Conflict()
        return item

    def list_accounts(self) -> list[Item]:
        """Every account, oldest first (one Query of gsi1, paged; no Scan)."""
        return self._query_index(item_keys.ACCOUNTS)

    def get_account(self, account_id: str) -> Item | None:
        return self._get(item_keys.account(account_id))

    def get_user(self, user_id: str) -> User | None:
        item = self._get(item_keys.user(user_id))
        return None if item is None else User.from_item(item)

    def list_account_users(self, account_id: str) -> list[User]:
        return [
            User.from_item(item) for item in self._query_index(item_keys.account_users(account_id))
        ]

    def find_user_ids_by_email(self, email: str) -> dict[str, str]:
        """Account id -> user id for every account that has a user with this email."""
        claims = self._query_partition(item_keys.email_claims(email))
        return {item_keys.account_of_email_claim(c["sk"]): c["user_id"] for c in claims}

    def _user_actions(self, user: Item) -> tuple[User, list[Action]]:
        """A new user (given as the attributes its item is written with), its email claim
        (bots have none) and the account-exists check."""
        user_id, account_id = user["user_id"], user["account_id"]
        item = {
            **user,
            **item_keys.user(user_id),
            **item_keys.user_index(user_id, account_id),
        }
        account_exists = {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": item_keys.wire(item_keys.account(account_id)),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        actions = [account_exists, self._put_action(item)]
        if user.get("email"):
            claim = {**item_keys.email_claim(user["email"], account_id), "user_id": user_id}
            actions.append(self._put_action(claim))
        return User.from_item(item), actions

    def _user_delete_actions(self, user: User) -> list[Action]:
        actions = [self._delete_action(item_keys.user(user.user_id))]
        if user.email:
            actions.append(self._delete_action(item_keys.email_claim(user.email, user.account_id)))
        return actions

    def create_user(self, user: Item, *, audit: Item | None = None) -> User:
        """Writes the user and its email claim in one transaction (email unique per account).

        `user` holds exactly the attributes the new item gets (None ones are left out),
        so a new user's item carries no flag it was not given."""
        created, actions = self._user_actions(user)
        codes = self._transact_audited(actions, audit)
        if codes:
            if codes[0] == "ConditionalCheckFailed":
                raise NotFound("No such account.", attr="account_id")
            raise EmailTaken(attr="email")
        return created

    def _user_update(
        self,
        user_id: str,
        expression: str,
        condition: str | None,
        expression_values: Item | None = None,
        names: dict[str, str] | None = None,
    ) -> Action:
        """A transaction's Update of a user item that still exists."""
        params = self._update_params(
            item_keys.user(user_id), expression, condition, expression_values, names
        )
        return {"Update": params}

    def owner_unchanged_check(self, owner: User) -> Action:
        """A transaction condition of every credential's creation: its owner still exists
        and is at the credentials version it was read at (the credential copies that
        state). Every change of the user's state bumps the version (`Store.change_user`),
        so a creation that raced a change fails and is decided again."""
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": item_keys.wire(item_keys.user(owner.user_id)),
                **credentials_version_condition(owner.credentials_version),
            }
        }

    def enabled_admin_check(self, user_id: str) -> Action:
        """A transaction condition: `user_id` is still an enabled admin when it commits.

        Demoting, disabling or deleting an admin carries this check on ANOTHER enabled
        admin; DynamoDB serializes transactions that touch the same items, so two admins
        demoting each other at once cannot both succeed (the last-admin rule).
        """
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": item_keys.wire(item_keys.user(user_id)),
                "ConditionExpression": "attribute_exists(pk) AND #role = :admin"
                " AND (attribute_not_exists(disabled) OR disabled = :false)",
                "ExpressionAttributeNames": {"#role": "role"},
                "ExpressionAttributeValues": values({":admin": "admin", ":false": False}),
            }
        }
