"""Bad input is a 4xx (CONTRACT section 8b): path parameters over their limit, emails
with control characters, and what a stranger can write into an account's audit log by
failing logins (a long User-Agent, one event a minute per email)."""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import quote

import pytest

from gatekey.accounts import audit
from gatekey.store import get_store
from gatekey_cli import main as cli
from gatekey_local.function_worker import FrozenClock
from gatekey_local.template import load_template
from tests.conftest import TEMPLATE
from tests.e2e.conftest import error_code
from tests.helpers import PASSWORD, make_user

# -- path parameters --------------------------------------------------------------------

ROUTES_WITH_PARAMETERS = sorted(
    {(route.method, route.path) for route in load_template(TEMPLATE).routes if "{" in route.path}
)
BAD_HANDLES = {
    "65_chars": "h" * 65,
    "1100_chars": "h" * 1100,  # over DynamoDB's 1 KB sort key
    "2100_chars": "h" * 2100,  # over its 2 KB partition key
    "wrong_alphabet": "bad$handle",
    "space": quote("with space"),
    "nul": "nul%00byte",
}
BAD_IDS = {
    "not_a_uuid": "not-a-uuid",
    "1100_chars": "1" * 1100,
    "2100_chars": "1" * 2100,
    "uuid_and_more": f"{uuid.uuid4()}0",
    "uppercase_uuid": str(uuid.uuid4()).upper(),
    "nul": f"{str(uuid.uuid4())[:-1]}%00",
}


def bad_values(name: str) -> dict[str, str]:
    return BAD_HANDLES if name == "handle" else BAD_IDS if name == "id" else BAD_HANDLES | BAD_IDS


CASES = [
    pytest.param(method, path, name, value, id=f"{method} {path} {name}={label}")
    for method, path in ROUTES_WITH_PARAMETERS
    for name in re.findall(r"\{([^}/]+)\}", path)
    for label, value in bad_values(name).items()
]


def test_the_template_has_the_routes_with_parameters_this_module_knows():
    """At least the nine of issue 18; a new one is covered by the parametrization."""
    assert len(ROUTES_WITH_PARAMETERS) >= 9, ROUTES_WITH_PARAMETERS


