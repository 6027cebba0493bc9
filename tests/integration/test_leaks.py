"""Leak reports (gatekey.credentials.leaks) against DynamoDB Local: what is revoked,
who is told, and what a forged string costs (store calls counted)."""

from __future__ import annotations

import email
import email.policy
import os
import uuid
from pathlib import Path

import pytest

from gatekey.accounts import audit
from gatekey.credentials.bots import get_bot_service
from gatekey.credentials.keys import get_key_service
from gatekey.credentials.leaks import LeakService
from gatekey.errors import InvalidToken
from gatekey.settings import get_settings
from gatekey.tokens import key_tokens
from gatekey.tokens.authorization import get_authorizer
from gatekey.tokens.keyring import Keyring, get_keyring
from tests.helpers import USER_AGENT, make_user, reset_gatekey_caches


@pytest.fixture
def leaks(store) -> LeakService:
    return LeakService(store, get_keyring(), get_settings(), answer_seconds=0)


def new_key(owner, handle: str = "deploy") -> str:
    created = get_key_service().create(
        owner.principal(), handle=handle, alias=None, key_type="token", expires_at=None
    )
    return str(created["token"])


def messages_to(address: str) -> list[str]:
    texts = []
    for path in sorted(Path(os.environ["GATEKEY_OUTBOX_DIR"]).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            texts.append(message.get_content())
    return texts


def events(store, account_id: str, action: str) -> list[dict]:
    items, _ = store.list_audit_events(account_id, limit=50, action=action)
    return [audit.event_view(item) for item in items]


def forgeries(token: str) -> list[str]:
    """Strings a scanner or an attacker might send that are not live gatekey tokens."""
    body = token[len("gk_") :]
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    return [
        token[:-1],
        token + "A",
        token[:-6] + "000000",
        "gk_" + body.swapcase(),
        "gk_" + flipped,  # the checksum catches it
        "gk_" + "0" * 60,
        "GK_" + body,
        "gk_" + str(uuid.uuid4()),
        "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
        "ghp_" + "a" * 36,
    ]


def test_a_live_key_is_revoked_its_owner_mailed_and_the_revocation_audited(store, leaks):
    owner = make_user()
    token = new_key(owner)
    assert leaks.report([token]) == 1
    with pytest.raises(InvalidToken):
        get_authorizer().authorize(f"Bearer {token}", USER_AGENT)
    assert store.get_key_by_handle(owner.user_id, "deploy") is None
    [text] = messages_to(owner.email)
    assert '"deploy"' in text and token not in text and token[3:20] not in text
    [event] = events(store, owner.account_id, audit.KEY_LEAKED_REVOKED)
    assert event["actor"] == {"user_id": None, "token_type": None}
    assert event["target"] == {"type": "key", "id": "deploy"}


def test_forged_and_malformed_strings_cost_no_store_call(store, leaks):
    owner = make_user()
    token = new_key(owner)
    before = store.calls
    assert leaks.report(forgeries(token)) == len(forgeries(token))
    assert store.calls == before
    assert messages_to(owner.email) == []
    assert store.get_key_by_handle(owner.user_id, "deploy") is not None


def test_a_token_of_another_stacks_keyring_costs_no_read(store, leaks):
    """Right shape and checksum, wrong HMAC tag: a key id that may well exist here."""
    owner = make_user()
    token = new_key(owner)
    key = store.get_key_by_handle(owner.user_id, "deploy")
    other = Keyring.parse('{"current": "k1", "k1": "' + "x" * 64 + '"}')
    forged = key_tokens.make_token(other, key_id=key.key_id, version=key.version, secret_kid="k1")
    assert forged != token
    before = store.calls
    leaks.report([forged])
    assert store.calls == before
    assert store.get_key(key.key_id) is not None


def test_a_mixed_batch_revokes_only_the_live_keys_and_mails_each_owner_once(store, leaks):
    first, second = make_user(), make_user()
    tokens = [new_key(first, "a"), new_key(first, "b"), new_key(second, "c")]
    batch = [*forgeries(tokens[0])[:3], *tokens, tokens[0]]
    assert leaks.report(batch) == len(batch)
    for owner, handle in [(first, "a"), (first, "b"), (second, "c")]:
        assert store.get_key_by_handle(owner.user_id, handle) is None
    [text] = messages_to(first.email)
    assert '"a"' in text and '"b"' in text
    assert len(messages_to(second.email)) == 1
    assert len(events(store, first.account_id, audit.KEY_LEAKED_REVOKED)) == 2


def test_a_token_rotated_out_is_left_alone_but_one_in_its_grace_is_revoked(store, leaks):
    owner = make_user()
    old = new_key(owner, "rotated")
    keys = get_key_service()
    keys.rotate(owner.principal(), "rotated", 0)
    assert leaks.report([old]) == 1
    assert store.get_key_by_handle(owner.user_id, "rotated") is not None
    assert messages_to(owner.email) == []
    in_grace = new_key(owner, "graceful")
    keys.rotate(owner.principal(), "graceful", 3600)
    leaks.report([in_grace])
    assert store.get_key_by_handle(owner.user_id, "graceful") is None


def test_a_bot_token_is_revoked_and_the_accounts_admins_are_told(store, leaks):
    admin = make_user(admin=True)
    member = make_user(account_id=admin.account_id)
    created = get_bot_service().create(admin.principal(), "nightly")
    leaks.report([created["token"]])
    with pytest.raises(InvalidToken):
        get_authorizer().authorize(f"Bearer {created['token']}", USER_AGENT)
    [text] = messages_to(admin.email)
    assert created["bot"]["id"] in text and created["token"] not in text
    assert messages_to(member.email) == []


def test_the_answer_takes_the_same_floor_whatever_the_tokens(store):
    waits: list[float] = []
    leaks = LeakService(
        store, get_keyring(), get_settings(), answer_seconds=0.5, sleep=waits.append
    )
    token = new_key(make_user())
    leaks.report(forgeries(token))
    leaks.report([token])
    assert len(waits) == 2 and all(0 < wait <= 0.5 for wait in waits)


def test_another_prefix_is_honoured(store, monkeypatch):
    owner = make_user()
    monkeypatch.setenv("GATEKEY_KEY_PREFIX", "acme_")
    reset_gatekey_caches()
    try:
        token = new_key(owner, "acme")
        assert token.startswith("acme_") and len(token) == 65
        get_authorizer().authorize(f"Bearer {token}", USER_AGENT)
        leaks = LeakService(store, get_keyring(), get_settings(), answer_seconds=0)
        leaks.report(["gk_" + token[5:]])  # the body under another prefix: checksum fails
        assert store.get_key_by_handle(owner.user_id, "acme") is not None
        leaks.report([token])
        assert store.get_key_by_handle(owner.user_id, "acme") is None
    finally:
        monkeypatch.delenv("GATEKEY_KEY_PREFIX")
        reset_gatekey_caches()
