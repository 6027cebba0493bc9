"""Expiry warnings (contract section 11) through the entry point EventBridge calls: the
NotifyExpiringFunction handler with a scheduled event (events/scheduled_daily.json),
against DynamoDB Local, with the outbox read back. The same function under its IAM
role is invoked by tests/e2e/test_route_coverage.py."""

from __future__ import annotations

import email
import email.policy
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from gatekey import clock
from gatekey.accounts import audit
from gatekey.credentials.bots import BOT_TOKEN_HANDLE
from gatekey.credentials.expiry import ExpiryWarnings
from gatekey.credentials.keys import new_key
from gatekey.records import TOKEN, ApiKey, User
from gatekey.store import Store, from_item, item_keys, to_item
from gatekey.tokens.keyring import get_keyring
from gatekey_local.dynamodb_local import create_table
from gatekey_local.function_worker import LambdaContext
from gatekey_local.template import load_template
from tests.conftest import TEMPLATE
from tests.helpers import load_event, load_handler, make_user
from tests.integration.test_handlers import lambda_context

DAY = 86_400
HOUR = 3_600


@pytest.fixture(scope="module")
def handler(gatekey_env) -> Any:
    return load_handler("notify_expiring")


@pytest.fixture
def at(monkeypatch):
    """Sets the time every run sees (`at(epoch)`); the real time until called."""

    def move(epoch: int) -> None:
        monkeypatch.setattr(clock, "now", lambda: epoch)

    return move


def scheduled(handler: Any) -> dict[str, Any]:
    """One run, invoked as EventBridge invokes the function."""
    context: LambdaContext = lambda_context("NotifyExpiringFunction")
    return handler.lambda_handler(load_event("scheduled_daily.json"), context)


def messages_to(address: str) -> list[email.message.EmailMessage]:
    outbox = Path(os.environ["GATEKEY_OUTBOX_DIR"])
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            found.append(message)
    return found


def add_key(store: Store, owner: User, handle: str, expires_at: int | None) -> ApiKey:
    key = new_key(
        owner, get_keyring(), handle=handle, alias=None, key_type=TOKEN, expires_at=expires_at
    )
    return store.create_key(key, owner=owner)


def warned_events(store: Store, account_id: str) -> list[tuple[str, str]]:
    events = store.list_audit_events(account_id, limit=100, action=audit.KEY_EXPIRY_WARNED)
    return sorted((e["target"]["id"], e.get("reason", "")) for e in events[0])


def marker_exists(store: Store, key: ApiKey) -> bool:
    assert key.expires_at is not None
    marker = item_keys.expiry_marker(
        time.strftime("%Y-%m-%d", time.gmtime(key.expires_at)), key.key_id
    )
    return store._get(marker) is not None


def test_seven_day_and_one_day_warnings_are_sent_once_each(store, handler, at):
    person = make_user()
    owner = store.get_user(person.user_id)
    now = int(time.time())
    soon = add_key(store, owner, "soon", now + 3 * DAY + HOUR)
    add_key(store, owner, "later", now + 30 * DAY)
    add_key(store, owner, "never", None)

    at(now)
    report = scheduled(handler)
    assert {"handle": "soon", "warning": "7d"} in [
        {"handle": w["handle"], "warning": w["warning"]} for w in report["warned"]
    ]
    [first] = messages_to(person.email)
    body = first.get_content()
    assert "soon" in body and "later" not in body and "never" not in body
    assert "gk_" not in body  # a warning holds no token
    assert "1 key expires soon" in first["Subject"]

    scheduled(handler)  # the same day again: nothing new
    at(now + DAY)  # the next day: still within 7 days, already warned
    scheduled(handler)
    assert len(messages_to(person.email)) == 1

    at(soon.expires_at - 12 * HOUR)  # within a day: the second warning
    scheduled(handler)
    scheduled(handler)
    messages = messages_to(person.email)
    assert len(messages) == 2
    assert "soon" in messages[1].get_content() and "in 12 hours" in messages[1].get_content()

    at(soon.expires_at + HOUR)  # expired: nothing more
    scheduled(handler)
    assert len(messages_to(person.email)) == 2
    assert warned_events(store, person.account_id) == [("soon", "1_day"), ("soon", "7_days")]


def test_a_key_first_seen_within_a_day_gets_only_the_one_day_warning(store, handler, at):
    person = make_user()
    owner = store.get_user(person.user_id)
    now = int(time.time())
    add_key(store, owner, "brief", now + 5 * HOUR)
    at(now)
    scheduled(handler)
    at(now + HOUR)
    scheduled(handler)
    assert len(messages_to(person.email)) == 1
    assert warned_events(store, person.account_id) == [("brief", "1_day")]


def test_deleted_keys_are_not_warned_and_stale_markers_are_dropped(store, handler, at):
    person = make_user()
    owner = store.get_user(person.user_id)
    now = int(time.time())
    gone = add_key(store, owner, "gone", now + 2 * DAY)
    assert marker_exists(store, gone)
    store.delete_key(gone)
    assert not marker_exists(store, gone)  # deleted in the key's own transaction

    # a marker left without its key (its key deleted by code that predates markers, say)
    orphan = ApiKey.from_item({**gone.to_item(), "key_id": str(uuid.uuid4())})
    store._transact(store._expiry_marker_actions(orphan))
    assert marker_exists(store, orphan)
    at(now)
    report = scheduled(handler)
    assert report["dropped"] >= 1
    assert not marker_exists(store, orphan)
    assert messages_to(person.email) == []


