"""Setting a password without the old one: reset links, set-password links for new
users, and the signed-in user's own password change.

A link carries a random token (`secrets.token_urlsafe`); the table keeps only its
SHA-256 (`RESET#<hash>`), with a TTL (30 minutes for a reset, 7 days for a new user's
first password) and the user's `password_version` at issue. Spending it is a
conditional delete in the same transaction as the password update, so it works once;
any password change bumps the version, which voids every link issued before.

`POST /auth/password-reset` answers 202 whether or not the email exists, and in about
the same time: an unknown email does the same reads and a write of the same shape that
stores nothing, sends nothing, and every answer waits until `RESET_RESPONSE_SECONDS`
after the request started, which covers the mail transport's variable latency. A user
is sent at most `RESETS_PER_WINDOW` reset messages per `RESET_WINDOW_SECONDS`; further
requests answer the same and send nothing (`Store.put_bounded_reset_token`).

Links point at the console URL of the configuration (`console_url`), never at a host
the request names.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger

from gatekey import clock, policy
from gatekey.accounts import audit, mail
from gatekey.accounts.audit import Actor, RequestMeta
from gatekey.accounts.lockout import Lockout
from gatekey.accounts.passwords import check_password_rule, hash_password
from gatekey.accounts.users import get_user, normalize_email
from gatekey.errors import (
    ConfigurationError,
    Conflict,
    GatekeyError,
    ServiceUnavailable,
    ValidationFailed,
)
from gatekey.policy import Action
from gatekey.principal import Principal
from gatekey.records import User
from gatekey.settings import (
    ENV_CONSOLE_URL,
    ENV_CONSOLE_URL_PARAMETER,
    Settings,
    get_settings,
)
from gatekey.store import Item, Store
from gatekey.tokens.keyring import Keyring

RESET = "reset"
SET_PASSWORD = "set_password"
TOKEN_SECONDS = {RESET: 30 * 60, SET_PASSWORD: 7 * 86_400}
TOKEN_BYTES = 32
RESET_RESPONSE_SECONDS = 0.5
RESETS_PER_WINDOW = 3  # reset messages a user is sent at most per window
RESET_WINDOW_SECONDS = 15 * 60
ABSENT_USER_ID = "00000000-0000-0000-0000-000000000000"

logger = Logger()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def issue_reset_token(
    store: Store,
    user: User,
    *,
    purpose: str = RESET,
    audit_event: Item | None = None,
) -> str:
    """Stores a new single-use token for `user` and returns it (the only copy)."""
    token, digest = _new_token()
    store.put_reset_token(_token_item(user, digest, purpose), audit=audit_event)
    if audit_event is not None:
        audit.emit(audit_event)
    return token


def _token_item(user: User, digest: str, purpose: str) -> Item:
    now = clock.now()
    return {
        "token_hash": digest,
        "user_id": user.user_id,
        "account_id": user.account_id,
        "purpose": purpose,
        "password_version": user.password_version or 0,
        "created_at": now,
        "ttl": now + TOKEN_SECONDS[purpose],
    }


def reset_link(console_url: str, token: str) -> str:
    """The console's page that asks for the new password (CONTRACT: `#reset=<token>`)."""
    return f"{console_url.rstrip('/')}#reset={token}"


def console_url() -> str:
    """The console's URL for links in messages: `GATEKEY_CONSOLE_URL`, else the value of
    the SSM parameter that the stack writes its console URL to
    (`GATEKEY_CONSOLE_URL_PARAMETER`, read once per container).

    Never taken from the request: `Host`, `X-Forwarded-*` and `Forwarded` are the
    caller's to choose, and a link built from them would carry a reset token to the
    caller's host. Without either setting this refuses rather than guess.
    """
    settings = get_settings()
    if settings.console_url:
        return settings.console_url
    if settings.console_url_parameter:
        return _console_url_from_parameter(settings.console_url_parameter)
    raise ConfigurationError(
        f"set {ENV_CONSOLE_URL} or {ENV_CONSOLE_URL_PARAMETER}: links in messages are never "
        "built from the request"
    )


@lru_cache(maxsize=4)
def _console_url_from_parameter(name: str) -> str:
    import boto3  # deferred: only deployed functions read the parameter
    from botocore.exceptions import BotoCoreError, ClientError

    from gatekey.store.base import error_code, permission_misconfigured

    try:
        response = boto3.client("ssm").get_parameter(Name=name)
    except (BotoCoreError, ClientError) as exc:
        if error_code(exc) == "AccessDeniedException":
            raise permission_misconfigured(exc, "ssm:GetParameter") from exc
        raise ServiceUnavailable() from exc
    value = str(response["Parameter"]["Value"]).strip().rstrip("/")
    if not value.startswith("https://"):
        raise ConfigurationError(f"the SSM parameter {name} does not hold an https URL")
    return value


def _message(purpose: str, link: str, token: str, account: str) -> tuple[str, str]:
    if purpose == SET_PASSWORD:
        subject = "Choose your gatekey password"
        text = (
            "Hello,\n\n"
            "An administrator created a gatekey account for you. Choose your password here:\n\n"
            f"{link}\n\n"
            "The link works once, for 7 days. If you did not expect this message, ignore it.\n\n"
            f"Account: {account}\n"
            f"Token: {token}\n"
        )
    else:
        subject = "Reset your gatekey password"
        text = (
            "Hello,\n\n"
            "Someone (we hope you) asked to reset your gatekey password. Choose a new one here:\n\n"
            f"{link}\n\n"
            "The link works once, for 30 minutes. Setting a new password logs you out "
            "everywhere.\n"
            "If you did not ask for this, ignore this message: your password stays as it is.\n\n"
            f"Account: {account}\n"
            f"Token: {token}\n"
        )
    return subject, text


