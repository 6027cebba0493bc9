"""Contract section 11 through the local API: the account's key policy, every key in
view, an admin revoking any key of the account, never another account's.

The race: while HTTP clients loop creating keys, an admin sets the idle rule; once the
PUT has returned, no key of the account (listed the old way too, through each user's
handles, so a key without a ref would show) lacks the new rule, and every key the
clients obtained is listed by `GET /account/keys`.
"""

from __future__ import annotations

import uuid

from gatekey import clock
from gatekey.store import get_store, item_keys
from tests.e2e.conftest import error_code
from tests.e2e.test_offboarding_races import key_creator, race
from tests.helpers import make_user

DAY = 86_400


def session(api, user) -> str:
    return api.login(user)["access_token"]


def put_policy(api, token: str, **policy) -> dict:
    response = api.request("PUT", "/account/policy", token=token, json=policy)
    assert response.status_code == 200, response.text
    return response.json()


def all_keys(api, token: str) -> list[dict]:
    keys, cursor = [], None
    while True:
        query = "?limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(f"/account/keys{query}", token=token)
        assert page.status_code == 200, page.text
        keys += page.json()["keys"]
        cursor = page.json()["cursor"]
        if cursor is None:
            return keys


def test_policy_caps_new_keys_and_idle_keys_stop_authorizing(api):
    admin = make_user(admin=True)
    token = session(api, admin)
    assert api.get("/account/policy", token=token).json() == {
        "max_key_lifetime_days": None,
        "key_idle_days": None,
    }
    key = api.post("/user/keys", token=token, json={"handle": "early"}).json()
    policy = put_policy(api, token, max_key_lifetime_days=30, key_idle_days=5)
    assert policy == {"max_key_lifetime_days": 30, "key_idle_days": 5}
    too_long = api.post("/user/keys", token=token, json={"handle": "x", "expires_in_days": 31})
    assert too_long.status_code == 400
    assert too_long.json()["errors"][0]["attr"] == "expires_at"
    capped = api.post("/user/keys", token=token, json={"handle": "capped"})
    assert capped.status_code == 201 and capped.json()["expires_at"] is not None
    assert api.get("/user/keys/early", token=token).json()["expires_at"] is None  # kept
    assert api.get("/", headers={"Authorization": f"Bearer {key['token']}"}).status_code == 200
    # unused for 6 days (as if made then): the authorizer refuses it, the views say why
    store = get_store()
    stored = store.get_key_by_handle(admin.user_id, "capped")
    store._update_item(
        TableName=store.table,
        Key=item_keys.wire(item_keys.api_key(stored.key_id)),
        UpdateExpression="SET created_at = :then",
        ExpressionAttributeValues={":then": {"N": str(clock.now() - 6 * DAY)}},
    )
    idle = api.get("/", headers={"Authorization": f"Bearer {capped.json()['token']}"})
    assert idle.status_code == 401 and error_code(idle) == "invalid_token"
    assert api.get("/user/keys/capped", token=token).json()["status"] == "idle_expired"
    statuses = {k["handle"]: k["status"] for k in all_keys(api, token)}
    assert statuses == {"early": "active", "capped": "idle_expired"}
    bad = api.request("PUT", "/account/policy", token=token, json={"key_idle_days": 0})
    assert bad.status_code == 400


def test_a_policy_change_racing_key_creations_reaches_every_key(local_api, api):
    admin = make_user(admin=True)
    token = session(api, admin)
    members = [make_user(account_id=admin.account_id) for _ in range(2)]
    tokens = [session(api, member) for member in members]
    creators = [key_creator(t) for t in tokens]
    turn = iter(range(10**6))

    def create(client):
        return creators[next(turn) % len(creators)](client)

    obtained = race(local_api, create, lambda: put_policy(api, token, key_idle_days=9))
    store = get_store()
    final = store.get_key_policy(admin.account_id)
    keys = [key for user in [admin, *members] for key in store.list_keys(user.user_id)]
    assert len(keys) >= len(obtained)
    lacking = [key.handle for key in keys if key.idle_days != 9]
    assert not lacking, f"keys without the new idle rule: {lacking}"
    assert all(key.policy_version == final.policy_version for key in keys)
    listed = {k["key_id"] for k in all_keys(api, token)}
    assert listed == {key.key_id for key in keys}  # every key has its ref


def test_an_admin_lists_and_revokes_keys_of_the_account_only(api):
    admin = make_user(admin=True)
    token = session(api, admin)
    member = make_user(account_id=admin.account_id)
    member_token = session(api, member)
    made = api.post("/user/keys", token=member_token, json={"handle": "m1"}).json()
    bot = api.post("/account/bots", token=token, json={"name": "nightly"}).json()
    stranger = make_user(admin=True)
    stranger_token = session(api, stranger)
    theirs = api.post("/user/keys", token=stranger_token, json={"handle": "s1"}).json()
    their_id = all_keys(api, stranger_token)[0]["key_id"]

    keys = {k["handle"]: k for k in all_keys(api, token)}
    assert set(keys) == {"m1", "bot-token"}
    assert keys["m1"]["owner"]["email"] == member.email
    assert keys["bot-token"]["owner"]["name"] == "nightly" and keys["bot-token"]["bot_token"]
    assert bot["bot"]["status"] == "active"
    assert api.delete(f"/account/keys/{their_id}", token=token).status_code == 404
    assert api.delete(f"/account/keys/{uuid.uuid4()}", token=token).status_code == 404
    assert api.get("/", headers={"Authorization": f"Bearer {theirs['token']}"}).status_code == 200
    assert api.get("/account/keys", token=member_token).status_code == 403  # a member
    foreign = api.get(f"/account/keys?cursor={'x' * 12}", token=token)
    assert foreign.status_code == 400

    deleted = api.delete(f"/account/keys/{keys['m1']['key_id']}", token=token)
    assert deleted.status_code == 204
    assert api.get("/", headers={"Authorization": f"Bearer {made['token']}"}).status_code == 401
    events = api.get("/account/audit?action=key.deleted", token=token).json()["events"]
    assert events[0]["actor"]["user_id"] == admin.user_id
    assert events[0]["target"] == {"type": "key", "id": keys["m1"]["key_id"]}


def test_a_users_key_revokes_members_keys_but_not_an_admins(api):
    admin = make_user(admin=True)
    token = session(api, admin)
    users_key = api.post(
        "/user/keys", token=token, json={"handle": "ops", "scopes": ["gatekey:users"]}
    ).json()["token"]
    member = make_user(account_id=admin.account_id)
    api.post("/user/keys", token=session(api, member), json={"handle": "m"})
    keys = {k["handle"]: k["key_id"] for k in all_keys(api, users_key)}
    refused = api.delete(f"/account/keys/{keys['ops']}", token=users_key)
    assert refused.status_code == 403 and error_code(refused) == "permission_denied"
    assert api.delete(f"/account/keys/{keys['m']}", token=users_key).status_code == 204
    policy = api.request("PUT", "/account/policy", token=users_key, json={"key_idle_days": 30})
    assert policy.status_code == 200
