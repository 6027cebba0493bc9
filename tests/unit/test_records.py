"""The typed records read the store's items and give back the same attributes."""

from decimal import Decimal

import pytest

from gatekey.principal import API_KEY, CLIENT_JWT, SESSION, Principal
from gatekey.records import ApiKey, Session, TokenType, User

NOW = 1_700_000_000

SESSION_ITEM = {
    "pk": "SESSION#s",
    "sk": "SESSION",
    "gsi1pk": "USER#u#SESSIONS",
    "gsi1sk": f"{NOW:012d}#s",
    "session_id": "s",
    "user_id": "u",
    "account_id": "a",
    "email": "someone@example.com",
    "role": "member",
    "is_bot": False,
    "disabled": False,
    "user_agent": "agent/1.0",
    "created_at": NOW,
    "last_used_at": NOW + 5,
    "max_expires_at": NOW + 3600,
    "ttl": NOW + 600,
    "credentials_version": 2,
}
KEY_ITEM = {
    "pk": "APIKEY#k",
    "sk": "KEY",
    "key_id": "k",
    "user_id": "u",
    "account_id": "a",
    "email": "",
    "role": "admin",
    "is_bot": True,
    "disabled": False,
    "handle": "ci",
    "alias": "CI",
    "type": "jwt",
    "created_at": NOW,
    "version": 3,
    "secret_kid": "k2",
    "scopes": ["gatekey:keys"],
    "previous_version": 2,
    "previous_secret_kid": "k1",
    "previous_valid_until": NOW + 60,
    "credentials_version": 0,
    "policy_version": 0,
}


def without_keys(item):
    return {k: v for k, v in item.items() if k not in ("pk", "sk", "gsi1pk", "gsi1sk")}


def present(item):
    return {k: v for k, v in item.items() if v is not None}


def test_a_session_item_round_trips_under_the_same_attribute_names():
    session = Session.from_item(SESSION_ITEM)
    assert (session.max_expires_at, session.user_agent) == (NOW + 3600, "agent/1.0")
    assert present(session.to_item()) == without_keys(SESSION_ITEM)


def test_a_key_item_round_trips_and_its_scopes_are_a_tuple():
    key = ApiKey.from_item(KEY_ITEM)
    assert key.scopes == ("gatekey:keys",)
    assert present(key.to_item()) == without_keys(KEY_ITEM)


def test_a_key_idles_out_after_its_idle_days_since_last_use_or_creation():
    day = 86_400
    key = ApiKey.from_item({**KEY_ITEM, "idle_days": 2, "policy_version": 3})
    assert (key.idle_days, key.policy_version) == (2, 3)
    assert not key.is_idle(NOW + 2 * day - 1)
    assert key.is_idle(NOW + 2 * day)  # never used: counted from its creation
    used = ApiKey.from_item({**KEY_ITEM, "idle_days": 2, "last_used_at": NOW + day})
    assert not used.is_idle(NOW + 2 * day)
    assert used.is_idle(NOW + 3 * day)
    assert not ApiKey.from_item(KEY_ITEM).is_idle(NOW + 10_000 * day)  # no idle rule


def test_a_rotated_keys_previous_version_counts_only_during_its_grace():
    key = ApiKey.from_item(KEY_ITEM)
    assert key.valid_versions(NOW) == [(3, "k2"), (2, "k1")]
    assert key.valid_versions(NOW + 60) == [(3, "k2")]


def test_a_key_expires_at_its_expiry_and_a_key_without_one_never_does():
    assert ApiKey.from_item({**KEY_ITEM, "expires_at": NOW}).is_expired(NOW)
    assert not ApiKey.from_item({**KEY_ITEM, "expires_at": NOW + 1}).is_expired(NOW)
    assert not ApiKey.from_item(KEY_ITEM).is_expired(10**12)


def test_an_unknown_key_type_is_refused():
    with pytest.raises(ValueError):
        ApiKey.from_item({**KEY_ITEM, "type": "password"})


def test_absent_flags_read_as_false():
    item = {k: v for k, v in SESSION_ITEM.items() if k not in ("is_bot", "disabled")}
    session = Session.from_item(item)
    assert (session.is_bot, session.disabled, session.revoked_until) == (False, False, None)


def test_a_user_item_keeps_its_mfa_attributes_and_ignores_its_keys():
    item = {
        "pk": "USER#u",
        "sk": "USER",
        "user_id": "u",
        "account_id": "a",
        "email": "someone@example.com",
        "role": "member",
        "created_at": NOW,
        "mfa_enabled": True,
        "recovery_codes": {"h": 1},
    }
    user = User.from_item(item)
    assert user.recovery_codes == {"h": 1} and not user.is_bot
    assert present(user.to_item()) == {
        **without_keys(item),
        "is_bot": False,
        "disabled": False,
        "credentials_version": 0,
    }


def test_a_user_items_numbers_read_as_ints_whatever_number_type_holds_them():
    item = {
        "user_id": "u",
        "account_id": "a",
        "role": "member",
        "created_at": Decimal(NOW),
        "password_version": Decimal(2),
        "last_login_at": Decimal(NOW + 1),
        "totp_last_step": Decimal(57),
        "recovery_codes": {"h": Decimal(1)},
    }
    user = User.from_item(item)
    assert (user.created_at, user.password_version, user.last_login_at) == (NOW, 2, NOW + 1)
    assert user.totp_last_step == 57 and user.recovery_codes == {"h": 1}
    numbers = [user.created_at, user.password_version, user.last_login_at, user.totp_last_step]
    assert all(type(n) is int for n in [*numbers, *user.recovery_codes.values()])


def test_a_user_without_password_or_mfa_reads_none_and_false():
    user = User.from_item({"user_id": "u", "account_id": "a", "role": "admin", "created_at": NOW})
    assert (user.email, user.password_hash, user.password_version) == (None, None, None)
    assert (user.is_bot, user.disabled, user.mfa_enabled, user.recovery_codes) == (
        False,
        False,
        False,
        None,
    )


def test_a_bot_keeps_its_name():
    item = {
        "pk": "USER#b",
        "sk": "USER",
        "gsi1pk": "ACCOUNT#a#USERS",
        "gsi1sk": "USER#b",
        "user_id": "b",
        "account_id": "a",
        "name": "nightly",
        "role": "member",
        "is_bot": True,
        "created_at": NOW,
    }
    bot = User.from_item(item)
    assert (bot.name, bot.is_bot, bot.email) == ("nightly", True, None)
    assert present(bot.to_item()) == {
        **without_keys(item),
        "disabled": False,
        "mfa_enabled": False,
        "credentials_version": 0,
    }


def test_token_kinds_are_the_principals_constants_and_plain_strings():
    assert tuple(TokenType) == (SESSION, API_KEY, CLIENT_JWT)
    assert SESSION == "session" and API_KEY == "api_key" and CLIENT_JWT == "client_jwt"
    principal = Principal("u", "a", "e", "member", False, API_KEY)
    context = principal.to_context()
    assert context["token_type"] == "api_key"
    assert Principal.from_context(context).token_type is TokenType.API_KEY
