"""The local run: signing secret, table, API, and a clean stop on a signal."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
import requests

from gatekey_local.dynamodb_local import free_port
from gatekey_local.runtime import LocalRunError, load_or_create_signing_secret

FIXTURE_TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "emulator" / "template.yaml"
URL_LINE = re.compile(r"gatekey local API: (http://127\.0\.0\.1:\d+)")


def test_signing_secret_is_created_once_and_private(tmp_path):
    secret = load_or_create_signing_secret(tmp_path / "data")
    keys = json.loads(secret)
    assert keys["current"] == "k1"
    assert len(keys["k1"]) == 64
    path = tmp_path / "data" / "signing-key.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_signing_secret(tmp_path / "data") == secret


def test_unreadable_signing_secret_is_reported(tmp_path):
    (tmp_path / "signing-key.json").write_text("{}", encoding="utf-8")
    with pytest.raises(LocalRunError, match="delete it"):
        load_or_create_signing_secret(tmp_path)


@contextmanager
def local_run(
    tmp_path: Path,
    environment: Mapping[str, str],
    template: Path = FIXTURE_TEMPLATE,
    extra_args: tuple[str, ...] = (),
) -> Iterator[tuple[str, Path]]:
    """`python -m gatekey_local.runtime` on a template; yields its first API's URL and log."""
    log_path = tmp_path / "local-run.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GATEKEY_", "DYNAMODB_", "AWS_"))
    }
    env.update(environment)
    env.update({"GATEKEY_PORT": str(free_port()), "AWS_EC2_METADATA_DISABLED": "true"})
    command = [
        sys.executable,
        "-m",
        "gatekey_local.runtime",
        "--template",
        str(template),
        "--data-dir",
        str(tmp_path / "data"),
        *extra_args,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "DynamoDB endpoint:" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        found = URL_LINE.search(log_path.read_text())
        assert found is not None, log_path.read_text()
        yield found.group(1), log_path
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_local_run_serves_the_template_until_interrupted(tmp_path, dynamodb_endpoint):
    table = f"runtime-{uuid.uuid4().hex[:8]}"
    environment = {
        "DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "GATEKEY_TABLE": table,
        "ECHO_STAGE": "from-env",
        "AUTHORIZER_EVENTS_FILE": str(tmp_path / "events"),
    }
    with local_run(tmp_path, environment) as (url, log_path):
        with requests.Session() as session:
            response = session.get(f"{url}/public", timeout=10)
        assert response.status_code == 200
        body = response.json()
        assert body["event"]["requestContext"]["stage"] == "from-env", "env overrides StageName"
        assert body["environ"]["ECHO_TABLE"] == table
        assert f"DynamoDB endpoint: {dynamodb_endpoint}" in log_path.read_text()
        assert "IAM: each function may make only the AWS calls its role" in log_path.read_text()
        outbox = (tmp_path / "data" / "outbox").resolve()
        assert f"Messages (reset and set-password links): {outbox}/*.eml" in log_path.read_text()

    client = boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    try:
        assert client.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
        client.delete_table(TableName=table)
    finally:
        client.close()
    assert json.loads((tmp_path / "data" / "signing-key.json").read_text())["current"] == "k1"


@pytest.mark.slow
def test_local_run_starts_and_stops_its_own_dynamodb_local(tmp_path):
    database_port = free_port()
    environment = {
        "GATEKEY_DYNAMODB_PORT": str(database_port),
        "GATEKEY_SECRET": json.dumps({"current": "k1", "k1": "x" * 64}),
        "AUTHORIZER_EVENTS_FILE": str(tmp_path / "events"),
    }
    with local_run(tmp_path, environment) as (url, log_path):
        with requests.Session() as session:
            assert session.get(f"{url}/public", timeout=10).status_code == 200
        assert f"DynamoDB endpoint: http://127.0.0.1:{database_port}" in log_path.read_text()
    assert (tmp_path / "data" / "dynamodb" / "shared-local-instance.db").is_file()
    assert not (tmp_path / "data" / "signing-key.json").exists(), "GATEKEY_SECRET was given"
    with pytest.raises(requests.ConnectionError), requests.Session() as session:
        session.get(f"http://127.0.0.1:{database_port}", timeout=5)


def test_consumer_example_runs_against_the_gatekey_table(tmp_path, gatekey_env):
    """The second terminal of examples/consumer/README.md, as a real process."""
    from gatekey.credentials.keys import get_key_service
    from tests.helpers import REPO_ROOT, make_user, reset_gatekey_caches

    reset_gatekey_caches()
    user = make_user()
    key = get_key_service().create(
        user.principal(), handle="orders", alias=None, key_type="token", expires_at=None
    )
    environment = {
        name: gatekey_env[name] for name in ("DYNAMODB_ENDPOINT", "GATEKEY_TABLE", "GATEKEY_SECRET")
    }
    authorizer = "GatekeyAuthorizer=functions/authorizer:app.lambda_handler"
    with local_run(
        tmp_path,
        environment,
        template=REPO_ROOT / "examples" / "consumer" / "template.yaml",
        extra_args=("--authorizer", authorizer),
    ) as (_, log_path):
        urls = URL_LINE.findall(log_path.read_text())
        assert len(urls) == 2, "one REST and one HTTP API"
        with requests.Session() as session:
            for url, api in zip(urls, ("rest", "http"), strict=True):
                allowed = session.get(
                    f"{url}/orders", headers={"Authorization": key["token"]}, timeout=10
                )
                assert allowed.status_code == 200, allowed.text
                assert allowed.json()["api"] == api
                assert allowed.json()["caller"]["user_id"] == user.user_id
                assert allowed.json()["caller"]["key_handle"] == "orders"
                refused = session.get(f"{url}/orders", headers={"Authorization": "x"}, timeout=10)
                assert refused.status_code in (401, 403)
