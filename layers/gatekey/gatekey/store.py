"""The DynamoDB store: one table, named operations, errors translated at this boundary.

Item layout (single table, `pk`/`sk`, one GSI `gsi1`, TTL attribute `ttl`):

| item           | pk                | sk            | gsi1pk              | gsi1sk         |
|----------------|-------------------|---------------|---------------------|----------------|
| account        | ACCOUNT#<id>      | ACCOUNT       |                     |                |
| user           | USER#<id>         | USER          | ACCOUNT#<id>#USERS  | USER#<id>      |
| email claim    | EMAIL#<email>     | ACCOUNT#<id>  |                     |                |
| session        | SESSION#<id>      | SESSION       | USER#<id>#SESSIONS  | <created>#<id> |
| login failures | LOGINFAIL#<email> | LOGINFAIL     |                     |                |
| API key        | APIKEY#<key id>   | KEY           |                     |                |
| key handle     | USER#<id>         | KEY#<handle>  |                     |                |
| revocation     | REVOKED#<token>   | REVOKED       |                     |                |
| audit event    | AUDIT#<account>   | <at:012d>#<id>|                     |                |
| reset token    | RESET#<sha256>    | RESET         |                     |                |

DynamoDB's TTL deletes expired items lazily (up to days later), so every read here
compares the expiry itself and treats an expired item as absent.
"""

from __future__ import annotations

import logging
import random
import re
import time
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gatekey import audit as audit_log
from gatekey import clock
from gatekey.errors import (
    Conflict,
    EmailTaken,
    HandleTaken,
    NotFound,
    PermissionMisconfigured,
    ServiceUnavailable,
)
from gatekey.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from gatekey.aws import DynamoDB

logger = logging.getLogger("gatekey.store")
Item = dict[str, Any]
BATCH_GET_LIMIT = 100
TRANSACTION_LIMIT = 100  # DynamoDB's most actions in one TransactWriteItems
BATCH_GET_ROUNDS = 5
TRANSACTION_ATTEMPTS = 4
AUDIT_PAGE_SIZE = 100  # events read per query when filtering
AUDIT_PAGES = 10  # queries per GET /account/audit at most; then a cursor goes on
PLACEHOLDER_PK = "AUDIT#-"  # expired-on-arrival items that equalize unknown emails' cost

# Errors that mean "the database is not answering well"; everything else is a bug.
UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "ResourceNotFoundException",
        "UnrecognizedClientException",
        "LimitExceededException",
        "TransactionConflictException",  # a single-item write racing a transaction
    }
)
# TransactionCanceledException reasons that mean "retry", not "your condition failed".
TRANSIENT_CANCELLATION_CODES = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict"}
)
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})
_DENIED_MESSAGE = re.compile(r"perform: (?P<action>\S+) on resource: (?P<resource>\S+)")


def permission_misconfigured(exc: Exception, operation: str) -> PermissionMisconfigured:
    """The error for an AccessDenied answer, after one warning line naming what is missing.

    AWS refusing a call means the function's role (template.yaml Policies) lacks a
    permission: a deployment error to fix, not an outage to trace on every request.
    """
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
    match = _DENIED_MESSAGE.search(message)
    action = match["action"] if match else operation
    resource = match["resource"] if match else "unknown resource"
    logger.warning(
        "permission missing: AWS refused %s on %s; add it to this function's Policies in "
        "template.yaml",
        action,
        resource,
    )
    return PermissionMisconfigured(action, resource)