@pytest.fixture(scope="module")
def admin_token(local_api, gatekey_env) -> str:
    import requests

    admin = make_user(admin=True)
    response = requests.post(
        f"{local_api}/auth/login",
        json={"email": admin.email, "password": admin.password},
        headers={"User-Agent": "gatekey-tests/1.0"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def fill(path: str, name: str, value: str) -> str:
    """The path with `value` for the parameter `name`, and a well-formed value for any
    other parameter."""

    def one(match: re.Match[str]) -> str:
        parameter = match.group(1)
        if parameter == name:
            return value
        return str(uuid.uuid4()) if parameter.endswith("id") else "some-handle"

    return re.sub(r"\{([^}/]+)\}", one, path)


@pytest.mark.parametrize(("method", "path", "name", "value"), CASES)
def test_path_parameters_over_their_limit_are_4xx_never_5xx(
    api, admin_token, method, path, name, value
):
    body = {} if method in ("POST", "PATCH") else None
    response = api.request(method, fill(path, name, value), token=admin_token, json=body)
    assert response.status_code in (400, 404), (response.status_code, response.text)
    assert error_code(response) in ("not_found", "invalid", "bad_request")
    assert "Traceback" not in response.text


# -- control characters in emails ---------------------------------------------------------

CONTROL_EMAILS = {
    "nul": "vic\x00tim@example.com",
    "bell": "victim\x07@example.com",
    "escape": "victim@exa\x1bmple.com",
    "delete": "victim\x7f@example.com",
    "c1": "victim\x9b@example.com",
    "bidi_override": "victim\u202e@example.com",
}


def assert_refused_email(response) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "validation_error"
    assert body["errors"][0]["attr"] == "email"


@pytest.mark.parametrize("email", CONTROL_EMAILS.values(), ids=CONTROL_EMAILS.keys())
def test_login_refuses_emails_with_control_characters(api, email):
    assert_refused_email(api.post("/auth/login", json={"email": email, "password": PASSWORD}))
    form = f"email={quote(email)}&password={quote(PASSWORD)}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert_refused_email(api.post("/auth/login", data=form, headers=headers))


@pytest.mark.parametrize("email", CONTROL_EMAILS.values(), ids=CONTROL_EMAILS.keys())
def test_password_reset_refuses_emails_with_control_characters(api, email):
    assert_refused_email(api.post("/auth/password-reset", json={"email": email}))


@pytest.mark.parametrize("email", CONTROL_EMAILS.values(), ids=CONTROL_EMAILS.keys())
def test_admins_cannot_create_users_with_control_characters_in_the_email(api, admin, email):
    token = api.login(admin)["access_token"]
    response = api.post("/account/users", token=token, json={"email": email})
    assert_refused_email(response)
    assert get_store().find_user_ids_by_email(email.lower()) == {}


@pytest.mark.parametrize("email", CONTROL_EMAILS.values(), ids=CONTROL_EMAILS.keys())
def test_the_cli_refuses_emails_with_control_characters(api, admin, email, capsys, monkeypatch):
    monkeypatch.setenv("GATEKEY_PASSWORD", "a perfectly fine passphrase 9")
    for command in ("create", "reset-password"):
        status = cli.main(["user", command, "--account", admin.account_id, "--email", email])
        _, err = capsys.readouterr()
        assert status == 1, command
        assert "email" in err
    assert get_store().find_user_ids_by_email(email.lower()) == {}


# -- what failed logins write into an account ---------------------------------------------


def failure_events(account_id: str, user_id: str) -> list[dict]:
    events, _ = get_store().list_audit_events(account_id, limit=100, user_id=user_id)
    return [e for e in events if e["action"] in ("login.failure", "login.throttled")]


def test_audit_user_agents_are_cut_to_256_characters(api, user):
    agent = "hostile/" + "x" * 600
    wrong = api.post(
        "/auth/login",
        json={"email": user.email, "password": "not the password"},
        headers={"User-Agent": agent},
    )
    assert wrong.status_code == 401
    right = api.post(
        "/auth/login",
        json={"email": user.email, "password": PASSWORD},
        headers={"User-Agent": agent},
    )
    assert right.status_code == 200
    events, _ = get_store().list_audit_events(user.account_id, limit=10)
    assert {e["action"] for e in events} >= {"login.failure", "login.success"}
    for event in events:
        assert event["user_agent"] == agent[:256]


@pytest.fixture
def frozen_login_clock(function_patch):
    """The login function's clock, stopped mid-minute (moved by `advance`)."""

    class Clock:
        at = (int(time.time()) // 60) * 60 + 30

        def advance(self, seconds: int) -> None:
            self.at += seconds
            function_patch.patch("gatekey.accounts.sessions", "clock", FrozenClock(self.at))

    clock = Clock()
    clock.advance(0)
    return clock


def test_failed_logins_are_stored_once_a_minute_per_email_with_repeats(
    api, admin, frozen_login_clock
):
    member = make_user(account_id=admin.account_id)
    statuses = [
        api.post("/auth/login", json={"email": member.email, "password": f"guess {n}"}).status_code
        for n in range(7)
    ]
    assert statuses == [401] * 5 + [429] * 2
    stored = failure_events(admin.account_id, member.user_id)
    assert len(stored) == 1, stored
    assert stored[0]["action"] == "login.failure"
    assert stored[0]["repeats"] == 6

    frozen_login_clock.advance(50)  # the next minute; the lockout (60 s) still holds
    again = api.post("/auth/login", json={"email": member.email, "password": "guess 8"})
    assert again.status_code == 429
    stored = failure_events(admin.account_id, member.user_id)
    assert len(stored) == 2
    assert stored[0]["action"] == "login.throttled" and not stored[0].get("repeats")

    assert [audit.event_view(e).get("extra") for e in stored] == [None, {"repeats": 6}]


def test_failed_logins_of_an_email_in_two_accounts_are_bounded_in_each(
    api, admin, frozen_login_clock
):
    member = make_user(account_id=admin.account_id)
    other = make_user(email=member.email)
    for n in range(3):
        wrong = api.post("/auth/login", json={"email": member.email, "password": f"guess {n}"})
        assert wrong.status_code == 401
    for account_id, user_id in (
        (admin.account_id, member.user_id),
        (other.account_id, other.user_id),
    ):
        stored = failure_events(account_id, user_id)
        assert [(e["action"], e.get("repeats")) for e in stored] == [("login.failure", 2)]
