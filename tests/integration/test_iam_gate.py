"""The local IAM gate in front of DynamoDB Local: what a denied call looks like to
botocore, and how the store reports it (one warning line, a 503-class error)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import uuid

import pytest
from botocore.exceptions import ClientError

from gatekey.errors import PermissionMisconfigured, ServiceUnavailable
from gatekey.records import ApiKey
from gatekey.settings import Settings
from gatekey.tokens.keyring import KeyringSource
from gatekey_local import iam_gate
from gatekey_local.iam_roles import FunctionRole, function_roles, local_secret_arn
from gatekey_local.template import load_template
from tests.conftest import TEMPLATE
from tests.helpers import REPO_ROOT


@pytest.fixture
def roles(gatekey_env) -> dict[str, FunctionRole]:
    iam_gate.install()
    return function_roles(load_template(TEMPLATE, table_name=gatekey_env["GATEKEY_TABLE"]))


@pytest.fixture
def records(monkeypatch):
    """Every log record of every logger, whatever its handlers or propagation."""
    seen: list[logging.LogRecord] = []
    call_handlers = logging.Logger.callHandlers

    def recording(self, record):
        seen.append(record)
        call_handlers(self, record)

    monkeypatch.setattr(logging.Logger, "callHandlers", recording)
    return seen


def test_denied_call_raises_what_botocore_raises_in_aws(store, user, roles):
    user_key = {"pk": {"S": f"USER#{user.user_id}"}, "sk": {"S": "USER"}}
    with iam_gate.invoking(roles["AuthorizerFunction"]), pytest.raises(ClientError) as raised:
        store.client.delete_item(TableName=store.table, Key=user_key)
    response = raised.value.response
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/gatekey-local-AuthorizerFunctionRole/"
        "AuthorizerFunction is not authorized to perform: dynamodb:DeleteItem on resource: "
        f"arn:aws:dynamodb:us-east-1:123456789012:table/{store.table} because no "
        "identity-based policy allows the dynamodb:DeleteItem action"
    )
    assert str(raised.value).startswith(
        "An error occurred (AccessDeniedException) when calling the DeleteItem operation: User: "
    )
    assert store.get_user(user.user_id) is not None  # the call never reached the table


def test_allowed_calls_and_calls_outside_an_invocation_go_through(store, user, roles):
    with iam_gate.invoking(roles["AuthorizerFunction"]):
        assert store.get_key(str(uuid.uuid4())) is None
        assert store.get_session(str(uuid.uuid4())) is None
    assert iam_gate.current_role() is None
    assert store.get_user(user.user_id) is not None


def test_store_turns_access_denied_into_one_warning_line(store, user, roles, records):
    with iam_gate.invoking(roles["TokenTestFunction"]), pytest.raises(PermissionMisconfigured):
        store.delete_session("s-1")
    table_arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{store.table}"
    logged = [r for r in records if r.levelno >= logging.WARNING]
    assert len(logged) == 1
    (record,) = logged
    assert record.name == "gatekey.store" and record.levelno == logging.WARNING
    assert "dynamodb:DeleteItem" in record.getMessage() and table_arn in record.getMessage()
    assert record.exc_info is None and record.exc_text is None


def test_transactions_are_checked_item_by_item(store, user, roles):
    """The authorizer may delete sessions, but not the API keys of a transaction."""
    error = None
    with iam_gate.invoking(roles["AuthorizerFunction"]):
        try:
            store.delete_key(ApiKey("k", user.user_id, "a", "member", "h", "token", 1, 1, "k1"))
        except PermissionMisconfigured as exc:
            error = exc
    assert isinstance(error, ServiceUnavailable)
    assert error.action == "dynamodb:DeleteItem" and error.status == 503


def test_secrets_manager_refusal_is_a_permission_error(roles, gatekey_env):
    """On AWS the keyring reads Secrets Manager; a role without the secret gets one line."""
    source = KeyringSource(Settings(secret_arn=local_secret_arn("SigningKeys")))
    with iam_gate.invoking(roles["TokenTestFunction"]), pytest.raises(PermissionMisconfigured):
        source.get()


def test_clients_made_before_the_gate_was_installed_are_checked():
    """The store's client is usually made before the emulator starts; it is gated too.

    In a fresh interpreter, so that the client surely predates the hook. The endpoint
    is a closed port: a request that got past the gate would fail to connect instead.
    """
    script = textwrap.dedent(
        """
        import boto3
        from botocore.exceptions import ClientError
        client = boto3.client(
            "dynamodb", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="x",
        )
        from gatekey_local import iam_gate
        from gatekey_local.iam_roles import FunctionRole, TableKeys
        iam_gate.install()
        iam_gate.install()
        role = FunctionRole("Fn", "Role", (), {"t": TableKeys("pk", {})})
        with iam_gate.invoking(role):
            try:
                client.get_item(TableName="t", Key={"pk": {"S": "a"}})
            except ClientError as exc:
                print(exc.response["Error"]["Code"])
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.stdout.strip() == "AccessDeniedException", completed.stderr
