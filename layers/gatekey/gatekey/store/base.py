"""The store's base: the client, its calls with errors translated, transactions, batches.

Every aggregate module (users, sessions, api_keys, ...) derives from `StoreBase` and
calls only what is defined here, so each reads on its own; operations that span
aggregates live on `Store` (store/store.py).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from gatekey.errors import Conflict, PermissionMisconfigured, ServiceUnavailable
from gatekey.store import item_keys
from gatekey.store.serialization import Item, from_item, is_expired, to_item, values

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from gatekey.aws import DynamoDB

logger = logging.getLogger("gatekey.store")
Action = dict[str, Any]  # one TransactWriteItems action ({"Put": ...}, {"Update": ...}, ...)
Response = Mapping[str, Any]
T = TypeVar("T")

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
CONDITION_FAILED = "ConditionalCheckFailedException"
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


class StoreBase:
    """The client and the table, and the calls every aggregate is built from."""

    def __init__(self, client: DynamoDBClient | DynamoDB, table_name: str) -> None:
        self.client = client
        self.table = table_name
        self.calls = 0  # DynamoDB requests made, read by the benchmarks
        self._client_error, self._transport_error = _error_types(client)

    # -- one method per DynamoDB operation ------------------------------------------------

    def _call(self, operation: str, request: Callable[[], T]) -> T:
        """Runs one request, translating the library's errors into gatekey's."""
        self.calls += 1
        try:
            return request()
        except self._client_error as exc:
            code = error_code(exc)
            if code in UNAVAILABLE_CODES:
                raise ServiceUnavailable() from exc
            if code in ACCESS_DENIED_CODES:
                raise permission_misconfigured(exc, operation) from exc
            raise
        except self._transport_error as exc:
            raise ServiceUnavailable() from exc

    @property
    def _full_client(self) -> DynamoDBClient:
        """boto3's client: the operations the lean client (gatekey.aws) does not make."""
        from gatekey import aws

        if isinstance(self.client, aws.DynamoDB):
            raise TypeError(
                "the lean DynamoDB client makes only GetItem, UpdateItem, DeleteItem, PutItem"
            )
        return self.client

    def _get_item(self, **params: Any) -> Response:
        return self._call("get_item", lambda: self.client.get_item(**params))

    def _update_item(self, **params: Any) -> Response:
        return self._call("update_item", lambda: self.client.update_item(**params))

    def _delete_item(self, **params: Any) -> Response:
        return self._call("delete_item", lambda: self.client.delete_item(**params))

    def _put_item(self, **params: Any) -> Response:
        return self._call("put_item", lambda: self.client.put_item(**params))

    def _query_page(self, **params: Any) -> Response:
        return self._call("query", lambda: self._full_client.query(**params))

    def _batch_get_item(self, **params: Any) -> Response:
        return self._call("batch_get_item", lambda: self._full_client.batch_get_item(**params))

    def _transact_write_items(self, **params: Any) -> Response:
        return self._call(
            "transact_write_items", lambda: self._full_client.transact_write_items(**params)
        )

    # -- items ---------------------------------------------------------------------------

    def _get(self, key: item_keys.ItemKey) -> Item | None:
        response = self._get_item(
            TableName=self.table, Key=item_keys.wire(key), ConsistentRead=True
        )
        raw = response.get("Item")
        if raw is None:
            return None
        item = from_item(raw)
        return None if is_expired(item) else item

    def _put(self, item: Item, *, must_not_exist: bool = False) -> None:
        params: dict[str, Any] = {"TableName": self.table, "Item": to_item(item)}
        if must_not_exist:
            params["ConditionExpression"] = "attribute_not_exists(pk)"
        self._put_item(**params)

    def _delete(self, key: item_keys.ItemKey) -> None:
        self._delete_item(TableName=self.table, Key=item_keys.wire(key))

    def _conditional_update(self, update: Mapping[str, Any]) -> Response | None:
        """Runs one UpdateItem; None when its condition failed."""
        try:
            return self._update_item(**update)
        except self._client_error as exc:
            if error_code(exc) == CONDITION_FAILED:
                return None
            raise

    def _query(self, **params: Any) -> list[Item]:
        items: list[Item] = []
        while True:
            response = self._query_page(TableName=self.table, **params)
            items.extend(from_item(raw) for raw in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return [item for item in items if not is_expired(item)]
            params["ExclusiveStartKey"] = last

    def _query_partition(self, pk: str, **params: Any) -> list[Item]:
        """Every live item under one pk (strongly consistent)."""
        return self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
            **params,
        )

    def _query_index(self, gsi1pk: str) -> list[Item]:
        """Every live item under one gsi1pk."""
        return self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": gsi1pk}},
        )

    def _batch_get(self, keys: list[item_keys.ItemKey]) -> list[Item]:
        """Strongly consistent BatchGetItem of any number of keys; expired items left out."""
        wired = [item_keys.wire(key) for key in keys]
        items: list[Item] = []
        for start in range(0, len(wired), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self.table: {"Keys": wired[start : start + BATCH_GET_LIMIT], "ConsistentRead": True}
            }
            for _ in range(BATCH_GET_ROUNDS):
                response = self._batch_get_item(RequestItems=request)
                items.extend(from_item(raw) for raw in response["Responses"].get(self.table, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise ServiceUnavailable()
        return [item for item in items if not is_expired(item)]

    # -- transactions --------------------------------------------------------------------

    def _transact(self, actions: list[Action]) -> list[str]:
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

    def _transact_once(self, actions: list[Action]) -> list[str]:
        try:
            self._transact_write_items(TransactItems=actions)
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

    def _transact_in_chunks(self, actions: list[Action]) -> list[str]:
        """Runs any number of actions, TRANSACTION_LIMIT at a time (each chunk all or
        nothing); the codes of the first chunk that failed, [] when all succeeded."""
        for start in range(0, len(actions), TRANSACTION_LIMIT):
            codes = self._transact(actions[start : start + TRANSACTION_LIMIT])
            if codes:
                return codes
        return []

    def _transact_dropping_ended(self, batch: list[Action]) -> int:
        """Runs a batch of conditional writes (credentials, keys); those whose condition
        failed (ended, or already newer) are dropped and the rest run again. Returns how
        many were written."""
        for _ in range(TRANSACTION_ATTEMPTS):
            codes = self._transact(batch)
            if not codes:
                return len(batch)
            failed = {i for i, code in enumerate(codes) if code not in ("None", "")}
            if not failed:  # cancelled with no reason given: nothing is known to be written
                raise Conflict()
            batch = [action for i, action in enumerate(batch) if i not in failed]
            if not batch:
                return 0
        raise Conflict()

    def _put_action(self, item: Item, *, must_not_exist: bool = True) -> Action:
        put: dict[str, Any] = {"TableName": self.table, "Item": to_item(item)}
        if must_not_exist:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}

    def _delete_action(self, key: item_keys.ItemKey, *, must_exist: bool = False) -> Action:
        delete: dict[str, Any] = {"TableName": self.table, "Key": item_keys.wire(key)}
        if must_exist:
            delete["ConditionExpression"] = "attribute_exists(pk)"
        return {"Delete": delete}

    def _update_params(
        self,
        key: item_keys.ItemKey,
        expression: str,
        condition: str | None = None,
        expression_values: Item | None = None,
        names: dict[str, str] | None = None,
        *,
        must_exist: bool = True,
    ) -> dict[str, Any]:
        """The parameters of an UpdateItem (or a transaction's Update) of one item; with
        `must_exist` it never recreates a deleted item, and `condition` is ANDed to that."""
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": item_keys.wire(key),
            "UpdateExpression": expression,
        }
        clauses = (["attribute_exists(pk)"] if must_exist else []) + (
            [condition] if condition else []
        )
        if clauses:
            update["ConditionExpression"] = " AND ".join(clauses)
        if names:
            update["ExpressionAttributeNames"] = names
        if expression_values:
            update["ExpressionAttributeValues"] = values(expression_values)
        return update

    # -- audit events go with the write they record ----------------------------------------

    def audit_put_action(self, event: Item) -> Action:
        """The Put of an audit event, for the transaction of the write it records."""
        return self._put_action(event)

    def _with_audit(self, actions: list[Action], event: Item | None) -> list[Action]:
        return actions if event is None else [*actions, self.audit_put_action(event)]

    def _transact_audited(self, actions: list[Action], audit: Item | None) -> list[str]:
        """Runs actions and their audit event in one transaction. Returns the
        cancellation codes ([] on success). The store writes no log line: the service
        that made the event writes it (`audit.emit`) once the operation has returned."""
        return self._transact(self._with_audit(actions, audit))
