"""Usage rules at the authorizer (contract section 9), against DynamoDB Local.

Rate limits and credits are one conditional UpdateItem per authorization (two at a
window's or refill's first use, or a container's first use of the key); networks and
metadata cost nothing more; usage counts ride on the key's writes. Exactness under
load is checked with true parallel processes.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from gatekey import clock, usage
from gatekey.credentials.keys import get_key_service
from gatekey.errors import (
    InvalidToken,
    IpNotAllowed,
    PermissionDenied,
    RateLimited,
    UsageExceeded,
)
from gatekey.principal import API_KEY
from gatekey.tokens import metering
from gatekey.tokens.authorization import get_authorizer
from tests.helpers import USER_AGENT, reset_gatekey_caches

HOME = "10.1.2.3"


def make_key(user: Any, handle: str, **rules: Any) -> dict[str, Any]:
    return get_key_service().create(
        user.principal(), handle=handle, alias=None, key_type="token", expires_at=None, rules=rules
    )


def authorize(token: str, source_ip: str | None = HOME):
    return get_authorizer().authorize(f"Bearer {token}", USER_AGENT, source_ip=source_ip)


@pytest.fixture
def frozen(monkeypatch):
    """A settable clock for the layer (every module reads `clock.now()`)."""
    moment = {"now": clock.now()}
    monkeypatch.setattr(clock, "now", lambda: moment["now"])
    return moment


def test_rate_limit_allows_exactly_the_limit_then_names_the_wait(store, user, frozen):
    frozen["now"] = 1_800_000_000 + 10  # 10 s into a 60 s window
    key = make_key(user, "limited", ratelimit={"limit": 3, "window_seconds": 60})
    assert key["ratelimit"] == {"limit": 3, "window_seconds": 60}
    for _ in range(3):
        assert authorize(key["token"]).key_handle == "limited"
    with pytest.raises(RateLimited) as refused:
        authorize(key["token"])
    assert refused.value.retry_after == 50
    assert refused.value.body()["errors"][0]["extra"] == {"retry_after": 50}
    assert refused.value.headers() == {"Retry-After": "50"}
    frozen["now"] += 50  # the next window
    assert authorize(key["token"]).user_id == user.user_id


def test_metered_key_costs_one_update_per_call_after_the_first(store, user):
    key = make_key(user, "counted", ratelimit={"limit": 1000, "window_seconds": 3600})
    before = store.calls
    authorize(key["token"])  # this container's first use: GetItem, then the update
    first = store.calls - before
    before = store.calls
    for _ in range(5):
        authorize(key["token"])
    assert first == 2
    assert store.calls - before == 5


def test_unmetered_key_stays_one_read(store, user, configure):
    configure(GATEKEY_TOUCH_INTERVAL_SECONDS="3600")
    key = make_key(user, "plain", meta={"tier": "gold"})
    authorize(key["token"])  # its first use writes last use
    db = get_authorizer().store
    before = db.calls
    for _ in range(5):
        principal = authorize(key["token"])
    assert db.calls - before == 5
    assert principal.meta == '{"tier":"gold"}'
    assert principal.to_context()["meta"] == '{"tier":"gold"}'


def test_credits_run_out_and_refill(store, user, frozen):
    frozen["now"] = 1_800_000_000  # 2027-01-15T08:00:00Z
    key = make_key(
        user,
        "credited",
        credits={"remaining": 2, "refill": {"interval": "daily", "amount": 5}},
    )
    authorize(key["token"])
    authorize(key["token"])
    with pytest.raises(UsageExceeded) as refused:
        authorize(key["token"])
    assert refused.value.retry_after == usage.next_refill_at("daily", frozen["now"]) - frozen["now"]
    frozen["now"] += 86_400  # the next day: the first use refills to 5 and spends one
    authorize(key["token"])
    view = get_key_service().get(user.principal(), "credited", with_secret=False)
    assert view["credits"]["remaining"] == 4


def test_credits_without_refill_never_come_back(store, user):
    key = make_key(user, "once", credits={"remaining": 1, "refill": None})
    authorize(key["token"])
    with pytest.raises(UsageExceeded) as refused:
        authorize(key["token"])
    assert refused.value.retry_after is None
    assert refused.value.body()["errors"][0]["extra"] == {"retry_after": None}


def test_networks_refuse_other_addresses_and_unknown_ones(store, user):
    key = make_key(user, "office", allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    assert key["allowed_ips"] == ["10.0.0.0/8", "2001:db8::/32"]
    assert authorize(key["token"], "10.200.0.1").token_type == API_KEY
    assert authorize(key["token"], "2001:db8::1").token_type == API_KEY
    for address in ("192.168.1.1", None, "not-an-address"):
        with pytest.raises(IpNotAllowed):
            authorize(key["token"], address)


def test_metered_key_with_networks_spends_nothing_when_refused(store, user):
    key = make_key(
        user, "both", allowed_ips=["10.0.0.0/8"], credits={"remaining": 1, "refill": None}
    )
    with pytest.raises(IpNotAllowed):
        authorize(key["token"], "192.168.1.1")
    authorize(key["token"], HOME)  # the one credit is still there


def test_a_changed_rule_applies_at_once_though_the_container_remembers_the_key(store, user):
    key = make_key(user, "raised", ratelimit={"limit": 1, "window_seconds": 3600})
    authorize(key["token"])
    with pytest.raises(RateLimited):
        authorize(key["token"])
    get_key_service().update(
        user.principal(), "raised", {"ratelimit": {"limit": 3, "window_seconds": 3600}}
    )
    authorize(key["token"])
    get_key_service().update(user.principal(), "raised", {"ratelimit": None})
    for _ in range(3):
        authorize(key["token"])  # unmetered now
    assert metering.remembered(authorize(key["token"]).key_id) is None


def test_a_deleted_or_rotated_metered_key_fails_at_once(store, user):
    service = get_key_service()
    key = make_key(user, "gone", ratelimit={"limit": 100, "window_seconds": 60})
    authorize(key["token"])
    service.delete(user.principal(), "gone")
    with pytest.raises(InvalidToken):
        authorize(key["token"])
    key = make_key(user, "rotated", ratelimit={"limit": 100, "window_seconds": 60})
    authorize(key["token"])
    new = service.rotate(user.principal(), "rotated", 0)
    with pytest.raises(InvalidToken):
        authorize(key["token"])
    assert authorize(new["token"]).key_handle == "rotated"


def test_usage_counts_allowed_and_refused_per_day(store, user, monkeypatch):
    monkeypatch.setattr(metering, "FLUSH_SECONDS", 0)  # write refusals' counts at once
    key = make_key(user, "used", ratelimit={"limit": 2, "window_seconds": 3600})
    for _ in range(2):
        authorize(key["token"])
    for _ in range(3):
        with pytest.raises(RateLimited):
            authorize(key["token"])
    report = get_key_service().usage(user.principal(), "used", 7)
    assert [day["date"] for day in report["days"]][-1] == usage.day(clock.now())
    assert len(report["days"]) == 7
    assert report["days"][-1]["allowed"] == 2
    assert report["days"][-1]["refused"] == 3
    assert all(day["allowed"] == day["refused"] == 0 for day in report["days"][:-1])
    assert report["last_used_at"] is not None


def test_a_key_cannot_give_looser_rules_than_its_own(store, user):
    service = get_key_service()
    parent = service.create(
        user.principal(),
        handle="parent",
        alias=None,
        key_type="token",
        expires_at=None,
        key_scopes=("*", "gatekey:keys"),
        rules={"ratelimit": {"limit": 10, "window_seconds": 60}, "allowed_ips": ["10.0.0.0/8"]},
    )
    caller = authorize(parent["token"])

    def child(**rules: Any) -> dict[str, Any]:
        return service.create(
            caller, handle="child", alias=None, key_type="token", expires_at=None, rules=rules
        )

    for rules, attr in (
        ({"allowed_ips": ["10.0.0.0/8"]}, "ratelimit"),
        (
            {"ratelimit": {"limit": 20, "window_seconds": 60}, "allowed_ips": ["10.0.0.0/8"]},
            "ratelimit",
        ),
        (
            {"ratelimit": {"limit": 11, "window_seconds": 600}, "allowed_ips": ["10.0.0.0/8"]},
            "ratelimit",
        ),
        ({"ratelimit": {"limit": 5, "window_seconds": 60}}, "allowed_ips"),
        (
            {"ratelimit": {"limit": 5, "window_seconds": 60}, "allowed_ips": ["0.0.0.0/0"]},
            "allowed_ips",
        ),
    ):
        with pytest.raises(PermissionDenied) as refused:
            child(**rules)
        assert refused.value.attr == attr
    made = child(ratelimit={"limit": 5, "window_seconds": 60}, allowed_ips=["10.1.0.0/16"])
    assert made["ratelimit"] == {"limit": 5, "window_seconds": 60}
    with pytest.raises(PermissionDenied):  # nor loosen itself
        service.update(caller, "parent", {"ratelimit": None})


# -- exactness under load: true parallel processes -------------------------------------


def _authorize_many(token: str, count: int, start: Any, results: Any) -> None:
    reset_gatekey_caches()
    authorizer = get_authorizer(lean=True)
    start.wait()
    allowed = refused = 0
    for _ in range(count):
        try:
            authorizer.authorize(f"Bearer {token}", USER_AGENT, source_ip=HOME)
            allowed += 1
        except (RateLimited, UsageExceeded):
            refused += 1
    results.put((allowed, refused))


def run_in_processes(token: str, processes: int = 8, each: int = 10) -> tuple[int, int]:
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=_authorize_many, args=(token, each, start, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    start.set()
    totals = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    return sum(a for a, _ in totals), sum(r for _, r in totals)


def test_rate_limit_is_exact_across_eight_processes(store, user):
    key = make_key(user, "parallel", ratelimit={"limit": 25, "window_seconds": 2_592_000})
    assert run_in_processes(key["token"]) == (25, 55)


def test_credits_are_exact_across_eight_processes(store, user):
    key = make_key(user, "parallel-credits", credits={"remaining": 25, "refill": None})
    assert run_in_processes(key["token"]) == (25, 55)
    view = get_key_service().get(user.principal(), "parallel-credits", with_secret=False)
    assert view["credits"]["remaining"] == 0
