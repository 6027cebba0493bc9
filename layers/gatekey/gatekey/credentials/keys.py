"""API keys: create, read, list, rename, rotate and delete, always scoped to their owner."""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

from gatekey import clock, policy, scopes, usage
from gatekey.accounts import audit
from gatekey.credentials import key_policy
from gatekey.errors import Conflict, InvalidToken, NotFound, OwnerChanged, ValidationFailed
from gatekey.policy import Action
from gatekey.principal import Principal
from gatekey.records import JWT, TOKEN, ApiKey, KeyPolicy, KeyType, User
from gatekey.settings import key_prefix
from gatekey.store import Item, Store, item_keys
from gatekey.tokens import key_tokens
from gatekey.tokens.keyring import Keyring

__all__ = ["JWT", "TOKEN", "KeyService", "key_scopes", "key_view", "new_key", "resolve_expiry"]
DAY = 86_400
CREATE_ATTEMPTS = 5  # fresh reads of an owner who changed while a key was created


def key_view(key: ApiKey, keyring: Keyring | None = None) -> dict[str, Any]:
    """What the owner sees of a key; with a keyring, its token (or kid and secret) too."""
    view: dict[str, Any] = {
        "handle": key.handle,
        "alias": key.alias,
        "type": key.type,
        "account_id": key.account_id,
        "created_at": clock.iso(key.created_at),
        "expires_at": clock.iso(key.expires_at),
        "last_used_at": clock.iso(key.last_used_at),
        "status": key_policy.key_status(key),
        "scopes": list(key_scopes(key)),
        **key_rules(key),
    }
    if key.type == JWT:
        view["kid"] = key.key_id
    if keyring is not None:
        if key.type == JWT:
            view["secret"] = key_tokens.make_client_secret(
                keyring, key_id=key.key_id, version=key.version, secret_kid=key.secret_kid
            )
        else:
            view["token"] = key_tokens.make_token(
                keyring,
                key_id=key.key_id,
                version=key.version,
                secret_kid=key.secret_kid,
                prefix=key_prefix(),
            )
    return view


def key_rules(key: ApiKey, now: int | None = None) -> dict[str, Any]:
    """A key's usage rules as its views show them (contract section 9): `remaining` is
    what the next authorization sees, so a refill that is due shows its amount."""
    credits = None
    if key.credits is not None:
        refill = key.credits.get("refill")
        remaining = key.credits_remaining or 0
        if refill is not None and (key.credits_period or "") < usage.refill_period(
            refill["interval"], clock.now() if now is None else now
        ):
            remaining = int(refill["amount"])
        credits = {"remaining": remaining, "refill": refill}
    return {
        "ratelimit": key.ratelimit,
        "credits": credits,
        "meta": None if key.meta is None else json.loads(key.meta),
        "allowed_ips": None if key.allowed_ips is None else list(key.allowed_ips),
    }


def rule_attributes(rules: dict[str, Any], now: int) -> Item:
    """The key item's attributes for rules as a body sets them (None clears a rule).
    Any change of the rules that the authorizer meters by gets a new `usage_rules`."""
    attributes: Item = {}
    if "ratelimit" in rules:
        attributes["ratelimit"] = rules["ratelimit"]
    if "credits" in rules:
        credits = rules["credits"]
        refill = None if credits is None else credits.get("refill")
        attributes["credits"] = None if credits is None else {"refill": refill}
        attributes["credits_remaining"] = None if credits is None else credits["remaining"]
        attributes["credits_period"] = (
            None if refill is None else usage.refill_period(refill["interval"], now)
        )
    if "meta" in rules:
        attributes["meta"] = None if rules["meta"] is None else usage.meta_text(rules["meta"])
    if "allowed_ips" in rules:
        attributes["allowed_ips"] = rules["allowed_ips"]
    if {"ratelimit", "credits", "allowed_ips"} & set(rules):
        attributes["usage_rules"] = usage.new_rules_token()
    return attributes


def key_scopes(key: ApiKey) -> tuple[str, ...]:
    """A key's scopes; keys made before scopes existed hold the default, `*`."""
    return key.scopes or scopes.DEFAULT_SCOPES


