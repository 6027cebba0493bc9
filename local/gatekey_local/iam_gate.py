"""The local run's IAM gate: every AWS call a function makes is authorized against the
role that function has in template.yaml before it reaches DynamoDB Local.

How it hooks in:

* Each function runs in its own process (``function_worker``), which installs the gate
  and sets :data:`current role <invoking>` (a contextvar) around the function's cold
  start and each of its invocations, so every call the handler makes sees it. Calls
  outside the functions (test set-up, the admin CLI, the local run creating its table)
  are not checked. Threads a handler starts itself do not inherit the contextvar and
  are not checked either.
* :func:`install` wraps botocore's ``Endpoint._send``, the one method every botocore
  client, whenever and from whichever session it was made, calls to put a request on
  the wire (after its ``before-send`` handlers). Registering a ``before-send`` handler
  would not do: each client copies its session's event handlers when it is created, so
  the store's client, often made before the emulator starts, would never see it.
* The wrapper reads the raw request (``X-Amz-Target`` names the operation, the JSON
  body holds its parameters) and asks :func:`check_call`. A denied call gets the answer
  AWS gives, an HTTP 400 ``AccessDeniedException`` with AWS's message, from which
  botocore itself builds the ``ClientError``.

:func:`check_call` is a plain function of (role, service, operation, params), so a
client that does not use botocore can ask it too (see :func:`check_current_call`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from gatekey_local.iam_policy import Decision, Request, evaluate
from gatekey_local.iam_roles import LEADING_KEYS, FunctionRole

ENFORCE_ENV = "GATEKEY_ENFORCE_IAM"

_current_role: ContextVar[FunctionRole | None] = ContextVar("gatekey_iam_role", default=None)
_install_lock = threading.Lock()
_SERVICES = {"DynamoDB_20120810": "dynamodb", "secretsmanager": "secretsmanager"}
# TransactWriteItems / TransactGetItems entries, and the IAM action each is authorized as.
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_ITEM_OPERATIONS = {"GetItem", "DeleteItem", "UpdateItem"}


def enforcement_enabled(environ: Mapping[str, str]) -> bool:
    """On unless ``GATEKEY_ENFORCE_IAM`` says false (``false``, ``0``, ``no``, ``off``)."""
    return environ.get(ENFORCE_ENV, "true").strip().lower() not in ("false", "0", "no", "off")


@contextmanager
def invoking(role: FunctionRole | None) -> Iterator[None]:
    """Calls made inside this block are checked against ``role`` (None: not checked)."""
    token = _current_role.set(role)
    try:
        yield
    finally:
        _current_role.reset(token)


def current_role() -> FunctionRole | None:
    return _current_role.get()


def check_current_call(service: str, operation: str, params: Mapping[str, Any]) -> str | None:
    """:func:`check_call` for the function being invoked in this context, if any."""
    role = _current_role.get()
    return None if role is None else check_call(role, service, operation, params)


def check_call(
    role: FunctionRole, service: str, operation: str, params: Mapping[str, Any]
) -> str | None:
    """AWS's AccessDenied message if ``role`` may not make this call, else None.

    ``service`` is the IAM service prefix (``dynamodb``), ``operation`` the API name
    (``TransactWriteItems``), ``params`` the request parameters in the service's wire
    shape (attribute values as ``{"S": "..."}``).
    """
    try:
        requests = authorization_requests(role, service, operation, params)
    except (_Unmappable, KeyError, ValueError, TypeError, AttributeError) as exc:
        return _unmappable_message(role, exc)
    for request in requests:
        decision = evaluate(role.statements, request)
        if decision is not Decision.ALLOW:
            reason = (
                "with an explicit deny in an identity-based policy"
                if decision is Decision.EXPLICIT_DENY
                else f"because no identity-based policy allows the {request.action} action"
            )
            return (
                f"User: {role.caller_arn} is not authorized to perform: {request.action} "
                f"on resource: {request.resource} {reason}"
            )
    return None


def authorization_requests(
    role: FunctionRole, service: str, operation: str, params: Mapping[str, Any]
) -> list[Request]:
    """The IAM requests one API call is authorized as; all of them must be allowed.

    DynamoDB: a transaction is authorized item by item as the single-item action
    (``Put`` as ``dynamodb:PutItem``, ``ConditionCheck`` as ``ConditionCheckItem``), a
    batch key by key under the batch action; a Query or Scan of an index is on the
    index's ARN; ``dynamodb:LeadingKeys`` holds the partition key value touched (for a
    Query, the value its key condition binds to the partition key of the table or index).
    """
    if service == "dynamodb":
        return _dynamodb_requests(role, operation, params)
    if service == "secretsmanager":
        secret = params.get("SecretId")
        resource = role.secret_arn(str(secret)) if secret else "*"
        return [Request(f"secretsmanager:{operation}", resource)]
    if service == "kms":  # the local KMS stand-in (gatekey.tokens.local_kms): a key by ARN
        key = str(params.get("KeyId") or "")
        return [Request(f"kms:{operation}", key if key.startswith("arn:") else "*")]
    return [Request(f"{service}:{operation}", "*")]


def _dynamodb_requests(
    role: FunctionRole, operation: str, params: Mapping[str, Any]
) -> list[Request]:
    action = f"dynamodb:{operation}"
    if operation in _ITEM_OPERATIONS:
        return [_item_request(role, action, params["TableName"], params.get("Key") or {})]
    if operation == "PutItem":
        return [_item_request(role, action, params["TableName"], params.get("Item") or {})]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        requests = []
        for entry in params.get("TransactItems") or []:
            ((kind, detail),) = entry.items()
            item = detail.get("Key") or detail.get("Item") or {}
            transact_action = f"dynamodb:{_TRANSACT_ACTIONS[kind]}"
            requests.append(_item_request(role, transact_action, detail["TableName"], item))
        return requests
    if operation == "BatchGetItem":
        return [
            _item_request(role, action, table, key)
            for table, request in (params.get("RequestItems") or {}).items()
            for key in request.get("Keys") or []
        ]
    if operation == "BatchWriteItem":
        return [
            _item_request(
                role,
                action,
                table,
                (entry.get("PutRequest") or {}).get("Item")
                or (entry.get("DeleteRequest") or {}).get("Key")
                or {},
            )
            for table, entries in (params.get("RequestItems") or {}).items()
            for entry in entries
        ]
    if operation in ("Query", "Scan"):
        table = _table_name(params["TableName"])
        index = params.get("IndexName")
        resource = role.table_arn(table) + (f"/index/{index}" if index else "")
        context: dict[str, list[str]] = {}
        if operation == "Query":
            hash_key = _hash_key(role, table, index)
            value = _key_condition_value(params, hash_key)
            if value is not None:
                context[LEADING_KEYS] = [value]
        return [Request(action, resource, context)]
    named = params.get("TableName")
    return [Request(action, role.table_arn(_table_name(named)) if named else "*")]


def _table_name(name: Any) -> str:
    """A table's name, also when the call names it by ARN (DynamoDB accepts both)."""
    text = str(name)
    return text.partition(":table/")[2] if text.startswith("arn:") else text


