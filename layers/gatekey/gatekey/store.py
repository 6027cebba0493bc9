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

    def create_user(self, user: Item) -> Item:
        """Writes the user and its email claim in one transaction (email unique per account)."""
        item, actions = self._user_actions(user)
        codes = self._transact(actions)
        if codes:
            if codes[0] == "ConditionalCheckFailed":
                raise NotFound("No such account.", attr="account_id")
            raise EmailTaken(attr="email")
        return item

    def create_bot(self, user: Item, key: Item) -> tuple[Item, Item]:
        """A bot user and its token key, all or nothing."""
        item, user_actions = self._user_actions(user)
        key_item, key_actions = self._key_actions(key)
        codes = self._transact(user_actions + key_actions)
        if codes:
            if codes[0] == "ConditionalCheckFailed":
                raise NotFound("No such account.", attr="account_id")
            raise Conflict()
        return item, key_item

    def list_account_users(self, account_id: str) -> list[Item]:
        return self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"ACCOUNT#{account_id}#USERS"}},
        )

    def delete_user(self, user: Item, keys: list[Item]) -> None:
        """Deletes a user, its email claim, sessions and keys, whatever their number.

        Every credential is disabled first, so a failure half-way through the deletes
        (which go in transactions of at most 100 actions) leaves nothing usable.
        """
        sessions = self.list_sessions(user["user_id"])
        self.update_credentials(user, {"disabled": True}, keys=keys, sessions=sessions)
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
        if self._transact(user_actions):
            raise Conflict()

    def update_credentials(
        self,
        user: Item,
        changes: Item,
        *,
        keys: list[Item] | None = None,
        sessions: list[Item] | None = None,
    ) -> None:
        """Writes `changes` (role, disabled) to a user and to every session and key of
        theirs, so the next authorization sees them with its one read.

        The user item goes first, in the first transaction; more than 100 credentials
        take several transactions, each of which is all or nothing.
        """
        user_id = user["user_id"]
        keys = self.list_keys(user_id) if keys is None else keys
        sessions = self.list_sessions(user_id) if sessions is None else sessions
        targets = [(f"USER#{user_id}", "USER")]
        targets += [(f"SESSION#{session['session_id']}", "SESSION") for session in sessions]
        targets += [(f"APIKEY#{key['key_id']}", "KEY") for key in keys]
        names = {f"#c{i}": name for i, name in enumerate(changes)}
        values = _values({f":c{i}": value for i, value in enumerate(changes.values())})
        expression = "SET " + ", ".join(f"#c{i} = :c{i}" for i in range(len(changes)))
        actions = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                    "UpdateExpression": expression,
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
            for pk, sk in targets
        ]
        for start in range(0, len(actions), TRANSACTION_LIMIT):
            codes = self._transact(actions[start : start + TRANSACTION_LIMIT])
            if codes and start == 0 and codes[0] == "ConditionalCheckFailed":
                raise NotFound()
            # A session or key that ended meanwhile needs no update; retry without it.
            if codes:
                for index, code in enumerate(codes):
                    if code == "None":
                        self._transact([actions[start + index]])

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

    def delete_session(self, session_id: str) -> None:
        self._delete(f"SESSION#{session_id}", "SESSION")

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

    def create_key(self, key: Item) -> Item:
        item, actions = self._key_actions(key)
        if self._transact(actions):
            raise HandleTaken(attr="handle")
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

    def update_key(self, key: Item, changes: Item, *, expected_version: int | None = None) -> Item:
        """Sets attributes of a live key; with `expected_version`, only if nobody rotated it."""
        names = {f"#a{i}": name for i, name in enumerate(changes)}
        values = {f":v{i}": value for i, value in enumerate(changes.values())}
        condition = "attribute_exists(pk)"
        if expected_version is not None:
            condition += " AND version = :expected"
            values[":expected"] = expected_version
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

    def delete_key(self, key: Item) -> None:
        if self._transact(self._key_delete_actions(key)):
            raise NotFound()

    # -- revocations of stateless tokens ------------------------------------------------

    def revoke_access_token(
        self, revocation_id: str, *, session_id: str, user_id: str, expires_at: int
    ) -> None:
        self._revoke(revocation_id, (f"SESSION#{session_id}", "SESSION"), user_id, expires_at)

    def revoke_client_jwt(
        self, revocation_id: str, *, key_id: str, user_id: str, expires_at: int
    ) -> None:
        self._revoke(revocation_id, (f"APIKEY#{key_id}", "KEY"), user_id, expires_at)

    def _revoke(
        self, revocation_id: str, parent: tuple[str, str], user_id: str, expires_at: int
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
        if self._transact([self._put_action(revocation, must_not_exist=False), flag]):
            # The parent is gone (nothing left to revoke) or already flagged past this
            # expiry: the revocation item alone is enough.
            self._put(revocation)

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
