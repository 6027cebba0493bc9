"""TOTP two-step verification through the local API (CONTRACT section 8), with the
requests a curl user would send: enrol, confirm, log in with `totp` or `recovery_code`,
replays refused, wrong codes locking the email, and turning it off."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import jwt
import pyotp
import pytest

from gatekey.store import get_store
from gatekey_local.function_worker import FrozenClock
from gatekey_local.lambda_runner import FunctionRunner
from tests.e2e.conftest import error_code
from tests.helpers import PASSWORD, make_user


class StepClock:
    """The time as the MFA module of the local API's functions sees it, frozen
    mid-window and moved by whole steps, so each test knows which code is current
    without racing the real clock."""

    def __init__(self, functions: FunctionRunner) -> None:
        self.functions = functions
        self.at = (int(time.time()) // 30) * 30 + 15
        self.functions.patch("gatekey.accounts.mfa", "clock", FrozenClock(self.at))

    def now(self) -> int:
        return self.at

    def advance(self, steps: int = 1) -> None:
        self.at += 30 * steps
        self.functions.patch("gatekey.accounts.mfa", "clock", FrozenClock(self.at))


@pytest.fixture
def step_clock(function_patch) -> StepClock:
    return StepClock(function_patch)


class Enrolled:
    def __init__(self, user, token: str, secret: str, recovery_codes: list[str], clock) -> None:
        self.user = user
        self.token = token
        self.app = pyotp.TOTP(secret)  # the authenticator app
        self.recovery_codes = recovery_codes
        self.clock = clock

    def code(self) -> str:
        """The code the app shows now (a new window each time: codes work once)."""
        self.clock.advance()
        return self.app.at(self.clock.at)


@pytest.fixture
def enrolled(api, user, token, step_clock) -> Enrolled:
    started = api.post("/user/mfa/totp", token=token, json={"password": PASSWORD})
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    confirmed = api.post(
        "/user/mfa/totp/confirm",
        token=token,
        json={"code": pyotp.TOTP(secret).at(step_clock.at), "password": PASSWORD},
    )
    assert confirmed.status_code == 200, confirmed.text
    return Enrolled(user, token, secret, confirmed.json()["recovery_codes"], step_clock)


def login(api, user, **extra):
    return api.post("/auth/login", json={"email": user.email, "password": PASSWORD, **extra})


def audit_actions(account_id: str) -> list[tuple[str, str]]:
    events, _ = get_store().list_audit_events(account_id, limit=100)
    return [(event["action"], event["outcome"]) for event in events]


# -- enrolment --------------------------------------------------------------------------


def test_enrolment_gives_an_rfc_6238_secret_and_uri_pending_until_confirmed(
    api, user, token, step_clock
):
    response = api.post("/user/mfa/totp", token=token, json={"password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"secret", "otpauth_uri"}
    parsed = pyotp.parse_uri(body["otpauth_uri"])
    assert parsed.secret == body["secret"]
    assert (parsed.digits, parsed.interval, parsed.issuer) == (6, 30, "gatekey")
    assert user.email in parsed.name
    # pending: login does not ask for a code yet, and GET /user says off
    assert login(api, user).status_code == 200
    assert api.get("/user", token=token).json()["mfa"] is False


def test_confirming_turns_mfa_on_and_gives_ten_single_use_recovery_codes(api, enrolled):
    assert len(enrolled.recovery_codes) == 10 == len(set(enrolled.recovery_codes))
    assert api.get("/user", token=enrolled.token).json()["mfa"] is True
    assert ("mfa.enrolled", "success") in audit_actions(enrolled.user.account_id)


def test_a_wrong_confirmation_code_is_a_validation_error(api, token, step_clock):
    secret = api.post("/user/mfa/totp", token=token, json={"password": PASSWORD}).json()["secret"]
    wrong = f"{(int(pyotp.TOTP(secret).at(step_clock.at)) + 1) % 1_000_000:06d}"
    response = api.post(
        "/user/mfa/totp/confirm", token=token, json={"code": wrong, "password": PASSWORD}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "code"
    assert api.get("/user", token=token).json()["mfa"] is False


def test_a_restarted_enrolment_replaces_the_pending_secret(api, token, step_clock):
    first = api.post("/user/mfa/totp", token=token, json={"password": PASSWORD}).json()["secret"]
    second = api.post("/user/mfa/totp", token=token, json={"password": PASSWORD}).json()["secret"]
    assert first != second
    stale = api.post(
        "/user/mfa/totp/confirm",
        token=token,
        json={"code": pyotp.TOTP(first).at(step_clock.at), "password": PASSWORD},
    )
    assert stale.status_code == 400
    fresh = api.post(
        "/user/mfa/totp/confirm",
        token=token,
        json={"code": pyotp.TOTP(second).at(step_clock.at), "password": PASSWORD},
    )
    assert fresh.status_code == 200


def test_enrolling_twice_and_confirming_nothing_are_conflicts(api, enrolled, token):
    again = api.post("/user/mfa/totp", token=enrolled.token, json={"password": PASSWORD})
    assert again.status_code == 409 and error_code(again) == "conflict"
    other = make_user()
    other_token = api.login(other)["access_token"]
    nothing = api.post(
        "/user/mfa/totp/confirm", token=other_token, json={"code": "123456", "password": PASSWORD}
    )
    assert nothing.status_code == 409 and error_code(nothing) == "conflict"


def test_the_secret_is_not_in_the_table(api, enrolled, gatekey_env):
    client = boto3.client("dynamodb", endpoint_url=gatekey_env["DYNAMODB_ENDPOINT"])
    try:
        item = client.get_item(
            TableName=gatekey_env["GATEKEY_TABLE"],
            Key={"pk": {"S": f"USER#{enrolled.user.user_id}"}, "sk": {"S": "USER"}},
        )["Item"]
    finally:
        client.close()
    dump = json.dumps(item)
    assert enrolled.app.secret not in dump
    assert enrolled.app.secret.lower() not in dump.lower()
    for code in enrolled.recovery_codes:
        assert code not in dump and code.replace("-", "") not in dump
    assert len(item["recovery_codes"]["M"]) == 10


# -- changes need the password (contract 8b) ------------------------------------------


def test_a_stolen_session_cannot_turn_totp_on_without_the_password(api, user, token, step_clock):
    for body in (None, {}):
        missing = api.post("/user/mfa/totp", token=token, json=body)
        assert missing.status_code == 400, missing.text
        assert missing.json()["type"] == "validation_error"
        assert missing.json()["errors"][0]["attr"] == "password"
    wrong = api.post("/user/mfa/totp", token=token, json={"password": "not the password"})
    assert wrong.status_code == 401 and error_code(wrong) == "invalid_credentials"
    assert "secret" not in wrong.text

    secret = api.post("/user/mfa/totp", token=token, json={"password": PASSWORD}).json()["secret"]
    code = pyotp.TOTP(secret).at(step_clock.at)
    missing = api.post("/user/mfa/totp/confirm", token=token, json={"code": code})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["attr"] == "password"
    wrong = api.post(
        "/user/mfa/totp/confirm", token=token, json={"code": code, "password": "not it"}
    )
    assert wrong.status_code == 401 and error_code(wrong) == "invalid_credentials"
    assert api.get("/user", token=token).json()["mfa"] is False
    assert login(api, user).status_code == 200  # the owner still logs in with the password
    assert ("mfa.enrolled", "failure") in audit_actions(user.account_id)


def test_wrong_passwords_of_mfa_set_up_count_toward_the_lockout(api, user, token, step_clock):
    secret = api.post("/user/mfa/totp", token=token, json={"password": PASSWORD}).json()["secret"]
    code = pyotp.TOTP(secret).at(step_clock.at)
    for attempt in range(5):
        if attempt % 2:
            body = {"code": code, "password": f"wrong guess {attempt}"}
            response = api.post("/user/mfa/totp/confirm", token=token, json=body)
        else:
            body = {"password": f"wrong guess {attempt}"}
            response = api.post("/user/mfa/totp", token=token, json=body)
        assert response.status_code == 401 and error_code(response) == "invalid_credentials"
    locked = api.post("/user/mfa/totp", token=token, json={"password": PASSWORD})
    assert locked.status_code == 429 and error_code(locked) == "throttled"
    assert error_code(login(api, user)) == "throttled"
    assert api.get("/user", token=token).json()["mfa"] is False


def test_turning_mfa_on_ends_every_other_session_of_the_user(api, user, token, step_clock):
    others = [api.login(user) for _ in range(2)]
    for other in others:
        assert api.get("/user", token=other["access_token"]).status_code == 200
    secret = api.post("/user/mfa/totp", token=token, json={"password": PASSWORD}).json()["secret"]
    confirmed = api.post(
        "/user/mfa/totp/confirm",
        token=token,
        json={"code": pyotp.TOTP(secret).at(step_clock.at), "password": PASSWORD},
    )
    assert confirmed.status_code == 200, confirmed.text
    for other in others:
        assert api.get("/user", token=other["access_token"]).status_code == 401
        refreshed = api.get("/auth/refresh-token", token=other["refresh_token"])
        assert refreshed.status_code == 401
    assert api.get("/user", token=token).json()["mfa"] is True  # the caller's goes on


# -- an admin clears a member's MFA (lost device) ----------------------------------------


def mfa_path(user) -> str:
    return f"/account/users/{user.user_id}/mfa"


def test_an_admin_clears_a_members_mfa_and_ends_their_sessions(api, enrolled):
    member = enrolled.user
    admin = make_user(admin=True, account_id=member.account_id)
    admin_token = api.login(admin)["access_token"]
    second = login(api, member, totp=enrolled.code())
    assert second.status_code == 200, second.text
    member_tokens = [enrolled.token, second.json()["access_token"]]

    response = api.delete(mfa_path(member), token=admin_token)
    assert response.status_code == 204, response.text
    assert response.text == ""
    for member_token in member_tokens:
        assert api.get("/user", token=member_token).status_code == 401
    fresh = login(api, member)  # the password alone again, then set up anew
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["user"]["mfa"] is False
    listed = api.get("/account/users", token=admin_token).json()["users"]
    assert [u["mfa"] for u in listed if u["id"] == member.user_id] == [False]

    events, _ = get_store().list_audit_events(member.account_id, limit=100)
    reset = [event for event in events if event["action"] == "mfa.reset_by_admin"]
    assert len(reset) == 1
    assert reset[0]["outcome"] == "success"
    assert reset[0]["actor"]["user_id"] == admin.user_id
    assert reset[0]["actor"]["token_type"] == "session"
    assert reset[0]["target"] == {"type": "user", "id": member.user_id}

    again = api.delete(mfa_path(member), token=admin_token)
    assert again.status_code == 409 and error_code(again) == "conflict"


def test_only_an_admins_session_of_the_account_may_clear_mfa(api, enrolled):
    member = enrolled.user
    admin = make_user(admin=True, account_id=member.account_id)
    admin_token = api.login(admin)["access_token"]
    key = api.post(
        "/user/keys",
        token=admin_token,
        json={"handle": f"u-{uuid.uuid4().hex[:8]}", "scopes": ["*", "gatekey:users"]},
    )
    assert key.status_code == 201, key.text
    signing = api.post(
        "/user/keys",
        token=admin_token,
        json={"handle": f"j-{uuid.uuid4().hex[:8]}", "type": "jwt", "scopes": ["gatekey:users"]},
    ).json()
    signed = jwt.encode(
        {"exp": int(time.time()) + 300},
        signing["secret"],
        algorithm="HS256",
        headers={"kid": signing["kid"]},
    )
    colleague = make_user(account_id=member.account_id)
    refused = {
        "API key with gatekey:users": {"Authorization": f"Bearer {key.json()['token']}"},
        "client JWT with gatekey:users": {"Authorization": signed},
        "a member's session": {"Authorization": f"Bearer {api.login(colleague)['access_token']}"},
        "the member's own session": {"Authorization": f"Bearer {enrolled.token}"},
    }
    for name, headers in refused.items():
        response = api.delete(mfa_path(member), headers=headers)
        assert response.status_code == 403, (name, response.text)
        assert error_code(response) == "permission_denied", name
    own = api.delete(mfa_path(admin), token=admin_token)  # own MFA: password and code
    assert own.status_code == 403 and error_code(own) == "permission_denied"

    stranger = make_user(admin=True)  # an admin of another account
    stranger_token = api.login(stranger)["access_token"]
    assert api.delete(mfa_path(member), token=stranger_token).status_code == 404
    for bad_id in ("not-a-user", "x" * 1100, str(uuid.uuid4())):
        response = api.delete(f"/account/users/{bad_id}/mfa", token=admin_token)
        assert response.status_code == 404, (bad_id, response.status_code)
        assert error_code(response) == "not_found"

    assert api.get("/user", token=enrolled.token).json()["mfa"] is True
    actions = audit_actions(member.account_id)
    assert not any(action == "mfa.reset_by_admin" for action, _ in actions)


# -- login with MFA on -----------------------------------------------------------------


def test_the_right_password_without_a_code_is_mfa_required(api, enrolled):
    response = login(api, enrolled.user)
    assert response.status_code == 401
    assert error_code(response) == "mfa_required"
    blank = api.post(
        "/auth/login",
        data={"email": enrolled.user.email, "password": PASSWORD, "totp": ""},
    )
    assert error_code(blank) == "mfa_required"
    wrong_password = api.post(
        "/auth/login",
        json={"email": enrolled.user.email, "password": "not it", "totp": enrolled.code()},
    )
    assert error_code(wrong_password) == "invalid_credentials"


def test_login_with_a_totp_code_and_the_code_works_once(api, enrolled):
    code = enrolled.code()
    response = login(api, enrolled.user, totp=code)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["mfa"] is True
    replay = login(api, enrolled.user, totp=code)
    assert replay.status_code == 401 and error_code(replay) == "invalid_credentials"
    # the detail says the code was spent, rather than blaming the password
    assert "already used" in replay.json()["errors"][0]["detail"]
    wrong = login(api, enrolled.user, totp=f"{(int(code) + 1) % 1_000_000:06d}")
    assert "already used" not in wrong.json()["errors"][0]["detail"]
    assert login(api, enrolled.user, totp=enrolled.code()).status_code == 200
    actions = audit_actions(enrolled.user.account_id)
    assert ("login.success", "success") in actions and ("login.failure", "failure") in actions


def test_the_confirmation_code_cannot_log_in(api, user, token, step_clock):
    secret = api.post("/user/mfa/totp", token=token, json={"password": PASSWORD}).json()["secret"]
    code = pyotp.TOTP(secret).at(step_clock.at)
    assert (
        api.post(
            "/user/mfa/totp/confirm", token=token, json={"code": code, "password": PASSWORD}
        ).status_code
        == 200
    )
    assert error_code(login(api, user, totp=code)) == "invalid_credentials"


def test_an_older_code_is_refused_after_a_newer_one(api, enrolled):
    older = enrolled.app.at(enrolled.clock.at + 30)
    enrolled.clock.advance(2)
    newer = enrolled.app.at(enrolled.clock.at)
    assert login(api, enrolled.user, totp=newer).status_code == 200
    # `older` is still inside the accepted drift window, but its step is spent
    assert error_code(login(api, enrolled.user, totp=older)) == "invalid_credentials"


def test_a_form_login_takes_totp_as_curl_sends_it(api, enrolled):
    response = api.post(
        "/auth/login",
        data={"email": enrolled.user.email, "password": PASSWORD, "totp": enrolled.code()},
    )
    assert response.status_code == 200, response.text


def test_a_recovery_code_logs_in_once(api, enrolled):
    code = enrolled.recovery_codes[3]
    assert login(api, enrolled.user, recovery_code=code.upper()).status_code == 200
    again = login(api, enrolled.user, recovery_code=code)
    assert again.status_code == 401 and error_code(again) == "invalid_credentials"
    assert login(api, enrolled.user, recovery_code=enrolled.recovery_codes[4]).status_code == 200


def test_wrong_codes_count_toward_the_lockout(api, enrolled):
    for guess in ("000000", "111111", "222222", "not-a-code", "333333"):
        response = login(api, enrolled.user, totp=guess)
        assert response.status_code == 401 and error_code(response) == "invalid_credentials"
    locked = login(api, enrolled.user, totp=enrolled.code())
    assert locked.status_code == 429 and error_code(locked) == "throttled"
    assert "Retry-After" in locked.headers
    events, _ = get_store().list_audit_events(enrolled.user.account_id, limit=100)
    failed = [e for e in events if e["action"] in ("login.failure", "login.throttled")]
    # stored at most once a minute per email, the rest counted on it (contract 8b)
    assert sum(1 + int(e.get("repeats") or 0) for e in failed) == 6


def test_password_only_attempts_do_not_reset_the_count_between_guesses(api, enrolled):
    for _ in range(2):
        assert error_code(login(api, enrolled.user, totp="000000")) == "invalid_credentials"
        assert error_code(login(api, enrolled.user)) == "mfa_required"
    assert error_code(login(api, enrolled.user, recovery_code="aaaaa-bbbbb")) == (
        "invalid_credentials"
    )
    assert error_code(login(api, enrolled.user, totp=enrolled.code())) == "throttled"


def test_a_code_is_accepted_once_even_when_requests_race(api, enrolled, local_api):
    from tests.e2e.conftest import Client

    code = enrolled.code()
    clients = [Client(local_api) for _ in range(6)]
    try:
        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            answers = list(pool.map(lambda c: login(c, enrolled.user, totp=code), clients))
    finally:
        for client in clients:
            client.close()
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [401] * 5, statuses


# -- turning it off ----------------------------------------------------------------------


def test_turning_mfa_off_needs_the_password_and_a_fresh_code(api, enrolled):
    token = enrolled.token
    wrong_password = api.request(
        "DELETE", "/user/mfa", token=token, json={"password": "nope", "code": enrolled.code()}
    )
    assert wrong_password.status_code == 401 and error_code(wrong_password) == "invalid_credentials"
    wrong_code = api.request(
        "DELETE", "/user/mfa", token=token, json={"password": PASSWORD, "code": "000000"}
    )
    assert wrong_code.status_code == 401
    response = api.request(
        "DELETE", "/user/mfa", token=token, json={"password": PASSWORD, "code": enrolled.code()}
    )
    assert response.status_code == 204 and response.text == ""
    assert api.get("/user", token=token).json()["mfa"] is False
    assert login(api, enrolled.user).status_code == 200
    again = api.request(
        "DELETE", "/user/mfa", token=token, json={"password": PASSWORD, "code": "123456"}
    )
    assert again.status_code == 409
    actions = audit_actions(enrolled.user.account_id)
    assert ("mfa.disabled", "success") in actions and ("mfa.disabled", "failure") in actions


def test_a_recovery_code_can_turn_mfa_off(api, enrolled):
    response = api.request(
        "DELETE",
        "/user/mfa",
        token=enrolled.token,
        json={"password": PASSWORD, "code": enrolled.recovery_codes[0]},
    )
    assert response.status_code == 204
    # a new enrolment has a new secret: the old app's codes no longer work
    secret = api.post("/user/mfa/totp", token=enrolled.token, json={"password": PASSWORD}).json()[
        "secret"
    ]
    assert secret != enrolled.app.secret


# -- who may -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/user/mfa/totp", None),
        ("POST", "/user/mfa/totp/confirm", {"code": "123456", "password": PASSWORD}),
        ("DELETE", "/user/mfa", {"password": PASSWORD, "code": "123456"}),
        ("POST", "/user/password", {"current_password": PASSWORD, "new_password": "x" * 12}),
    ],
)
def test_only_a_login_session_may_change_security_settings(api, token, method, path, body):
    key = api.post(
        "/user/keys",
        token=token,
        json={"handle": f"k-{uuid.uuid4().hex[:8]}", "scopes": ["*", "gatekey:keys"]},
    ).json()
    signing = api.post(
        "/user/keys",
        token=token,
        json={"handle": f"j-{uuid.uuid4().hex[:8]}", "type": "jwt", "scopes": ["*"]},
    ).json()
    signed = jwt.encode(
        {"exp": int(time.time()) + 300},
        signing["secret"],
        algorithm="HS256",
        headers={"kid": signing["kid"]},
    )
    for credential in (key["token"], signed):
        response = api.request(method, path, headers={"Authorization": credential}, json=body)
        assert response.status_code == 403, response.text
        assert error_code(response) == "permission_denied"
    anonymous = api.request(method, path, json=body)
    assert anonymous.status_code == 401
