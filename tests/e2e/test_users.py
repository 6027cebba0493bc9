"""User administration by account admins (CONTRACT section 8), through the local API
with the authorizer cache off, on DynamoDB Local."""

from __future__ import annotations

import email
import email.policy
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest

from gatekey.store import get_store
from tests.e2e.conftest import error_code
from tests.helpers import PASSWORD, make_user

USER_FIELDS = {"id", "email", "role", "is_bot", "disabled", "mfa", "created_at", "last_login_at"}
ROUTES = (
    ("get", "/account/users"),
    ("post", "/account/users"),
    ("patch", "/account/users/{id}"),
    ("delete", "/account/users/{id}"),
    ("get", "/account/audit"),
)


def create_key(api, token, **body):
    body.setdefault("handle", f"k-{uuid.uuid4().hex[:8]}")
    response = api.post("/user/keys", token=token, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def client_jwt(key: dict) -> str:
    payload = {"exp": int(time.time()) + 300}
    return jwt.encode(payload, key["secret"], algorithm="HS256", headers={"kid": key["kid"]})


class Outbox:
    """The local run's messages (.eml files), as a user's mailbox would show them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def message_to(self, address: str) -> str:
        for path in sorted(self.directory.glob("*.eml"), reverse=True):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == address:
                return str(message.get_body(preferencelist=("plain",)).get_content())
        raise AssertionError(f"no message to {address} in {self.directory}")

    @staticmethod
    def token_in(text: str) -> str:
        found = re.search(r"#reset=([A-Za-z0-9_-]+)", text)
        assert found, text
        return found.group(1)


@pytest.fixture
def outbox(api) -> Outbox:
    from gatekey.settings import get_settings

    return Outbox(Path(get_settings().outbox_dir))


def new_email() -> str:
    return f"new-{uuid.uuid4().hex[:12]}@example.com"


def admin_token(api, admin) -> str:
    return api.login(admin)["access_token"]


def enabled_admins(account_id: str) -> list[str]:
    users = get_store().list_account_users(account_id)
    return [user.user_id for user in users if user.role == "admin" and not user.disabled]


# Listing and creating


def test_admin_lists_the_users_of_their_account_only(api, admin):
    member = make_user(account_id=admin.account_id)
    make_user()  # another account
    response = api.get("/account/users", token=admin_token(api, admin))
    assert response.status_code == 200, response.text
    users = response.json()["users"]
    assert {user["id"] for user in users} == {admin.user_id, member.user_id}
    for user in users:
        assert set(user) == USER_FIELDS
    by_id = {user["id"]: user for user in users}
    assert by_id[admin.user_id]["role"] == "admin"
    assert by_id[member.user_id] == {
        "id": member.user_id,
        "email": member.email,
        "role": "member",
        "is_bot": False,
        "disabled": False,
        "mfa": False,
        "created_at": by_id[member.user_id]["created_at"],
        "last_login_at": None,
    }
    assert by_id[member.user_id]["created_at"].endswith("Z")


def test_bots_are_listed_as_users(api, admin):
    token = admin_token(api, admin)
    bot = api.post("/account/bots", token=token, json={"name": "nightly"}).json()["bot"]
    users = {user["id"]: user for user in api.get("/account/users", token=token).json()["users"]}
    assert users[bot["id"]]["is_bot"] is True
    assert users[bot["id"]]["email"] is None


def test_admin_creates_a_user_with_a_password_who_can_log_in(api, admin):
    email = new_email()
    response = api.post(
        "/account/users",
        token=admin_token(api, admin),
        json={"email": email.upper(), "password": PASSWORD, "role": "admin"},
    )
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert set(user) == USER_FIELDS
    assert user["email"] == email
    assert user["role"] == "admin"
    assert user["disabled"] is False
    login = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert login.json()["account_id"] == admin.account_id


def test_created_user_defaults_to_member(api, admin):
    response = api.post(
        "/account/users",
        token=admin_token(api, admin),
        json={"email": new_email(), "password": PASSWORD},
    )
    assert response.status_code == 201, response.text
    assert response.json()["user"]["role"] == "member"


def test_created_user_without_password_gets_a_set_password_message(api, admin, outbox):
    email = new_email()
    response = api.post("/account/users", token=admin_token(api, admin), json={"email": email})
    assert response.status_code == 201, response.text
    refused = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert refused.status_code == 401
    message = outbox.message_to(email)
    assert "#reset=" in message
    reset_token = outbox.token_in(message)
    confirmed = api.post(
        "/auth/password-reset/confirm", json={"token": reset_token, "new_password": PASSWORD}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert api.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200


def test_weak_password_is_refused_on_create(api, admin):
    email = new_email()
    for password in ("short", "password123", email.split("@")[0] + "-and-more"):
        response = api.post(
            "/account/users",
            token=admin_token(api, admin),
            json={"email": email, "password": password},
        )
        assert response.status_code == 400, (password, response.text)
        assert response.json()["type"] == "validation_error"
        assert response.json()["errors"][0]["attr"] == "password"
    assert get_store().find_user_ids_by_email(email) == {}


def test_email_already_in_the_account_is_taken(api, admin):
    member = make_user(account_id=admin.account_id)
    response = api.post(
        "/account/users",
        token=admin_token(api, admin),
        json={"email": member.email, "password": PASSWORD},
    )
    assert response.status_code == 409
    assert error_code(response) == "email_taken"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "a@example.com", "role": "owner"},
        {"email": "a@example.com", "password": PASSWORD, "admin": True},
        {"email": "a@example.com", "password": ""},
    ],
)
def test_bad_create_bodies_are_validation_errors(api, admin, body):
    response = api.post("/account/users", token=admin_token(api, admin), json=body)
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "validation_error"


# Who may administer


def test_members_may_not_administer_users(api, user, token):
    for method, path in ROUTES:
        response = getattr(api, method)(
            path.format(id=user.user_id), token=token, json={"role": "admin"}
        )
        assert response.status_code == 403, (method, path, response.text)
        assert error_code(response) == "permission_denied"
    assert get_store().get_user(user.user_id).role == "member"


def test_credentials_without_the_users_scope_are_refused(api, admin):
    token = admin_token(api, admin)
    wide = create_key(api, token, scopes=["*", "gatekey:keys", "gatekey:bots"])
    jwt_key = create_key(api, token, type="jwt", scopes=["*"])
    for credential in (wide["token"], client_jwt(jwt_key)):
        for method, path in ROUTES:
            response = getattr(api, method)(
                path.format(id=admin.user_id),
                headers={"Authorization": credential},
                json={"role": "member"},
            )
            assert response.status_code == 403, (method, path, response.text)
            assert error_code(response) == "permission_denied"


def test_an_admin_key_with_the_users_scope_may_administer(api, admin):
    key = create_key(api, admin_token(api, admin), scopes=["gatekey:users"])
    response = api.get("/account/users", headers={"Authorization": key["token"]})
    assert response.status_code == 200, response.text


def test_users_of_other_accounts_are_not_found(api, admin):
    stranger = make_user(admin=True)
    token = admin_token(api, admin)
    for user_id in (stranger.user_id, str(uuid.uuid4())):
        patched = api.patch(f"/account/users/{user_id}", token=token, json={"disabled": True})
        assert patched.status_code == 404
        assert error_code(patched) == "not_found"
        deleted = api.delete(f"/account/users/{user_id}", token=token)
        assert deleted.status_code == 404
    assert not get_store().get_user(stranger.user_id).disabled


# Role and disabled


@pytest.mark.parametrize(
    "body",
    [{}, {"role": "owner"}, {"disabled": "yes"}, {"disabled": 1}, {"role": "admin", "x": 1}],
)
def test_bad_patch_bodies_are_validation_errors(api, admin, body):
    member = make_user(account_id=admin.account_id)
    response = api.patch(
        f"/account/users/{member.user_id}", token=admin_token(api, admin), json=body
    )
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "validation_error"


def test_role_change_applies_to_every_credential_of_the_user(api, admin):
    member = make_user(account_id=admin.account_id)
    session = api.login(member)["access_token"]
    key = create_key(api, session, scopes=["gatekey:bots"])
    assert api.get("/account/bots", headers={"Authorization": key["token"]}).status_code == 403
    token = admin_token(api, admin)
    promoted = api.patch(f"/account/users/{member.user_id}", token=token, json={"role": "admin"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["user"]["role"] == "admin"
    assert api.get("/account/bots", headers={"Authorization": key["token"]}).status_code == 200
    assert api.get("/user", token=session).json()["role"] == "admin"
    demoted = api.patch(f"/account/users/{member.user_id}", token=token, json={"role": "member"})
    assert demoted.status_code == 200
    assert api.get("/account/bots", headers={"Authorization": key["token"]}).status_code == 403
    assert api.get("/account/users", token=session).status_code == 403


def test_disabling_refuses_session_key_and_client_jwt_at_once_and_enabling_restores(api, admin):
    """The issue's acceptance test: with the cache off, the very next call is refused."""
    member = make_user(account_id=admin.account_id)
    login = api.login(member)
    session, refresh = login["access_token"], login["refresh_token"]
    key = create_key(api, session)
    signed = client_jwt(create_key(api, session, type="jwt"))
    credentials = (f"Bearer {session}", key["token"], signed)
    for credential in credentials:
        assert api.get("/", headers={"Authorization": credential}).status_code == 200
    token = admin_token(api, admin)

    disabled = api.patch(f"/account/users/{member.user_id}", token=token, json={"disabled": True})
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["user"]["disabled"] is True
    for credential in credentials:
        response = api.get("/", headers={"Authorization": credential})
        assert response.status_code == 401, credential
        assert error_code(response) == "invalid_token"
    refreshed = api.get("/auth/refresh-token", headers={"Authorization": f"Bearer {refresh}"})
    assert refreshed.status_code == 401
    assert (
        api.post("/auth/login", json={"email": member.email, "password": PASSWORD}).status_code
        == 401
    )

    enabled = api.patch(f"/account/users/{member.user_id}", token=token, json={"disabled": False})
    assert enabled.status_code == 200
    assert enabled.json()["user"]["disabled"] is False
    for credential in credentials:
        assert api.get("/", headers={"Authorization": credential}).status_code == 200


def test_an_unchanged_patch_writes_nothing(api, admin):
    member = make_user(account_id=admin.account_id)
    token = admin_token(api, admin)
    response = api.patch(f"/account/users/{member.user_id}", token=token, json={"role": "member"})
    assert response.status_code == 200
    events = api.get(
        "/account/audit", token=token, params={"action": "user.updated", "user_id": member.user_id}
    ).json()["events"]
    assert events == []


def test_delete_removes_the_user_their_sessions_and_keys(api, admin):
    member = make_user(account_id=admin.account_id)
    session = api.login(member)["access_token"]
    key = create_key(api, session)
    signed = client_jwt(create_key(api, session, type="jwt"))
    response = api.delete(f"/account/users/{member.user_id}", token=admin_token(api, admin))
    assert response.status_code == 204, response.text
    for credential in (f"Bearer {session}", key["token"], signed):
        assert api.get("/", headers={"Authorization": credential}).status_code == 401
    store = get_store()
    assert store.get_user(member.user_id) is None
    assert store.list_sessions(member.user_id) == []
    assert store.list_keys(member.user_id) == []
    assert store.find_user_ids_by_email(member.email) == {}
    login = api.post("/auth/login", json={"email": member.email, "password": PASSWORD})
    assert login.status_code == 401
    again = api.delete(f"/account/users/{member.user_id}", token=admin_token(api, admin))
    assert again.status_code == 404


# The last-admin rule


def test_the_last_enabled_admin_cannot_be_demoted_disabled_or_deleted(api, admin):
    token = admin_token(api, admin)
    path = f"/account/users/{admin.user_id}"
    for method, body in (
        ("patch", {"role": "member"}),
        ("patch", {"disabled": True}),
        ("delete", None),
    ):
        response = getattr(api, method)(path, token=token, json=body)
        assert response.status_code == 409, (method, body, response.text)
        assert error_code(response) == "conflict"
    assert enabled_admins(admin.account_id) == [admin.user_id]


def test_a_disabled_admin_does_not_count_as_another_admin(api, admin):
    other = make_user(account_id=admin.account_id, admin=True)
    token = admin_token(api, admin)
    assert (
        api.patch(
            f"/account/users/{other.user_id}", token=token, json={"disabled": True}
        ).status_code
        == 200
    )
    response = api.patch(f"/account/users/{admin.user_id}", token=token, json={"role": "member"})
    assert response.status_code == 409
    # The disabled admin may go: it is not an enabled admin.
    assert api.delete(f"/account/users/{other.user_id}", token=token).status_code == 204


def test_with_two_admins_one_may_step_down(api, admin):
    other = make_user(account_id=admin.account_id, admin=True)
    token = admin_token(api, admin)
    response = api.patch(f"/account/users/{admin.user_id}", token=token, json={"role": "member"})
    assert response.status_code == 200, response.text
    assert enabled_admins(admin.account_id) == [other.user_id]
    # The step-down applies to the very session that made it.
    assert api.get("/account/users", token=token).status_code == 403


def test_two_admins_demoting_each_other_at_once_leave_one_admin(api):
    """The race the last-admin rule must survive, through the API: at most one succeeds.

    The local API runs one invocation of a function at a time, so these requests do not
    interleave inside the handler; tests/integration/test_user_admin.py forces the
    worst interleaving (both reads before either write) against the same store.
    """
    for action in ({"role": "member"}, {"disabled": True}, None):
        first = make_user(admin=True)
        second = make_user(account_id=first.account_id, admin=True)
        tokens = [api.login(first)["access_token"], api.login(second)["access_token"]]
        targets = [second.user_id, first.user_id]

        def act(index: int, action=action, tokens=tokens, targets=targets) -> int:
            path = f"/account/users/{targets[index]}"
            if action is None:
                return api.delete(path, token=tokens[index]).status_code
            return api.patch(path, token=tokens[index], json=action).status_code

        with ThreadPoolExecutor(max_workers=2) as pool:
            statuses = list(pool.map(act, range(2)))
        successes = [status for status in statuses if status in (200, 204)]
        assert len(successes) <= 1, (action, statuses)
        assert set(statuses) <= {200, 204, 401, 403, 404, 409}, statuses
        assert len(enabled_admins(first.account_id)) >= 1, (action, statuses)
