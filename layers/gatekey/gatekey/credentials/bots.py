"""Bots: users without a password whose token an account admin manages."""

from __future__ import annotations

import uuid
from typing import Any

from gatekey import clock, policy, scopes
from gatekey.accounts import audit
from gatekey.accounts.users import MEMBER, public_user
from gatekey.credentials import key_policy
from gatekey.credentials.keys import TOKEN, key_rules, key_scopes, key_view, new_key
from gatekey.errors import Conflict, NotFound, OwnerChanged
from gatekey.policy import Action
from gatekey.principal import Principal
from gatekey.records import ApiKey, KeyPolicy, User
from gatekey.store import Item, Store
from gatekey.tokens.keyring import Keyring

BOT_TOKEN_HANDLE = "bot-token"
ATTEMPTS = 3  # fresh reads of the account's key policy, changed while a token was made


def bot_view(user: User, token_key: ApiKey | None = None) -> dict[str, Any]:
    view = {**public_user(user), "name": user.name}
    if token_key is not None:
        view["scopes"] = list(key_scopes(token_key))
        view["status"] = key_policy.key_status(token_key)
        view.update(key_rules(token_key))
    return view


class BotService:
    def __init__(self, store: Store, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring

    def create(
        self,
        admin: Principal,
        name: str,
        bot_scopes: tuple[str, ...] = scopes.DEFAULT_SCOPES,
        rules: dict[str, Any] | None = None,
        meta: audit.RequestMeta | None = None,
    ) -> dict[str, Any]:
        """A bot and its token, which carries `rules` (ratelimit, credits, meta,
        allowed_ips) like a key."""
        rules = rules or {}
        policy.check(admin, Action.MANAGE_BOTS)
        for _ in range(ATTEMPTS):
            try:
                return self._create(admin, name, bot_scopes, rules, meta)
            except OwnerChanged:  # the key policy changed meanwhile: decide again
                continue
        raise Conflict()

    def _create(
        self,
        admin: Principal,
        name: str,
        bot_scopes: tuple[str, ...],
        rules: dict[str, Any],
        meta: audit.RequestMeta | None,
    ) -> dict[str, Any]:
        account_policy = self._account_policy(admin.account_id)
        expires_at = key_policy.capped_expiry(account_policy, policy.grant_expiry(admin, None))
        policy.check(admin, Action.MANAGE_BOTS, _grant(bot_scopes, expires_at, rules))
        bot_id = str(uuid.uuid4())
        item: Item = {  # the new user item's attributes, exactly as written
            "user_id": bot_id,
            "account_id": admin.account_id,
            "email": None,
            "name": name.strip(),
            "role": MEMBER,
            "is_bot": True,
            "password_hash": None,
            "created_at": clock.now(),
        }
        event = _bot_event(admin, audit.BOT_CREATED, bot_id, meta)
        token_key = self._token_key(User.from_item(item), bot_scopes, expires_at, rules)
        token_key = key_policy.with_policy(token_key, account_policy)
        user, key = self.store.create_bot(item, token_key, audit=event)
        audit.emit(event)
        return {"bot": bot_view(user, key), "token": key_view(key, self.keyring)["token"]}

    def list(self, admin: Principal) -> dict[str, Any]:
        policy.check(admin, Action.MANAGE_BOTS)
        users = self.store.list_account_users(admin.account_id)
        bots = sorted((u for u in users if u.is_bot), key=lambda u: u.created_at)
        return {"bots": [bot_view(bot) for bot in bots]}

    def delete(self, admin: Principal, bot_id: str, meta: audit.RequestMeta | None = None) -> None:
        """The bot and every key it holds, however many: all disabled first, then deleted
        in batches, so its tokens stop at once and a failure half-way leaves none usable."""
        bot = self._bot(admin, bot_id)
        event = _bot_event(admin, audit.BOT_DELETED, bot_id, meta)
        self.store.delete_user(bot, audit=event)
        audit.emit(event)

    def regenerate_token(
        self, admin: Principal, bot_id: str, meta: audit.RequestMeta | None = None
    ) -> dict[str, Any]:
        """A new bot token; every credential the bot held (spare keys it made itself
        included) stops working at once, and none made meanwhile survives. The bot keeps
        its scopes and usage rules, which the caller must hold (and the token lives no
        longer than the caller's credential). Credits start again from the old token's
        remaining ones."""
        bot = self._bot(admin, bot_id)
        keys = self.store.list_keys(bot_id)
        old = next((key for key in keys if key.handle == BOT_TOKEN_HANDLE), None)
        bot_scopes = key_scopes(old) if old is not None else scopes.DEFAULT_SCOPES
        rules = key_rules(old) if old is not None else {}
        for _ in range(ATTEMPTS):
            account_policy = self._account_policy(admin.account_id)
            expires_at = key_policy.capped_expiry(account_policy, policy.grant_expiry(admin, None))
            policy.check(admin, Action.MANAGE_BOTS, _grant(bot_scopes, expires_at, rules))
            event = _bot_event(admin, audit.BOT_TOKEN_REGENERATED, bot_id, meta)
            token_key = self._token_key(bot, bot_scopes, expires_at, rules)
            token_key = key_policy.with_policy(token_key, account_policy)
            try:
                key = self.store.replace_bot_token(bot, token_key, audit=event)
            except OwnerChanged:  # the key policy changed meanwhile: the old tokens are
                bot = self._bot(admin, bot_id)  # gone already; make the new one again
                continue
            audit.emit(event)
            return {"bot": bot_view(bot, key), "token": key_view(key, self.keyring)["token"]}
        raise Conflict()

    def _account_policy(self, account_id: str) -> KeyPolicy:
        return self.store.get_key_policy(account_id) or KeyPolicy()

    def _token_key(
        self,
        bot: User,
        bot_scopes: tuple[str, ...],
        expires_at: int | None,
        rules: dict[str, Any],
    ) -> ApiKey:
        return new_key(
            bot,
            self.keyring,
            handle=BOT_TOKEN_HANDLE,
            alias=bot.name,
            key_type=TOKEN,
            expires_at=expires_at,
            key_scopes=bot_scopes,
            rules=rules,
        )

    def _bot(self, admin: Principal, bot_id: str) -> User:
        policy.check(admin, Action.MANAGE_BOTS)
        bot = self.store.get_user(bot_id)
        if bot is None or not bot.is_bot or bot.account_id != admin.account_id:
            raise NotFound()
        return bot


def _grant(
    bot_scopes: tuple[str, ...], expires_at: int | None, rules: dict[str, Any]
) -> policy.Request:
    return policy.Request(
        grants=True, grant_scopes=bot_scopes, grant_expires_at=expires_at, grant_rules=rules
    )


def _bot_event(admin: Principal, action: str, bot_id: str, meta: audit.RequestMeta | None) -> Item:
    return audit.new_event(
        admin.account_id, action, actor=admin, target=(audit.TARGET_USER, bot_id), meta=meta
    )


def get_bot_service() -> BotService:
    from gatekey.store import get_store
    from gatekey.tokens.keyring import get_keyring

    return BotService(get_store(), get_keyring())
