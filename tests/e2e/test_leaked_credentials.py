"""POST /credentials/revoke through the local API (CONTRACT section 11): a public leak
report revokes live keys at once, mails their owners and is audited; forged strings
cost no DynamoDB request (counted on the wire); the answer never tells which were real."""

from __future__ import annotations

import email
import email.policy
import os
import time
from pathlib import Path

import pytest

from bench.wire import WireCounter
from gatekey_local.server import serve_in_thread
from tests.conftest import TEMPLATE, TEST_PARAMETERS
from tests.e2e.conftest import Client, error_code
from tests.helpers import make_user, reset_gatekey_caches

FLOOR = 0.5  # gatekey.credentials.leaks.ANSWER_SECONDS


def messages_to(address: str) -> list[str]:
    texts = []
    for path in sorted(Path(os.environ["GATEKEY_OUTBOX_DIR"]).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            texts.append(message.get_content())
    return texts


def forged(token: str) -> list[str]:
    body = token[3:]
    return [token[:-6] + "000000", "gk_" + body.swapcase(), token[:-1], "gk_" + "0" * 60]


def report(api: Client, credentials: list[str]) -> tuple[int, dict, float]:
    started = time.monotonic()
    response = api.post("/credentials/revoke", json={"credentials": credentials})
    return response.status_code, response.json(), time.monotonic() - started


def test_a_leaked_key_stops_at_once_its_owner_is_mailed_and_it_is_audited(api):
    admin = make_user(admin=True)
    session = api.login(admin)["access_token"]
    token = api.post("/user/keys", token=session, json={"handle": "ci-deploy"}).json()["token"]
    assert api.get("/user", token=token).status_code == 200
    status, body, _ = report(api, [token])
    assert (status, body) == (202, {"received": 1})
    refused = api.get("/user", token=token)
    assert (refused.status_code, error_code(refused)) == (401, "invalid_token")
    [text] = messages_to(admin.email)
    assert '"ci-deploy"' in text and token not in text
    audit = api.get("/account/audit?action=key.leaked_revoked", token=session).json()
    [event] = audit["events"]
    assert event["target"] == {"type": "key", "id": "ci-deploy"}
    assert event["actor"] == {"user_id": None, "token_type": None}


def test_a_mixed_batch_answers_202_with_the_count_and_revokes_only_live_keys(api):
    owner = make_user()
    session = api.login(owner)["access_token"]
    live = api.post("/user/keys", token=session, json={"handle": "live"}).json()["token"]
    kept = api.post("/user/keys", token=session, json={"handle": "kept"}).json()["token"]
    batch = [*forged(kept), live, live, "not a token at all"]
    status, body, _ = report(api, batch)
    assert (status, body) == (202, {"received": len(batch)})
    assert api.get("/user", token=live).status_code == 401
    assert api.get("/user", token=kept).status_code == 200
    assert len(messages_to(owner.email)) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"credentials": ["gk_x"] * 101},
        {"credentials": []},
        {"credentials": [""]},
        {"credentials": "gk_x"},
        {"credentials": [1]},
        {"token": "gk_x"},
        {"credentials": ["gk_x"], "extra": True},
    ],
)
def test_other_bodies_are_refused(api, body):
    response = api.post("/credentials/revoke", json=body)
    assert response.status_code == 400, response.text
    error_code(response)
    assert response.json()["type"] == "validation_error"


def test_not_json_is_refused(api):
    response = api.post("/credentials/revoke", data="gk_x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400


def test_the_answer_time_does_not_tell_a_live_key_from_a_forged_one(api):
    owner = make_user()
    session = api.login(owner)["access_token"]
    token = api.post("/user/keys", token=session, json={"handle": "timed"}).json()["token"]
    report(api, forged(token))  # a warm function for both
    _, _, fake = report(api, forged(token))
    _, _, real = report(api, [token])
    assert fake >= FLOOR and real >= FLOOR
    assert abs(real - fake) < 0.25, (real, fake)


@pytest.fixture
def counted_api(gatekey_env):
    """The local API with its functions' DynamoDB requests going through a counter."""
    counter = WireCounter(gatekey_env.get("DYNAMODB_ENDPOINT") or os.environ["DYNAMODB_ENDPOINT"])
    reset_gatekey_caches()
    try:
        with serve_in_thread(
            TEMPLATE,
            env={**gatekey_env, "DYNAMODB_ENDPOINT": counter.url},
            table_name=gatekey_env["GATEKEY_TABLE"],
            parameter_overrides=TEST_PARAMETERS,
        ) as server:
            client = Client(server.url)
            yield client, counter
            client.close()
    finally:
        counter.stop()
        reset_gatekey_caches()


def test_forged_tokens_cost_no_dynamodb_request_on_the_wire(counted_api, api):
    client, counter = counted_api
    owner = make_user()
    session = api.login(owner)["access_token"]
    token = api.post("/user/keys", token=session, json={"handle": "wire"}).json()["token"]
    counter.counts.clear()
    status, body, _ = report(client, [*forged(token), "gk_" + "A" * 60, "eyJ.e30.c2ln"] * 10)
    assert (status, body["received"]) == (202, 60)
    assert sum(counter.counts.values()) == 0, dict(counter.counts)
    report(client, [token])
    assert counter.counts["GetItem"] >= 1 and counter.counts["TransactWriteItems"] == 1
