"""`Store`: every aggregate's operations, and the ones that span aggregates.

A user's role and `disabled` flag are copied onto each of their sessions and keys (so
the authorizer needs one read), and a password change ends sessions: those writes touch
users, sessions, keys, reset tokens and login failures together, so they live here, on
the class that has all of them, rather than in one aggregate's module.
"""

from __future__ import annotations

from typing import Any

from gatekey import clock
from gatekey.errors import Conflict, NotFound
from gatekey.records import User
from gatekey.store import item_keys
from gatekey.store.api_keys import ApiKeys
from gatekey.store.audit import AuditLog
from gatekey.store.base import TRANSACTION_ATTEMPTS, TRANSACTION_LIMIT, Action
from gatekey.store.login_throttle import LoginThrottle
from gatekey.store.mfa import Mfa
from gatekey.store.password_reset import PasswordResets
from gatekey.store.revocations import Revocations
from gatekey.store.serialization import Item, values
from gatekey.store.sessions import Sessions
from gatekey.store.users import Users


class Store(Users, Sessions, ApiKeys, Revocations, LoginThrottle, PasswordResets, Mfa, AuditLog):
    """Named operations on the gatekey table."""

    def create_bot(self, user: Item, key: Item, *, audit: Item | None = None) -> tuple[User, Item]:
        """A bot user and its token key, all or nothing."""
        bot, user_actions = self._user_actions(user)
        key_item, key_actions = self._key_actions(key)
        codes = self._transact_audited(user_actions + key_actions, audit)
        if codes:
            if codes[0] == "ConditionalCheckFailed":
                raise NotFound("No such account.", attr="account_id")
            raise Conflict()
        return bot, key_item

    def open_session(self, session: Item, *, audit: Item | None = None) -> Item:
        """A login: the session, the user's `last_login_at` and the event, all or nothing."""
        item = self._session_item(session)
        login = self._user_update(
            session["user_id"], "SET last_login_at = :at", None, {":at": session["created_at"]}
        )
        if self._transact_audited([self._put_action(item), login], audit):
            raise Conflict()
        return item

    def delete_user(
        self,
        user: User,
        keys: list[Item],
        *,
        expect: Item | None = None,
        guard_actions: list[Action] | None = None,
        audit: Item | None = None,
    ) -> None:
        """Deletes a user, its email claim, sessions and keys, whatever their number.

        Every credential is disabled first, so a failure half-way through the deletes
        (which go in transactions of at most 100 actions) leaves nothing usable.
        `expect` and `guard_actions` go with that first step (see `update_credentials`);
        the audit event goes with the last one, which removes the user item, so it is
        recorded exactly when the user is gone.
        """
        sessions = self.list_sessions(user.user_id)
        self.update_credentials(
            user,
            {"disabled": True},
            keys=keys,
            sessions=sessions,
            expect=expect,
            extra_actions=guard_actions,
        )
        actions: list[Action] = []
        for key in keys:
            actions.extend(self._key_delete_actions(key))
        for session in sessions:
            actions.append(self._delete_action(item_keys.session(session["session_id"])))
        if self._transact_in_chunks(actions):
            raise Conflict()
        if self._transact_audited(self._user_delete_actions(user), audit):
            raise Conflict()

    def update_credentials(
        self,
        user: User,
        changes: Item,
        *,
        keys: list[Item] | None = None,
        sessions: list[Item] | None = None,
        expect: Item | None = None,
        extra_actions: list[Action] | None = None,
        audit: Item | None = None,
    ) -> None:
        """Writes `changes` (role, disabled) to a user and to every session and key of
        theirs, so the next authorization sees them with its one read.

        The user item goes first, in the first transaction, together with
        `extra_actions` (say, a check that another admin remains) and the audit event;
        with `expect` ({attribute: value}) the user item must still hold those values
        (a false boolean also matches an absent attribute), else Conflict: the caller
        decided on a stale read. More than 100 credentials take several transactions,
        each all or nothing; a session or key that ended meanwhile is simply left out.
        """
        user_id = user.user_id
        keys = self.list_keys(user_id) if keys is None else keys
        sessions = self.list_sessions(user_id) if sessions is None else sessions
        names = {f"#c{i}": name for i, name in enumerate(changes)}
        change_values = values({f":c{i}": value for i, value in enumerate(changes.values())})
        expression = "SET " + ", ".join(f"#c{i} = :c{i}" for i in range(len(changes)))

        def update(key: item_keys.ItemKey, condition: str, guard: Item) -> Action:
            return {
                "Update": {
                    "TableName": self.table,
                    "Key": item_keys.wire(key),
                    "UpdateExpression": expression,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {**names, **guard["names"]},
                    "ExpressionAttributeValues": {**change_values, **values(guard["values"])},
                }
            }

        guard: Item = {"names": {}, "values": {}}
        condition = "attribute_exists(pk)"
        for i, (name, value) in enumerate((expect or {}).items()):
            guard["names"][f"#e{i}"] = name
            guard["values"][f":e{i}"] = value
            if value is False:
                condition += f" AND (attribute_not_exists(#e{i}) OR #e{i} = :e{i})"
            else:
                condition += f" AND #e{i} = :e{i}"
        required = [update(item_keys.user(user_id), condition, guard), *(extra_actions or [])]
        required = self._with_audit(required, audit)
        plain: Item = {"names": {}, "values": {}}
        credentials = [
            update(item_keys.session(session["session_id"]), "attribute_exists(pk)", plain)
            for session in sessions
        ]
        credentials += [
            update(item_keys.api_key(key["key_id"]), "attribute_exists(pk)", plain) for key in keys
        ]
        room = TRANSACTION_LIMIT - len(required)
        batches = [required + credentials[:room]]
        batches += [
            credentials[start : start + TRANSACTION_LIMIT]
            for start in range(room, len(credentials), TRANSACTION_LIMIT)
        ]
        for index, batch in enumerate(batches):
            self._transact_credentials(
                batch, fixed=len(required) if index == 0 else 0, expect=expect
            )
            if index == 0:
                self._emit(audit)

    def _transact_credentials(
        self, batch: list[Action], *, fixed: int, expect: Item | None
    ) -> None:
        """Runs one batch of `update_credentials`; the first `fixed` actions must all
        succeed, the others (sessions, keys) may have ended meanwhile and are dropped."""
        for _ in range(TRANSACTION_ATTEMPTS):
            codes = self._transact(batch)
            if not codes:
                return
            failed = {i for i, code in enumerate(codes) if code not in ("None", "")}
            if 0 in failed and fixed:
                raise Conflict() if expect else NotFound()
            if any(i < fixed for i in failed):
                raise Conflict()
            if not failed:  # cancelled with no reason given: nothing is known to be written
                raise Conflict()
            batch = [action for i, action in enumerate(batch) if i not in failed]
            if not batch:
                return
        raise Conflict()

    def set_password(
        self,
        user: User,
        password_hash: str,
        *,
        keep_session_id: str | None = None,
        spend_token_hash: str | None = None,
        audit: Item | None = None,
    ) -> int:
        """Replaces a user's password and ends their sessions (all but `keep_session_id`);
        returns how many sessions ended.

        The password, its version (which voids every reset token issued before), the
        spent token, the login-failure counter, the event and the first sessions go in one
        transaction; more than fit (100 actions) end in further transactions right after.
        Conflict when the token was spent or the password changed meanwhile.
        """
        user_id = user.user_id
        version = user.password_version or 0
        now = clock.now()
        actions: list[Action] = [
            self._user_update(
                user_id,
                "SET password_hash = :hash, password_version = :next, password_changed_at = :now",
                "(attribute_not_exists(password_version) OR password_version = :version)",
                {":hash": password_hash, ":next": version + 1, ":now": now, ":version": version},
            )
        ]
        if spend_token_hash is not None:
            spend: dict[str, Any] = {
                "TableName": self.table,
                "Key": item_keys.wire(item_keys.reset_token(spend_token_hash)),
                "ConditionExpression": "attribute_exists(pk) AND #ttl > :now",
                "ExpressionAttributeNames": {"#ttl": "ttl"},
                "ExpressionAttributeValues": values({":now": now}),
            }
            actions.append({"Delete": spend})
        if user.email:
            actions.append(self._delete_action(item_keys.login_failures(user.email)))
        actions = self._with_audit(actions, audit)
        ended = [
            self._delete_action(item_keys.session(session["session_id"]))
            for session in self.list_sessions(user_id)
            if session["session_id"] != keep_session_id
        ]
        room = TRANSACTION_LIMIT - len(actions)
        if self._transact(actions + ended[:room]):
            raise Conflict("The password changed meanwhile, or the link was already used.")
        self._emit(audit)
        for start in range(room, len(ended), TRANSACTION_LIMIT):
            self._transact(ended[start : start + TRANSACTION_LIMIT])
        return len(ended)
