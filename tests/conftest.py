"""Session fixtures: one DynamoDB Local, the gatekey environment, and the local API."""

from __future__ import annotations

import json
import os
import secrets
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from gatekey_local.dynamodb_local import DynamoDBLocal, create_table
from gatekey_local.lambda_runner import FunctionRunner
from gatekey_local.local_aws import LOCAL_AWS_ENVIRONMENT
from gatekey_local.server import BackgroundApi, function_environment, serve_in_thread
from gatekey_local.signing_keys import publish_signing_keys
from gatekey_local.template import load_template

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"
# With the authorizer cache off, a revoked credential fails on the very next request
# (contract section 5); tests of the cache itself serve their own API.
TEST_PARAMETERS = {"AuthorizerCacheSeconds": "0"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The session's local API listens here, and its URL is the issuer of every access token
# (GATEKEY_ISSUER), also of those signed in this process before it starts, and of the
# extra local APIs some tests start on the same table.
LOCAL_API_PORT = _free_port()
LOCAL_ISSUER = f"http://127.0.0.1:{LOCAL_API_PORT}"


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """DYNAMODB_ENDPOINT when set, else a DynamoDB Local in memory on a free port."""
    endpoint = os.environ.get("DYNAMODB_ENDPOINT")
    if endpoint:
        yield endpoint
        return
    with DynamoDBLocal() as database:
        yield database.endpoint


@pytest.fixture(scope="session")
def gatekey_env(
    dynamodb_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The environment of the local run, pointed at a fresh table of this session, and
    messages (set-password, reset) written to this session's own outbox directory.

    Sets os.environ for the whole session (restored afterwards) and yields the values.
    """
    table = f"gatekey-test-{uuid.uuid4().hex[:8]}"
    environment = function_environment(
        load_template(TEMPLATE, TEST_PARAMETERS, table_name=table),
        {
            "GATEKEY_TABLE": table,
            "DYNAMODB_ENDPOINT": dynamodb_endpoint,
            "GATEKEY_SECRET": json.dumps({"current": "k1", "k1": secrets.token_urlsafe(48)}),
            **LOCAL_AWS_ENVIRONMENT,
            "GATEKEY_OUTBOX_DIR": str(tmp_path_factory.mktemp("outbox")),
            "GATEKEY_LOCAL_KMS_DIR": str(tmp_path_factory.mktemp("kms")),
            "GATEKEY_ISSUER": LOCAL_ISSUER,
        },
    )
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
            patch.delenv(name, raising=False)
        for name, value in environment.items():
            patch.setenv(name, value)
        client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)
        try:
            create_table(client, table, load_template(TEMPLATE, table_name=table))
            # in-process code signs too: publish as the local API will (with its own URL)
            publish_signing_keys(
                load_template(TEMPLATE, table_name=table), LOCAL_ISSUER, environment
            )
            yield environment
            client.delete_table(TableName=table)
        finally:
            client.close()


@pytest.fixture(scope="session")
def local_server(gatekey_env: dict[str, str]) -> Iterator[BackgroundApi]:
    """The emulator serving template.yaml from a thread, on a free port, with the
    authorizer cache off."""
    with serve_in_thread(
        TEMPLATE,
        port=LOCAL_API_PORT,
        env=gatekey_env,
        table_name=gatekey_env["GATEKEY_TABLE"],
        parameter_overrides=TEST_PARAMETERS,
    ) as api:
        yield api


@pytest.fixture(scope="session")
def local_api(local_server: BackgroundApi) -> str:
    """Base URL of the local API (:func:`local_server`)."""
    return local_server.url


@pytest.fixture
def function_patch(local_server: BackgroundApi) -> Iterator[FunctionRunner]:
    """monkeypatch for the local API's functions, which run in processes of their own:
    ``function_patch.patch(module, attribute, value)`` holds from their next
    invocation until the test ends."""
    runner = local_server.emulator.runner
    yield runner
    runner.undo_patches()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch, gatekey_env: dict[str, str]) -> Iterator[Any]:
    """Sets gatekey settings for one test, as env vars of this process (rebuilding its
    caches); a running local API passes a changed variable to the functions that declare
    it, in fresh processes (``lambda_runner``)."""
    from tests.helpers import reset_gatekey_caches

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        reset_gatekey_caches()

    yield apply
    monkeypatch.undo()
    reset_gatekey_caches()
