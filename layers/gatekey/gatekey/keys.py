"""API keys: create, read, list, rename, rotate and delete, always scoped to their owner."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from gatekey import clock, key_tokens
from gatekey.errors import NotFound, ValidationFailed
from gatekey.keyring import Keyring
from gatekey.principal import Principal
from gatekey.store import Item, Store

TOKEN = "token"
JWT = "jwt"
DAY = 86_400


def key_view(key: Item, keyring: Keyring | None = None) -> dict[str, Any]:
    """What the owner sees of a key; with a keyring, its token (or kid and secret) too."""
    view: dict[str, Any] = {
        "handle": key["handle"],
        "alias": key.get("alias"),
        "type": key["type"],
        "account_id": key["account_id"],
        "created_at": clock.iso(key["created_at"]),
        "expires_at": clock.iso(key.get("expires_at")),
        "last_used_at": clock.iso(key.get("last_used_at")),
    }
    if key["type"] == JWT:
        view["kid"] = key["key_id"]
    if keyring is not None:
        credentials = {
            "key_id": key["key_id"],
            "version": int(key["version"]),
            "secret_kid": key["secret_kid"],
        }
        if key["type"] == JWT:
            view["secret"] = key_tokens.make_client_secret(keyring, **credentials)
        else:
            view["token"] = key_tokens.make_token(keyring, **credentials)
    return view


def new_key(
    owner: Principal | Item,
    keyring: Keyring,
    *,
    handle: str,
    alias: str | None,
    key_type: str,
    expires_at: int | None,
) -> Item:
    """A key item for `owner` (a principal, or a user item for bots)."""
    fields = owner if isinstance(owner, dict) else asdict(owner)
    return {
        "key_id": str(uuid.uuid4()),
        "user_id": fields["user_id"],
        "account_id": fields["account_id"],
        "email": fields.get("email") or "",
        "role": fields["role"],
        "is_bot": bool(fields.get("is_bot", False)),
        "handle": handle,
        "alias": alias,
        "type": key_type,
        "created_at": clock.now(),
        "expires_at": expires_at,
        "last_used_at": None,
        "version": 1,
        "secret_kid": keyring.current_kid,
    }


def resolve_expiry(expires_at: str | None, expires_in_days: int | None) -> int | None:
    """The expiry fixed at creation: an ISO timestamp in the future, or a number of days."""
    if expires_at is not None and expires_in_days is not None:
        raise ValidationFailed(
            [
                {
                    "code": "invalid",
                    "detail": "Give expires_at or expires_in_days, not both.",
                    "attr": "expires_at",
                    "extra": None,
                }
            ]
        )
    if expires_in_days is not None:
        return clock.now() + expires_in_days * DAY
    if expires_at is None:
        return None
    try:
        epoch = clock.parse_iso(expires_at)
    except ValueError:
        epoch = None
    if epoch is None or epoch <= clock.now():
        raise ValidationFailed(
            [
                {
                    "code": "invalid",
                    "detail": "expires_at must be an ISO 8601 timestamp in the future.",
                    "attr": "expires_at",
                    "extra": None,
                }
            ]
        )
    return epoch


class KeyService:
    def __init__(self, store: Store, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring

    def create(
        self,
        owner: Principal,
        *,
        handle: str,
        alias: str | None,
        key_type: str,
        expires_at: int | None,
    ) -> dict[str, Any]:
        key = new_key(
            owner,
            self.keyring,
            handle=handle,
            alias=alias,
            key_type=key_type,
            expires_at=expires_at,
        )
        return key_view(self.store.create_key(key), self.keyring)

    def list(self, owner: Principal) -> dict[str, Any]:
        return {"keys": [key_view(key) for key in self.store.list_keys(owner.user_id)]}

    def get(self, owner: Principal, handle: str, *, with_secret: bool = True) -> dict[str, Any]:
        return key_view(self._owned(owner, handle), self.keyring if with_secret else None)

    def rename(self, owner: Principal, handle: str, alias: str | None) -> dict[str, Any]:
        key = self.store.update_key(self._owned(owner, handle), {"alias": alias})
        return key_view(key)

    def delete(self, owner: Principal, handle: str) -> None:
        self.store.delete_key(self._owned(owner, handle))

    def rotate(self, owner: Principal, handle: str, grace_seconds: int) -> dict[str, Any]:
        return key_view(self.rotate_key(self._owned(owner, handle), grace_seconds), self.keyring)

    def rotate_key(self, key: Item, grace_seconds: int) -> Item:
        """A new version; the old one works until min(now + grace, the key's expiry)."""
        now = clock.now()
        valid_until = now + grace_seconds
        if key.get("expires_at") is not None:
            valid_until = min(valid_until, int(key["expires_at"]))
        changes: Item = {
            "version": int(key["version"]) + 1,
            "secret_kid": self.keyring.current_kid,
            "previous_version": int(key["version"]),
            "previous_secret_kid": key["secret_kid"],
            "previous_valid_until": valid_until if grace_seconds > 0 else now,
        }
        return self.store.update_key(key, changes, expected_version=int(key["version"]))

    def _owned(self, owner: Principal, handle: str) -> Item:
        """The caller's key by handle; another user's key is simply not found."""
        key = self.store.get_key_by_handle(owner.user_id, handle)
        if key is None:
            raise NotFound()
        return key


def get_key_service() -> KeyService:
    from gatekey.keyring import get_keyring
    from gatekey.store import get_store

    return KeyService(get_store(), get_keyring())
