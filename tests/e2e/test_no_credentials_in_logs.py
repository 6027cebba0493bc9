"""No log line, error body or stored item holds a password, token or secret (contract 4).

One test runs the whole local flow, from the admin CLI to revocation and an outage,
while everything written to stdout/stderr and every log record of every logger is
captured; then it looks for each secret used, in full, by a 20-character prefix, and
(for JWTs) by its payload and signature parts alone. It also scans the whole table.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import boto3
import jwt
import pyotp
import pytest

from gatekey_cli import main as cli
from tests.helpers import PASSWORD

PREFIX_LENGTH = 20
LOGGERS_AT_DEBUG = ("", "gatekey", "gatekey.authorizer", "gatekey_local", "botocore", "urllib3")


class Secrets:
    """Every secret the flow handles, and the fragments of each that must not leak."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def add(self, label: str, value: str) -> str:
        assert isinstance(value, str) and len(value) >= PREFIX_LENGTH, label
        self.values[f"{label}#{len(self.values)}"] = value
        return value

    def fragments(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for label, value in self.values.items():
            found[label] = value
            found[f"{label} (prefix)"] = value[:PREFIX_LENGTH]
            parts = value.split(".")
            if len(parts) == 3:  # a JWT: its claims and signature are secret on their own
                found[f"{label} (payload)"] = parts[1]
                found[f"{label} (signature)"] = parts[2]
        return found

    def leaks(self, text: str) -> list[str]:
        return sorted(label for label, fragment in self.fragments().items() if fragment in text)


@pytest.fixture
def log_records(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Any:
    """Every record any logger emits, whatever its handlers or propagation.

    Powertools loggers write JSON to the stdout they saw when created (which may be an
    earlier test's capture) and filter root handlers by name, so caplog alone could
    miss them: this hooks the one place every record passes.
    """
    for name in LOGGERS_AT_DEBUG:
        caplog.set_level(logging.DEBUG, logger=name or None)
    records: list[logging.LogRecord] = []
    call_handlers = logging.Logger.callHandlers

    def recording(self: logging.Logger, record: logging.LogRecord) -> None:
        records.append(record)
        call_handlers(self, record)

    monkeypatch.setattr(logging.Logger, "callHandlers", recording)
    return records


def rendered(records: list[logging.LogRecord]) -> str:
    """Records as any handler could write them: message, traceback and every attribute."""
    formatter = logging.Formatter()
    lines = []
    for record in records:
        try:
            text = formatter.format(record)
        except (TypeError, ValueError):
            text = str(record.msg)
        lines.append(f"{record.name} {text} {record.__dict__!r}")
    return "\n".join(lines)


def run_cli(capfd: pytest.CaptureFixture[str], output: list[str], *argv: str) -> Any:
    """`gatekey ARGV...` in this process; its stdout and stderr are kept in `output`."""
    status = cli.main(list(argv))
    out, err = capfd.readouterr()
    output += [out, err]
    return json.loads(out) if status == 0 else status


def sign(key: dict[str, Any], **claims: Any) -> str:
    claims.setdefault("exp", int(time.time()) + 600)
    return jwt.encode(claims, key["secret"], algorithm="HS256", headers={"kid": key["kid"]})


def scan(table: str, endpoint: str) -> Iterator[dict[str, Any]]:
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    try:
        for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            yield from page["Items"]
    finally:
        client.close()


def strings_in(value: Any) -> Iterator[str]:
    """Every string held anywhere in a DynamoDB attribute value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def test_no_secret_reaches_logs_error_bodies_or_the_table(
    api, gatekey_env, configure, monkeypatch, capfd, log_records
):
    found = Secrets()
    for kid, value in json.loads(gatekey_env["GATEKEY_SECRET"]).items():
        if kid != "current":
            found.add("signing key", value)
    found.add("test password", PASSWORD)
    errors: list[str] = []  # bodies of every error answer
    output: list[str] = []  # stdout and stderr

    def call(method: str, path: str, expected: int, **kwargs: Any) -> Any:
        response = api.request(method, path, **kwargs)
        assert response.status_code == expected, (method, path, response.text)
        if response.status_code >= 400:
            errors.append(response.text)
        return response

    # The admin CLI: an account, a member and an admin, passwords from the environment.
    password = found.add("member password", "pw-" + secrets.token_urlsafe(24))
    admin_password = found.add("admin password", "pw-" + secrets.token_urlsafe(24))
    account = run_cli(capfd, output, "account", "create", "Leak Test Co")["account_id"]
    email = f"member-{uuid.uuid4().hex[:8]}@example.com"
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    monkeypatch.setenv("GATEKEY_PASSWORD", password)
    assert "user_id" in run_cli(
        capfd, output, "user", "create", "--account", account, "--email", email
    )
    assert run_cli(capfd, output, "user", "create", "--account", account, "--email", email) == 1
    monkeypatch.setenv("GATEKEY_PASSWORD", admin_password)
    run_cli(
        capfd, output, "user", "create", "--account", account, "--email", admin_email, "--admin"
    )
    monkeypatch.delenv("GATEKEY_PASSWORD")

    # Login as JSON and as a form, a wrong password, a body refused by validation.
    login = call("POST", "/auth/login", 200, json={"email": email, "password": password}).json()
    access = found.add("access token", login["access_token"])
    refresh = found.add("refresh token", login["refresh_token"])
    form = call("POST", "/auth/login", 200, data={"email": email, "password": password}).json()
    form_access = found.add("access token", form["access_token"])
    found.add("refresh token", form["refresh_token"])
    wrong = found.add("wrong password", "pw-" + secrets.token_urlsafe(24))
    call("POST", "/auth/login", 401, json={"email": email, "password": wrong})
    call("POST", "/auth/login", 400, json={"email": "not-an-email", "password": wrong})
    call("POST", "/auth/login", 400, json={"email": email, "password": wrong * 40})
    refreshed = call("GET", "/auth/refresh-token", 200, token=refresh).json()
    found.add("access token", refreshed["access_token"])

    # API keys and jwt keys: create, read, rotate; client JWTs signed with their secrets.
    api_key = call("POST", "/user/keys", 201, token=access, json={"handle": "ci"}).json()
    found.add("API key token", api_key["token"])
    jwt_key = call(
        "POST", "/user/keys", 201, token=access, json={"handle": "signer", "type": "jwt"}
    ).json()
    found.add("jwt key secret", jwt_key["secret"])
    call("GET", "/user/keys", 200, token=access)
    call("GET", "/user/keys/ci", 200, token=access)
    call("GET", "/user/keys/signer", 200, token=access)
    call("PATCH", "/user/keys/ci", 200, token=access, json={"alias": "CI"})
    call("POST", "/user/keys", 409, token=access, json={"handle": "ci"})
    client_jwt = found.add("client JWT", sign(jwt_key, jti="first"))
    client_jwt_without_jti = found.add("client JWT", sign(jwt_key))
    rotated = call("POST", "/user/keys/ci/rotate", 200, token=access, json={}).json()
    found.add("API key token", rotated["token"])
    rotated_jwt = call(
        "POST", "/user/keys/signer/rotate", 200, token=access, json={"grace_seconds": 60}
    ).json()
    found.add("jwt key secret", rotated_jwt["secret"])
    rotated_client_jwt = found.add("client JWT", sign(rotated_jwt, jti="second"))

    # Every token-test route with every kind of credential, in both header forms.
    credentials = [access, form_access, rotated["token"], client_jwt, rotated_client_jwt]
    for credential in credentials:
        for path in ("/", "/auth/authenticated", "/user"):
            call("GET", path, 200, headers={"Authorization": f"Bearer {credential}"})
        call("GET", "/user", 200, headers={"Authorization": credential})

    # Bots, by an admin.
    admin = call(
        "POST", "/auth/login", 200, json={"email": admin_email, "password": admin_password}
    ).json()
    admin_access = found.add("access token", admin["access_token"])
    found.add("refresh token", admin["refresh_token"])
    bot = call("POST", "/account/bots", 201, token=admin_access, json={"name": "nightly"}).json()
    found.add("bot token", bot["token"])
    call("GET", "/user", 200, headers={"Authorization": bot["token"]})
    regenerated = call(
        "POST", f"/account/bots/{bot['bot']['id']}/token", 200, token=admin_access
    ).json()
    found.add("bot token", regenerated["token"])
    call("GET", "/user", 401, headers={"Authorization": bot["token"]})
    call("GET", "/user", 200, headers={"Authorization": regenerated["token"]})
    call("GET", "/account/bots", 200, token=admin_access)
    call("POST", "/account/bots", 403, token=access, json={"name": "not allowed"})
    call("DELETE", f"/account/bots/{bot['bot']['id']}", 204, token=admin_access)

    # Two-step verification and a password change, by the admin: the TOTP secret, the
    # recovery codes (checked below: shorter than a prefix) and the passwords.
    call("POST", "/user/mfa/totp", 401, token=admin_access, json={"password": "not it"})
    reauth = {"password": admin_password}
    enrolment = call("POST", "/user/mfa/totp", 200, token=admin_access, json=reauth).json()
    app = pyotp.TOTP(found.add("TOTP secret", enrolment["secret"]))
    recovery_codes = call(
        "POST",
        "/user/mfa/totp/confirm",
        200,
        token=admin_access,
        json={"code": app.now(), **reauth},
    ).json()["recovery_codes"]
    admin_login = {"email": admin_email, "password": admin_password}
    call("POST", "/auth/login", 401, json=admin_login)  # mfa_required
    call("POST", "/auth/login", 401, json={**admin_login, "totp": "000000"})
    totp_login = call(
        "POST", "/auth/login", 200, data={**admin_login, "totp": app.at(time.time() + 30)}
    ).json()
    found.add("access token", totp_login["access_token"])
    found.add("refresh token", totp_login["refresh_token"])
    recovery_login = call(
        "POST", "/auth/login", 200, json={**admin_login, "recovery_code": recovery_codes[0]}
    ).json()
    found.add("access token", recovery_login["access_token"])
    found.add("refresh token", recovery_login["refresh_token"])
    new_admin_password = found.add("new admin password", "pw-" + secrets.token_urlsafe(24))
    call(
        "POST",
        "/user/password",
        200,
        token=admin_access,
        json={"current_password": admin_password, "new_password": new_admin_password},
    )
    call(
        "POST",
        "/user/password",
        400,
        token=admin_access,
        json={"current_password": new_admin_password, "new_password": "qwertyuiop"},
    )

    # Garbage, tampered and foreign tokens.
    tampered = [
        found.add("tampered token", access[:-2] + ("AA" if not access.endswith("AA") else "BB")),
        found.add(
            "tampered token", rotated["token"][:-1] + ("B" if rotated["token"][-1] == "A" else "A")
        ),
        found.add(
            "foreign JWT", jwt.encode({"exp": int(time.time()) + 60}, "x" * 32, algorithm="HS256")
        ),
    ]
    for bad in ("garbage", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", *tampered):
        call("GET", "/user", 401, headers={"Authorization": bad})

    # Sessions, logout, revoke (GET, POST as JSON and as a form), key deletion.
    sessions = call("GET", "/user/sessions", 200, token=access).json()["sessions"]
    form_session = next(entry["id"] for entry in sessions if not entry["current"])
    call("DELETE", f"/user/sessions/{form_session}", 204, token=access)
    call("GET", "/auth/revoke", 200, headers={"Authorization": client_jwt})
    call("POST", "/auth/revoke", 200, token=access, json={"token": client_jwt_without_jti})
    unknown = found.add("unknown token", "gk_" + secrets.token_urlsafe(30))
    call("POST", "/auth/revoke", 200, token=access, data={"token": unknown})
    call("GET", "/auth/revoke", 200, token=refreshed["access_token"])
    call("DELETE", "/user/keys/signer", 204, token=access)
    call("POST", "/auth/logout", 400, headers={"Authorization": rotated["token"]})
    call("GET", "/auth/logout", 200, token=access)
    call("GET", "/user", 401, token=access)
    call("POST", "/auth/logout", 200, token=admin_access)

    # A reset by mail: the link's token is a secret of the message only.
    call("POST", "/auth/password-reset", 202, json={"email": admin_email})
    outbox = sorted(Path(os.environ["GATEKEY_OUTBOX_DIR"]).glob("*.eml"))
    messages = [
        message_from_bytes(path.read_bytes(), policy=email_policy.default) for path in outbox
    ]
    [message] = [message for message in messages if message["To"] == admin_email]
    link = re.search(r"#reset=([A-Za-z0-9_-]+)", message.get_content())
    assert link is not None
    reset_token = found.add("reset token", link.group(1))
    reset_password = found.add("reset password", "pw-" + secrets.token_urlsafe(24))
    call(
        "POST",
        "/auth/password-reset/confirm",
        200,
        json={"token": reset_token, "new_password": reset_password},
    )
    call(
        "POST",
        "/auth/password-reset/confirm",
        400,
        json={"token": reset_token, "new_password": reset_password},
    )

    # A server error: DynamoDB unreachable, with live credentials and a login.
    configure(DYNAMODB_ENDPOINT="http://127.0.0.1:9")
    call("GET", "/user", 503, headers={"Authorization": rotated["token"]})
    call("GET", "/user", 503, token=admin_access)
    call("POST", "/auth/login", 503, json={"email": email, "password": password})
    call("POST", "/auth/login", 503, data={"email": admin_email, "password": admin_password})

    output += capfd.readouterr()
    out, logged = "\n".join(output), rendered(log_records)
    # The capture saw the flow (request log, the handlers' JSON lines, the outage), so
    # an empty result below means nothing leaked, not that nothing was looked at.
    assert "POST /auth/login 503 " in logged  # the access log
    assert "service_unavailable" in logged
    assert "Making request for OperationModel" in logged  # botocore's own DEBUG lines
    assert '"user_id"' in out and "email_taken" in out  # the CLI's answers and errors

    assert found.leaks(out) == [], "secret on stdout or stderr"
    assert found.leaks(logged) == [], "secret in a log record"
    assert found.leaks("\n".join(errors)) == [], "secret in an error body"
    assert "mfa.enrolled" in logged and ".eml" in logged  # the audit and mail lines ran
    for code in recovery_codes:
        for text in (out, logged, "\n".join(errors)):
            assert code not in text and code.replace("-", "") not in text

    items = list(scan(gatekey_env["GATEKEY_TABLE"], gatekey_env["DYNAMODB_ENDPOINT"]))
    users = [item for item in items if item["sk"] == {"S": "USER"}]
    assert {email, admin_email} <= {user.get("email", {}).get("S") for user in users}
    for item in items:
        assert found.leaks(json.dumps(item)) == [], item["pk"]
        for code in recovery_codes:
            assert code not in json.dumps(item) and code.replace("-", "") not in json.dumps(item)
        for value in strings_in(item):
            assert not any(
                secret in value for label, secret in found.values.items() if "password" in label
            ), item["pk"]
    hashes = [user["password_hash"]["S"] for user in users if "password_hash" in user]
    assert hashes and all(value.startswith("$argon2") for value in hashes)
