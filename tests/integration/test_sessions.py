import pytest

from gatekey.accounts.sessions import get_session_service
from gatekey.errors import InvalidCredentials, Throttled, ValidationFailed
from tests.helpers import PASSWORD, USER_AGENT, make_user


def test_login_opens_a_session_and_returns_both_tokens(store, user):
    result = get_session_service().login(user.email, PASSWORD, None, USER_AGENT)
    assert result["login"] is True
    assert result["token_type"] == "Bearer"
    assert result["account_id"] == user.account_id
    assert result["user"]["id"] == user.user_id
    assert "password_hash" not in result["user"]
    assert 0 < result["expires_in"] <= 3600
    assert result["access_token"] != result["refresh_token"]


def test_email_is_case_insensitive(store, user):
    result = get_session_service().login(user.email.upper(), PASSWORD, None, USER_AGENT)
    assert result["user"]["id"] == user.user_id


def test_wrong_password_and_unknown_email_fail_the_same_way(store, user):
    service = get_session_service()
    with pytest.raises(InvalidCredentials) as wrong:
        service.login(user.email, "not it", None, USER_AGENT)
    with pytest.raises(InvalidCredentials) as unknown:
        service.login("nobody@example.com", "not it", None, USER_AGENT)
    assert wrong.value.body() == unknown.value.body()


def test_user_of_several_accounts_must_name_one(store, user):
    second = make_user(email=user.email)
    service = get_session_service()
    with pytest.raises(ValidationFailed) as caught:
        service.login(user.email, PASSWORD, None, USER_AGENT)
    assert caught.value.entries[0]["attr"] == "account_id"
    chosen = service.login(user.email, PASSWORD, second.account_id, USER_AGENT)
    assert chosen["user"]["id"] == second.user_id


def test_five_failures_throttle_even_the_right_password(store, user):
    service = get_session_service()
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            service.login(user.email, "wrong", None, USER_AGENT)
    with pytest.raises(Throttled) as caught:
        service.login(user.email, PASSWORD, None, USER_AGENT)
    assert 55 <= caught.value.retry_after <= 60


def test_success_resets_the_failure_count(store, user):
    service = get_session_service()
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            service.login(user.email, "wrong", None, USER_AGENT)
    service.login(user.email, PASSWORD, None, USER_AGENT)
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            service.login(user.email, "wrong", None, USER_AGENT)
    assert service.login(user.email, PASSWORD, None, USER_AGENT)["login"] is True
