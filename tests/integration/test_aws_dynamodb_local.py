"""The authorizer on gatekey.aws against DynamoDB Local: same answers as with boto3,
and closed (503) when DynamoDB is down or hung."""

import socket
import time
import uuid

import pytest

from gatekey import aws
from gatekey.accounts.sessions import get_session_service
from gatekey.credentials.keys import get_key_service
from gatekey.errors import ServiceUnavailable
from gatekey.store import Store, get_lean_store
from tests.helpers import PASSWORD, load_event, load_handler, reset_gatekey_caches

EVENT_USER_AGENT = "curl/8.5.0"  # the User-Agent in the sample events


@pytest.fixture
def lean(store) -> Store:
    """The authorizer's store, on the same table as `store` (boto3)."""
    return get_lean_store()


@pytest.fixture
def authorizer(gatekey_env):
    reset_gatekey_caches()
    module = load_handler("authorizer")
    yield module
    reset_gatekey_caches()


@pytest.fixture
def tokens(store, user):
    owner = user.principal()
    api_key = get_key_service().create(
        owner, handle="lean", alias=None, key_type="token", expires_at=None
    )
    session = get_session_service().login(user.email, PASSWORD, None, EVENT_USER_AGENT)
    return {"api_key": api_key["token"], "session": session["access_token"]}


def test_the_authorizer_function_uses_the_lean_client(authorizer):
    assert isinstance(get_lean_store().client, aws.DynamoDB)


@pytest.mark.parametrize("kind", ["session", "api_key"])
def test_authorizer_allows_each_token_kind_through_the_lean_client(authorizer, tokens, user, kind):
    lean = get_lean_store()
    before = lean.calls
    response = authorizer.lambda_handler(
        load_event("authorizer_rest_request.json", token=tokens[kind]), None
    )
    assert response["principalId"] == user.user_id
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert lean.calls - before >= 1  # the read went through gatekey.aws


def test_a_session_replayed_from_another_user_agent_is_deleted_through_the_lean_client(
    authorizer, tokens, store
):
    event = load_event("authorizer_rest_request.json", token=tokens["session"])
    event["headers"]["User-Agent"] = "stolen/1.0"
    response = authorizer.lambda_handler(event, None)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    retry = authorizer.lambda_handler(
        load_event("authorizer_rest_request.json", token=tokens["session"]), None
    )
    assert retry["policyDocument"]["Statement"][0]["Effect"] == "Deny"  # gone for good


def test_lean_and_boto3_clients_give_the_same_items(store, lean, user):
    pk = f"LEAN#{uuid.uuid4()}"
    key = {"pk": {"S": pk}, "sk": {"S": "X"}}
    item = {**key, "n": {"N": "42"}, "t": {"S": "é日本"}, "b": {"BOOL": True}, "l": {"L": []}}
    store.client.put_item(TableName=store.table, Item=item)
    for client in (store.client, lean.client):
        got = client.get_item(TableName=store.table, Key=key, ConsistentRead=True)
        assert got["Item"] == item
    updated = lean.client.update_item(
        TableName=store.table,
        Key=key,
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "43"}},
        ReturnValues="ALL_NEW",
    )
    assert updated["Attributes"]["n"] == {"N": "43"}
    lean.client.delete_item(TableName=store.table, Key=key)
    assert "Item" not in store.client.get_item(TableName=store.table, Key=key)


def test_lean_store_translates_dynamodb_local_errors_as_the_boto3_one(store, lean):
    assert lean.touch_session(str(uuid.uuid4()), at=1, ttl=2) is False
    lean.touch_key(str(uuid.uuid4()), at=1)  # ConditionalCheckFailed: stays deleted
    missing = Store(lean.client, f"no-such-table-{uuid.uuid4().hex[:6]}")
    with pytest.raises(ServiceUnavailable):  # ResourceNotFoundException
        missing.get_key("k")
    with pytest.raises(aws.ClientError) as raised:  # a malformed request is a bug
        lean.client.get_item(TableName=store.table, Key={"pk": {"S": "x"}})
    assert raised.value.response["Error"]["Code"] == "ValidationException"


@pytest.fixture
def dynamodb_down(monkeypatch, gatekey_env):
    """DYNAMODB_ENDPOINT pointing at a port nobody listens on."""
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    monkeypatch.setenv("DYNAMODB_ENDPOINT", f"http://127.0.0.1:{port}")
    reset_gatekey_caches()
    yield
    monkeypatch.undo()
    reset_gatekey_caches()


@pytest.fixture
def dynamodb_hung(monkeypatch, gatekey_env):
    """DYNAMODB_ENDPOINT accepting connections and never answering."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        monkeypatch.setenv("DYNAMODB_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
        reset_gatekey_caches()
        yield
        monkeypatch.undo()
        reset_gatekey_caches()


@pytest.mark.parametrize("kind", ["session", "api_key"])
def test_authorizer_fails_closed_when_dynamodb_is_down(tokens, dynamodb_down, kind):
    module = load_handler("authorizer")
    event = load_event("authorizer_rest_request.json", token=tokens[kind])
    with pytest.raises(module.AuthorizerUnavailable, match="service unavailable"):
        module.lambda_handler(event, None)


def test_authorizer_fails_closed_within_the_timeouts_when_dynamodb_hangs(tokens, dynamodb_hung):
    module = load_handler("authorizer")
    event = load_event("authorizer_rest_request.json", token=tokens["api_key"])
    start = time.monotonic()
    with pytest.raises(module.AuthorizerUnavailable, match="service unavailable"):
        module.lambda_handler(event, None)
    assert time.monotonic() - start < aws.MAX_ATTEMPTS * (aws.READ_TIMEOUT + 0.5) + 0.5


@pytest.mark.parametrize(
    ("initialization", "preloaded"),
    [("on-demand", False), ("snap-start", True), ("provisioned-concurrency", True)],
)
def test_ca_certificates_load_at_init_only_when_no_user_waits(
    gatekey_env, monkeypatch, initialization, preloaded
):
    """Under SnapStart or provisioned concurrency init runs ahead of requests: pay TLS then."""
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", initialization)
    monkeypatch.setattr(aws, "_tls", None)
    reset_gatekey_caches()
    load_handler("authorizer")
    assert (aws._tls is not None) is preloaded
    reset_gatekey_caches()
