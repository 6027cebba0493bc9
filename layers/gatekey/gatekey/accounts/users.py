"""Accounts and users: creation (admin CLI, bots) and the public view of a user."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from gatekey import clock
from gatekey.accounts.passwords import hash_password
from gatekey.errors import NotFound, ValidationFailed
from gatekey.records import User
from gatekey.store import Item, Store

ADMIN = "admin"
MEMBER = "member"


# Control and format characters (NUL, escapes, bidi overrides) and lone surrogates are
# never part of an address; they would reach keys, logs and message headers.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def email_problem(email: str) -> str | None:
    """Why `email` cannot be an email address, or None (the API's models, the CLI)."""
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in email):
        return "An email address must not contain control characters."
    return None


def normalize_email(email: str) -> str:
    """The form an email is stored and looked up in; 400 `validation_error` on `email`
    for one that holds control characters."""
    problem = email_problem(email)
    if problem is not None:
        raise ValidationFailed.field("email", problem)
    return email.strip().lower()


def create_account(
    store: Store, name: str, *, account_id: str | None = None, audit_event: Item | None = None
) -> Item:
    """A new account; with `audit_event`, recorded in the same transaction."""
    return store.put_account(account_id or str(uuid.uuid4()), name.strip(), audit=audit_event)


def create_user(
    store: Store,
    *,
    account_id: str,
    email: str,
    password: str | None,
    admin: bool = False,
    bot: bool = False,
    user_id: str | None = None,
    audit_event: Item | None = None,
) -> User:
    """A user of an account; bots have no password and log in only with their token.
    With `audit_event`, the creation is recorded in the same transaction."""
    return store.create_user(
        {
            "user_id": user_id or str(uuid.uuid4()),
            "account_id": account_id,
            "email": normalize_email(email),
            "role": ADMIN if admin else MEMBER,
            "is_bot": bot,
            "password_hash": hash_password(password) if password else None,
            "created_at": clock.now(),
        },
        audit=audit_event,
    )


def get_user(store: Store, user_id: str) -> User:
    user = store.get_user(user_id)
    if user is None:
        raise NotFound()
    return user


def public_user(user: User) -> dict[str, Any]:
    """What a client may see of a user: never the password hash."""
    return {
        "id": user.user_id,
        "email": user.email,
        "account_id": user.account_id,
        "role": user.role,
        "is_bot": user.is_bot,
        "mfa": user.mfa_enabled,
        "created_at": clock.iso(user.created_at),
    }
