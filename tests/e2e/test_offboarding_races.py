"""Contract 8b: changes of a user's state win every race (issue 18, finding 1).

Each test runs CLIENTS real HTTP clients in parallel against the local API, looping
through credential creations (keys, logins, a bot's spare keys) while an admin (or the
user) changes the owner: delete, disable, demote, password change, bot token
regeneration, bot deletion. After the change has returned, every credential the clients
obtained, before, during or after it, must authorize no more than the new state allows.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import Client
from tests.helpers import make_user

CLIENTS = 4
ROUNDS = 3  # attempts per client before the change, and as many after it
SCOPES = ["*", "gatekey:keys", "gatekey:users"]


def race(
    base_url: str, create: Callable[[Client], str | None], change: Callable[[], None]
) -> list[str]:
    """Loops `create` in CLIENTS threads (each with its own HTTP client) around `change`;
    returns every credential they obtained. The change starts once the clients made
    ROUNDS attempts each (so it races warm functions), and the loops go on for as many
    attempts again after it returned."""
    stop = threading.Event()
    obtained: list[str] = []
    tries = [0]
    lock = threading.Lock()

    def loop() -> None:
        client = Client(base_url)
        try:
            while not stop.is_set():
                credential = create(client)
                with lock:
                    tries[0] += 1
                    if credential is not None:
                        obtained.append(credential)
        finally:
            client.close()

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 60
        while tries[0] < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert tries[0] >= count, "the clients barely ran: the race was not exercised"

    with ThreadPoolExecutor(CLIENTS) as pool:
        loops = [pool.submit(loop) for _ in range(CLIENTS)]
        wait_for(CLIENTS * ROUNDS)
        change()
        wait_for(tries[0] + CLIENTS * ROUNDS)
        stop.set()
        for future in loops:
            future.result()
    assert obtained, "no credential was obtained before the change: nothing was raced"
    return obtained


def key_creator(token: str) -> Callable[[Client], str | None]:
    def create(client: Client) -> str | None:
        handle = f"r-{uuid.uuid4().hex[:10]}"
        response = client.post("/user/keys", token=token, json={"handle": handle, "scopes": SCOPES})
        return response.json()["token"] if response.status_code == 201 else None

    return create


def status(api, credential: str, path: str = "/") -> int:
    return api.get(path, headers={"Authorization": f"Bearer {credential}"}).status_code


@pytest.fixture
def admin_session(api):
    admin = make_user(admin=True)
    return admin, api.login(admin)["access_token"]


def member_of(api, admin) -> tuple[object, str]:
    member = make_user(account_id=admin.account_id)
    return member, api.login(member)["access_token"]


def test_keys_created_while_a_user_is_deleted_all_stop(api, local_api, admin_session):
    admin, admin_token = admin_session
    member, member_token = member_of(api, admin)

    def delete() -> None:
        response = api.delete(f"/account/users/{member.user_id}", token=admin_token)
        assert response.status_code == 204, response.text

    keys = race(local_api, key_creator(member_token), delete)
    assert [status(api, key) for key in keys] == [401] * len(keys)
    assert status(api, member_token) == 401


def test_credentials_created_while_a_user_is_disabled_all_stop(api, local_api, admin_session):
    admin, admin_token = admin_session
    member, member_token = member_of(api, admin)

    def create(client: Client) -> str | None:  # keys and logins, alternately
        if uuid.uuid4().int % 2:
            return key_creator(member_token)(client)
        response = client.post(
            "/auth/login", json={"email": member.email, "password": member.password}
        )
        return response.json()["access_token"] if response.status_code == 200 else None

    def disable() -> None:
        response = api.patch(
            f"/account/users/{member.user_id}", token=admin_token, json={"disabled": True}
        )
        assert response.status_code == 200, response.text

    credentials = race(local_api, create, disable)
    assert [status(api, credential) for credential in credentials] == [401] * len(credentials)
    listed = api.get("/account/users", token=admin_token).json()["users"]
    assert next(u for u in listed if u["id"] == member.user_id)["disabled"] is True


def test_keys_created_while_an_admin_is_demoted_lose_admin_power(api, local_api, admin_session):
    admin, admin_token = admin_session
    other = make_user(admin=True, account_id=admin.account_id)
    other_token = api.login(other)["access_token"]

    def demote() -> None:
        response = api.patch(
            f"/account/users/{other.user_id}", token=admin_token, json={"role": "member"}
        )
        assert response.status_code == 200, response.text

    keys = race(local_api, key_creator(other_token), demote)
    assert {status(api, key, "/account/users") for key in keys} == {403}
    roles = {api.get("/user", headers={"Authorization": key}).json()["role"] for key in keys}
    assert roles == {"member"}
    # and none of them can re-promote its user
    for key in keys[:5]:
        response = api.patch(
            f"/account/users/{other.user_id}",
            headers={"Authorization": key},
            json={"role": "admin"},
        )
        assert response.status_code == 403


def test_sessions_opened_during_a_password_change_all_end(api, local_api):
    user = make_user()
    own = api.login(user)["access_token"]
    new_password = f"fresh-{uuid.uuid4().hex}"

    def login(client: Client) -> str | None:
        response = client.post("/auth/login", json={"email": user.email, "password": user.password})
        return response.json()["access_token"] if response.status_code == 200 else None

    def change() -> None:
        response = api.post(
            "/user/password",
            token=own,
            json={"current_password": user.password, "new_password": new_password},
        )
        assert response.status_code == 200, response.text

    sessions = race(local_api, login, change)
    assert [status(api, session) for session in sessions] == [401] * len(sessions)
    assert status(api, own) == 200


@pytest.fixture
def bot(api, admin_session):
    _, admin_token = admin_session
    response = api.post(
        "/account/bots",
        token=admin_token,
        json={"name": "racer", "scopes": ["*", "gatekey:keys"]},
    )
    assert response.status_code == 201, response.text
    return admin_token, response.json()


def bot_key_creator(bot_token: str) -> Callable[[Client], str | None]:
    def create(client: Client) -> str | None:
        handle = f"b-{uuid.uuid4().hex[:10]}"
        response = client.post(
            "/user/keys",
            headers={"Authorization": bot_token},
            json={"handle": handle, "scopes": ["*"]},
        )
        return response.json()["token"] if response.status_code == 201 else None

    return create


def test_keys_a_bot_mints_during_its_token_regeneration_all_stop(api, local_api, bot):
    admin_token, created = bot
    regenerated: list[str] = []

    def regenerate() -> None:
        response = api.post(f"/account/bots/{created['bot']['id']}/token", token=admin_token)
        assert response.status_code == 200, response.text
        regenerated.append(response.json()["token"])

    keys = race(local_api, bot_key_creator(created["token"]), regenerate)
    assert [status(api, key) for key in keys] == [401] * len(keys)
    assert status(api, created["token"]) == 401
    assert status(api, regenerated[0]) == 200


def test_keys_a_bot_mints_during_its_deletion_all_stop(api, local_api, bot):
    admin_token, created = bot

    def delete() -> None:
        response = api.delete(f"/account/bots/{created['bot']['id']}", token=admin_token)
        assert response.status_code == 204, response.text

    keys = race(local_api, bot_key_creator(created["token"]), delete)
    assert [status(api, key) for key in keys] == [401] * len(keys)