def _serialize(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {k: _serialize(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [_serialize(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__}")


def _deserialize(attribute: dict[str, Any]) -> Any:
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else number
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: _deserialize(v) for k, v in value.items()}
    if kind == "L":
        return [_deserialize(v) for v in value]
    raise TypeError(f"unexpected DynamoDB type {kind}")


def to_item(values: Item) -> dict[str, dict[str, Any]]:
    """Python values to DynamoDB's attribute-value map (None values are left out)."""
    return {k: _serialize(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, dict[str, Any]]) -> Item:
    return {k: _deserialize(v) for k, v in item.items()}


def _values(values: Item) -> dict[str, dict[str, Any]]:
    return {k: _serialize(v) for k, v in values.items()}


def is_expired(item: Item, at: int | None = None) -> bool:
    """An item whose `ttl` has passed is gone, whether or not DynamoDB has deleted it."""
    ttl = item.get("ttl")
    return ttl is not None and int(ttl) <= (clock.now() if at is None else at)


class Store:
    """Named operations on the gatekey table."""

    def __init__(self, client: DynamoDBClient | DynamoDB, table_name: str) -> None:
        self.client = client
        self.table = table_name
        self.calls = 0  # DynamoDB requests made, read by the benchmarks
        self._client_error, self._transport_error = _error_types(client)

    # -- low-level helpers -------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> Any:
        self.calls += 1
        try:
            return getattr(self.client, operation)(**kwargs)
        except self._client_error as exc:
            code = error_code(exc)
            if code in UNAVAILABLE_CODES:
                raise ServiceUnavailable() from exc
            if code in ACCESS_DENIED_CODES:
                raise permission_misconfigured(exc, operation) from exc
            raise
        except self._transport_error as exc:
            raise ServiceUnavailable() from exc

    def _get(self, pk: str, sk: str) -> Item | None:
        response = self._call(
            "get_item",
            TableName=self.table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=True,
        )
        raw = response.get("Item")
        if raw is None:
            return None
        item = from_item(raw)
        return None if is_expired(item) else item

    def _put(self, item: Item, *, must_not_exist: bool = False) -> None:
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": to_item(item)}
        if must_not_exist:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        self._call("put_item", **kwargs)

    def _delete(self, pk: str, sk: str) -> None:
        self._call("delete_item", TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    def _query(self, **kwargs: Any) -> list[Item]:
        items: list[Item] = []
        while True:
            response = self._call("query", TableName=self.table, **kwargs)
            items.extend(from_item(raw) for raw in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return [item for item in items if not is_expired(item)]
            kwargs["ExclusiveStartKey"] = last

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[Item]:
        """Strongly consistent BatchGetItem of any number of keys; expired items left out."""
        items: list[Item] = []
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self.table: {"Keys": keys[start : start + BATCH_GET_LIMIT], "ConsistentRead": True}
            }
            for _ in range(BATCH_GET_ROUNDS):
                response = self._call("batch_get_item", RequestItems=request)
                items.extend(from_item(raw) for raw in response["Responses"].get(self.table, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise ServiceUnavailable()
        return [item for item in items if not is_expired(item)]

    def _transact(self, actions: list[dict[str, Any]]) -> list[str]:
        """Runs a transaction; returns the per-item cancellation codes ([] on success).

        A conflict with another transaction on the same items is retried briefly, so two
        concurrent creates of one handle end as one success and one condition failure
        rather than a 503.
        """
        for attempt in range(TRANSACTION_ATTEMPTS):
            codes = self._transact_once(actions)
            if "TransactionConflict" not in codes:
                return codes
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 - jitter
        raise ServiceUnavailable()

    def _transact_once(self, actions: list[dict[str, Any]]) -> list[str]:
        try:
            self._call("transact_write_items", TransactItems=actions)
        except self._client_error as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            codes = [reason.get("Code", "None") for reason in reasons]
            if "ValidationError" in codes:
                raise  # a malformed transaction is our bug, not the caller's conflict
            if "TransactionConflict" in codes:
                return codes
            if any(c in TRANSIENT_CANCELLATION_CODES or c in UNAVAILABLE_CODES for c in codes):
                raise ServiceUnavailable() from exc
            return codes or ["Unknown"]
        return []

    def _put_action(self, item: Item, *, must_not_exist: bool = True) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table, "Item": to_item(item)}
        if must_not_exist:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}

    def _delete_action(self, pk: str, sk: str) -> dict[str, Any]:
        return {"Delete": {"TableName": self.table, "Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}

    # -- accounts and users ------------------------------------------------------------

    def put_account(self, account_id: str, name: str) -> Item:
        item = {
            "pk": f"ACCOUNT#{account_id}",
            "sk": "ACCOUNT",
            "account_id": account_id,
            "name": name,
            "created_at": clock.now(),
        }
        self._put(item, must_not_exist=True)
        return item

    def get_account(self, account_id: str) -> Item | None:
        return self._get(f"ACCOUNT#{account_id}", "ACCOUNT")

    def _user_actions(self, user: Item) -> tuple[Item, list[dict[str, Any]]]:
        """The user item, its email claim (bots have none) and the account-exists check."""
        item = {
            **user,
            "pk": f"USER#{user['user_id']}",
            "sk": "USER",
            "gsi1pk": f"ACCOUNT#{user['account_id']}#USERS",
            "gsi1sk": f"USER#{user['user_id']}",
        }
        account_exists = {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": {"pk": {"S": f"ACCOUNT#{user['account_id']}"}, "sk": {"S": "ACCOUNT"}},
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        actions = [account_exists, self._put_action(item)]
        if user.get("email"):
            claim = {
                "pk": f"EMAIL#{user['email']}",
                "sk": f"ACCOUNT#{user['account_id']}",
                "user_id": user["user_id"],
            }
            actions.append(self._put_action(claim))
        return item, actions

    def create_user(self, user: Item, *, audit: Item | None = None) -> Item:
        """Writes the user and its email claim in one transaction (email unique per account)."""
        item, actions = self._user_actions(user)
        codes = self._transact(self._with_audit(actions, audit))
        if codes:
            if codes[0] == "ConditionalCheckFailed":
                raise NotFound("No such account.", attr="account_id")
            raise EmailTaken(attr="email")
        self._emit(audit)
        return item

    def create_bot(self, user: Item, key: Item, *, audit: Item | None = None) -> tuple[Item, Item]:
        """A bot user and its token key, all or nothing."""
        item, user_actions = self._user_actions(user)
        key_item, key_actions = self._key_actions(key)
        codes = self._transact(self._with_audit(user_actions + key_actions, audit))
        if codes:
            if codes[0] == "ConditionalCheckFailed":
                raise NotFound("No such account.", attr="account_id")
            raise Conflict()
        self._emit(audit)
        return item, key_item

    def list_account_users(self, account_id: str) -> list[Item]:
        return self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"ACCOUNT#{account_id}#USERS"}},
        )

    def delete_user(
        self,
        user: Item,
        keys: list[Item],
        *,
        expect: Item | None = None,
        guard_actions: list[dict[str, Any]] | None = None,
        audit: Item | None = None,
    ) -> None:
        """Deletes a user, its email claim, sessions and keys, whatever their number.

        Every credential is disabled first, so a failure half-way through the deletes
        (which go in transactions of at most 100 actions) leaves nothing usable.
        `expect` and `guard_actions` go with that first step (see `update_credentials`);
        the audit event goes with the last one, which removes the user item, so it is
        recorded exactly when the user is gone.
        """
        sessions = self.list_sessions(user["user_id"])
        self.update_credentials(
            user,
            {"disabled": True},
            keys=keys,
            sessions=sessions,
            expect=expect,
            extra_actions=guard_actions,
        )
        actions: list[dict[str, Any]] = []
        for key in keys:
            actions.extend(self._key_delete_actions(key))
        for session in sessions:
            actions.append(self._delete_action(f"SESSION#{session['session_id']}", "SESSION"))
        for start in range(0, len(actions), TRANSACTION_LIMIT):
            if self._transact(actions[start : start + TRANSACTION_LIMIT]):
                raise Conflict()
        user_actions = [self._delete_action(f"USER#{user['user_id']}", "USER")]
        if user.get("email"):
            user_actions.append(
                self._delete_action(f"EMAIL#{user['email']}", f"ACCOUNT#{user['account_id']}")
            )
        if self._transact(self._with_audit(user_actions, audit)):
            raise Conflict()
        self._emit(audit)

    def update_credentials(
        self,
        user: Item,
        changes: Item,
        *,
        keys: list[Item] | None = None,
        sessions: list[Item] | None = None,
        expect: Item | None = None,
        extra_actions: list[dict[str, Any]] | None = None,
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
        user_id = user["user_id"]
        keys = self.list_keys(user_id) if keys is None else keys
        sessions = self.list_sessions(user_id) if sessions is None else sessions
        names = {f"#c{i}": name for i, name in enumerate(changes)}
        values = _values({f":c{i}": value for i, value in enumerate(changes.values())})
        expression = "SET " + ", ".join(f"#c{i} = :c{i}" for i in range(len(changes)))

        def update(pk: str, sk: str, condition: str, extra: Item) -> dict[str, Any]:
            return {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                    "UpdateExpression": expression,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {**names, **extra["names"]},
                    "ExpressionAttributeValues": {**values, **_values(extra["values"])},
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
        required = [update(f"USER#{user_id}", "USER", condition, guard), *(extra_actions or [])]
        required = self._with_audit(required, audit)
        plain: Item = {"names": {}, "values": {}}
        credentials = [
            update(f"SESSION#{session['session_id']}", "SESSION", "attribute_exists(pk)", plain)
            for session in sessions
        ]
        credentials += [
            update(f"APIKEY#{key['key_id']}", "KEY", "attribute_exists(pk)", plain) for key in keys
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
        self, batch: list[dict[str, Any]], *, fixed: int, expect: Item | None
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

    def get_user(self, user_id: str) -> Item | None:
        return self._get(f"USER#{user_id}", "USER")

    def find_user_ids_by_email(self, email: str) -> dict[str, str]:
        """Account id -> user id for every account that has a user with this email."""
        claims = self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"EMAIL#{email}"}},
            ConsistentRead=True,
        )
        return {claim["sk"].removeprefix("ACCOUNT#"): claim["user_id"] for claim in claims}

    # -- sessions ----------------------------------------------------------------------

    def put_session(self, session: Item) -> Item:
        item = {
            **session,
            "pk": f"SESSION#{session['session_id']}",
            "sk": "SESSION",
            "gsi1pk": f"USER#{session['user_id']}#SESSIONS",
            "gsi1sk": f"{session['created_at']:012d}#{session['session_id']}",
        }
        self._put(item, must_not_exist=True)
        return item

    def get_session(self, session_id: str) -> Item | None:
        session = self._get(f"SESSION#{session_id}", "SESSION")
        return _live_session(session)

    def list_sessions(self, user_id: str) -> list[Item]:
        sessions = self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}#SESSIONS"}},
        )
        return [session for session in map(_live_session, sessions) if session is not None]

    def delete_session(self, session_id: str, *, audit: Item | None = None) -> None:
        """Ends a session; with an audit event, only a session that still exists is
        deleted and recorded (NotFound otherwise), in one transaction."""
        if audit is None:
            self._delete(f"SESSION#{session_id}", "SESSION")
            return
        action = self._delete_action(f"SESSION#{session_id}", "SESSION")
        action["Delete"]["ConditionExpression"] = "attribute_exists(pk)"
        if self._transact(self._with_audit([action], audit)):
            raise NotFound()
        self._emit(audit)

    def touch_session(self, session_id: str, *, at: int, ttl: int) -> bool:
        """Slides a session's idle expiry; never recreates a deleted or expired session."""
        try:
            self._call(
                "update_item",
                TableName=self.table,
                Key={"pk": {"S": f"SESSION#{session_id}"}, "sk": {"S": "SESSION"}},
                UpdateExpression="SET last_used_at = :at, #ttl = :ttl",
                ConditionExpression="attribute_exists(pk) AND #ttl > :at",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=_values({":at": at, ":ttl": ttl}),
            )
        except self._client_error as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- API keys ----------------------------------------------------------------------

    def _key_actions(self, key: Item) -> tuple[Item, list[dict[str, Any]]]:
        """The key item and its handle claim; the claim makes the handle unique per user."""
        item = {**key, "pk": f"APIKEY#{key['key_id']}", "sk": "KEY"}
        claim = {
            "pk": f"USER#{key['user_id']}",
            "sk": f"KEY#{key['handle']}",
            "key_id": key["key_id"],
        }
        return item, [self._put_action(claim), self._put_action(item)]

    def _key_delete_actions(self, key: Item) -> list[dict[str, Any]]:
        return [
            self._delete_action(f"USER#{key['user_id']}", f"KEY#{key['handle']}"),
            self._delete_action(f"APIKEY#{key['key_id']}", "KEY"),
        ]

    def create_key(self, key: Item, *, audit: Item | None = None) -> Item:
        item, actions = self._key_actions(key)
        if self._transact(self._with_audit(actions, audit)):
            raise HandleTaken(attr="handle")
        self._emit(audit)
        return item

    def get_key(self, key_id: str) -> Item | None:
        return self._get(f"APIKEY#{key_id}", "KEY")

    def get_key_by_handle(self, user_id: str, handle: str) -> Item | None:
        claim = self._get(f"USER#{user_id}", f"KEY#{handle}")
        if claim is None:
            return None
        key = self.get_key(claim["key_id"])
        return key if key is not None and key["user_id"] == user_id else None

    def list_keys(self, user_id: str) -> list[Item]:
        claims = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":prefix": {"S": "KEY#"}},
            ConsistentRead=True,
        )
        keys = self._batch_get(
            [{"pk": {"S": f"APIKEY#{claim['key_id']}"}, "sk": {"S": "KEY"}} for claim in claims]
        )
        return sorted(keys, key=lambda key: (key["created_at"], key["handle"]))

    def update_key(
        self,
        key: Item,
        changes: Item,
        *,
        expected_version: int | None = None,
        audit: Item | None = None,
    ) -> Item:
        """Sets attributes of a live key; with `expected_version`, only if nobody rotated it.

        With an audit event, the update and the event go in one transaction.
        """
        names = {f"#a{i}": name for i, name in enumerate(changes)}
        values = {f":v{i}": value for i, value in enumerate(changes.values())}
        condition = "attribute_exists(pk)"
        if expected_version is not None:
            condition += " AND version = :expected"
            values[":expected"] = expected_version
        if audit is not None:
            update = {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": f"APIKEY#{key['key_id']}"}, "sk": {"S": "KEY"}},
                    "UpdateExpression": "SET "
                    + ", ".join(f"#a{i} = :v{i}" for i in range(len(changes))),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": _values(values),
                }
            }
            if self._transact(self._with_audit([update], audit)):
                raise NotFound() if expected_version is None else Conflict()
            self._emit(audit)
            return {**key, **changes}
        try:
            response = self._call(
                "update_item",
                TableName=self.table,
                Key={"pk": {"S": f"APIKEY#{key['key_id']}"}, "sk": {"S": "KEY"}},
                UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(changes))),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_values(values),
                ReturnValues="ALL_NEW",
            )
        except self._client_error as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise (NotFound() if expected_version is None else Conflict()) from exc
            raise
        return from_item(response["Attributes"])

    def touch_key(self, key_id: str, *, at: int) -> None:
        """Records last use; a key deleted meanwhile stays deleted."""
        try:
            self._call(
                "update_item",
                TableName=self.table,
                Key={"pk": {"S": f"APIKEY#{key_id}"}, "sk": {"S": "KEY"}},
                UpdateExpression="SET last_used_at = :at",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=_values({":at": at}),
            )
        except self._client_error as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def delete_key(self, key: Item, *, audit: Item | None = None) -> None:
        """Deletes a key and its handle claim; a key already gone is NotFound (and no
        event is recorded for it)."""
        actions = self._key_delete_actions(key)
        actions[-1]["Delete"]["ConditionExpression"] = "attribute_exists(pk)"
        if self._transact(self._with_audit(actions, audit)):
            raise NotFound()
        self._emit(audit)

    # -- revocations of stateless tokens ------------------------------------------------

    def revoke_access_token(
        self,
        revocation_id: str,
        *,
        session_id: str,
        user_id: str,
        expires_at: int,
        audit: Item | None = None,
    ) -> None:
        self._revoke(
            revocation_id, (f"SESSION#{session_id}", "SESSION"), user_id, expires_at, audit
        )

    def revoke_client_jwt(
        self,
        revocation_id: str,
        *,
        key_id: str,
        user_id: str,
        expires_at: int,
        audit: Item | None = None,
    ) -> None:
        self._revoke(revocation_id, (f"APIKEY#{key_id}", "KEY"), user_id, expires_at, audit)

    def _revoke(
        self,
        revocation_id: str,
        parent: tuple[str, str],
        user_id: str,
        expires_at: int,
        audit: Item | None = None,
    ) -> None:
        """Blocks one token until it would have expired anyway; TTL then removes the item.

        The session or key the token belongs to (`parent`) is flagged with `revoked_until`
        in the same transaction, so the authorizer reads the revocation item only for
        credentials that have one: one read per authorization otherwise.
        """
        revocation = {
            "pk": f"REVOKED#{revocation_id}",
            "sk": "REVOKED",
            "user_id": user_id,
            "revoked_at": clock.now(),
            "ttl": expires_at,
        }
        flag = {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": {"S": parent[0]}, "sk": {"S": parent[1]}},
                "UpdateExpression": "SET revoked_until = :until",
                "ConditionExpression": "attribute_exists(pk) AND "
                "(attribute_not_exists(revoked_until) OR revoked_until < :until)",
                "ExpressionAttributeValues": _values({":until": expires_at}),
            }
        }
        put = self._put_action(revocation, must_not_exist=False)
        # When the parent is gone (nothing left to revoke) or already flagged past this
        # expiry, the revocation item alone is enough.
        if self._transact(self._with_audit([put, flag], audit)) and self._transact(
            self._with_audit([put], audit)
        ):
            raise Conflict()
        self._emit(audit)

    def is_revoked(self, revocation_id: str) -> bool:
        return self._get(f"REVOKED#{revocation_id}", "REVOKED") is not None

    # -- login throttling --------------------------------------------------------------

    def reserve_login_attempt(
        self, email: str, *, now: int, max_failures: int, ttl: int
    ) -> Item | None:
        """Counts an attempt before its password is checked, atomically.

        Returns the throttle item after counting, or None when the email is locked or
        already has `max_failures` attempts counted (some perhaps still in flight): so
        however many requests race, at most `max_failures` passwords are evaluated.
        """
        try:
            response = self._call(
                "update_item",
                TableName=self.table,
                Key={"pk": {"S": f"LOGINFAIL#{email}"}, "sk": {"S": "LOGINFAIL"}},
                UpdateExpression="ADD failures :one SET #ttl = :ttl",
                ConditionExpression="(attribute_not_exists(locked_until) OR locked_until <= :now)"
                " AND (attribute_not_exists(failures) OR failures < :max OR #ttl <= :now)",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=_values(
                    {":one": 1, ":ttl": ttl, ":now": now, ":max": max_failures}
                ),
                ReturnValues="ALL_NEW",
            )
        except self._client_error as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return from_item(response["Attributes"])

    def get_login_throttle(self, email: str) -> Item | None:
        return self._get(f"LOGINFAIL#{email}", "LOGINFAIL")

    def lock_login(self, email: str, *, until: int, lockouts: int, ttl: int) -> None:
        """Starts a lockout and resets the count, so the next lockout takes 5 new failures;
        `lockouts` remembers how many there were, for the doubling back-off."""
        self._call(
            "update_item",
            TableName=self.table,
            Key={"pk": {"S": f"LOGINFAIL#{email}"}, "sk": {"S": "LOGINFAIL"}},
            UpdateExpression="SET failures = :zero, locked_until = :until, lockouts = :lockouts,"
            " #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues=_values(
                {":zero": 0, ":until": until, ":lockouts": lockouts, ":ttl": ttl}
            ),
        )

    def clear_login_failures(self, email: str) -> None:
        self._delete(f"LOGINFAIL#{email}", "LOGINFAIL")

    # -- password reset ----------------------------------------------------------------

    def put_reset_token(self, token: Item, *, audit: Item | None = None) -> None:
        """Stores a reset or set-password token under its hash (never the token itself)."""
        item = {**token, "pk": f"RESET#{token['token_hash']}", "sk": "RESET"}
        if self._transact(self._with_audit([self._put_action(item)], audit)):
            raise Conflict()
        self._emit(audit)

    def discarded_reset_write(self, token_hash: str) -> None:
        """The transaction `put_reset_token` commits for a known email, of items that are
        expired when written: an unknown email's reset request pays the same write, and
        leaves nothing any read returns (every read treats them as absent; TTL removes
        them)."""
        now = clock.now()
        placeholders = [
            {"pk": f"RESET#{token_hash}", "sk": "RESET", "ttl": now},
            {"pk": PLACEHOLDER_PK, "sk": token_hash, "ttl": now},
        ]
        self._transact([self._put_action(item, must_not_exist=False) for item in placeholders])

    def discarded_write(self, key: str) -> None:
        """The put of an audit event, of an item expired when written: the cost of
        recording a failed login, paid where there is no account to record it in (an
        unknown email). `key` (a digest of the email) bounds the items to one per email.
        A conditional put that fails would cost less, and timing would tell."""
        self._put({"pk": PLACEHOLDER_PK, "sk": key, "ttl": clock.now()})

    def get_reset_token(self, token_hash: str) -> Item | None:
        return self._get(f"RESET#{token_hash}", "RESET")

    def set_password(
        self,
        user: Item,
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
        user_id = user["user_id"]
        version = int(user.get("password_version") or 0)
        now = clock.now()
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "USER"}},
                    "UpdateExpression": "SET password_hash = :hash, password_version = :next,"
                    " password_changed_at = :now",
                    "ConditionExpression": "attribute_exists(pk) AND"
                    " (attribute_not_exists(password_version) OR password_version = :version)",
                    "ExpressionAttributeValues": _values(
                        {
                            ":hash": password_hash,
                            ":next": version + 1,
                            ":now": now,
                            ":version": version,
                        }
                    ),
                }
            }
        ]
        if spend_token_hash is not None:
            spend = self._delete_action(f"RESET#{spend_token_hash}", "RESET")
            spend["Delete"]["ConditionExpression"] = "attribute_exists(pk) AND #ttl > :now"
            spend["Delete"]["ExpressionAttributeNames"] = {"#ttl": "ttl"}
            spend["Delete"]["ExpressionAttributeValues"] = _values({":now": now})
            actions.append(spend)
        if user.get("email"):
            actions.append(self._delete_action(f"LOGINFAIL#{user['email']}", "LOGINFAIL"))
        actions = self._with_audit(actions, audit)
        ended = [
            self._delete_action(f"SESSION#{session['session_id']}", "SESSION")
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

    # -- MFA ---------------------------------------------------------------------------

    def _update_user(
        self,
        user_id: str,
        expression: str,
        condition: str | None,
        values: Item | None = None,
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "USER"}},
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)"
            + (f" AND {condition}" if condition else ""),
        }
        if values:
            update["ExpressionAttributeValues"] = _values(values)
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}

    def _conditional_update(self, action: dict[str, Any]) -> bool:
        """Runs one Update action; False when its condition failed."""
        try:
            self._call("update_item", **action["Update"])
        except self._client_error as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def set_totp_pending(self, user_id: str, *, nonce: str, kid: str, at: int) -> None:
        """Remembers an enrolment until it is confirmed; Conflict while MFA is on."""
        action = self._update_user(
            user_id,
            "SET totp_pending_nonce = :nonce, totp_pending_kid = :kid, totp_pending_at = :at",
            "(attribute_not_exists(mfa_enabled) OR mfa_enabled = :false)",
            {":nonce": nonce, ":kid": kid, ":at": at, ":false": False},
        )
        if not self._conditional_update(action):
            raise Conflict("Two-step verification is already on.")

    def enable_totp(
        self,
        user_id: str,
        *,
        nonce: str,
        kid: str,
        step: int,
        recovery_codes: dict[str, int],
        recovery_kid: str,
        audit: Item | None = None,
    ) -> None:
        """Turns the pending enrolment `nonce` on, with its first used time step and the
        hashed recovery codes; Conflict when it is no longer the pending one."""
        action = self._update_user(
            user_id,
            "SET mfa_enabled = :true, totp_nonce = :nonce, totp_kid = :kid,"
            " totp_last_step = :step, recovery_codes = :codes, recovery_kid = :rkid,"
            " mfa_enabled_at = :now"
            " REMOVE totp_pending_nonce, totp_pending_kid, totp_pending_at",
            "totp_pending_nonce = :nonce AND"
            " (attribute_not_exists(mfa_enabled) OR mfa_enabled = :false)",
            {
                ":true": True,
                ":false": False,
                ":nonce": nonce,
                ":kid": kid,
                ":step": step,
                ":codes": recovery_codes,
                ":rkid": recovery_kid,
                ":now": clock.now(),
            },
        )
        if self._transact(self._with_audit([action], audit)):
            raise Conflict("This enrolment is no longer pending; start again.")
        self._emit(audit)

    def use_totp_step(self, user_id: str, *, nonce: str, step: int) -> bool:
        """Spends a TOTP time step: True only for a step later than the last one used with
        this secret, so a code works once, however many requests race with it."""
        return self._conditional_update(
            self._update_user(
                user_id,
                "SET totp_last_step = :step",
                "mfa_enabled = :true AND totp_nonce = :nonce AND"
                " (attribute_not_exists(totp_last_step) OR totp_last_step < :step)",
                {":step": step, ":true": True, ":nonce": nonce},
            )
        )

    def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Spends a recovery code (by its hash): True once, False ever after."""
        return self._conditional_update(
            self._update_user(
                user_id,
                "REMOVE recovery_codes.#code",
                "mfa_enabled = :true AND attribute_exists(recovery_codes.#code)",
                {":true": True},
                {"#code": code_hash},
            )
        )

    def disable_totp(self, user_id: str, *, nonce: str, audit: Item | None = None) -> None:
        """Turns MFA off (the secret's nonce and the recovery codes go with it)."""
        action = self._update_user(
            user_id,
            "SET mfa_enabled = :false REMOVE totp_nonce, totp_kid, totp_last_step,"
            " recovery_codes, recovery_kid, mfa_enabled_at",
            "mfa_enabled = :true AND totp_nonce = :nonce",
            {":true": True, ":false": False, ":nonce": nonce},
        )
        if self._transact(self._with_audit([action], audit)):
            raise Conflict("Two-step verification changed meanwhile; reload and retry.")
        self._emit(audit)

    def open_session(self, session: Item, *, audit: Item | None = None) -> Item:
        """A login: the session, the user's `last_login_at` and the event, all or nothing."""
        item = {
            **session,
            "pk": f"SESSION#{session['session_id']}",
            "sk": "SESSION",
            "gsi1pk": f"USER#{session['user_id']}#SESSIONS",
            "gsi1sk": f"{session['created_at']:012d}#{session['session_id']}",
        }
        login = self._update_user(
            session["user_id"],
            "SET last_login_at = :at",
            None,
            {":at": session["created_at"]},
        )
        if self._transact(self._with_audit([self._put_action(item), login], audit)):
            raise Conflict()
        self._emit(audit)
        return item

    # -- audit -------------------------------------------------------------------------

    def audit_put_action(self, event: Item) -> dict[str, Any]:
        """The Put of an audit event, for the transaction of the write it records."""
        return self._put_action(event)

    def _with_audit(
        self, actions: list[dict[str, Any]], event: Item | None
    ) -> list[dict[str, Any]]:
        return actions if event is None else [*actions, self.audit_put_action(event)]

    @staticmethod
    def _emit(event: Item | None) -> None:
        """The event's log line, once the transaction that stored it has succeeded."""
        if event is not None:
            audit_log.emit(event)

    def put_audit_event(self, event: Item) -> None:
        """Stores an event of an action that writes nothing else (a failed login)."""
        self._put(event, must_not_exist=True)

    def list_audit_events(
        self,
        account_id: str,
        *,
        limit: int,
        start_key: dict[str, str] | None = None,
        action: str | None = None,
        user_id: str | None = None,
    ) -> tuple[list[Item], Item | None]:
        """An account's events newest first, and the key to continue from (None at the end).

        Filters are applied here rather than as a FilterExpression, so a page ends on the
        last event returned and the next one starts right after it. A rare filter reads
        at most AUDIT_PAGES pages per call and then hands back a cursor to go on with.
        """
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"AUDIT#{account_id}"}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit if action is None and user_id is None else AUDIT_PAGE_SIZE,
        }
        if start_key is not None:
            kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start_key.items()}
        events: list[Item] = []
        for _ in range(AUDIT_PAGES):
            response = self._call("query", TableName=self.table, **kwargs)
            raw_items = response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            for index, raw in enumerate(raw_items):
                event = from_item(raw)
                if is_expired(event) or not _audit_matches(event, action, user_id):
                    continue
                events.append(event)
                if len(events) == limit:
                    more = index < len(raw_items) - 1 or bool(last)
                    return events, ({"pk": event["pk"], "sk": event["sk"]} if more else None)
            if not last:
                return events, None
            kwargs["ExclusiveStartKey"] = last
        return events, {"pk": from_item(last)["pk"], "sk": from_item(last)["sk"]}

    # -- user administration -----------------------------------------------------------

    def enabled_admin_check(self, user_id: str) -> dict[str, Any]:
        """A transaction condition: `user_id` is still an enabled admin when it commits.

        Demoting, disabling or deleting an admin carries this check on ANOTHER enabled
        admin; DynamoDB serializes transactions that touch the same items, so two admins
        demoting each other at once cannot both succeed (the last-admin rule).
        """
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "USER"}},
                "ConditionExpression": "attribute_exists(pk) AND #role = :admin"
                " AND (attribute_not_exists(disabled) OR disabled = :false)",
                "ExpressionAttributeNames": {"#role": "role"},
                "ExpressionAttributeValues": _values({":admin": "admin", ":false": False}),
            }
        }


