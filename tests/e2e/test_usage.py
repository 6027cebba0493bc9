"""Contract section 9 through the local API: usage rules on gatekey's own routes.

gatekey's own REST stage passes a usage refusal to its handlers (stage variable
`gatekeyRefusalsToBackend`), which answer 429 `rate_limited`/`usage_exceeded` with
Retry-After, or 403 `ip_not_allowed`, in the contract's error body.
"""

from __future__ import annotations

import uuid

import pytest

from gatekey import clock, usage
from tests.e2e.conftest import error_code
from tests.helpers import make_user

KEYS_SCOPES = ["*", "gatekey:keys"]


def create_key(api, token, **body):
    body.setdefault("handle", f"usage-{uuid.uuid4().hex[:8]}")
    body.setdefault("scopes", KEYS_SCOPES)
    response = api.post("/user/keys", token=token, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_rate_limited_key_gets_429_with_retry_after_on_gatekeys_own_routes(api, token):
    key = create_key(api, token, ratelimit={"limit": 2, "window_seconds": 3600})
    assert key["ratelimit"] == {"limit": 2, "window_seconds": 3600}
    assert [api.get("/user/keys", token=key["token"]).status_code for _ in range(2)] == [200, 200]
    refused = api.get("/user/keys", token=key["token"])
    assert refused.status_code == 429
    (error,) = refused.json()["errors"]
    assert error["code"] == "rate_limited"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert error["extra"] == {"retry_after": retry_after}
    # any route behind the authorizer, even the ones that read no principal
    assert error_code(api.get("/", token=key["token"])) == "rate_limited"


def test_spent_credits_are_usage_exceeded_and_a_patch_gives_more(api, token):
    key = create_key(api, token, credits={"remaining": 1, "refill": None})
    assert api.get("/user", token=key["token"]).status_code == 200
    refused = api.get("/user", token=key["token"])
    assert refused.status_code == 429
    assert error_code(refused) == "usage_exceeded"
    assert "Retry-After" not in refused.headers
    assert refused.json()["errors"][0]["extra"] == {"retry_after": None}
    patched = api.patch(
        f"/user/keys/{key['handle']}", token=token, json={"credits": {"remaining": 5}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["credits"] == {"remaining": 5, "refill": None}
    assert api.get("/user", token=key["token"]).status_code == 200


def test_a_refilling_key_shows_when_it_refills(api, token):
    key = create_key(
        api, token, credits={"remaining": 0, "refill": {"interval": "daily", "amount": 9}}
    )
    refused = api.get("/user", token=key["token"])
    assert error_code(refused) == "usage_exceeded"
    now = clock.now()
    assert (
        abs(int(refused.headers["Retry-After"]) - (usage.next_refill_at("daily", now) - now)) <= 2
    )


def test_networks_refuse_other_addresses_with_403(api, token):
    key = create_key(api, token, allowed_ips=["192.0.2.0/24"])
    refused = api.get("/user", token=key["token"])  # the tests call from 127.0.0.1
    assert refused.status_code == 403
    assert error_code(refused) == "ip_not_allowed"
    allowed = create_key(api, token, allowed_ips=["127.0.0.0/8"])
    assert api.get("/user", token=allowed["token"]).status_code == 200


def test_bad_rules_are_400s_naming_the_field(api, token):
    for body, attr in (
        ({"ratelimit": {"limit": 0, "window_seconds": 60}}, "ratelimit.limit"),
        ({"ratelimit": {"limit": 5, "window_seconds": 2_592_001}}, "ratelimit.window_seconds"),
        ({"credits": {"remaining": -1}}, "credits.remaining"),
        (
            {"credits": {"remaining": 1, "refill": {"interval": "hourly", "amount": 1}}},
            "credits.refill.interval",
        ),
        ({"meta": {"nested": {"a": 1}}}, "meta.nested"),
        ({"meta": {"big": "x" * 1100}}, "meta"),
        ({"allowed_ips": ["10.0.0.0/33"]}, "allowed_ips"),
        ({"allowed_ips": ["10.0.0.1"] * 21}, "allowed_ips"),
    ):
        response = api.post("/user/keys", token=token, json={"handle": "bad-rules", **body})
        assert response.status_code == 400, (body, response.text)
        attrs = [error["attr"] for error in response.json()["errors"]]
        assert any(a is not None and a.startswith(attr) for a in attrs), (body, attrs)


def test_patch_sets_and_clears_rules_and_views_show_them(api, token):
    key = create_key(api, token)
    assert (key["ratelimit"], key["credits"], key["meta"], key["allowed_ips"]) == (None,) * 4
    rules = {
        "ratelimit": {"limit": 100, "window_seconds": 60},
        "credits": {"remaining": 50, "refill": {"interval": "monthly", "amount": 1000}},
        "meta": {"plan": "pro", "seats": 3, "beta": True},
        "allowed_ips": ["10.0.0.7", "2001:db8::/48"],
    }
    patched = api.patch(f"/user/keys/{key['handle']}", token=token, json=rules).json()
    assert patched["allowed_ips"] == ["10.0.0.7/32", "2001:db8::/48"]
    listed = {k["handle"]: k for k in api.get("/user/keys", token=token).json()["keys"]}
    assert listed[key["handle"]]["meta"] == rules["meta"]
    assert listed[key["handle"]]["credits"] == rules["credits"]
    cleared = api.patch(
        f"/user/keys/{key['handle']}",
        token=token,
        json={"ratelimit": None, "credits": None, "meta": None, "allowed_ips": None},
    ).json()
    assert (cleared["ratelimit"], cleared["credits"], cleared["meta"], cleared["allowed_ips"]) == (
        None,
    ) * 4


def test_usage_route_counts_per_day(api, token):
    key = create_key(api, token, ratelimit={"limit": 3, "window_seconds": 3600})
    statuses = [api.get("/", token=key["token"]).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    report = api.get(f"/user/keys/{key['handle']}/usage?days=3", token=token)
    assert report.status_code == 200, report.text
    days = report.json()["days"]
    assert [day["date"] for day in days][-1] == usage.day(clock.now())
    assert len(days) == 3
    # allowed uses of a metered key are written by its own update, at once; refusals
    # ride on its next write (docs/usage.md)
    assert days[-1]["allowed"] == 3
    assert days[0] == {"date": days[0]["date"], "allowed": 0, "refused": 0}
    assert api.get(f"/user/keys/{key['handle']}/usage", token=token).json()["days"].__len__() == 30
    for bad in ("0", "91", "x", "-1"):
        response = api.get(f"/user/keys/{key['handle']}/usage?days={bad}", token=token)
        assert response.status_code == 400
        assert response.json()["errors"][0]["attr"] == "days"


def test_usage_of_another_users_key_is_not_found(api, token):
    key = create_key(api, token)
    other = api.login(make_user())["access_token"]
    assert api.get(f"/user/keys/{key['handle']}/usage", token=other).status_code == 404


@pytest.mark.parametrize(
    ("rules", "attr"),
    [
        ({"ratelimit": None}, "ratelimit"),
        ({"ratelimit": {"limit": 50, "window_seconds": 60}}, "ratelimit"),
        ({"allowed_ips": None}, "allowed_ips"),
    ],
)
def test_a_limited_key_cannot_loosen_itself_or_mint_a_looser_key(api, token, rules, attr):
    key = create_key(
        api,
        token,
        ratelimit={"limit": 10, "window_seconds": 60},
        allowed_ips=["127.0.0.0/8"],
    )
    loosened = api.patch(f"/user/keys/{key['handle']}", token=key["token"], json=rules)
    assert loosened.status_code == 403, loosened.text
    assert loosened.json()["errors"][0]["attr"] == attr
    minted = api.post(
        "/user/keys",
        token=key["token"],
        json={
            "handle": "child",
            "scopes": ["*"],
            "ratelimit": {"limit": 10, "window_seconds": 60},
            "allowed_ips": ["127.0.0.0/8"],
            **rules,
        },
    )
    assert minted.status_code == 403, minted.text


def test_bot_tokens_carry_rules_across_regeneration(api, admin):
    session = api.login(admin)["access_token"]
    created = api.post(
        "/account/bots",
        token=session,
        json={"name": "metered bot", "credits": {"remaining": 1}, "meta": {"team": "ops"}},
    )
    assert created.status_code == 201, created.text
    bot = created.json()
    assert bot["bot"]["credits"] == {"remaining": 1, "refill": None}
    assert api.get("/", token=bot["token"]).status_code == 200
    assert error_code(api.get("/", token=bot["token"])) == "usage_exceeded"
    regenerated = api.post(f"/account/bots/{bot['bot']['id']}/token", token=session).json()
    assert regenerated["bot"]["meta"] == {"team": "ops"}
    assert regenerated["bot"]["credits"]["remaining"] == 0  # spent credits stay spent
    assert error_code(api.get("/", token=regenerated["token"])) == "usage_exceeded"
