"""DynamoDB throttling and failures, translated at the store boundary (no network).

Each test stubs a real boto3 DynamoDB client with botocore's Stubber, so the error
responses are parsed exactly as botocore parses DynamoDB's own.
"""

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from gatekey.errors import (
    EmailTaken,
    HandleTaken,
    NotFound,
    OwnerChanged,
    PermissionMisconfigured,
    ServiceUnavailable,
)
from gatekey.records import ApiKey, User
from gatekey.store import TRANSACTION_ATTEMPTS, Store
from gatekey.tokens import key_tokens, session_tokens
from gatekey.tokens.keyring import Keyring
from tests.helpers import load_event, load_handler, reset_gatekey_caches

TABLE = "gatekey-unit"
SIGNING_SECRET = json.dumps({"current": "k1", "k1": "unit-test-signing-key-" + "x" * 32})

# DynamoDB's own answers when it is overloaded or failing (HTTP status as sent by AWS).
UNAVAILABLE_ERRORS = [
    ("ProvisionedThroughputExceededException", 400),
    ("ThrottlingException", 400),
    ("RequestLimitExceeded", 400),
    ("InternalServerError", 500),
    ("ServiceUnavailable", 503),
]


@pytest.fixture
def stubbed() -> Iterator[tuple[Store, Stubber]]:
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="unit",
        aws_secret_access_key="unit",
    )
    with Stubber(client) as stubber:
        yield Store(client, TABLE), stubber
        stubber.assert_no_pending_responses()
    client.close()


def an_owner() -> User:
    return User(user_id="u", account_id="a", role="member", created_at=1)


def a_key(**fields: Any) -> ApiKey:
    key = {
        "key_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "account_id": str(uuid.uuid4()),
        "handle": "ci",
        "type": "token",
        "role": "member",
        "version": 1,
        "secret_kid": "k1",
        "created_at": 1_700_000_000,
    }
    return ApiKey.from_item({**key, **fields})


def a_user(**fields: Any) -> dict[str, Any]:
    user = {
        "user_id": str(uuid.uuid4()),
        "account_id": str(uuid.uuid4()),
        "email": "someone@example.com",
        "role": "member",
        "created_at": 1_700_000_000,
    }
    return {**user, **fields}


# One store operation per DynamoDB API the store calls: (DynamoDB operation, call).
OPERATIONS: dict[str, tuple[str, Callable[[Store], Any]]] = {
    "get_user": ("get_item", lambda store: store.get_user("u")),
    "is_revoked": ("get_item", lambda store: store.is_revoked("access:t")),
    "list_sessions": ("query", lambda store: store.list_sessions("u")),
    "list_keys": ("batch_get_item", lambda store: store.list_keys("u")),
    "put_account": ("put_item", lambda store: store.put_account("a", "Acme")),
    "revoke_access_token": (
        "transact_write_items",
        lambda store: store.revoke_access_token(
            "access:t", session_id="s", user_id="u", expires_at=2_000_000_000
        ),
    ),
    "touch_key": ("update_item", lambda store: store.touch_key(str(uuid.uuid4()), at=1)),
    "touch_session": ("update_item", lambda store: store.touch_session("s", at=1, ttl=2)),
    "update_key": ("update_item", lambda store: store.update_key(a_key(), {"alias": "x"})),
    "reserve_login_attempt": (
        "update_item",
        lambda store: store.reserve_login_attempt(
            "a@example.com", now=1, max_failures=5, ttl=2_000_000_000
        ),
    ),
    "delete_session": ("delete_item", lambda store: store.delete_session("s")),
    "create_key": (
        "transact_write_items",
        lambda store: store.create_key(a_key(), owner=an_owner()),
    ),
    "create_user": ("transact_write_items", lambda store: store.create_user(a_user())),
    "delete_key": ("transact_write_items", lambda store: store.delete_key(a_key())),
}


# Answers that come before the failing call (list_keys reads its handles first).
PRELUDES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "list_keys": [
        (
            "query",
            {"Items": [{"pk": {"S": "USER#u"}, "sk": {"S": "KEY#ci"}, "key_id": {"S": "k"}}]},
        )
    ],
}