def new_key(
    owner: User,
    keyring: Keyring,
    *,
    handle: str,
    alias: str | None,
    key_type: KeyType,
    expires_at: int | None,
    key_scopes: tuple[str, ...] = scopes.DEFAULT_SCOPES,
    rules: dict[str, Any] | None = None,
) -> ApiKey:
    """A new key of `owner`, copying the owner's state as read (role, flags and the
    credentials version that the creation conditions on), with its usage `rules`."""
    key = ApiKey(
        key_id=str(uuid.uuid4()),
        user_id=owner.user_id,
        account_id=owner.account_id,
        email=owner.email or "",
        role=owner.role,
        is_bot=owner.is_bot,
        disabled=owner.disabled,
        credentials_version=owner.credentials_version,
        handle=handle,
        alias=alias,
        type=key_type,
        created_at=clock.now(),
        expires_at=expires_at,
        last_used_at=None,
        version=1,
        secret_kid=keyring.current_kid,
        scopes=tuple(scopes.normalize(key_scopes)),
    )
    if not rules:
        return key
    return ApiKey.from_item({**key.to_item(), **rule_attributes(rules, key.created_at)})


def resolve_expiry(expires_at: str | None, expires_in_days: int | None) -> int | None:
    """The expiry fixed at creation: an ISO timestamp in the future, or a number of days."""
    if expires_at is not None and expires_in_days is not None:
        raise ValidationFailed.field("expires_at", "Give expires_at or expires_in_days, not both.")
    if expires_in_days is not None:
        return clock.now() + expires_in_days * DAY
    if expires_at is None:
        return None
    try:
        epoch = clock.parse_iso(expires_at)
    except ValueError:
        epoch = None
    if epoch is None or epoch <= clock.now():
        raise ValidationFailed.field(
            "expires_at", "expires_at must be an ISO 8601 timestamp in the future."
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
        key_type: KeyType,
        expires_at: int | None,
        key_scopes: tuple[str, ...] = scopes.DEFAULT_SCOPES,
        rules: dict[str, Any] | None = None,
        meta: audit.RequestMeta | None = None,
    ) -> dict[str, Any]:
        """A new key of the caller; its expiry and idle rule follow the account's key
        policy as read, and the creation conditions on that policy being unchanged."""
        rules = rules or {}
        policy.check(owner, Action.MANAGE_KEYS)
        event = _key_event(owner, audit.KEY_CREATED, handle, meta)
        for _ in range(CREATE_ATTEMPTS):
            account_policy = self.account_policy(owner.account_id)
            capped = key_policy.capped_expiry(account_policy, expires_at)
            policy.check(owner, Action.MANAGE_KEYS, _grant(key_scopes, capped, rules))
            user = self.store.get_user(owner.user_id)
            if user is None or user.disabled:
                raise InvalidToken()
            key = new_key(
                user,
                self.keyring,
                handle=handle,
                alias=alias,
                key_type=key_type,
                expires_at=capped,
                key_scopes=key_scopes,
                rules=rules,
            )
            key = key_policy.with_policy(key, account_policy)
            try:
                created = self.store.create_key(
                    key, owner=user, creator=_credential_item(owner), audit=event
                )
            except OwnerChanged:  # changed meanwhile: decide again on a fresh read, once
                time.sleep(random.uniform(0.02, 0.1))  # noqa: S311 - the change is syncing
                continue
            audit.emit(event)
            return key_view(created, self.keyring)
        raise Conflict()

    def list(self, owner: Principal) -> dict[str, Any]:
        policy.check(owner, Action.MANAGE_KEYS)
        return {"keys": [key_view(key) for key in self.store.list_keys(owner.user_id)]}

    def get(self, owner: Principal, handle: str, *, with_secret: bool = True) -> dict[str, Any]:
        key = self._owned(owner, handle)
        if with_secret:  # reading a broader key's token would be an escalation
            policy.check(owner, Action.MANAGE_KEYS, _grant_of(key))
        return key_view(key, self.keyring if with_secret else None)

    def update(
        self,
        owner: Principal,
        handle: str,
        changes: dict[str, Any],
        meta: audit.RequestMeta | None = None,
    ) -> dict[str, Any]:
        """Renames, re-scopes and/or sets the usage rules of a key; the caller must hold
        the new scopes, and rules no looser than its own."""
        key = self._owned(owner, handle)
        rules = {name: changes.pop(name) for name in list(changes) if name in usage.RULE_FIELDS}
        if "scopes" in changes or rules:
            requested = tuple(changes.get("scopes", key_scopes(key)))
            merged = {**key_rules(key), **rules}
            policy.check(owner, Action.MANAGE_KEYS, _grant(requested, key.expires_at, merged))
        if "scopes" in changes:
            changes = {**changes, "scopes": list(scopes.normalize(changes["scopes"]))}
        changes.update(rule_attributes(rules, clock.now()))
        if not changes:
            return key_view(key)
        event = _key_event(owner, audit.KEY_UPDATED, handle, meta)
        updated = self.store.update_key(key, changes, audit=event)
        audit.emit(event)
        return key_view(updated)

    def usage(self, owner: Principal, handle: str, days: int) -> dict[str, Any]:
        """Allowed and refused authorizations per UTC day, oldest first, every one of
        the last `days` days present (today included)."""
        key = self._owned(owner, handle)
        counts = {day: (allowed, refused) for day, allowed, refused in key.usage}
        now = clock.now()
        dates = [usage.day(now - back * DAY) for back in range(days - 1, -1, -1)]
        return {
            "days": [
                {
                    "date": date,
                    "allowed": counts.get(date, (0, 0))[0],
                    "refused": counts.get(date, (0, 0))[1],
                }
                for date in dates
            ],
            "last_used_at": clock.iso(key.last_used_at),
        }

    def delete(self, owner: Principal, handle: str, meta: audit.RequestMeta | None = None) -> None:
        key = self._owned(owner, handle)
        event = _key_event(owner, audit.KEY_DELETED, handle, meta)
        self.store.delete_key(key, audit=event)
        audit.emit(event)

    def rotate(
        self,
        owner: Principal,
        handle: str,
        grace_seconds: int,
        meta: audit.RequestMeta | None = None,
    ) -> dict[str, Any]:
        key = self._owned(owner, handle)
        policy.check(owner, Action.MANAGE_KEYS, _grant_of(key))
        event = _key_event(owner, audit.KEY_ROTATED, handle, meta)
        return key_view(self.rotate_key(key, grace_seconds, event=event), self.keyring)

    def account_policy(self, account_id: str) -> KeyPolicy:
        """The account's key policy (none set: no maximum, no idle rule)."""
        return self.store.get_key_policy(account_id) or KeyPolicy()

    def rotate_key(self, key: ApiKey, grace_seconds: int, *, event: Item | None = None) -> ApiKey:
        """A new version; the old one works until min(now + grace, the key's expiry). The
        key's expiry comes down to the account's maximum lifetime from now, if later."""
        now = clock.now()
        expires_at = key_policy.rotated_expiry(
            self.account_policy(key.account_id), key.expires_at, now
        )
        valid_until = now + grace_seconds
        if expires_at is not None:
            valid_until = min(valid_until, expires_at)
        changes: Item = {
            "version": key.version + 1,
            "secret_kid": self.keyring.current_kid,
            "previous_version": key.version,
            "previous_secret_kid": key.secret_kid,
            "previous_valid_until": valid_until if grace_seconds > 0 else now,
        }
        if expires_at != key.expires_at:
            changes["expires_at"] = expires_at
        rotated = self.store.update_key(key, changes, expected_version=key.version, audit=event)
        if event is not None:
            audit.emit(event)
        return rotated

    def _owned(self, owner: Principal, handle: str) -> ApiKey:
        """The caller's key by handle; another user's key is simply not found."""
        policy.check(owner, Action.MANAGE_KEYS)
        key = self.store.get_key_by_handle(owner.user_id, handle)
        if key is None:
            raise NotFound()
        return key