def _audit_matches(event: Item, action: str | None, user_id: str | None) -> bool:
    if action is not None and event.get("action") != action:
        return False
    return user_id is None or user_id in (event.get("actor_user_id"), event.get("target_user_id"))


def _live_session(session: Item | None) -> Item | None:
    """A session past its absolute lifetime is gone, whatever its idle expiry says."""
    if session is None or int(session["max_expires_at"]) <= clock.now():
        return None
    return session


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore or gatekey.aws ClientError (same response shape)."""
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _error_types(client: object) -> tuple[type[Exception], type[Exception]]:
    """(service error, no-usable-answer error) of the client's library, translated above."""
    from gatekey import aws

    if isinstance(client, aws.Client):
        return aws.ClientError, aws.AWSError
    from botocore.exceptions import BotoCoreError, ClientError

    return ClientError, BotoCoreError


def create_dynamodb_client(settings: Settings, *, lean: bool = False) -> DynamoDBClient | DynamoDB:
    """A client with short timeouts: a slow database must become a 503, not a Lambda timeout.

    `lean`: gatekey.aws's stdlib client (same timeouts and attempts), for the authorizer,
    whose cold start boto3 would dominate; otherwise boto3's.
    """
    if lean:
        from gatekey import aws

        return aws.DynamoDB(endpoint_url=settings.dynamodb_endpoint)
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=1,
        read_timeout=2,
        retries={"total_max_attempts": 2, "mode": "standard"},
        tcp_keepalive=True,
    )
    return boto3.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, config=config)


@lru_cache(maxsize=1)
def get_store() -> Store:
    """The container's store, built on first use and reused by every invocation."""
    settings = get_settings()
    return Store(create_dynamodb_client(settings), settings.table_name)


@lru_cache(maxsize=1)
def get_lean_store() -> Store:
    """The authorizer's store: the same Store on gatekey.aws instead of boto3."""
    settings = get_settings()
    return Store(create_dynamodb_client(settings, lean=True), settings.table_name)
