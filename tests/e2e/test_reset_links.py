"""Links in messages and reset requests under attack (CONTRACT section 8b): the link
comes from configuration whatever headers the request carries, a user is sent at most 3
reset messages per 15 minutes, and a disabled user cannot spend a link."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from gatekey import clock
from gatekey.accounts import reset
from gatekey.store import get_store
from gatekey_local.function_worker import FrozenClock
from tests.e2e.conftest import Client
from tests.e2e.test_passwords import confirm, messages_to, token_in
from tests.helpers import USER_AGENT, make_user

POISONS = {
    "Host": "evil.example",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https://evil.example/steal?x=",
    "Forwarded": "for=203.0.113.7;host=evil.example;proto=https",
}


def link_of(message) -> str:
    token = token_in(message)
    [line] = [line for line in message.get_content().splitlines() if f"#reset={token}" in line]
    return line.strip()


def admin_session(admin) -> str:
    """A session of `admin`, opened in this process (the login route is tested elsewhere)."""
    from gatekey.accounts.sessions import get_session_service

    opened = get_session_service().login(admin.email, admin.password, None, USER_AGENT)
    return str(opened["access_token"])


@pytest.mark.parametrize("header", sorted(POISONS))
def test_a_forged_header_never_reaches_a_reset_link(api, user, local_api, header):
    response = api.post(
        "/auth/password-reset", json={"email": user.email}, headers={header: POISONS[header]}
    )
    assert response.status_code == 202, response.text
    [message] = messages_to(user.email)
    assert link_of(message) == f"{local_api}/console#reset={token_in(message)}"
    assert "evil" not in message.get_content()


@pytest.mark.parametrize("header", sorted(POISONS))
def test_a_forged_header_never_reaches_a_set_password_link(api, admin, local_api, header):
    session = admin_session(admin)
    address = f"invited-{uuid.uuid4().hex[:8]}@example.com"
    response = api.post(
        "/account/users",
        token=session,
        json={"email": address},
        headers={header: POISONS[header]},
    )
    assert response.status_code == 201, response.text
    [message] = messages_to(address)
    assert message["Subject"] == "Choose your gatekey password"
    assert link_of(message) == f"{local_api}/console#reset={token_in(message)}"
    assert "evil" not in message.get_content()


def test_the_fourth_reset_in_15_minutes_answers_202_and_sends_nothing(api, user):
    for _ in range(reset.RESETS_PER_WINDOW + 2):
        response = api.post("/auth/password-reset", json={"email": user.email})
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] is True
    assert len(messages_to(user.email)) == reset.RESETS_PER_WINDOW == 3


def test_parallel_reset_requests_send_at_most_3(local_api, user):
    clients = [Client(local_api) for _ in range(6)]
    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(
                pool.map(
                    lambda client: (
                        client.post("/auth/password-reset", json={"email": user.email}).status_code
                    ),
                    clients,
                )
            )
    finally:
        for client in clients:
            client.close()
    assert answers == [202] * len(clients)
    assert len(messages_to(user.email)) == 3


def test_the_bound_frees_a_slot_15_minutes_after_it_was_taken(api, user, function_patch):
    start = clock.now()
    function_patch.patch("gatekey.clock", "now", FrozenClock(start).now)
    for _ in range(4):
        assert api.post("/auth/password-reset", json={"email": user.email}).status_code == 202
    assert len(messages_to(user.email)) == 3
    function_patch.patch("gatekey.clock", "now", FrozenClock(start + 15 * 60 - 5).now)
    assert api.post("/auth/password-reset", json={"email": user.email}).status_code == 202
    assert len(messages_to(user.email)) == 3
    function_patch.patch("gatekey.clock", "now", FrozenClock(start + 15 * 60 + 5).now)
    assert api.post("/auth/password-reset", json={"email": user.email}).status_code == 202
    assert len(messages_to(user.email)) == 4


def test_the_bound_is_per_user(api, user):
    neighbour = make_user(account_id=user.account_id)
    for _ in range(5):
        assert api.post("/auth/password-reset", json={"email": user.email}).status_code == 202
    assert api.post("/auth/password-reset", json={"email": neighbour.email}).status_code == 202
    assert len(messages_to(user.email)) == 3
    assert len(messages_to(neighbour.email)) == 1


def test_a_disabled_user_cannot_spend_a_reset_link(api, user):
    assert api.post("/auth/password-reset", json={"email": user.email}).status_code == 202
    [message] = messages_to(user.email)
    store = get_store()
    before = store.get_user(user.user_id)
    store.change_user(before, {"disabled": True})

    response = confirm(api, token_in(message))
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "validation_error"
    assert response.json()["errors"][0]["attr"] == "token"

    after = store.get_user(user.user_id)
    assert after is not None and after.password_hash == before.password_hash