def _key_event(owner: Principal, action: str, handle: str, meta: audit.RequestMeta | None) -> Item:
    """An event about one of the caller's keys (a key is named by its handle)."""
    return audit.new_event(
        owner.account_id, action, actor=owner, target=(audit.TARGET_KEY, handle), meta=meta
    )


def _credential_item(caller: Principal) -> item_keys.ItemKey | None:
    """The item of the caller's own credential: its session, or the key behind its API key
    or client JWT."""
    if caller.session_id is not None:
        return item_keys.session(caller.session_id)
    if caller.key_id is not None:
        return item_keys.api_key(caller.key_id)
    return None


def _grant(
    requested: tuple[str, ...], expires_at: int | None, rules: dict[str, Any] | None = None
) -> policy.Request:
    return policy.Request(
        grants=True, grant_scopes=requested, grant_expires_at=expires_at, grant_rules=rules or {}
    )


def _grant_of(key: ApiKey) -> policy.Request:
    """What holding `key`'s token amounts to: its scopes, expiry and usage rules."""
    return _grant(key_scopes(key), key.expires_at, key_rules(key))


def get_key_service() -> KeyService:
    from gatekey.store import get_store
    from gatekey.tokens.keyring import get_keyring

    return KeyService(get_store(), get_keyring())