def _item_request(role: FunctionRole, action: str, table: str, item: Mapping[str, Any]) -> Request:
    table = _table_name(table)
    value = item.get(_hash_key(role, table, None))
    context = {} if value is None else {LEADING_KEYS: [_scalar(value)]}
    return Request(action, role.table_arn(table), context)


def _hash_key(role: FunctionRole, table: str, index: str | None) -> str:
    keys = role.tables.get(table)
    if keys is None:
        raise _Unmappable(f"table {table} is not the template's table")
    if index is None:
        return keys.hash_key
    if index not in keys.index_hash_keys:
        raise _Unmappable(f"table {table} has no index {index} in the template")
    return keys.index_hash_keys[index]


def _key_condition_value(params: Mapping[str, Any], hash_key: str) -> str | None:
    """The value a Query binds to ``hash_key`` (KeyConditionExpression, or KeyConditions)."""
    expression = params.get("KeyConditionExpression")
    if expression is None:
        condition = (params.get("KeyConditions") or {}).get(hash_key) or {}
        values = condition.get("AttributeValueList") or []
        return _scalar(values[0]) if values else None
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    for part in re.split(r"\s+AND\s+", str(expression), flags=re.IGNORECASE):
        match = re.fullmatch(r"\(*\s*([#:]?[\w.]+)\s*=\s*([#:]?[\w.]+)\s*\)*", part.strip())
        if match is None:
            continue
        left, right = match.groups()
        if right.startswith("#") or not right.startswith(":"):
            left, right = right, left
        if names.get(left, left) == hash_key and right in values:
            return _scalar(values[right])
    return None


