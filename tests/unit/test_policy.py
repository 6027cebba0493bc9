"""The policy module: every management decision, and docs/api.md's table of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gatekey import policy, scopes
from gatekey.errors import PermissionDenied, ValidationFailed
from gatekey.policy import RULES, Action, Request
from gatekey.principal import API_KEY, CLIENT_JWT, SESSION, Principal
from gatekey.records import User

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
DAY = 86_400


def caller(
    token_type=API_KEY, role="member", scopes_held=("*",), expires_at=None, is_bot=False
) -> Principal:
    return Principal(
        "u",
        "a",
        "e@example.com",
        role,
        is_bot,
        token_type,
        token_expires_at=expires_at,
        scopes=tuple(scopes_held),
    )


def user(role="member", is_bot=False) -> User:
    return User(user_id="t", account_id="a", role=role, created_at=0, is_bot=is_bot)


def refusal(principal, action, request=None):
    return policy.decide(principal, action, request)


def test_a_session_may_manage_its_own_things_without_naming_scopes():
    member = caller(SESSION)
    for action in (Action.MANAGE_KEYS, Action.MANAGE_SESSIONS, Action.CHANGE_OWN_SECURITY):
        assert refusal(member, action) is None
    for action in (
        Action.MANAGE_BOTS,
        Action.MANAGE_USERS,
        Action.RESET_MEMBER_MFA,
        Action.MANAGE_ACCOUNT_KEYS,
    ):
        assert isinstance(refusal(member, action), PermissionDenied)
    admin = caller(SESSION, role="admin")
    assert all(refusal(admin, action) is None for action in Action)


@pytest.mark.parametrize("token_type", [API_KEY, CLIENT_JWT])
def test_a_key_needs_each_management_scope_by_name(token_type):
    wildcard_admin = caller(token_type, role="admin", scopes_held=("*",))
    for action in Action:
        assert isinstance(refusal(wildcard_admin, action), PermissionDenied), action
    named = caller(token_type, role="admin", scopes_held=sorted(scopes.MANAGEMENT))
    allowed = {action for action in Action if refusal(named, action) is None}
    assert allowed == {
        Action.MANAGE_KEYS,
        Action.MANAGE_SESSIONS,
        Action.MANAGE_BOTS,
        Action.MANAGE_USERS,
        Action.READ_AUDIT,
        Action.MANAGE_ACCOUNT_KEYS,
    }


def test_admin_scopes_need_an_admin_now_and_a_bot_never_is_one():
    key = caller(scopes_held=(scopes.BOTS, scopes.USERS))
    assert isinstance(refusal(key, Action.MANAGE_BOTS), PermissionDenied)
    assert isinstance(refusal(key, Action.MANAGE_USERS), PermissionDenied)
    bot = caller(role="admin", is_bot=True, scopes_held=(scopes.USERS,))
    assert isinstance(refusal(bot, Action.MANAGE_USERS), PermissionDenied)


def test_person_only_actions_refuse_every_key_whatever_its_scopes():
    key = caller(role="admin", scopes_held=sorted(scopes.MANAGEMENT))
    assert isinstance(refusal(key, Action.CHANGE_OWN_SECURITY), PermissionDenied)
    assert isinstance(refusal(key, Action.RESET_MEMBER_MFA), PermissionDenied)


def test_no_escalation_of_scopes_or_expiry():
    key = caller(scopes_held=(scopes.KEYS, "orders:read"), expires_at=1_000 + DAY)
    grant = Request(grants=True, grant_scopes=("orders:read",), grant_expires_at=1_000)
    assert refusal(key, Action.MANAGE_KEYS, grant) is None
    wider = Request(grants=True, grant_scopes=("orders:write",), grant_expires_at=1_000)
    assert refusal(key, Action.MANAGE_KEYS, wider).attr == "scopes"
    forever = Request(grants=True, grant_scopes=("orders:read",), grant_expires_at=None)
    assert refusal(key, Action.MANAGE_KEYS, forever).attr == "expires_at"
    session = caller(SESSION)
    assert refusal(session, Action.MANAGE_KEYS, forever) is None


def test_a_credential_passes_on_its_own_expiry_when_none_is_asked():
    assert policy.grant_expiry(caller(expires_at=5_000), None) == 5_000
    assert policy.grant_expiry(caller(expires_at=5_000), 4_000) == 4_000
    assert policy.grant_expiry(caller(SESSION, expires_at=5_000), None) is None


def test_admin_power_comes_only_from_an_admins_session():
    admin_key = caller(role="admin", scopes_held=(scopes.USERS,))
    make_admin = Request(role="admin")
    assert refusal(admin_key, Action.MANAGE_USERS, make_admin).attr == "role"
    assert refusal(caller(SESSION, role="admin"), Action.MANAGE_USERS, make_admin) is None
    # a key with gatekey:users manages members only
    assert refusal(admin_key, Action.MANAGE_USERS, Request(target=user())) is None
    touches_admin = Request(target=user(role="admin"))
    assert isinstance(refusal(admin_key, Action.MANAGE_USERS, touches_admin), PermissionDenied)
    # a bot is never an admin, whoever asks
    bot_admin = Request(role="admin", target=user(is_bot=True))
    assert isinstance(
        refusal(caller(SESSION, role="admin"), Action.MANAGE_USERS, bot_admin), ValidationFailed
    )


def test_check_raises_the_refusal():
    with pytest.raises(PermissionDenied):
        policy.check(caller(scopes_held=()), Action.MANAGE_KEYS)
    policy.check(caller(SESSION), Action.MANAGE_KEYS)


def documented_rules() -> dict[str, tuple[str, str, str]]:
    """docs/api.md's permission table: action -> (scope, admin, session only)."""
    text = API_DOC.read_text()
    table = text.split("## Permissions", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        match = re.match(r"^\| `([a-z_]+)` \|[^|]*\| (.*?) \| (.*?) \| (.*?) \|$", line)
        if match:
            rows[match[1]] = (match[2], match[3], match[4])
    return rows


def test_the_documented_permission_table_is_the_policy():
    expected = {
        action.value: (
            f"`{rule.scope}`" if rule.scope else "-",
            "yes" if rule.admin else "-",
            "yes" if rule.session_only else "-",
        )
        for action, rule in RULES.items()
    }
    assert documented_rules() == expected


def test_an_admin_resets_only_someone_elses_mfa():
    admin = caller(SESSION, role="admin")
    other = Request(target=user())
    assert refusal(admin, Action.RESET_MEMBER_MFA, other) is None
    own = Request(target=User(user_id="u", account_id="a", role="admin", created_at=0))
    assert isinstance(refusal(admin, Action.RESET_MEMBER_MFA, own), PermissionDenied)
