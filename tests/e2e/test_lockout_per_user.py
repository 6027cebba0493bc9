"""The login lockout is per user, and nobody else clears it (CONTRACT section 8b).

The attack of issue 18: an admin of another account creates a user with the victim's
email and a password they know, and logs in as that "shadow" user between guesses. The
guesses at the victim's password (or second factor) still lock the victim; unknown
emails stay throttled.
"""

from __future__ import annotations

import uuid

import pyotp
import pytest

from tests import helpers
from tests.e2e.conftest import error_code
from tests.e2e.test_mfa import Enrolled, StepClock
from tests.helpers import PASSWORD, make_user

SHADOW_PASSWORD = "a shadow passphrase 77"
ROUNDS = 12


def login(api, email: str, password: str, account_id: str | None = None, **extra):
    body = {"email": email, "password": password, **extra}
    if account_id is not None:
        body["account_id"] = account_id
    return api.post("/auth/login", json=body)


def make_shadow(api, victim: helpers.TestUser) -> helpers.TestUser:
    """A user of another account with the victim's email, created by that account's admin
    with a password the admin chose."""
    admin = make_user(admin=True)
    token = api.login(admin)["access_token"]
    created = api.post(
        "/account/users",
        token=token,
        json={"email": victim.email, "password": SHADOW_PASSWORD},
    )
    assert created.status_code == 201, created.text
    user = created.json()["user"]
    return helpers.TestUser(user["id"], admin.account_id, victim.email, SHADOW_PASSWORD)


def shadow_login(api, shadow: helpers.TestUser, *, with_account: bool) -> None:
    account_id = shadow.account_id if with_account else None
    response = login(api, shadow.email, SHADOW_PASSWORD, account_id)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == shadow.user_id


def assert_locked(api, victim: helpers.TestUser, **extra) -> None:
    """The victim's right password is refused while the lockout lasts."""
    locked = login(api, victim.email, PASSWORD, victim.account_id, **extra)
    assert locked.status_code == 429, locked.text
    assert error_code(locked) == "throttled"
    assert int(locked.headers["Retry-After"]) > 0


@pytest.mark.parametrize("with_account", [True, False], ids=["account_id", "no_account_id"])
def test_a_shadow_users_logins_never_clear_the_victims_lockout(api, with_account):
    victim = make_user()
    shadow = make_shadow(api, victim)
    statuses = []
    for attempt in range(ROUNDS):
        account_id = victim.account_id if with_account else None
        guess = login(api, victim.email, f"guess number {attempt}", account_id)
        statuses.append(guess.status_code)
        shadow_login(api, shadow, with_account=with_account)
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 5, statuses
    assert statuses[-1] == 429, statuses
    assert_locked(api, victim)
    shadow_login(api, shadow, with_account=True)  # the shadow's own lockout is its own


def test_a_shadow_user_cannot_be_used_to_test_the_victims_password(api):
    """With the shadow's password set to a guess, a login without account_id checks the
    guess against the victim too: that counts toward the victim's lockout."""
    victim = make_user()
    make_shadow(api, victim)
    for _ in range(5):
        assert login(api, victim.email, SHADOW_PASSWORD).status_code == 200
    assert_locked(api, victim)


@pytest.fixture
def victim_with_mfa(api, function_patch) -> Enrolled:
    """A user with TOTP on, whose password the attacker has (as in issue 18)."""
    clock = StepClock(function_patch)
    user = make_user()
    token = api.login(user)["access_token"]
    started = api.post("/user/mfa/totp", token=token, json={"password": PASSWORD})
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    confirmed = api.post(
        "/user/mfa/totp/confirm",
        token=token,
        json={"code": pyotp.TOTP(secret).at(clock.at), "password": PASSWORD},
    )
    assert confirmed.status_code == 200, confirmed.text
    return Enrolled(user, token, secret, confirmed.json()["recovery_codes"], clock)


def wrong_code(victim: Enrolled) -> str:
    """A code no window around the current one accepts."""
    near = {victim.app.at(victim.clock.at + 30 * step) for step in range(-3, 4)}
    return next(code for code in (f"{n:06d}" for n in range(100)) if code not in near)


@pytest.mark.parametrize("with_account", [True, False], ids=["account_id", "no_account_id"])
def test_a_shadow_users_logins_never_clear_wrong_second_factors(api, victim_with_mfa, with_account):
    victim = victim_with_mfa.user
    shadow = make_shadow(api, victim)
    code = wrong_code(victim_with_mfa)
    statuses = []
    for _ in range(ROUNDS):
        account_id = victim.account_id if with_account else None
        guess = login(api, victim.email, PASSWORD, account_id, totp=code)
        statuses.append(guess.status_code)
        shadow_login(api, shadow, with_account=with_account)
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 5, statuses
    assert statuses[-1] == 429, statuses
    assert_locked(api, victim, totp=victim_with_mfa.code())


def test_wrong_current_passwords_count_on_the_users_own_lockout(api):
    """`POST /user/password` checks the password on the same per-user counter, which a
    shadow's logins do not clear either."""
    victim = make_user()
    token = api.login(victim)["access_token"]
    shadow = make_shadow(api, victim)
    for attempt in range(3):
        wrong = api.post(
            "/user/password",
            token=token,
            json={"current_password": f"not it {attempt}", "new_password": "whatever 1234 x"},
        )
        assert wrong.status_code == 401, wrong.text
        shadow_login(api, shadow, with_account=True)
    for attempt in range(2):
        wrong = login(api, victim.email, f"guess {attempt}", victim.account_id)
        assert wrong.status_code == 401, wrong.text
    assert_locked(api, victim)


def test_unknown_emails_are_still_throttled(api):
    email = f"nobody-{uuid.uuid4().hex[:10]}@example.com"
    statuses = [login(api, email, f"guess {n}").status_code for n in range(6)]
    assert statuses == [401] * 5 + [429]
    other = make_user()  # another user's success does not clear it
    api.login(other)
    assert login(api, email, "guess again").status_code == 429


def test_a_locked_user_does_not_lock_the_other_users_of_the_email(api):
    """The victim's own lockout leaves a shadow's login alone, and a shadow's lockout
    leaves the victim's alone."""
    victim = make_user()
    shadow = make_shadow(api, victim)
    for attempt in range(5):
        assert login(api, victim.email, f"guess {attempt}", victim.account_id).status_code == 401
    assert_locked(api, victim)
    shadow_login(api, shadow, with_account=False)
    # the victim's right password is still refused without account_id (the answer
    # cannot say whether it is right while the victim is locked)
    assert error_code(login(api, victim.email, PASSWORD)) == "throttled"
    other = make_user()
    shadow_of_other = make_shadow(api, other)
    for attempt in range(5):
        guess = login(api, other.email, f"guess {attempt}", shadow_of_other.account_id)
        assert guess.status_code == 401
    assert login(api, other.email, PASSWORD, other.account_id).status_code == 200
    assert login(api, other.email, PASSWORD).status_code == 200