def _send(store: Store, user: User, purpose: str, token: str, console: str) -> bool:
    """Sends the link, naming the account (an email may have users in several); a
    transport failure is logged (without the link) and reported as False, so the
    caller's answer does not depend on the mail service."""
    found = store.get_account(user.account_id)
    account = f"{found['name']} ({user.account_id})" if found else user.account_id
    subject, text = _message(purpose, reset_link(console, token), token, account)
    try:
        mail.send(str(user.email), subject, text)
    except GatekeyError:
        logger.warning("message not sent", extra={"purpose": purpose, "user_id": user.user_id})
        return False
    return True


def send_set_password(store: Store, user: User, *, console_url: str) -> bool:
    """A new user without a password gets a 7-day set-password link (Part A's
    POST /account/users). Bots and users without email get nothing."""
    if not user.email or user.is_bot:
        return False
    token = issue_reset_token(store, user, purpose=SET_PASSWORD)
    return _send(store, user, SET_PASSWORD, token, console_url)


def _invalid_token() -> ValidationFailed:
    return ValidationFailed.field(
        "token", "This link is invalid, expired or already used; ask for a new one."
    )


class PasswordService:
    def __init__(self, store: Store, keyring: Keyring, settings: Settings) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings

    def request_reset(
        self,
        email: str,
        account_id: str | None,
        *,
        console: str,
        meta: RequestMeta | None = None,
    ) -> None:
        """Mails a reset link to each enabled user of `email` (in `account_id` when given)
        within the bound, doing the same reads and writes, and taking as long, when there
        is none."""
        started = time.monotonic()
        email = normalize_email(email)
        candidates = self.store.find_user_ids_by_email(email)
        if account_id is not None:
            candidates = {k: v for k, v in candidates.items() if k == account_id}
        # An unknown email reads a user too, as login does.
        user_ids = list(candidates.values()) or [ABSENT_USER_ID]
        users = [u for u in map(self.store.get_user, user_ids) if u]
        # bots log in with their token only: a password must never be set for one
        users = [u for u in users if u.email and not u.disabled and not u.is_bot]
        if not users:
            _, digest = _new_token()
            self.store.discarded_reset_write(digest)
            audit.emit(
                audit.new_event(
                    "-",
                    audit.PASSWORD_RESET_REQUESTED,
                    actor=None,
                    target=(audit.TARGET_USER, "-"),
                    meta=meta,
                    retention_days=self.settings.audit_retention_days,
                    outcome=audit.FAILURE,
                )
            )
        for user in users:
            event = audit.user_event(
                user,
                audit.PASSWORD_RESET_REQUESTED,
                actor=Actor(None),
                meta=meta,
                retention_days=self.settings.audit_retention_days,
            )
            token, digest = _new_token()
            issued = self.store.put_bounded_reset_token(
                _token_item(user, digest, RESET),
                limit=RESETS_PER_WINDOW,
                window_seconds=RESET_WINDOW_SECONDS,
                audit=event,
            )
            if issued:
                audit.emit(event)
                _send(self.store, user, RESET, token, console)
            else:
                logger.info("reset not sent: bound reached", extra={"user_id": user.user_id})
        remaining = RESET_RESPONSE_SECONDS - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)

    def confirm_reset(
        self, token: str, new_password: str, *, meta: RequestMeta | None = None
    ) -> dict[str, Any]:
        """Spends the token and sets the password; every session of the user ends."""
        digest = token_hash(token)
        issued = self.store.get_reset_token(digest)  # the token's item, not a record
        user = self.store.get_user(issued["user_id"]) if issued else None
        if (
            issued is None
            or user is None
            or user.is_bot
            or user.disabled
            or (user.password_version or 0) != int(issued["password_version"])
        ):
            raise _invalid_token()
        check_password_rule(new_password, user.email)
        event = audit.user_event(
            user,
            audit.PASSWORD_RESET,
            meta=meta,
            retention_days=self.settings.audit_retention_days,
        )
        try:
            ended = self.store.set_password(
                user, hash_password(new_password), spend_token_hash=digest, audit=event
            )
        except Conflict:
            raise _invalid_token() from None
        audit.emit(event)
        return {"password_reset": True, "sessions_ended": ended}

    def change(
        self,
        principal: Principal,
        current_password: str,
        new_password: str,
        *,
        meta: RequestMeta | None = None,
    ) -> dict[str, Any]:
        """The signed-in user's new password: the current one is checked as a login attempt
        (lockout), then every other session ends; API keys keep working."""
        policy.check(principal, Action.CHANGE_OWN_SECURITY)
        user = get_user(self.store, principal.user_id)

        def event(outcome: str) -> Item:
            return audit.user_event(
                user,
                audit.PASSWORD_CHANGED,
                actor=principal,
                meta=meta,
                retention_days=self.settings.audit_retention_days,
                outcome=outcome,
            )

        Lockout(self.store, self.settings).verify_password(
            user, current_password, failure_event=event(audit.FAILURE)
        )
        check_password_rule(new_password, user.email)
        success = event(audit.SUCCESS)
        ended = self.store.set_password(
            user, hash_password(new_password), keep_session_id=principal.session_id, audit=success
        )
        audit.emit(success)
        return {"password_changed": True, "sessions_ended": ended}


def get_password_service() -> PasswordService:
    from gatekey.store import get_store
    from gatekey.tokens.keyring import get_keyring

    return PasswordService(get_store(), get_keyring(), get_settings())
