"""The last-admin rule under a forced race, on DynamoDB Local.

The local API runs one invocation of a function at a time (as one Lambda container
would), so two HTTP requests there never interleave. Here two admins' changes run in
threads that both finish reading before either writes: the worst interleaving, which
only the transaction's conditions can make safe.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from gatekey.accounts.user_admin import LastAdmin, UserAdminService
from gatekey.errors import Conflict
from gatekey.records import User
from gatekey.store import Item, Store
from tests.helpers import make_user


class ReadsBeforeWrites(Store):
    """The real store, except that each thread's first credential write waits until
    every racing thread has made its decision (a barrier, no fake storage)."""

    def __init__(self, store: Store, parties: int) -> None:
        super().__init__(store.client, store.table)
        self.barrier = threading.Barrier(parties, timeout=10)
        self.waited = threading.local()

    def _wait_once(self) -> None:
        if not getattr(self.waited, "done", False):
            self.waited.done = True
            self.barrier.wait()

    def change_user(self, user: User, changes: Item, **kwargs: Any) -> User:
        self._wait_once()
        return super().change_user(user, changes, **kwargs)


def enabled_admins(store: Store, account_id: str) -> list[str]:
    return [
        user.user_id
        for user in store.list_account_users(account_id)
        if user.role == "admin" and not user.disabled
    ]


def race(store: Store, calls: list[Any]) -> list[str]:
    def run(call: Any) -> str:
        try:
            call()
        except LastAdmin:
            return "last_admin"
        except Conflict:
            return "conflict"
        return "ok"

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.mark.parametrize(
    "change",
    [{"role": "member"}, {"disabled": True}, None],
    ids=["demote", "disable", "delete"],
)
def test_two_admins_removing_each_other_at_once_leave_one_admin(store, change):
    first = make_user(admin=True)
    second = make_user(account_id=first.account_id, admin=True)
    racing = ReadsBeforeWrites(store, parties=2)
    service = UserAdminService(racing)

    def act(actor, target):  # type: ignore[no-untyped-def]
        if change is None:
            return lambda: service.delete(actor.principal(), target.user_id)
        return lambda: service.update(actor.principal(), target.user_id, **change)

    outcomes = race(store, [act(first, second), act(second, first)])
    assert sorted(outcomes) in (["last_admin", "ok"], ["conflict", "ok"]), outcomes
    assert len(enabled_admins(store, first.account_id)) == 1


def test_three_admins_each_demoting_the_next_leave_one_admin(store):
    admins = [make_user(admin=True)]
    admins += [make_user(account_id=admins[0].account_id, admin=True) for _ in range(2)]
    service = UserAdminService(ReadsBeforeWrites(store, parties=3))
    calls = [
        lambda actor=actor, target=target: service.update(
            actor.principal(), target.user_id, role="member"
        )
        for actor, target in zip(admins, admins[1:] + admins[:1], strict=True)
    ]
    outcomes = race(store, calls)
    assert outcomes.count("ok") <= 2, outcomes
    assert len(enabled_admins(store, admins[0].account_id)) >= 1


def test_a_stale_read_is_decided_again(store):
    """A target that changed between the read and the write is read again, not overwritten."""
    admin = make_user(admin=True)
    member = make_user(account_id=admin.account_id)
    service = UserAdminService(store)
    user = store.get_user(member.user_id)
    store.change_user(user, {"role": "admin"})  # behind the service's back
    with pytest.raises(Conflict):
        store.change_user(user, {"disabled": True}, expect={"role": "member", "disabled": False})
    assert not store.get_user(member.user_id).disabled
    result = service.update(admin.principal(), member.user_id, disabled=True)
    assert (result["user"]["role"], result["user"]["disabled"]) == ("admin", True)
