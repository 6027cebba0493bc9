"""Leaked credentials: anyone who finds a gatekey token in public reports it, and it is
revoked at once (CONTRACT section 11; like GitHub's credential revocation API).

`POST /credentials/revoke` takes 1 to 100 strings and always answers 202 with their
count. For each string that is an API key or bot token gatekey minted (its prefix,
checksum and HMAC tag: no database read for anything else), the key is read; if that
token still authorizes (a token rotated out past its grace does not), the key and its
handle claim are deleted with the `key.leaked_revoked` audit event in one transaction,
exactly as `DELETE /user/keys/{handle}` deletes them, so it stops at the next
authorization. Its owner (for a bot token, the account's admins) is then mailed the
key's handle, never the token.

Session tokens, refresh tokens and client-JWT secrets are not looked for: a session
ends with logout, a JWT secret is not a token the authorizer accepts, and a client
JWT expires on its own (`exp` is required).

The answer comes no sooner than `ANSWER_SECONDS` after the request, whatever the
tokens were, so its time does not tell a live key from a forged string. A batch whose
work takes longer (many live keys, a slow mail service) answers later than that; only
someone holding live tokens can cause it, and such a holder learns nothing they could
not learn by using them.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from gatekey import clock
from gatekey.accounts import audit, mail
from gatekey.errors import InvalidToken, NotFound, ServiceUnavailable
from gatekey.policy import ADMIN
from gatekey.records import TOKEN, ApiKey
from gatekey.settings import Settings
from gatekey.store import Store
from gatekey.tokens import key_tokens
from gatekey.tokens.keyring import Keyring

MAX_CREDENTIALS = 100
ANSWER_SECONDS = 0.5
SUBJECT = "gatekey: a key of yours was found in public and revoked"

logger = Logger(child=True)


@dataclass(frozen=True)
class Revoked:
    """A key revoked on a report: what its owner's message names."""

    account_id: str
    user_id: str
    handle: str
    is_bot: bool


class LeakService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        settings: Settings,
        *,
        answer_seconds: float = ANSWER_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings
        self.answer_seconds = answer_seconds
        self.sleep = sleep

    def report(self, credentials: list[str], meta: audit.RequestMeta | None = None) -> int:
        """Revokes every live API key or bot token among `credentials`, mails the
        owners, and returns how many strings were received."""
        started = time.monotonic()
        try:
            found = (self._revoke_if_live(token, meta) for token in dict.fromkeys(credentials))
            revoked = [key for key in found if key is not None]
            self._notify(revoked)
        finally:
            remaining = self.answer_seconds - (time.monotonic() - started)
            if remaining > 0:
                self.sleep(remaining)
        return len(credentials)

    def _revoke_if_live(self, credential: str, meta: audit.RequestMeta | None) -> Revoked | None:
        prefix = self.settings.key_prefix
        if not credential.startswith(prefix):
            return None
        try:
            claims = key_tokens.parse_token(self.keyring, credential, prefix)
        except InvalidToken:  # malformed or forged: no read
            return None
        key = self.store.get_key(claims.key_id)
        if key is None or key.type != TOKEN or key.is_expired(clock.now()):
            return None
        if (claims.version, claims.secret_kid) not in key.valid_versions(clock.now()):
            return None  # rotated out: this string no longer opens anything
        event = audit.new_event(
            key.account_id,
            audit.KEY_LEAKED_REVOKED,
            actor=audit.Actor(None),
            target=(audit.TARGET_KEY, key.handle),
            meta=meta,
            retention_days=self.settings.audit_retention_days,
        )
        try:
            self.store.delete_key(key, audit=event)
        except NotFound:  # deleted meanwhile: nothing left to revoke, nobody to tell
            return None
        audit.emit(event)
        return _revoked(key)

    def _notify(self, revoked: Iterable[Revoked]) -> None:
        """One message per recipient, naming every key of theirs this report revoked.
        The keys are revoked already: a message that cannot be sent is logged, not
        raised (the reporter's answer is 202 whatever happens to the mail)."""
        messages: dict[str, list[Revoked]] = defaultdict(list)
        for key in revoked:
            for address in self._recipients(key):
                messages[address].append(key)
        for address, keys in messages.items():
            try:
                mail.send(address, SUBJECT, _text(keys))
            except ServiceUnavailable:
                logger.warning(
                    "leak notice not sent", extra={"recipient_domain": address.rpartition("@")[2]}
                )

    def _recipients(self, key: Revoked) -> list[str]:
        if not key.is_bot:
            owner = self.store.get_user(key.user_id)
            return [owner.email] if owner is not None and owner.email else []
        return sorted(
            user.email
            for user in self.store.list_account_users(key.account_id)
            if user.role == ADMIN and not user.disabled and not user.is_bot and user.email
        )


def _revoked(key: ApiKey) -> Revoked:
    return Revoked(key.account_id, key.user_id, key.handle, key.is_bot)


def _text(keys: list[Revoked]) -> str:
    lines = []
    for key in keys:
        owner = f"bot {key.user_id}, " if key.is_bot else ""
        lines.append(f'- key "{key.handle}" ({owner}account {key.account_id})')
    return (
        "Someone reported these gatekey tokens as found in public (in a repository, a\n"
        "log, a paste, ...), so they were revoked at once and no longer work:\n\n"
        + "\n".join(lines)
        + "\n\nCreate a new key (or regenerate the bot's token) where it is needed, and\n"
        "remove the old token from wherever it was published. The account's audit log\n"
        "records each one as key.leaked_revoked.\n"
    )


def get_leak_service() -> LeakService:
    from gatekey.settings import get_settings
    from gatekey.store import get_store
    from gatekey.tokens.keyring import get_keyring

    return LeakService(get_store(), get_keyring(), get_settings())