def _scalar(value: Any) -> str:
    """The text of a key attribute value (``{"S": "x"}``, ``{"N": "1"}``, ``{"B": ...}``)."""
    if isinstance(value, Mapping) and len(value) == 1:
        return str(next(iter(value.values())))
    return str(value)


class _Unmappable(Exception):
    """A request the gate cannot map to IAM requests; it is refused, not let through."""


# --- the botocore hook ----------------------------------------------------------------


def install() -> None:
    """Wrap ``botocore.endpoint.Endpoint._send`` once per process (idempotent).

    Outside a function invocation the wrapper only passes the request on.
    """
    from botocore import endpoint

    endpoint_class: Any = endpoint.Endpoint
    with _install_lock:
        if getattr(endpoint_class._send, "_gatekey_iam_gate", False):
            return
        original = endpoint_class._send

        def _send(self: Any, request: Any) -> Any:
            role = _current_role.get()
            if role is not None:
                denial = _denial_for_request(role, self, request)
                if denial is not None:
                    return _access_denied_response(request, denial)
            return original(self, request)

        _send._gatekey_iam_gate = True  # type: ignore[attr-defined]
        endpoint_class._send = _send

        from gatekey import aws  # the authorizer's lean client has the same hook point

        if lean_client_hook not in aws.before_send:
            aws.before_send.append(lean_client_hook)


def lean_client_hook(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """gatekey.aws's `before_send` hook: the same check, the same AccessDenied answer."""
    denial = check_current_call(service, operation, params)
    if denial is None:
        return None
    import uuid

    return {
        "status": 400,
        "body": _access_denied_body(denial),
        "headers": {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-RequestId": uuid.uuid4().hex.upper(),
        },
    }


def _access_denied_body(message: str) -> bytes:
    return json.dumps(
        {"__type": "com.amazon.coral.service#AccessDeniedException", "Message": message}
    ).encode()


def _denial_for_request(role: FunctionRole, endpoint: Any, request: Any) -> str | None:
    headers: MutableMapping[str, Any] = request.headers
    target = headers.get("X-Amz-Target")
    if isinstance(target, bytes):
        target = target.decode()
    service = str(getattr(endpoint, "_endpoint_prefix", "") or "")
    try:
        if not target or "." not in target:
            raise _Unmappable(f"a {service or 'non-JSON'} request without X-Amz-Target")
        prefix, _, operation = target.rpartition(".")
        service = _SERVICES.get(prefix, service or prefix.lower())
        body = request.body
        if hasattr(body, "read"):
            raise _Unmappable("a streamed request body")
        text = body.decode() if isinstance(body, bytes) else (body or "")
        params = json.loads(text) if text else {}
        return check_call(role, service, operation, params)
    except (_Unmappable, ValueError, TypeError, AttributeError) as exc:
        return _unmappable_message(role, exc)


def _unmappable_message(role: FunctionRole, exc: Exception) -> str:
    return (
        f"User: {role.caller_arn} is not authorized to perform this request: the local "
        f"IAM gate cannot map it to IAM actions ({exc!r}); set GATEKEY_ENFORCE_IAM=false "
        "to run without the gate"
    )


class _RawBody:
    """What ``AWSResponse`` reads its content from."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


def _access_denied_response(request: Any, message: str) -> Any:
    """The HTTP answer AWS gives a denied JSON-protocol call (DynamoDB, Secrets Manager)."""
    import uuid

    from botocore.awsrequest import AWSResponse

    content = _access_denied_body(message)
    headers: Any = {
        "Content-Type": "application/x-amz-json-1.0",
        "Content-Length": str(len(content)),
        "x-amzn-RequestId": uuid.uuid4().hex.upper(),
    }
    return AWSResponse(request.url, 400, headers, _RawBody(content))
