import uuid

import pytest

from gatekey import clock
from gatekey.accounts import users
from gatekey.errors import EmailTaken, NotFound, ServiceUnavailable
from gatekey.records import Session
from gatekey.settings import Settings
from gatekey.store import Store, create_dynamodb_client


def test_account_and_user_round_trip(store):
    account = users.create_account(store, "Acme")
    user = users.create_user(
        store, account_id=account["account_id"], email=" Ada@Example.COM ", password="pw-12345"
    )
    stored = store.get_user(user.user_id)
    assert stored.email == "ada@example.com"
    assert stored.password_hash.startswith("$argon2id$")
    assert store.find_user_ids_by_email("ada@example.com") == {account["account_id"]: user.user_id}


def test_email_is_unique_per_account_and_nothing_is_half_written(store):
    account = users.create_account(store, "Acme")["account_id"]
    email = f"dup-{uuid.uuid4().hex[:8]}@example.com"
    users.create_user(store, account_id=account, email=email, password="pw-1")
    with pytest.raises(EmailTaken):
        users.create_user(store, account_id=account, email=email, password="pw-2")
    assert len(store.find_user_ids_by_email(email)) == 1


def test_same_email_may_join_two_accounts(store):
    email = f"two-{uuid.uuid4().hex[:8]}@example.com"
    first = users.create_account(store, "One")["account_id"]
    second = users.create_account(store, "Two")["account_id"]
    users.create_user(store, account_id=first, email=email, password="pw")
    users.create_user(store, account_id=second, email=email, password="pw")
    assert set(store.find_user_ids_by_email(email)) == {first, second}


def test_user_in_unknown_account_is_refused(store):
    with pytest.raises(NotFound):
        users.create_user(store, account_id="nope", email="x@example.com", password="pw")


def a_session(user_id: str, *, ttl: int) -> Session:
    now = clock.now()
    return Session(
        session_id=str(uuid.uuid4()),
        user_id=user_id,
        account_id="a",
        email="e@example.com",
        role="member",
        user_agent="ua",
        created_at=now,
        last_used_at=now,
        max_expires_at=now + 3600,
        ttl=ttl,
    )


def test_expired_session_reads_as_absent_before_ttl_deletes_it(store):
    session = store.put_session(a_session("u", ttl=clock.now() - 1))
    assert store.get_session(session.session_id) is None


def test_touch_never_resurrects_a_deleted_session(store):
    session = store.put_session(a_session("u", ttl=clock.now() + 60))
    store.delete_session(session.session_id)
    assert not store.touch_session(session.session_id, at=clock.now(), ttl=clock.now() + 60)
    assert store.get_session(session.session_id) is None


def test_touch_slides_a_live_session(store):
    session = store.put_session(a_session("u", ttl=clock.now() + 60))
    assert store.touch_session(session.session_id, at=clock.now(), ttl=clock.now() + 600)
    touched = store.get_session(session.session_id)
    assert touched is not None and touched.ttl >= clock.now() + 590


def test_unreachable_database_is_service_unavailable(gatekey_env):
    settings = Settings(table_name="gatekey", dynamodb_endpoint="http://127.0.0.1:9", secret="x")
    dead = Store(create_dynamodb_client(settings), "gatekey")
    with pytest.raises(ServiceUnavailable):
        dead.get_user("anyone")


def test_missing_table_is_service_unavailable(store):
    missing = Store(store.client, f"missing-{uuid.uuid4().hex[:6]}")
    with pytest.raises(ServiceUnavailable):
        missing.get_user("anyone")


def test_concurrent_creates_of_one_handle_yield_exactly_one_key(store):
    """Real concurrency against DynamoDB: the conditional transaction lets one writer win."""
    from concurrent.futures import ThreadPoolExecutor

    from gatekey.credentials.keys import get_key_service
    from gatekey.errors import HandleTaken
    from tests.helpers import make_user

    owner = make_user().principal()
    service = get_key_service()

    def create(_: int) -> str:
        try:
            service.create(owner, handle="race", alias=None, key_type="token", expires_at=None)
        except HandleTaken:
            return "taken"
        return "created"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(create, range(8)))
    assert outcomes == ["created"] + ["taken"] * 7
    assert [key.handle for key in store.list_keys(owner.user_id)] == ["race"]
