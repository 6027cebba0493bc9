"""Every key of an account, for its admins (contract section 11): the account's key
policy (`GET`/`PUT /account/policy`), the listing of every key and bot token
(`GET /account/keys`) and revoking any of them (`DELETE /account/keys/{key_id}`).

The policy holds under races the way a user's `credentials_version` does
(docs/architecture.md, "Account policy"): a key's creation copies the idle rule and
conditions on the account's `policy_version`; a change bumps the version first, then
lists every key through the account's key refs, strongly consistently, and brings each
one still below the new version to the new rule.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from gatekey import policy
from gatekey.accounts import audit
from gatekey.credentials.bots import BOT_TOKEN_HANDLE
from gatekey.credentials.key_policy import STATUSES
from gatekey.credentials.keys import key_view
from gatekey.errors import Conflict, NotFound, ValidationFailed
from gatekey.policy import Action
from gatekey.principal import Principal
from gatekey.records import ApiKey, KeyPolicy
from gatekey.store import Item, Store, item_keys

__all__ = ["STATUSES", "AccountKeyService", "get_account_key_service"]
ATTEMPTS = 3  # fresh reads of a policy that another change bumped meanwhile
_REF_SORT_KEY = re.compile(
    r"^[0-9]{12}#[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
_KEY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def policy_view(key_policy: KeyPolicy) -> dict[str, Any]:
    return {
        "max_key_lifetime_days": key_policy.max_key_lifetime_days,
        "key_idle_days": key_policy.key_idle_days,
    }


def account_key_view(key: ApiKey, ref: Item) -> dict[str, Any]:
    """What an admin sees of one key of the account: the owner's key view (never its
    token or secret) with the key's id and its owner."""
    return {
        **key_view(key),
        "key_id": key.key_id,
        "bot_token": key.is_bot and key.handle == BOT_TOKEN_HANDLE,
        "owner": {
            "user_id": key.user_id,
            "email": key.email or None,
            "name": ref.get("owner_name"),
            "is_bot": key.is_bot,
        },
    }


def encode_cursor(last_key: Item) -> str:
    """An opaque cursor: base64url of the last ref's key (no padding)."""
    raw = json.dumps({"pk": last_key["pk"], "sk": last_key["sk"]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str, account_id: str) -> Item:
    """The ref key a cursor names, refused (400) unless it is under this account: a
    cursor never pages into another account."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        data = None
    if (
        not isinstance(data, dict)
        or set(data) != {"pk", "sk"}
        or data["pk"] != item_keys.account_keys(account_id)
        or not isinstance(data["sk"], str)
        or not _REF_SORT_KEY.match(data["sk"])
    ):
        raise ValidationFailed.field("cursor", "The cursor is not valid for this account.")
    return {"pk": data["pk"], "sk": data["sk"]}


class AccountKeyService:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- the policy ------------------------------------------------------------------------

    def get_policy(self, admin: Principal) -> dict[str, Any]:
        policy.check(admin, Action.MANAGE_ACCOUNT_KEYS)
        return policy_view(self._policy(admin.account_id))

    def put_policy(
        self,
        admin: Principal,
        *,
        max_key_lifetime_days: int | None,
        key_idle_days: int | None,
        meta: audit.RequestMeta | None = None,
    ) -> dict[str, Any]:
        """Sets the policy, then brings every key of the account to its idle rule before
        answering. The same policy again changes nothing but completes a sync that failed
        half-way."""
        policy.check(admin, Action.MANAGE_ACCOUNT_KEYS)
        for _ in range(ATTEMPTS):
            current = self._policy(admin.account_id)
            self.ensure_refs(admin.account_id, current)
            if (current.max_key_lifetime_days, current.key_idle_days) == (
                max_key_lifetime_days,
                key_idle_days,
            ):
                self.store.sync_key_policy(admin.account_id, current)
                return policy_view(current)
            event = audit.new_event(
                admin.account_id,
                audit.ACCOUNT_POLICY_UPDATED,
                actor=admin,
                target=(audit.TARGET_ACCOUNT, admin.account_id),
                meta=meta,
            )
            try:
                updated = self.store.set_key_policy(
                    admin.account_id,
                    current,
                    max_key_lifetime_days=max_key_lifetime_days,
                    key_idle_days=key_idle_days,
                    audit=event,
                )
            except Conflict:
                continue  # another change bumped it: read again
            audit.emit(event)
            self.store.sync_key_policy(admin.account_id, updated)
            return policy_view(updated)
        raise Conflict()

    # -- every key -------------------------------------------------------------------------

    def list_keys(
        self, admin: Principal, *, limit: str | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """A page of the account's keys and bot tokens, oldest first, and the cursor of
        the next page: one Query of refs and one BatchGetItem of the keys per page."""
        policy.check(admin, Action.MANAGE_ACCOUNT_KEYS)
        size = audit.parse_limit(limit)
        start = decode_cursor(cursor, admin.account_id) if cursor else None
        if start is None:  # the first page: give keys made before refs existed theirs
            self.ensure_refs(admin.account_id, self._policy(admin.account_id))
        refs, last = self.store.account_key_refs(admin.account_id, limit=size, start_key=start)
        keys = self.store.get_keys([str(ref["key_id"]) for ref in refs])
        views = [
            account_key_view(keys[str(ref["key_id"])], ref)
            for ref in refs
            if str(ref["key_id"]) in keys  # deleted since the Query
        ]
        return {"keys": views, "cursor": encode_cursor(last) if last else None}

    def delete_key(
        self, admin: Principal, key_id: str, meta: audit.RequestMeta | None = None
    ) -> None:
        """Revokes any key of the account (audited as `key.deleted` by the admin, target
        the key's id). Another account's key is simply not found; a key with
        `gatekey:users` may revoke members' keys only."""
        policy.check(admin, Action.MANAGE_ACCOUNT_KEYS)
        key = self.store.get_key(key_id) if _KEY_ID.match(key_id) else None
        if key is None or key.account_id != admin.account_id:
            raise NotFound()
        owner = self.store.get_user(key.user_id)
        if owner is not None:
            policy.check(admin, Action.MANAGE_ACCOUNT_KEYS, policy.Request(target=owner))
        event = audit.new_event(
            admin.account_id,
            audit.KEY_DELETED,
            actor=admin,
            target=(audit.TARGET_KEY, key.key_id),
            meta=meta,
            reason="account_admin",
        )
        self.store.delete_key(key, audit=event)
        audit.emit(event)

    # -- keys made before refs existed -----------------------------------------------------

    def ensure_refs(self, account_id: str, current: KeyPolicy) -> int:
        """Gives every key of the account a ref, once (then the account is marked): keys
        made before refs existed have none. Returns how many refs were written."""
        if current.key_refs:
            return 0
        written = 0
        for user in self.store.list_account_users(account_id):
            for key in self.store.list_keys(user.user_id):
                written += self.store.put_key_ref(key, user.name)
        self.store.mark_key_refs(account_id)
        return written

    def _policy(self, account_id: str) -> KeyPolicy:
        found = self.store.get_key_policy(account_id)
        if found is None:
            raise NotFound("No such account.")
        return found


def get_account_key_service() -> AccountKeyService:
    from gatekey.store import get_store

    return AccountKeyService(get_store())
