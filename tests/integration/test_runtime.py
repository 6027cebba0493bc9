"""The local run: signing secret, table, API, what it prints, and a clean stop on a
signal (Ctrl-C: no traceback, no process left behind)."""

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
from urllib.parse import quote, quote_plus

import boto3
import pytest
import requests

from gatekey_local.dynamodb_local import free_port
from gatekey_local.runtime import LocalRunError, load_or_create_signing_secret

FIXTURE_TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "emulator" / "template.yaml"
URL_LINE = re.compile(r"gatekey local API: (http://127\.0\.0\.1:\d+)")
GOODBYE = "gatekey local stopped"


def child_pids(pid: int) -> set[int]:
    """The processes ``pid`` started (Linux /proc); a thread that ends while it is read
    started nothing that outlives it."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        found.update(int(child) for child in children)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


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
    """`python -m gatekey_local.runtime` on a template; yields its first API's URL and log.

    At the end it sends SIGINT to its process group, as Ctrl-C in a terminal does (to
    the run and the DynamoDB Local it started), and checks the run stops cleanly: exit
    status 0, a goodbye line, no traceback, none of its processes (functions, DynamoDB
    Local) left.
    """
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
        # a session of its own: SIGINT goes to its whole group, as Ctrl-C in a terminal
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while URL_LINE.search(log_path.read_text()) is None:  # the URLs come last
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        found = URL_LINE.search(log_path.read_text())
        assert found is not None, log_path.read_text()
        yield found.group(1), log_path
        started = child_pids(process.pid) if sys.platform == "linux" else set()
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0, log_path.read_text()
        text = log_path.read_text()
        assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
        assert text.rstrip().splitlines()[-1].startswith(GOODBYE), text
        assert not [pid for pid in started if alive(pid)], "processes left after Ctrl-C"
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
        assert len(urls) == 3, "the orders REST and HTTP APIs, the metered reports API"
        with requests.Session() as session:
            for url, api in zip(urls[:2], ("rest", "http"), strict=True):
                allowed = session.get(
                    f"{url}/orders", headers={"Authorization": key["token"]}, timeout=10
                )
                assert allowed.status_code == 200, allowed.text
                assert allowed.json()["api"] == api
                assert allowed.json()["caller"]["user_id"] == user.user_id
                assert allowed.json()["caller"]["key_handle"] == "orders"
                refused = session.get(f"{url}/orders", headers={"Authorization": "x"}, timeout=10)
                assert refused.status_code in (401, 403)


ACCESS_LINE = re.compile(
    r"^\d\d:\d\d:\d\d (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) \d+ ms$"
)


def function_records(text: str) -> list[dict]:
    """The audit events and EMF metric documents among the lines of a local run."""
    from gatekey_local.lambda_runner import FunctionOutput

    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            document = json.loads(line)
            if FunctionOutput.is_record(document):
                found.append(document)
    return found


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_make_run_logs_each_request_and_the_functions_records_at_debug_only(
    tmp_path, gatekey_env, level
):
    """What `make run` shows: one access line per request with no credential in it; the
    audit and metric lines the functions write only at GATEKEY_LOG_LEVEL=DEBUG."""
    from tests.helpers import REPO_ROOT, USER_AGENT, make_user, reset_gatekey_caches

    reset_gatekey_caches()
    user = make_user()
    environment = {
        name: gatekey_env[name] for name in ("DYNAMODB_ENDPOINT", "GATEKEY_TABLE", "GATEKEY_SECRET")
    }
    environment["GATEKEY_LOG_LEVEL"] = level
    secrets_seen: list[str] = [user.password]
    template = REPO_ROOT / "template.yaml"
    with local_run(tmp_path, environment, template=template) as (url, log), requests.Session() as s:
        s.headers["User-Agent"] = USER_AGENT
        login = s.post(
            f"{url}/auth/login?password={user.password}",
            json={"email": user.email, "password": user.password},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        secrets_seen += [token, login.json()["refresh_token"]]
        me = s.get(
            f"{url}/user?access_token={token}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert me.status_code == 200, me.text
    text = log.read_text()
    access = [found.groupdict() for found in map(ACCESS_LINE.match, text.splitlines()) if found]
    assert access == [
        {"method": "POST", "path": "/auth/login", "status": "200"},
        {"method": "GET", "path": "/user", "status": "200"},
    ], text
    for secret in secrets_seen:
        for form in (secret, secret[:20], quote(secret), quote_plus(secret)):
            assert form not in text
    records = function_records(text)
    if level == "DEBUG":
        assert any("audit" in record for record in records), text
        assert any("_aws" in record for record in records), text
    else:
        assert records == [], "audit and metric lines are for GATEKEY_LOG_LEVEL=DEBUG"
        assert "GATEKEY_LOG_LEVEL=DEBUG adds the functions' audit and metric lines" in text


def test_head_root_answers_without_credentials_and_get_root_needs_them(tmp_path, gatekey_env):
    """gazu's host_is_up() sends HEAD /: 200 with no body, served from template.yaml."""
    from tests.helpers import REPO_ROOT

    environment = {
        name: gatekey_env[name] for name in ("DYNAMODB_ENDPOINT", "GATEKEY_TABLE", "GATEKEY_SECRET")
    }
    template = REPO_ROOT / "template.yaml"
    with local_run(tmp_path, environment, template=template) as (url, log), requests.Session() as s:
        up = s.head(f"{url}/", timeout=30)
        assert (up.status_code, up.content) == (200, b"")
        assert s.get(f"{url}/", timeout=30).status_code == 401
        assert re.search(r"^  HEAD    /$", log.read_text(), re.MULTILINE), "listed, unguarded"
    assert re.search(r"^\d\d:\d\d:\d\d HEAD / 200 \d+ ms$", log.read_text(), re.MULTILINE)


def test_an_unknown_log_level_is_refused(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gatekey_local.runtime", "--template", str(FIXTURE_TEMPLATE)],
        env={**os.environ, "GATEKEY_LOG_LEVEL": "chatty", "GATEKEY_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "GATEKEY_LOG_LEVEL='chatty': use DEBUG, INFO" in result.stderr
    assert "Traceback" not in result.stderr
