"""The account's key policy and every key in view (contract section 11), against
DynamoDB Local: the expiry cap, the idle rule copied onto every key (the authorizer
stays one read), the account key refs that list every key and bot token, their
backfill, and an admin revoking any key of the account but never another account's.
"""

from __future__ import annotations

from typing import Any

import pytest

from gatekey import clock
from gatekey.credentials.account_keys import get_account_key_service
from gatekey.credentials.bots import get_bot_service
from gatekey.credentials.keys import get_key_service
from gatekey.errors import InvalidToken, NotFound, OwnerChanged, PermissionDenied, ValidationFailed
from gatekey.principal import API_KEY
from gatekey.records import KeyPolicy
from gatekey.store import item_keys
from gatekey.tokens import metering
from gatekey.tokens.authorization import get_authorizer
from tests.helpers import USER_AGENT, make_user

DAY = 86_400


@pytest.fixture
def frozen(monkeypatch):
    moment = {"now": clock.now()}
    monkeypatch.setattr(clock, "now", lambda: moment["now"])
    return moment


@pytest.fixture
def admin(store):
    return make_user(admin=True)


def make_key(user: Any, handle: str, expires_at: int | None = None, **rules: Any) -> dict:
    return get_key_service().create(
        user.principal(),
        handle=handle,
        alias=None,
        key_type="token",
        expires_at=expires_at,
        rules=rules,
    )


def authorize(token: str):
    return get_authorizer().authorize(f"Bearer {token}", USER_AGENT, source_ip="10.0.0.1")


def set_policy(admin: Any, lifetime: int | None = None, idle: int | None = None) -> dict:
    return get_account_key_service().put_policy(
        admin.principal(), max_key_lifetime_days=lifetime, key_idle_days=idle
    )


def listed(admin: Any, **page: Any) -> dict:
    return get_account_key_service().list_keys(admin.principal(), **page)


def test_a_new_key_cannot_outlive_the_maximum_and_gets_it_when_it_asks_none(admin, frozen):
    assert set_policy(admin, lifetime=30) == {"max_key_lifetime_days": 30, "key_idle_days": None}
    now = frozen["now"]
    assert make_key(admin, "capped")["expires_at"] == clock.iso(now + 30 * DAY)
    assert make_key(admin, "shorter", now + DAY)["expires_at"] == clock.iso(now + DAY)
    with pytest.raises(ValidationFailed) as refused:
        make_key(admin, "longer", now + 30 * DAY + 1)
    assert refused.value.entries[0]["attr"] == "expires_at"
    bot = get_bot_service().create(admin.principal(), "nightly")["bot"]
    token = next(key for key in listed(admin)["keys"] if key["bot_token"])
    assert token["owner"] == {
        "user_id": bot["id"],
        "email": None,
        "name": "nightly",
        "is_bot": True,
    }
    assert token["bot_token"] is True
    assert token["expires_at"] == clock.iso(now + 30 * DAY)


def test_lowering_the_maximum_keeps_existing_keys_and_rotation_brings_one_under_it(admin, frozen):
    key = make_key(admin, "old")
    assert key["expires_at"] is None
    set_policy(admin, lifetime=7)
    assert get_key_service().get(admin.principal(), "old")["expires_at"] is None
    frozen["now"] += 60
    rotated = get_key_service().rotate(admin.principal(), "old", 3600)
    assert rotated["expires_at"] == clock.iso(frozen["now"] + 7 * DAY)
    assert authorize(rotated["token"]).key_handle == "old"


def test_an_unused_key_idles_out_at_the_authorizer_with_one_read(store, admin, frozen):
    used = make_key(admin, "used")
    unused = make_key(admin, "unused")
    set_policy(admin, idle=2)
    frozen["now"] += DAY
    metering.reset()
    before = store.calls
    authorize(used["token"])  # the one read, and the last-used write
    assert store.calls - before <= 2
    frozen["now"] += DAY + 60  # `unused` was made more than 2 days ago; `used` used 1 day ago
    assert authorize(used["token"]).key_handle == "used"
    with pytest.raises(InvalidToken):
        authorize(unused["token"])
    views = {key["handle"]: key for key in get_key_service().list(admin.principal())["keys"]}
    assert views["unused"]["status"] == "idle_expired"
    assert views["used"]["status"] == "active"
    set_policy(admin, idle=None)  # the rule lifted: the key authorizes again
    assert authorize(unused["token"]).key_handle == "unused"


def test_a_metered_key_remembered_by_a_container_still_idles_out(admin, frozen):
    key = make_key(admin, "metered", ratelimit={"limit": 100, "window_seconds": 60})
    authorize(key["token"])  # this container now remembers the key's image
    frozen["now"] += 3 * DAY
    set_policy(admin, idle=1)
    with pytest.raises(InvalidToken):
        authorize(key["token"])


def test_expired_and_disabled_statuses(admin, frozen):
    make_key(admin, "brief", frozen["now"] + 60)
    frozen["now"] += 61
    assert get_key_service().get(admin.principal(), "brief", with_secret=False)["status"] == (
        "expired"
    )


