"""The admin CLI's user commands (CONTRACT sections 2 and 8): list, reset-password, and the
password rule on create, against DynamoDB Local and the local API."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from gatekey.store import get_store
from gatekey_cli import main as cli
from tests.helpers import PASSWORD, make_user

NEW_PASSWORD = "a brand new passphrase 42"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | None, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, (json.loads(out) if status == 0 else None), err


def test_user_list_shows_the_accounts_users(api, admin, capsys):
    member = make_user(account_id=admin.account_id)
    status, result, _ = run(capsys, "user", "list", "--account", admin.account_id)
    assert status == 0
    by_id = {user["id"]: user for user in result["users"]}
    assert set(by_id) == {admin.user_id, member.user_id}
    assert by_id[admin.user_id]["role"] == "admin"
    assert set(by_id[member.user_id]) == {
        "id",
        "email",
        "role",
        "is_bot",
        "disabled",
        "mfa",
        "created_at",
        "last_login_at",
    }


def test_user_list_of_an_unknown_account_fails_clearly(api, capsys):
    status, _, err = run(capsys, "user", "list", "--account", str(uuid.uuid4()))
    assert status == 1
    assert "no such account" in err


def test_user_create_applies_the_password_rule(api, admin, capsys, monkeypatch):
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    for weak in ("short", "password123", f"{email.split('@')[0]}-plus-more"):
        monkeypatch.setenv("GATEKEY_PASSWORD", weak)
        status, _, err = run(
            capsys, "user", "create", "--account", admin.account_id, "--email", email
        )
        assert status == 1, weak
        assert "password" in err
        assert weak not in err
    assert get_store().find_user_ids_by_email(email) == {}
    monkeypatch.setenv("GATEKEY_PASSWORD", PASSWORD)
    status, result, _ = run(
        capsys, "user", "create", "--account", admin.account_id, "--email", email
    )
    assert status == 0
    assert get_store().get_user(result["user_id"]).email == email


def test_reset_password_prints_a_working_single_use_link(api, admin, capsys, monkeypatch):
    monkeypatch.setenv("GATEKEY_PORT", "3999")
    member = make_user(account_id=admin.account_id)
    status, result, _ = run(
        capsys,
        "user",
        "reset-password",
        "--account",
        admin.account_id,
        "--email",
        member.email.upper(),
    )
    assert status == 0
    assert result["user_id"] == member.user_id
    found = re.fullmatch(
        r"http://127\.0\.0\.1:3999/console#reset=([A-Za-z0-9_-]+)", result["reset_link"]
    )
    assert found, result
    assert result["expires_at"].endswith("Z")
    confirm = {"token": found.group(1), "new_password": NEW_PASSWORD}
    assert api.post("/auth/password-reset/confirm", json=confirm).status_code == 200
    assert api.post("/auth/password-reset/confirm", json=confirm).status_code == 400
    login = api.post("/auth/login", json={"email": member.email, "password": NEW_PASSWORD})
    assert login.status_code == 200

    token = api.login(admin)["access_token"]
    events = api.get(
        "/account/audit",
        token=token,
        params={"action": "password.reset_requested", "user_id": member.user_id},
    ).json()["events"]
    assert len(events) == 1
    assert events[0]["actor"] == {"user_id": None, "token_type": "cli"}
    assert events[0]["user_agent"] == "gatekey-cli"
    assert found.group(1) not in json.dumps(events)


def test_reset_password_for_an_unknown_email_fails_clearly(api, admin, capsys):
    stranger = make_user()  # exists, but in another account
    status, _, err = run(
        capsys, "user", "reset-password", "--account", admin.account_id, "--email", stranger.email
    )
    assert status == 1
    assert "no user with email" in err
