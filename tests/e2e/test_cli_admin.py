"""The admin CLI's commands of issue 19 (CONTRACT section 2), against DynamoDB Local and
the local API: account list, user disable|enable|delete, key list|revoke, the audit
events of its writes, the last-admin rule, and the unreachable endpoint's message."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid

import pytest

from gatekey.store import get_store
from gatekey_cli import main as cli
from tests.helpers import PASSWORD, make_user

CLI_ACTOR = {"user_id": None, "token_type": "cli"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | None, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    if status == 0:
        assert out.count("\n") == 1, out  # one JSON object
    return status, (json.loads(out) if status == 0 else None), err


def events(account_id: str, action: str) -> list[dict]:
    from gatekey.accounts import audit

    found, _ = get_store().list_audit_events(account_id, limit=100, action=action)
    return [audit.event_view(event) for event in found]


def assert_cli_event(account_id: str, action: str, target: dict) -> None:
    [event] = [e for e in events(account_id, action) if e["target"] == target]
    assert event["actor"] == CLI_ACTOR
    assert event["user_agent"] == "gatekey-cli"
    assert event["outcome"] == "success"


def test_account_create_is_listed_and_audited(gatekey_env, capsys):
    name = f"Listed {uuid.uuid4().hex[:6]}"
    status, created, _ = run(capsys, "account", "create", name)
    assert status == 0
    account_id = created["account_id"]
    status, listed, _ = run(capsys, "account", "list")
    assert status == 0
    mine = [a for a in listed["accounts"] if a["account_id"] == account_id]
    assert mine == [{"account_id": account_id, "name": name, "created_at": mine[0]["created_at"]}]
    assert mine[0]["created_at"].endswith("Z")
    stamps = [a["created_at"] for a in listed["accounts"]]
    assert stamps == sorted(stamps)  # oldest first
    assert_cli_event(account_id, "account.created", {"type": "account", "id": account_id})


def test_user_create_is_audited(gatekey_env, capsys, monkeypatch):
    account = make_user(admin=True).account_id
    monkeypatch.setenv("GATEKEY_PASSWORD", PASSWORD)
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    status, created, _ = run(capsys, "user", "create", "--account", account, "--email", email)
    assert status == 0
    assert_cli_event(account, "user.created", {"type": "user", "id": created["user_id"]})


def test_disable_and_enable_reach_the_users_sessions(api, admin, capsys):
    member = make_user(account_id=admin.account_id)
    token = api.login(member)["access_token"]
    assert api.get("/user/keys", token=token).status_code == 200
    argv = ("--account", admin.account_id, "--email", member.email)

    status, result, _ = run(capsys, "user", "disable", *argv)
    assert status == 0
    assert result["user"]["id"] == member.user_id
    assert result["user"]["disabled"] is True
    assert api.get("/user/keys", token=token).status_code in (401, 403)
    assert get_store().get_user(member.user_id).disabled is True

    status, result, _ = run(capsys, "user", "enable", *argv)
    assert status == 0
    assert result["user"]["disabled"] is False
    assert api.get("/user/keys", token=token).status_code == 200

    updates = [
        e
        for e in events(admin.account_id, "user.updated")
        if e["target"] == {"type": "user", "id": member.user_id}
    ]
    assert len(updates) == 2
    assert all(e["actor"] == CLI_ACTOR and e["user_agent"] == "gatekey-cli" for e in updates)


def test_delete_removes_the_user_and_is_audited(api, admin, capsys):
    member = make_user(account_id=admin.account_id)
    argv = ("--account", admin.account_id, "--email", member.email)
    status, result, _ = run(capsys, "user", "delete", *argv)
    assert status == 0
    assert result == {"user_id": member.user_id, "deleted": True}
    assert get_store().get_user(member.user_id) is None
    login = {"email": member.email, "password": PASSWORD}
    assert api.post("/auth/login", json=login).status_code == 401
    assert_cli_event(admin.account_id, "user.deleted", {"type": "user", "id": member.user_id})
    status, _, err = run(capsys, "user", "delete", *argv)
    assert status == 1
    assert "no user with email" in err


def test_the_last_enabled_admin_cannot_be_disabled_or_deleted(api, admin, capsys):
    argv = ("--account", admin.account_id, "--email", admin.email)
    for command in ("disable", "delete"):
        status, _, err = run(capsys, "user", command, *argv)
        assert status == 1, command
        assert "last enabled admin" in err
    still = get_store().get_user(admin.user_id)
    assert still is not None and not still.disabled
    assert events(admin.account_id, "user.updated") == []

    second = make_user(account_id=admin.account_id, admin=True)
    status, result, _ = run(capsys, "user", "disable", *argv)
    assert status == 0 and result["user"]["disabled"] is True
    status, _, err = run(
        capsys, "user", "delete", "--account", admin.account_id, "--email", second.email
    )
    assert status == 1
    assert "last enabled admin" in err


def test_key_list_and_revoke(api, user, capsys):
    token = api.login(user)["access_token"]
    for handle in ("ci", "deploy"):
        response = api.post("/user/keys", token=token, json={"handle": handle})
        assert response.status_code == 201, response.text
        secret = response.json().get("token")
    argv = ("--account", user.account_id, "--email", user.email)

    status, listed, _ = run(capsys, "key", "list", *argv)
    assert status == 0
    assert listed["user_id"] == user.user_id
    assert [key["handle"] for key in listed["keys"]] == ["ci", "deploy"]
    assert secret and secret not in json.dumps(listed)
    assert not any({"token", "secret"} & set(key) for key in listed["keys"])

    status, revoked, _ = run(capsys, "key", "revoke", *argv, "--handle", "deploy")
    assert status == 0
    assert revoked == {"user_id": user.user_id, "handle": "deploy", "revoked": True}
    status, listed, _ = run(capsys, "key", "list", *argv)
    assert [key["handle"] for key in listed["keys"]] == ["ci"]
    assert_cli_event(user.account_id, "key.deleted", {"type": "key", "id": "deploy"})

    status, _, err = run(capsys, "key", "revoke", *argv, "--handle", "deploy")
    assert status == 1
    assert f"user {user.user_id} has no key with handle 'deploy'" in err


def test_key_list_shows_a_bots_token_without_its_secret(api, admin, capsys):
    token = api.login(admin)["access_token"]
    response = api.post("/account/bots", token=token, json={"name": "nightly"})
    assert response.status_code == 201, response.text
    bot_id = response.json()["bot"]["id"]
    status, listed, _ = run(
        capsys, "key", "list", "--account", admin.account_id, "--user-id", bot_id
    )
    assert status == 0
    assert listed["user_id"] == bot_id
    assert [key["handle"] for key in listed["keys"]] == ["bot-token"]
    assert response.json()["token"] not in json.dumps(listed)


def test_commands_on_an_unknown_account_or_user_fail_clearly(gatekey_env, capsys):
    stranger = str(uuid.uuid4())
    for argv in (
        ("user", "disable", "--account", stranger, "--email", "a@example.com"),
        ("key", "list", "--account", stranger, "--email", "a@example.com"),
    ):
        status, _, err = run(capsys, *argv)
        assert status == 1
        assert f"no such account: {stranger}" in err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_endpoint_is_named(gatekey_env):
    """The installed `gatekey` command, as an operator runs it, with nothing listening."""
    port = free_port()
    env = {**os.environ, "GATEKEY_TABLE": "gatekey"}
    env.pop("DYNAMODB_ENDPOINT")
    env["GATEKEY_DYNAMODB_PORT"] = str(port)
    gatekey = os.path.join(os.path.dirname(sys.executable), "gatekey")
    done = subprocess.run(
        [gatekey, "account", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert (
        f"gatekey: error: DynamoDB is unreachable at http://127.0.0.1:{port} (table gatekey;"
        in done.stderr
    ), done.stderr
    assert "Traceback" not in done.stderr


def test_stdout_holds_only_the_answer_and_audit_lines_go_to_stderr(gatekey_env):
    """Contract section 2: one JSON object on stdout, even where the functions' logging
    (POWERTOOLS_SERVICE_NAME) is configured; the write's audit line goes to stderr."""
    env = {**os.environ, "POWERTOOLS_SERVICE_NAME": "gatekey"}
    gatekey = os.path.join(os.path.dirname(sys.executable), "gatekey")
    done = subprocess.run(
        [gatekey, "account", "create", "Stdout Ltd"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert set(json.loads(line)) == {"account_id"}
    assert "account.created" in done.stderr


def test_aws_names_the_regions_endpoint(gatekey_env, capsys, monkeypatch):
    """--aws takes the same code path; the endpoint it names is the region's. Nothing
    listens there from this test: the proxy variables point at a closed port."""
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HTTPS_PROXY", closed)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    status, _, err = run(capsys, "--aws", "account", "list")
    assert status == 1
    assert "DynamoDB is unreachable at https://dynamodb.eu-west-1.amazonaws.com" in err
