"""User administration for account admins (CONTRACT section 8): list, create, change
role, disable/enable, delete, and read the audit log.

The last-admin rule holds under concurrency without a counter: a change that takes
an enabled admin away carries, in its transaction, a condition that ANOTHER enabled
admin still is one (`remaining_admin_id` of `Store.change_user`) and a condition that the target
still has the role and state it was read with. DynamoDB serializes transactions on
the same items, so of two admins demoting each other at once at most one succeeds;
a stale read is retried from a fresh one.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from gatekey import clock, policy
from gatekey.accounts import audit
from gatekey.accounts.passwords import hash_password
from gatekey.accounts.users import ADMIN, MEMBER, normalize_email
from gatekey.errors import Conflict, NotFound
from gatekey.policy import Action
from gatekey.principal import Principal
from gatekey.records import User
from gatekey.store import Item, Store

ATTEMPTS = 3  # fresh reads after a concurrent change, before answering 409


class LastAdmin(Conflict):
    """The change would leave the account without an enabled admin."""

    default_detail = "The last enabled admin of an account cannot be demoted, disabled or deleted."


def user_view(user: User) -> dict[str, Any]:
    """What an admin sees of a user: never a password hash, MFA secret or code."""
    return {
        "id": user.user_id,
        "email": user.email,
        "role": user.role,
        "is_bot": user.is_bot,
        "disabled": user.disabled,
        "mfa": user.mfa_enabled,
        "created_at": clock.iso(user.created_at),
        "last_login_at": clock.iso(user.last_login_at),
    }


def is_enabled_admin(user: User) -> bool:
    return user.role == ADMIN and not user.disabled


class UserAdminService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def list_users(self, admin: Principal) -> dict[str, Any]:
        policy.check(admin, Action.MANAGE_USERS)
        users = self.store.list_account_users(admin.account_id)
        users.sort(key=lambda user: (user.created_at, user.user_id))
        return {"users": [user_view(user) for user in users]}

    def create(
        self,
        admin: Principal,
        *,
        email: str,
        role: str = MEMBER,
        password: str | None = None,
        console_url: str | None = None,
        meta: audit.RequestMeta | None = None,
    ) -> dict[str, Any]:
        """A new user; without a password they get a set-password message (as for a reset)."""
        from gatekey.accounts import passwords

        policy.check(admin, Action.MANAGE_USERS, policy.Request(role=role))
        email = normalize_email(email)
        if password is not None:
            passwords.check_password_rule(password, email)
        user_id = str(uuid.uuid4())
        item: Item = {
            "user_id": user_id,
            "account_id": admin.account_id,
            "email": email,
            "role": role,
            "is_bot": False,
            "password_hash": hash_password(password) if password is not None else None,
            "created_at": clock.now(),
        }
        event = self._event(admin, audit.USER_CREATED, user_id, meta)
        user = self.store.create_user(item, audit=event)
        audit.emit(event)
        if password is None:
            from gatekey.accounts import reset

            reset.send_set_password(
                self.store, user, console_url=console_url or reset.console_url()
            )
        return {"user": user_view(user)}

    def update(
        self,
        admin: Principal,
        user_id: str,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        meta: audit.RequestMeta | None = None,
    ) -> dict[str, Any]:
        """Changes role and/or disabled on the user and on every session and key of
        theirs, so the next authorization of each sees it (one read, as always)."""
        policy.check(admin, Action.MANAGE_USERS)
        for _ in range(ATTEMPTS):
            user = self._member(admin, user_id)
            policy.check(admin, Action.MANAGE_USERS, policy.Request(role=role, target=user))
            changes: Item = {}
            if role is not None and role != user.role:
                changes["role"] = role
            if disabled is not None and disabled != user.disabled:
                changes["disabled"] = disabled
            if not changes:  # also completes an earlier change that failed half-way
                self.store.sync_credentials(user)
                return {"user": user_view(user)}
            remaining_admin = self._remaining_admin(user, replace(user, **changes))
            event = self._event(admin, audit.USER_UPDATED, user_id, meta)
            try:
                changed = self.store.change_user(
                    user,
                    changes,
                    expect=_state(user),
                    remaining_admin_id=remaining_admin,
                    audit=event,
                )
            except Conflict:
                continue  # changed meanwhile (or the other admin did): decide again
            audit.emit(event)
            return {"user": user_view(changed)}
        raise Conflict()

    def delete(self, admin: Principal, user_id: str, meta: audit.RequestMeta | None = None) -> None:
        """Disables every credential at once, then deletes them and the user."""
        policy.check(admin, Action.MANAGE_USERS)
        for _ in range(ATTEMPTS):
            user = self._member(admin, user_id)
            policy.check(admin, Action.MANAGE_USERS, policy.Request(target=user))
            remaining_admin = self._remaining_admin(user, replace(user, disabled=True))
            event = self._event(admin, audit.USER_DELETED, user_id, meta)
            try:
                self.store.delete_user(
                    user, expect=_state(user), remaining_admin_id=remaining_admin, audit=event
                )
            except Conflict:
                continue
            audit.emit(event)
            return
        raise Conflict()

    def audit_log(
        self,
        admin: Principal,
        *,
        limit: str | None = None,
        cursor: str | None = None,
        action: str | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """A page of the account's events, newest first, and the cursor of the next one."""
        policy.check(admin, Action.READ_AUDIT)
        size = audit.parse_limit(limit)
        audit.check_filters(action, user_id)
        start = audit.decode_cursor(cursor, admin.account_id) if cursor else None
        events, last = self.store.list_audit_events(
            admin.account_id, limit=size, start_key=start, action=action, user_id=user_id
        )
        return {
            "events": [audit.event_view(event) for event in events],
            "cursor": audit.encode_cursor(last) if last else None,
        }

    def _member(self, admin: Principal, user_id: str) -> User:
        """A user of the admin's account; any other user is simply not found."""
        user = self.store.get_user(user_id)
        if user is None or user.account_id != admin.account_id:
            raise NotFound()
        return user

    def _remaining_admin(self, before: User, after: User) -> str | None:
        return remaining_admin_id(self.store, before, after)

    @staticmethod
    def _event(admin: Principal, action: str, user_id: str, meta: audit.RequestMeta | None) -> Item:
        return audit.new_event(
            admin.account_id, action, actor=admin, target=(audit.TARGET_USER, user_id), meta=meta
        )


def remaining_admin_id(store: Store, before: User, after: User) -> str | None:
    """Another enabled admin, whom the change requires to remain one when it takes an
    admin away (None when it takes none away); LastAdmin when there is none. The API and
    the admin CLI both decide with it."""
    if not is_enabled_admin(before) or is_enabled_admin(after):
        return None
    others = [
        user
        for user in store.list_account_users(before.account_id)
        if user.user_id != before.user_id and is_enabled_admin(user)
    ]
    if not others:
        raise LastAdmin()
    # The oldest admin: the one least likely to be the target of a concurrent change.
    other = min(others, key=lambda user: (user.created_at, user.user_id))
    return other.user_id


def _state(user: User) -> Item:
    """What the decision was based on; the write fails if the user changed since."""
    return {"role": user.role, "disabled": user.disabled}


def get_user_admin_service() -> UserAdminService:
    from gatekey.store import get_store

    return UserAdminService(get_store())