@pytest.mark.parametrize(("code", "status"), UNAVAILABLE_ERRORS)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_overloaded_or_failing_dynamodb_is_service_unavailable(stubbed, operation, code, status):
    store, stubber = stubbed
    method, call = OPERATIONS[operation]
    for prelude_method, response in PRELUDES.get(operation, []):
        stubber.add_response(prelude_method, response)
    stubber.add_client_error(method, service_error_code=code, http_status_code=status)
    with pytest.raises(ServiceUnavailable) as raised:
        call(store)
    assert raised.value.__cause__ is not None  # raised ... from the ClientError
    assert raised.value.status == 503


SINGLE_ITEM_WRITES = ("put_item", "update_item", "delete_item")


@pytest.mark.parametrize(
    "operation",
    sorted(name for name, (method, _) in OPERATIONS.items() if method in SINGLE_ITEM_WRITES),
)
def test_write_racing_a_transaction_is_service_unavailable(stubbed, operation):
    """TransactionConflictException: the item is held by an ongoing transaction; retryable."""
    store, stubber = stubbed
    method, call = OPERATIONS[operation]
    stubber.add_client_error(
        method, service_error_code="TransactionConflictException", http_status_code=400
    )
    with pytest.raises(ServiceUnavailable):
        call(store)


def cancelled(stubber: Stubber, *reasons: str) -> None:
    """A TransactionCanceledException carrying one cancellation code per action."""
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled, please refer cancellation reasons for specific "
        f"reasons [{', '.join(reasons)}]",
        http_status_code=400,
        modeled_fields={"CancellationReasons": [{"Code": reason} for reason in reasons]},
    )


# Cancellation codes DynamoDB uses for a transaction that may succeed when retried.
TRANSIENT_REASONS = ["ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict"]


@pytest.mark.parametrize("reason", TRANSIENT_REASONS)
@pytest.mark.parametrize(
    ("operation", "actions"),
    [("create_key", 3), ("create_user", 3), ("delete_key", 2), ("revoke_access_token", 2)],
)
def test_transaction_cancelled_by_throttling_or_conflict_is_service_unavailable(
    stubbed, operation, actions, reason
):
    """Not a taken handle or email: the client should retry, not pick another name."""
    store, stubber = stubbed
    # A conflict is retried (TRANSACTION_ATTEMPTS in all) before it becomes a 503.
    attempts = TRANSACTION_ATTEMPTS if reason == "TransactionConflict" else 1
    for position in range(actions):
        codes = ["None"] * actions
        codes[position] = reason
        for _ in range(attempts):
            cancelled(stubber, *codes)
        with pytest.raises(ServiceUnavailable):
            OPERATIONS[operation][1](store)
        stubber.assert_no_pending_responses()


def test_transaction_conflict_is_retried_until_the_condition_decides(stubbed):
    """Two creates of one handle at once: the loser retries and then gets handle_taken."""
    store, stubber = stubbed
    cancelled(stubber, "TransactionConflict", "None", "None")
    cancelled(stubber, "ConditionalCheckFailed", "None", "None")
    with pytest.raises(HandleTaken):
        store.create_key(a_key(), owner=an_owner())
    stubber.assert_no_pending_responses()


def test_transaction_throttled_next_to_a_failed_condition_is_service_unavailable(stubbed):
    store, stubber = stubbed
    cancelled(stubber, "ConditionalCheckFailed", "ThrottlingError", "None")
    with pytest.raises(ServiceUnavailable):
        store.create_key(a_key(), owner=an_owner())


def test_taken_handle_is_handle_taken(stubbed):
    store, stubber = stubbed
    cancelled(stubber, "ConditionalCheckFailed", "None", "None")
    with pytest.raises(HandleTaken) as raised:
        store.create_key(a_key(), owner=an_owner())
    assert (raised.value.status, raised.value.attr) == (409, "handle")


def test_an_owner_changed_meanwhile_is_owner_changed(stubbed):
    """The key's owner was demoted, disabled or deleted since it was read."""
    store, stubber = stubbed
    cancelled(stubber, "None", "None", "ConditionalCheckFailed")
    with pytest.raises(OwnerChanged):
        store.create_key(a_key(), owner=an_owner())


def test_taken_email_is_email_taken(stubbed):
    store, stubber = stubbed
    cancelled(stubber, "None", "None", "ConditionalCheckFailed")
    with pytest.raises(EmailTaken) as raised:
        store.create_user(a_user())
    assert (raised.value.status, raised.value.attr) == (409, "email")


def test_user_of_a_missing_account_is_not_found(stubbed):
    store, stubber = stubbed
    cancelled(stubber, "ConditionalCheckFailed", "None", "None")
    with pytest.raises(NotFound) as raised:
        store.create_user(a_user())
    assert raised.value.attr == "account_id"


