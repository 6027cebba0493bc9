"""`Store`: every aggregate's operations, and the ones that span aggregates.

A user's role and `disabled` flag are copied onto each of their sessions and keys (so
the authorizer needs one read), and a password change ends sessions: those writes touch
users, sessions, keys, reset tokens and login failures together, so they live here, on
the class that has all of them, rather than in one aggregate's module.

The race invariant (docs/architecture.md, "Changes of a user win every race"): the
user item carries a `credentials_version`. Creating a credential (key, session, bot
token) conditions, in its own transaction, on the version it copied the user's state
at. Changing the user (`change_user`, `set_password`, `replace_bot_token`) bumps the
version first and only then lists the user's credentials, strongly consistently, and
brings every one still below the new version to the new state (or deletes it). So a
creation that committed before the bump is listed, and one that did not fails.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gatekey import clock
from gatekey.errors import Conflict, HandleTaken, NotFound, OwnerChanged
from gatekey.records import ApiKey, Session, User
from gatekey.store import item_keys
from gatekey.store.account_keys import AccountKeys, policy_version_condition
from gatekey.store.api_keys import ApiKeys
from gatekey.store.audit import AuditLog
from gatekey.store.base import TRANSACTION_LIMIT, Action
from gatekey.store.key_usage import KeyUsage
from gatekey.store.login_throttle import LoginThrottle
from gatekey.store.mfa import Mfa
from gatekey.store.password_reset import PasswordResets
from gatekey.store.revocations import Revocations
from gatekey.store.serialization import Item, values
from gatekey.store.sessions import Sessions
from gatekey.store.signing_keys import SigningKeys
from gatekey.store.users import CREDENTIALS_VERSION, Users, credentials_version_condition


class Store(
    AccountKeys,
    Users,
    Sessions,
    ApiKeys,
    KeyUsage,
    Revocations,
    LoginThrottle,
    PasswordResets,
    Mfa,
    AuditLog,
    SigningKeys,
):
    """Named operations on the gatekey table."""

    # -- creating credentials: each conditions on its owner's credentials version --------

    def create_key(
        self,
        key: ApiKey,
        *,
        owner: User,
        creator: item_keys.ItemKey | None = None,
        audit: Item | None = None,
    ) -> ApiKey:
        """A new key of `owner`, whose state the key copied: HandleTaken when the handle is
        in use, OwnerChanged when the owner changed since it was read.

        `creator` is the owner's own credential that asks (a session or key item): it must
        still exist at the owner's version, so a credential that a change has left behind
        (a bot's old token, say, between the change's bump and its deletion) mints nothing.
        """
        actions = self._key_actions(key, owner_name=owner.name)
        checks = [
            self.owner_unchanged_check(owner),
            self.policy_unchanged_check(key.account_id, key.policy_version),
        ]
        if creator is not None:
            checks.append(
                {
                    "ConditionCheck": {
                        "TableName": self.table,
                        "Key": item_keys.wire(creator),
                        **credentials_version_condition(owner.credentials_version),
                    }
                }
            )
        codes = self._transact_audited([*actions, *checks], audit)
        if codes:
            if codes[0] == "ConditionalCheckFailed":
                raise HandleTaken(attr="handle")
            raise OwnerChanged()
        return key

    def create_bot(
        self, user: Item, key: ApiKey, *, audit: Item | None = None
    ) -> tuple[User, ApiKey]:
        """A bot user and its token key, all or nothing (the bot is new: nothing to race
        but the account's key policy: OwnerChanged when it changed since it was read)."""
        bot, user_actions = self._user_actions(user)
        account_check = user_actions[0]["ConditionCheck"]  # the account exists, and ...
        unchanged = policy_version_condition(key.policy_version)  # ... its policy is as read
        account_check["ConditionExpression"] += f" AND ({unchanged['ConditionExpression']})"
        account_check["ExpressionAttributeNames"] = unchanged["ExpressionAttributeNames"]
        account_check["ExpressionAttributeValues"] = unchanged["ExpressionAttributeValues"]
        key_actions = self._key_actions(key, owner_name=bot.name)
        codes = self._transact_audited(user_actions + key_actions, audit)
        if codes:
            if codes[0] == "ConditionalCheckFailed":
                if self.get_key_policy(key.account_id) is not None:
                    raise OwnerChanged()
                raise NotFound("No such account.", attr="account_id")
            raise Conflict()
        return bot, key

    def open_session(self, session: Session, *, owner: User, audit: Item | None = None) -> Session:
        """A login: the session, its ref under the user, the user's `last_login_at` and the
        event, all or nothing; OwnerChanged when the user changed since it was read."""
        item = self._session_item(session)
        login = self._update_params(
            item_keys.user(owner.user_id),
            "SET last_login_at = :at",
            None,
            {":at": session.created_at},
            must_exist=False,
        )
        unchanged = credentials_version_condition(owner.credentials_version)
        login["ConditionExpression"] = unchanged["ConditionExpression"]
        login["ExpressionAttributeNames"] = unchanged["ExpressionAttributeNames"]
        login["ExpressionAttributeValues"].update(unchanged["ExpressionAttributeValues"])
        actions = [
            self._put_action(item),
            self._put_action(self._session_ref(session)),
            {"Update": login},
        ]
        if self._transact_audited(actions, audit):
            raise OwnerChanged()
        return session

    # -- changing a user: bump the version, then bring every credential along ----------

    def change_user(
        self,
        user: User,
        changes: Item,
        *,
        expect: Item | None = None,
        remaining_admin_id: str | None = None,
        audit: Item | None = None,
    ) -> User:
        """Writes `changes` (role, disabled) to a user, then to every session and key of
        theirs, so the next authorization sees them with its one read; returns the user
        as written.

        The user item, the condition that `remaining_admin_id` is still an enabled admin
        (the last-admin rule, when the change takes an admin away) and the
        audit event go in one transaction, which also bumps the credentials version and
        requires the user unchanged since `user` was read (else Conflict: decide again);
        `expect` ({attribute: value}) adds conditions (a false boolean also matches an
        absent attribute). Then `sync_credentials` brings every credential along.
        """
        names = {f"#c{i}": name for i, name in enumerate(changes)}
        change_values: Item = {f":c{i}": value for i, value in enumerate(changes.values())}
        expression = "SET " + ", ".join(f"#c{i} = :c{i}" for i in range(len(changes)))
        conditions = []
        for i, (name, value) in enumerate((expect or {}).items()):
            names[f"#e{i}"] = name
            change_values[f":e{i}"] = value
            if value is False:
                conditions.append(f"(attribute_not_exists(#e{i}) OR #e{i} = :e{i})")
            else:
                conditions.append(f"#e{i} = :e{i}")
        update, version = self._version_bump(user, expression, conditions, change_values, names)
        required: list[Action] = [{"Update": update}]
        if remaining_admin_id is not None:
            required.append(self.enabled_admin_check(remaining_admin_id))
        codes = self._transact_audited(required, audit)
        if codes:
            raise Conflict() if codes[0] == "ConditionalCheckFailed" or expect else NotFound()
        changed = User.from_item({**user.to_item(), **changes, CREDENTIALS_VERSION: version})
        self.sync_credentials(changed)
        return changed

    def _version_bump(
        self,
        user: User,
        expression: str,
        conditions: list[str],
        expression_values: Item,
        names: dict[str, str],
    ) -> tuple[dict[str, Any], int]:
        """An Update of the user item that also bumps its credentials version, on the
        condition that the version is still `user`'s; and the new version."""
        unchanged = credentials_version_condition(user.credentials_version)
        version = user.credentials_version + 1
        update = self._update_params(
            item_keys.user(user.user_id),
            f"{expression}, #cv = :next" if expression else "SET #cv = :next",
            " AND ".join(conditions) if conditions else None,
            {**expression_values, ":next": version},
            {**names, **unchanged["ExpressionAttributeNames"]},
            must_exist=False,
        )
        clauses = [unchanged["ConditionExpression"], *conditions]
        update["ConditionExpression"] = " AND ".join(clauses)
        update["ExpressionAttributeValues"].update(unchanged["ExpressionAttributeValues"])
        return update, version

    def sync_credentials(self, user: User) -> None:
        """Copies the user's role, flag and credentials version onto each session and key
        still below that version; a credential that ended meanwhile is left out, one
        already at a later version (a later change) is not touched. Repeating it is
        harmless, so a change that failed half-way is completed by being called again."""
        version = user.credentials_version
        state = values({":role": user.role, ":disabled": user.disabled, ":cv": version})

        def update(key: item_keys.ItemKey) -> Action:
            return {
                "Update": {
                    "TableName": self.table,
                    "Key": item_keys.wire(key),
                    "UpdateExpression": "SET #role = :role, disabled = :disabled, #cv = :cv",
                    "ConditionExpression": "attribute_exists(pk)"
                    " AND (attribute_not_exists(#cv) OR #cv < :cv)",
                    "ExpressionAttributeNames": {"#role": "role", "#cv": CREDENTIALS_VERSION},
                    "ExpressionAttributeValues": state,
                }
            }

        actions = [
            update(item_keys.session(session.session_id))
            for session in self.list_sessions(user.user_id)
            if _behind(session, version)
        ]
        actions += [
            update(item_keys.api_key(key.key_id))
            for key in self.list_keys(user.user_id)
            if _behind(key, version)
        ]
        for start in range(0, len(actions), TRANSACTION_LIMIT):
            self._transact_dropping_ended(actions[start : start + TRANSACTION_LIMIT])

    def delete_user(
        self,
        user: User,
        *,
        expect: Item | None = None,
        remaining_admin_id: str | None = None,
        audit: Item | None = None,
    ) -> None:
        """Deletes a user, its email claim, sessions and keys, whatever their number.

        The user is disabled first (`change_user`: version bumped, every credential
        disabled), so nothing can be created for it any more and a failure half-way
        through the deletes (transactions of at most 100 actions) leaves nothing usable.
        `expect` and `remaining_admin_id` go with that first step; the audit event goes with
        the last one, which removes the user item, so it is recorded when the user is gone.
        """
        disabled = self.change_user(
            user, {"disabled": True}, expect=expect, remaining_admin_id=remaining_admin_id
        )
        actions: list[Action] = []
        for key in self.list_keys(user.user_id):
            actions.extend(self._key_delete_actions(key))
        for session in self.list_sessions(user.user_id):
            actions.extend(self._session_delete_actions(session))
        if self._transact_in_chunks(actions):
            raise Conflict()
        delete_user = self._user_delete_actions(disabled)
        delete_user[0]["Delete"].update(credentials_version_condition(disabled.credentials_version))
        if self._transact_audited(delete_user, audit):
            raise Conflict()

    def replace_bot_token(
        self, bot: User, token_key: ApiKey, *, audit: Item | None = None
    ) -> ApiKey:
        """A bot's new token: the version is bumped (nothing made before can be created
        any more), every key the bot holds is deleted, then the new token is created at
        the new version. The event goes with the bump."""
        update, version = self._version_bump(bot, "", [], {}, {})
        if self._transact_audited([{"Update": update}], audit):
            raise Conflict()
        actions: list[Action] = []
        for key in self.list_keys(bot.user_id):
            actions.extend(self._key_delete_actions(key))
        if self._transact_in_chunks(actions):
            raise Conflict()
        bumped = User.from_item({**bot.to_item(), CREDENTIALS_VERSION: version})
        return self.create_key(replace(token_key, credentials_version=version), owner=bumped)

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
        credentials version (no session opened with the old password can be created any
        more), the spent token, the login-failure counter and the event go in one
        transaction; then every session below the new credentials version ends.
        Conflict when the token was spent or the user changed meanwhile.
        """
        password_version = user.password_version or 0
        now = clock.now()
        update, version = self._version_bump(
            user,
            "SET password_hash = :hash, password_version = :next_password,"
            " password_changed_at = :now",
            [
                "(attribute_not_exists(password_version) OR password_version = :password)",
                "(attribute_not_exists(disabled) OR disabled = :false)",  # no disabled user
            ],
            {
                ":false": False,
                ":hash": password_hash,
                ":next_password": password_version + 1,
                ":now": now,
                ":password": password_version,
            },
            {},
        )
        actions: list[Action] = [{"Update": update}]
        if spend_token_hash is not None:
            spend: dict[str, Any] = {
                "TableName": self.table,
                "Key": item_keys.wire(item_keys.reset_token(spend_token_hash)),
                "ConditionExpression": "attribute_exists(pk) AND #ttl > :now",
                "ExpressionAttributeNames": {"#ttl": "ttl"},
                "ExpressionAttributeValues": values({":now": now}),
            }
            actions.append({"Delete": spend})
        lockout = item_keys.login_failures(item_keys.user_login_counter(user.user_id))
        actions.append(self._delete_action(lockout))
        if self._transact_audited(actions, audit):
            raise Conflict("The password changed meanwhile, or the link was already used.")
        ended = self.end_sessions_below(user.user_id, version, keep_session_id=keep_session_id)
        self.sync_credentials(User.from_item({**user.to_item(), CREDENTIALS_VERSION: version}))
        return ended

    def end_sessions_below(
        self, user_id: str, version: int, *, keep_session_id: str | None = None
    ) -> int:
        """Ends every session of a user opened before its credentials version `version`
        (all but `keep_session_id`); returns how many ended."""
        ended = [
            session
            for session in self.list_sessions(user_id)
            if session.session_id != keep_session_id and _behind(session, version)
        ]
        actions = [action for session in ended for action in self._session_delete_actions(session)]
        if self._transact_in_chunks(actions):
            raise Conflict()
        return len(ended)


def _behind(credential: Session | ApiKey, version: int) -> bool:
    """Whether a session or key copied its user's state before `version`."""
    return credential.credentials_version < version
