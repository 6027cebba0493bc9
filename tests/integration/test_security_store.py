"""The store's password-reset and MFA operations against DynamoDB Local: the
conditional writes that make codes and links single-use, also under concurrency."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from gatekey import clock
from gatekey.accounts import audit, reset
from gatekey.accounts.passwords import hash_password, verify_password
from gatekey.errors import Conflict
from gatekey.records import Session
from gatekey.store import from_item, item_keys
from tests.helpers import PASSWORD


def enable_mfa(store, user_id: str, codes: dict[str, int] | None = None) -> str:
    nonce = uuid.uuid4().hex
    store.set_totp_pending(user_id, nonce=nonce, kid="k1", at=clock.now())
    store.enable_totp(
        user_id,
        nonce=nonce,
        kid="k1",
        step=100,
        recovery_codes=codes or {"a" * 64: 1},
        recovery_kid="k1",
    )
    return nonce


def race(count: int, attempt) -> list[bool]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: attempt(), range(count)))


def test_a_time_step_is_spent_once_however_many_requests_race(store, user):
    nonce = enable_mfa(store, user.user_id)
    outcomes = race(8, lambda: store.use_totp_step(user.user_id, nonce=nonce, step=101))
    assert outcomes.count(True) == 1
    assert not store.use_totp_step(user.user_id, nonce=nonce, step=101)
    assert not store.use_totp_step(user.user_id, nonce=nonce, step=100)  # older: refused
    assert store.use_totp_step(user.user_id, nonce=nonce, step=102)


def test_a_step_of_a_replaced_enrolment_or_with_mfa_off_is_refused(store, user):
    nonce = enable_mfa(store, user.user_id)
    assert not store.use_totp_step(user.user_id, nonce="another", step=200)
    store.disable_totp(user.user_id, nonce=nonce)
    assert not store.use_totp_step(user.user_id, nonce=nonce, step=201)
    key = item_keys.wire(item_keys.user(user.user_id))
    item = from_item(store.client.get_item(TableName=store.table, Key=key)["Item"])
    assert item["mfa_enabled"] is False
    assert not {"totp_nonce", "totp_last_step", "recovery_codes"} & set(item)


def test_a_recovery_code_is_spent_once_however_many_requests_race(store, user):
    codes = {"b" * 64: 1, "c" * 64: 1}
    enable_mfa(store, user.user_id, codes)
    outcomes = race(8, lambda: store.use_recovery_code(user.user_id, "b" * 64))
    assert outcomes.count(True) == 1
    assert set(store.get_user(user.user_id).recovery_codes) == {"c" * 64}
    assert not store.use_recovery_code(user.user_id, "d" * 64)


def test_enrolling_while_mfa_is_on_is_a_conflict(store, user):
    enable_mfa(store, user.user_id)
    with pytest.raises(Conflict):
        store.set_totp_pending(user.user_id, nonce="n", kid="k1", at=clock.now())


def test_a_password_change_ends_more_sessions_than_one_transaction_holds(store, user):
    now = clock.now()
    session_ids = [str(uuid.uuid4()) for _ in range(130)]
    for session_id in session_ids:
        store.put_session(
            Session(
                session_id=session_id,
                user_id=user.user_id,
                account_id=user.account_id,
                email=user.email,
                role="member",
                user_agent="ua",
                created_at=now,
                last_used_at=now,
                max_expires_at=now + 3600,
                ttl=now + 3600,
            )
        )
    kept = session_ids[42]
    ended = store.set_password(
        store.get_user(user.user_id), hash_password("a new long passphrase"), keep_session_id=kept
    )
    assert ended == 129
    assert [s.session_id for s in store.list_sessions(user.user_id)] == [kept]
    stored = store.get_user(user.user_id)
    assert verify_password(stored.password_hash, "a new long passphrase")
    assert stored.password_version == 1


def test_a_reset_token_is_spent_with_the_password_update_or_not_at_all(store, user):
    item = store.get_user(user.user_id)
    token = reset.issue_reset_token(store, item)
    digest = reset.token_hash(token)
    assert store.get_reset_token(digest)["user_id"] == user.user_id
    assert token not in str(store.get_reset_token(digest))

    def spend() -> bool:
        try:
            store.set_password(item, hash_password("racing passphrase"), spend_token_hash=digest)
        except Conflict:
            return False
        return True

    assert race(4, spend).count(True) == 1
    assert store.get_reset_token(digest) is None
    assert store.get_user(user.user_id).password_version == 1
    # the stale copy of the user (version 0) can no longer write a password
    with pytest.raises(Conflict):
        store.set_password(item, hash_password("another passphrase"))


def test_an_expired_token_cannot_be_spent_before_ttl_deletes_it(store, user, monkeypatch):
    item = store.get_user(user.user_id)
    digest = reset.token_hash(reset.issue_reset_token(store, item))
    later = clock.now() + reset.TOKEN_SECONDS[reset.RESET] + 1
    monkeypatch.setattr(clock, "now", lambda: later)
    assert store.get_reset_token(digest) is None
    with pytest.raises(Conflict):
        store.set_password(item, hash_password("too late passphrase"), spend_token_hash=digest)
    assert verify_password(store.get_user(user.user_id).password_hash, PASSWORD)


def test_a_login_writes_the_session_last_login_and_its_event_together(store, user):
    now = clock.now()
    event = audit.new_event(
        user.account_id,
        audit.LOGIN_SUCCESS,
        actor=audit.Actor(user.user_id),
        target=(audit.TARGET_USER, user.user_id),
    )
    session = store.open_session(
        Session(
            session_id=str(uuid.uuid4()),
            user_id=user.user_id,
            account_id=user.account_id,
            email=user.email,
            role="member",
            user_agent="ua",
            created_at=now,
            last_used_at=now,
            max_expires_at=now + 3600,
            ttl=now + 3600,
        ),
        owner=store.get_user(user.user_id),
        audit=event,
    )
    assert store.get_session(session.session_id) is not None
    assert store.get_user(user.user_id).last_login_at == now
    events, _ = store.list_audit_events(user.account_id, limit=10)
    assert [e["id"] for e in events] == [event["id"]]


def test_discarded_writes_leave_nothing_any_read_returns(store):
    digest = reset.token_hash("never-sent")
    store.discarded_reset_write(digest)
    store.discarded_write(digest)
    store.discarded_write(digest)  # the same email again: the same item, overwritten
    assert store.get_reset_token(digest) is None
    events, _ = store.list_audit_events("-", limit=10)
    assert events == []