def test_key_deleted_meanwhile_is_not_found(stubbed):
    store, stubber = stubbed
    cancelled(stubber, "None", "ConditionalCheckFailed")
    with pytest.raises(NotFound):
        store.delete_key(a_key())


def test_failed_condition_on_touch_is_not_an_error(stubbed):
    """Touching a key or session that was deleted meanwhile must not resurrect or fail."""
    store, stubber = stubbed
    for _ in range(2):
        stubber.add_client_error(
            "update_item", service_error_code="ConditionalCheckFailedException"
        )
    store.touch_key(str(uuid.uuid4()), at=1)
    assert store.touch_session("s", at=1, ttl=2) is False


def test_a_bug_is_not_disguised_as_an_outage(stubbed):
    """A malformed request is our fault: it must surface, not become a retryable 503."""
    store, stubber = stubbed
    stubber.add_client_error("get_item", service_error_code="ValidationException")
    with pytest.raises(ClientError) as raised:
        store.get_user("u")
    assert raised.value.response["Error"]["Code"] == "ValidationException"


# -- the authorizer function fails closed -----------------------------------------------------


@pytest.fixture
def authorizer(monkeypatch, stubbed):
    """The authorizer function, its store replaced by the stubbed one."""
    monkeypatch.setenv("GATEKEY_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("GATEKEY_TABLE", TABLE)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the module builds a client at init
    monkeypatch.delenv("DYNAMODB_ENDPOINT", raising=False)
    reset_gatekey_caches()
    module = load_handler("authorizer")
    store, stubber = stubbed
    monkeypatch.setattr("gatekey.tokens.authorization.get_lean_store", lambda: store)
    yield module, stubber
    monkeypatch.undo()
    reset_gatekey_caches()


def credentials() -> dict[str, tuple[str, str]]:
    """Well-formed tokens of each kind, and the read the authorizer makes for each."""
    keyring = Keyring.parse(SIGNING_SECRET)
    now = int(time.time())
    session = session_tokens.issue(
        keyring,
        user_id=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        token_use=session_tokens.ACCESS,
        issued_at=now,
        expires_at=now + 600,
    )
    api_key = key_tokens.make_token(keyring, key_id=str(uuid.uuid4()), version=1, secret_kid="k1")
    client_jwt = jwt.encode(
        {"exp": now + 60}, "a" * 43, algorithm="HS256", headers={"kid": str(uuid.uuid4())}
    )
    return {
        "session": (session, "get_item"),
        "api_key": (api_key, "get_item"),
        "client_jwt": (client_jwt, "get_item"),
    }


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
@pytest.mark.parametrize("kind", ["session", "api_key", "client_jwt"])
def test_authorizer_fails_closed_when_dynamodb_throttles(authorizer, kind, code):
    module, stubber = authorizer
    token, method = credentials()[kind]
    stubber.add_client_error(method, service_error_code=code, http_status_code=400)
    event = load_event("authorizer_rest_request.json", token=token)
    with pytest.raises(module.AuthorizerUnavailable):
        module.lambda_handler(event, None)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_access_denied_is_a_permission_error_with_one_warning(stubbed, operation, caplog):
    """AWS refusing a call is a role missing a permission: 503 and one line, no trace."""
    store, stubber = stubbed
    method, call = OPERATIONS[operation]
    for prelude_method, response in PRELUDES.get(operation, []):
        stubber.add_response(prelude_method, response)
    resource = f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}"
    stubber.add_client_error(
        method,
        service_error_code="AccessDeniedException",
        service_message=(
            "User: arn:aws:sts::123456789012:assumed-role/r/f is not authorized to perform: "
            f"dynamodb:Op on resource: {resource} because no identity-based policy allows "
            "the dynamodb:Op action"
        ),
        http_status_code=400,
    )
    with (
        caplog.at_level("DEBUG", logger="gatekey.store"),
        pytest.raises(PermissionMisconfigured) as raised,
    ):
        call(store)
    assert isinstance(raised.value, ServiceUnavailable)
    assert (raised.value.action, raised.value.resource) == ("dynamodb:Op", resource)
    assert raised.value.body()["errors"][0]["code"] == "service_unavailable"
    records = [r for r in caplog.records if r.name == "gatekey.store"]
    assert [r.levelname for r in records] == ["WARNING"]
    assert "dynamodb:Op" in records[0].getMessage() and resource in records[0].getMessage()
    assert records[0].exc_info is None
