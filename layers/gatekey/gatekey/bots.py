"""Bots: users without a password whose token an account admin manages."""

from __future__ import annotations

import uuid
from typing import Any

from gatekey import clock
from gatekey.errors import NotFound, PermissionDenied
from gatekey.keyring import Keyring
from gatekey.keys import TOKEN, KeyService, key_view, new_key
from gatekey.principal import Principal
from gatekey.store import Item, Store
from gatekey.users import MEMBER, public_user

BOT_TOKEN_HANDLE = "bot-token"


def bot_view(user: Item) -> dict[str, Any]:
    return {**public_user(user), "name": user.get("name")}


class BotService:
    def __init__(self, store: Store, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring

    def create(self, admin: Principal, name: str) -> dict[str, Any]:
        _require_admin(admin)
        bot: Item = {
            "user_id": str(uuid.uuid4()),
            "account_id": admin.account_id,
            "email": None,
            "name": name.strip(),
            "role": MEMBER,
            "is_bot": True,
            "password_hash": None,
            "created_at": clock.now(),
        }
        key = new_key(
            bot, self.keyring, handle=BOT_TOKEN_HANDLE, alias=name, key_type=TOKEN, expires_at=None
        )
        user, key = self.store.create_bot(bot, key)
        return {"bot": bot_view(user), "token": key_view(key, self.keyring)["token"]}

    def list(self, admin: Principal) -> dict[str, Any]:
        _require_admin(admin)
        users = self.store.list_account_users(admin.account_id)
        bots = sorted((u for u in users if u.get("is_bot")), key=lambda u: u["created_at"])
        return {"bots": [bot_view(bot) for bot in bots]}

    def delete(self, admin: Principal, bot_id: str) -> None:
        """The bot and all its keys go in one transaction, so its tokens stop at once."""
        bot = self._bot(admin, bot_id)
        self.store.delete_user(bot, self.store.list_keys(bot_id))

    def regenerate_token(self, admin: Principal, bot_id: str) -> dict[str, Any]:
        """A new bot token; the old one stops working at once (no grace)."""
        bot = self._bot(admin, bot_id)
        key = self.store.get_key_by_handle(bot_id, BOT_TOKEN_HANDLE)
        if key is None:
            key = self.store.create_key(
                new_key(
                    bot,
                    self.keyring,
                    handle=BOT_TOKEN_HANDLE,
                    alias=bot.get("name"),
                    key_type=TOKEN,
                    expires_at=None,
                )
            )
        else:
            key = KeyService(self.store, self.keyring).rotate_key(key, grace_seconds=0)
        return {"bot": bot_view(bot), "token": key_view(key, self.keyring)["token"]}

    def _bot(self, admin: Principal, bot_id: str) -> Item:
        _require_admin(admin)
        bot = self.store.get_user(bot_id)
        if bot is None or not bot.get("is_bot") or bot["account_id"] != admin.account_id:
            raise NotFound()
        return bot


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied()


def get_bot_service() -> BotService:
    from gatekey.keyring import get_keyring
    from gatekey.store import get_store

    return BotService(get_store(), get_keyring())
