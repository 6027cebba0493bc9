"""The local run enforces each function's IAM role, so a missing permission fails here
as it fails in AWS: 503, one warning line naming the permission, no trace."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jwt
import pytest

from gatekey.store import get_store
from gatekey_local.server import create_server, serve_in_thread
from tests.conftest import TEMPLATE, TEST_PARAMETERS
from tests.e2e.conftest import Client, error_code
from tests.helpers import make_user, reset_gatekey_caches
from tests.permission_mutants import find, load_document, without, write_template

OTHER_AGENT = "someone-else/2.0"


@pytest.fixture
def records(monkeypatch) -> list[logging.LogRecord]:
    """Every log record of every logger, whatever its handlers or propagation."""
    seen: list[logging.LogRecord] = []
    call_handlers = logging.Logger.callHandlers

    def recording(self, record):
        seen.append(record)
        call_handlers(self, record)

    monkeypatch.setattr(logging.Logger, "callHandlers", recording)
    return seen


def mutant(tmp_path: Path, function_id: str, action: str) -> Path:
    document = load_document()
    return write_template(
        without(document, find(document, function_id, action)), tmp_path / "t.yaml"
    )


@contextmanager
def serving(template: Path, gatekey_env: dict[str, str], **options) -> Iterator[Client]:
    reset_gatekey_caches()
    with serve_in_thread(
        template,
        env=gatekey_env,
        table_name=gatekey_env["GATEKEY_TABLE"],
        parameter_overrides=TEST_PARAMETERS,
        **options,
    ) as server:
        client = Client(server.url)
        try:
            yield client
        finally:
            client.close()
    reset_gatekey_caches()


def session_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


def gatekey_problems(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """ERROR records, and records with a traceback, of gatekey's own code (the layer and
    the handlers; the emulator's own record of a raising authorizer stands for the
    Lambda runtime's)."""
    return [
        r
        for r in records
        if r.name.startswith("gatekey")
        and not r.name.startswith("gatekey_local")
        and (r.levelno >= logging.ERROR or r.exc_info)
    ]


def test_other_user_agent_destroys_session_with_enforcement_on(api, user):
    tokens = api.login(user)
    response = api.get(
        "/auth/authenticated",
        token=tokens["access_token"],
        headers={"User-Agent": OTHER_AGENT},
    )
    assert response.status_code == 401
    assert error_code(response) == "invalid_token"
    assert get_store().get_session(session_of(tokens["access_token"])) is None


def test_authorizer_without_delete_permission_fails_closed_as_in_aws(
    tmp_path, gatekey_env, records
):
    template = mutant(tmp_path, "AuthorizerFunction", "dynamodb:DeleteItem")
    with serving(template, gatekey_env) as client:
        user = make_user()
        tokens = client.login(user)
        records.clear()
        stolen = client.get(
            "/auth/authenticated",
            token=tokens["access_token"],
            headers={"User-Agent": OTHER_AGENT},
        )
        assert stolen.status_code == 503
        assert error_code(stolen) == "service_unavailable"
        # AWS refused the delete: the session survives, for its owner too.
        assert get_store().get_session(session_of(tokens["access_token"])) is not None
        assert client.get("/user", token=tokens["access_token"]).status_code == 200
    warnings = [
        r for r in records if r.name.startswith("gatekey.") and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "dynamodb:DeleteItem" in warnings[0].getMessage()
    assert f"table/{gatekey_env['GATEKEY_TABLE']}" in warnings[0].getMessage()
    assert gatekey_problems(records) == []


def test_handler_without_a_permission_answers_503_with_one_line(tmp_path, gatekey_env, records):
    template = mutant(tmp_path, "KeysFunction", "dynamodb:BatchGetItem")
    with serving(template, gatekey_env) as client:
        token = client.login(make_user())["access_token"]
        assert client.post("/user/keys", token=token, json={"handle": "ci"}).status_code == 201
        records.clear()
        listed = client.get("/user/keys", token=token)
        assert listed.status_code == 503
        assert error_code(listed) == "service_unavailable"
        assert listed.headers["Retry-After"] == "1"
    warnings = [r for r in records if r.levelno >= logging.WARNING and r.name.startswith("gatekey")]
    assert [r.name for r in warnings] == ["gatekey.store"]
    assert "dynamodb:BatchGetItem" in warnings[0].getMessage()
    assert gatekey_problems(records) == []


def test_enforcement_can_be_turned_off(tmp_path, gatekey_env, monkeypatch):
    monkeypatch.setenv("GATEKEY_ENFORCE_IAM", "false")
    template = mutant(tmp_path, "AuthorizerFunction", "dynamodb:DeleteItem")
    with serving(template, gatekey_env) as client:
        tokens = client.login(make_user())
        stolen = client.get(
            "/auth/authenticated",
            token=tokens["access_token"],
            headers={"User-Agent": OTHER_AGENT},
        )
        assert stolen.status_code == 401
        assert get_store().get_session(session_of(tokens["access_token"])) is None


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("true", True), ("false", False)])
def test_enforcement_is_on_unless_turned_off(gatekey_env, monkeypatch, value, expected):
    """What `make run` and the suite's local API (tests/conftest.py) get by default."""
    if value is None:
        monkeypatch.delenv("GATEKEY_ENFORCE_IAM", raising=False)
    else:
        monkeypatch.setenv("GATEKEY_ENFORCE_IAM", value)
    emulator = create_server(TEMPLATE, env=gatekey_env, table_name=gatekey_env["GATEKEY_TABLE"])
    try:
        assert emulator.enforce_iam is expected
    finally:
        emulator.close()