def test_a_creation_that_read_an_older_policy_fails_and_is_decided_again(store, admin):
    set_policy(admin, idle=30)
    stale = KeyPolicy(key_idle_days=None, policy_version=0)
    user = store.get_user(admin.user_id)
    from gatekey.credentials.key_policy import with_policy
    from gatekey.credentials.keys import new_key
    from gatekey.tokens.keyring import get_keyring

    key = with_policy(
        new_key(user, get_keyring(), handle="racer", alias=None, key_type="token", expires_at=None),
        stale,
    )
    with pytest.raises(OwnerChanged):
        store.create_key(key, owner=user)
    assert store.get_key(key.key_id) is None
    assert make_key(admin, "racer")["handle"] == "racer"  # the service reads again
    assert store.get_key_by_handle(admin.user_id, "racer").idle_days == 30


def test_every_key_of_the_account_is_listed_in_pages_and_nothing_of_another(store, admin):
    member = make_user(account_id=admin.account_id)
    stranger = make_user(admin=True)
    make_key(stranger, "theirs")
    for i in range(3):
        make_key(admin, f"a{i}")
        make_key(member, f"m{i}")
    get_bot_service().create(admin.principal(), "robot")
    first = listed(admin, limit="4")
    assert len(first["keys"]) == 4 and first["cursor"]
    before = store.calls
    second = listed(admin, limit="4", cursor=first["cursor"])
    assert store.calls - before == 2  # one Query of refs, one BatchGetItem of the keys
    handles = [key["handle"] for key in first["keys"] + second["keys"]]
    assert sorted(handles) == sorted(["a0", "a1", "a2", "m0", "m1", "m2", "bot-token"])
    assert second["cursor"] is None
    member_key = next(k for k in first["keys"] + second["keys"] if k["handle"] == "m0")
    assert member_key["owner"]["email"] == member.email
    assert "token" not in member_key and member_key["status"] == "active"
    with pytest.raises(ValidationFailed):  # a cursor never pages into another account
        listed(stranger, cursor=first["cursor"])


def test_every_delete_path_takes_the_ref_with_the_key(store, admin):
    member = make_user(account_id=admin.account_id)
    make_key(member, "one")
    make_key(member, "two")
    bot = get_bot_service().create(admin.principal(), "robot")["bot"]
    get_bot_service().regenerate_token(admin.principal(), bot["id"])
    get_key_service().delete(member.principal(), "one")
    refs, _ = store.account_key_refs(admin.account_id)
    assert len(refs) == 2  # "two" and the bot's new token
    from gatekey.accounts.user_admin import get_user_admin_service

    get_user_admin_service().delete(admin.principal(), member.user_id)
    get_bot_service().delete(admin.principal(), bot["id"])
    assert store.account_key_refs(admin.account_id) == ([], None)


def test_an_admin_revokes_any_key_of_the_account_and_none_of_another(store, admin):
    member = make_user(account_id=admin.account_id)
    stranger = make_user(admin=True)
    theirs = make_key(stranger, "theirs")
    mine = make_key(member, "mine")
    key_id = next(k["key_id"] for k in listed(admin)["keys"] if k["handle"] == "mine")
    other_id = listed(stranger)["keys"][0]["key_id"]
    service = get_account_key_service()
    with pytest.raises(NotFound):
        service.delete_key(admin.principal(), other_id)
    assert authorize(theirs["token"]).key_handle == "theirs"
    service.delete_key(admin.principal(), key_id)
    with pytest.raises(InvalidToken):
        authorize(mine["token"])
    event = store.list_audit_events(admin.account_id, limit=1)[0][0]
    assert (event["action"], event["target"], event["actor"]["user_id"]) == (
        "key.deleted",
        {"type": "key", "id": key_id},
        admin.user_id,
    )
    with pytest.raises(NotFound):
        service.delete_key(admin.principal(), key_id)


def test_a_users_key_revokes_members_keys_only(admin):
    member = make_user(account_id=admin.account_id)
    make_key(member, "member-key")
    make_key(admin, "admin-key")
    ids = {k["handle"]: k["key_id"] for k in listed(admin)["keys"]}
    users_key = admin.principal(token_type=API_KEY, scopes=("gatekey:users",), key_handle="x")
    service = get_account_key_service()
    with pytest.raises(PermissionDenied):
        service.delete_key(users_key, ids["admin-key"])
    service.delete_key(users_key, ids["member-key"])
    with pytest.raises(PermissionDenied):
        service.list_keys(member.principal())


def test_keys_made_before_refs_get_one_once_and_then_follow_the_policy(store, admin, frozen):
    old = make_key(admin, "old")
    key = store.get_key_by_handle(admin.user_id, "old")
    store._delete(item_keys.account_key_ref(admin.account_id, key.created_at, key.key_id))
    store._delete_item(
        TableName=store.table,
        Key=item_keys.wire(item_keys.account(admin.account_id)),
    )  # an account item without the `key_refs` mark, as before refs existed
    store.put_account(admin.account_id, "Test Co")
    assert store.account_key_refs(admin.account_id) == ([], None)
    assert [k["handle"] for k in listed(admin)["keys"]] == ["old"]
    assert store.get_key_policy(admin.account_id).key_refs
    set_policy(admin, idle=1)
    frozen["now"] += 2 * DAY
    with pytest.raises(InvalidToken):
        authorize(old["token"])