def test_deleting_the_user_deletes_the_markers(store, at, handler):
    person = make_user()
    owner = store.get_user(person.user_id)
    key = add_key(store, owner, "k", int(time.time()) + 2 * DAY)
    store.delete_user(owner)
    assert not marker_exists(store, key)


def test_a_bot_tokens_warning_goes_to_the_accounts_admins(store, handler, at):
    admin = make_user(admin=True)
    other_admin = make_user(admin=True, account_id=admin.account_id)
    member = make_user(account_id=admin.account_id)
    bot_id = str(uuid.uuid4())
    item = {
        "user_id": bot_id,
        "account_id": admin.account_id,
        "email": None,
        "name": "deployer",
        "role": "member",
        "is_bot": True,
        "password_hash": None,
        "created_at": clock.now(),
    }
    bot = User.from_item(item)
    now = int(time.time())
    token = new_key(
        bot,
        get_keyring(),
        handle=BOT_TOKEN_HANDLE,
        alias="deployer",
        key_type=TOKEN,
        expires_at=now + 6 * DAY,
    )
    store.create_bot(item, token)
    at(now)
    scheduled(handler)
    for address in (admin.email, other_admin.email):
        [message] = messages_to(address)
        assert "bot-token of bot deployer" in message.get_content()
    assert messages_to(member.email) == []
    assert warned_events(store, admin.account_id) == [(bot_id, "7_days")]

    # a regenerated token replaces the marker: the old one is gone with the old token
    new_token = new_key(
        bot,
        get_keyring(),
        handle=BOT_TOKEN_HANDLE,
        alias="deployer",
        key_type=TOKEN,
        expires_at=now + 20 * DAY,
    )
    store.replace_bot_token(store.get_user(bot_id), new_token)
    assert not marker_exists(store, token)
    assert marker_exists(store, store.list_keys(bot_id)[0])


def test_two_runs_at_once_send_each_warning_once(store, handler, at):
    person = make_user()
    owner = store.get_user(person.user_id)
    now = int(time.time())
    handles = [f"race-{i}" for i in range(4)]
    for handle in handles:
        add_key(store, owner, handle, now + 2 * DAY)
    at(now)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            scheduled(handler)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    bodies = [message.get_content() for message in messages_to(person.email)]
    for handle in handles:
        assert sum(body.count(f"- {handle} ") for body in bodies) == 1, bodies
    assert len(warned_events(store, person.account_id)) == len(handles)


def test_the_cli_runs_the_same_warnings(store, at, capsys, monkeypatch):
    from gatekey_cli import main as cli

    person = make_user()
    owner = store.get_user(person.user_id)
    add_key(store, owner, "cli-soon", int(time.time()) + 4 * DAY)
    status = cli.main(["notify-expiring"])
    out, _ = capsys.readouterr()
    assert status == 0
    report = json.loads(out)  # one JSON object, nothing else on stdout
    assert "cli-soon" in [w["handle"] for w in report["warned"]]
    assert len(messages_to(person.email)) == 1
    assert cli.main(["notify-expiring"]) == 0
    again = json.loads(capsys.readouterr()[0])
    assert "cli-soon" not in [w["handle"] for w in again["warned"]]
    assert len(messages_to(person.email)) == 1


def test_a_run_reads_the_week_ahead_not_the_table(gatekey_env, monkeypatch):
    """2,000 keys, of which 50 expire this week (and 300 later): one run reads the 50
    markers of this week, their 50 keys and their owner, never the rest. (With 10,000
    keys, 1,000 expiring later, the figures are the same: docs/architecture.md.)"""
    endpoint = gatekey_env["DYNAMODB_ENDPOINT"]
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    table = f"gatekey-scale-{uuid.uuid4().hex[:8]}"
    create_table(client, table, load_template(TEMPLATE, table_name=table))
    store = Store(client, table)
    now = int(time.time())
    person = make_user()
    owner = User(
        user_id=person.user_id,
        account_id=person.account_id,
        role="member",
        created_at=now,
        email=person.email,
    )
    store._put({**owner.to_item(), **item_keys.user(owner.user_id)})
    keys: list[ApiKey] = []
    for number in range(2_000):
        expires_at = None
        if number < 50:
            expires_at = now + DAY + number * 100  # within this week
        elif number < 350:
            expires_at = now + (9 + number % 300) * DAY  # later
        keys.append(
            new_key(
                owner,
                get_keyring(),
                handle=f"k{number}",
                alias=None,
                key_type=TOKEN,
                expires_at=expires_at,
            )
        )
    items = []
    for key in keys:
        items.append({**key.to_item(), **item_keys.api_key(key.key_id)})
        for action in store._expiry_marker_actions(key):
            items.append(from_item(action["Put"]["Item"]))
    for start in range(0, len(items), 25):
        client.batch_write_item(
            RequestItems={
                table: [{"PutRequest": {"Item": to_item(i)}} for i in items[start : start + 25]]
            }
        )
    report = ExpiryWarnings(store).run(now)
    print(
        f"\n2,000 keys, 50 expire this week: {report['markers_read']} markers, "
        f"{report['keys_read']} keys, {report['users_read']} users read in "
        f"{report['requests']} requests"
    )
    assert report["markers_read"] == 50
    assert report["keys_read"] == 50
    assert report["users_read"] == 1
    assert len(report["warned"]) == 50 and report["messages"] == 1
    client.delete_table(TableName=table)
