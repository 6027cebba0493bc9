"""Key limits and usage in the console (CONTRACT section 9), in Chromium.

A key gets a rate limit, credits, metadata and allowed networks from the form; the API
holds them, the list shows them after a reload, the dialog changes and clears them
(`null` in the PATCH). The key is used against the local API until its rate limit
refuses it, and the chart's bar for today is compared with the counts the API reports.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Request, Route, expect

from tests.browser.helpers import api_login, call, copy, log_in, shot
from tests.helpers import make_user

pytestmark = pytest.mark.browser

LIMITS = "Limits, credits, metadata and networks (optional)"
META = {"plan": "pro", "tenant": 42, "beta": True}
NETWORKS = ["127.0.0.0/8", "::1/128"]
# how long a count may take to show in GET .../usage (docs say it is folded into writes)
COUNT_DEADLINE_SECONDS = 15
WRITE_AN_OBJECT = 'write an object such as {"plan": "pro", "tenant": 42}.'


def key_row(page: Page, handle: str) -> Locator:
    return page.locator("#keys-body").get_by_role("row").filter(has_text=handle)


def limits_cell(row: Locator) -> Locator:
    return row.locator('td[data-label="Limits"]')


def api_key(base: str, access: str, handle: str) -> dict[str, Any]:
    response = call(base, "GET", f"/user/keys/{handle}", access)
    assert response.status_code == 200, response.text
    key: dict[str, Any] = response.json()
    return key


def api_usage(base: str, access: str, handle: str) -> dict[str, Any]:
    response = call(base, "GET", f"/user/keys/{handle}/usage?days=30", access)
    assert response.status_code == 200, response.text
    usage: dict[str, Any] = response.json()
    return usage


def day_name(day: str, today: str) -> str:
    """How the page names a day: en-GB medium date, "(today)" for today."""
    parsed = date.fromisoformat(day)
    name = f"{parsed.day} {parsed.strftime('%b')} {parsed.year}"
    return f"{name} (today)" if day == today else name


def bar_name(day: dict[str, Any], today: str) -> str:
    return f"{day_name(day['date'], today)}: {day['allowed']:,} allowed, {day['refused']:,} refused"


def patch_bodies(page: Page) -> list[Any]:
    """The bodies of the PATCH requests the page sends from now on."""
    bodies: list[Any] = []

    def remember(request: Request) -> None:
        if request.method == "PATCH":
            bodies.append(request.post_data_json)

    page.on("request", remember)
    return bodies


def fill_limits(scope: Locator, **values: str) -> None:
    labels = {
        "limit": "Requests",
        "window": "Per (seconds)",
        "remaining": "Remaining",
        "amount": "Refill to",
        "meta": "Metadata (optional)",
        "networks": "Allowed networks (optional)",
    }
    for name, value in values.items():
        if name == "refill":
            scope.get_by_label("Refill", exact=True).select_option(label=value)
        else:
            scope.get_by_label(labels[name], exact=True).fill(value)


def expect_chart_matches(panel: Locator, days: list[dict[str, Any]]) -> None:
    """One bar per day the API reports, each named by its counts, heights to scale."""
    today = datetime.now(UTC).date().isoformat()
    bars = panel.locator("g.usage-day")
    expect(bars).to_have_count(len(days))
    chart = panel.locator("svg")
    scale = float(chart.get_attribute("data-scale") or "0")
    plot = float(chart.get_attribute("data-plot-height") or "0")
    assert scale >= max(day["allowed"] + day["refused"] for day in days) and plot > 0
    # the top of the y axis says the scale
    expect(panel.locator("text.axis-y").last).to_have_text(f"{int(scale):,}")
    for index, day in enumerate(days):
        bar = bars.nth(index)
        expect(bar).to_have_attribute("data-date", day["date"])
        expect(bar).to_have_attribute("aria-label", bar_name(day, today))
    for day in days:
        if day["allowed"] + day["refused"] == 0:
            continue
        bar = panel.get_by_role("img", name=bar_name(day, today), exact=True)
        expect(bar.locator("title")).to_have_text(bar_name(day, today))
        allowed = float(bar.locator("rect.usage-allowed").get_attribute("height") or "-1")
        refused = float(bar.locator("rect.usage-refused").get_attribute("height") or "-1")
        assert allowed == pytest.approx(day["allowed"] / scale * plot, abs=0.01)
        assert refused == pytest.approx(day["refused"] / scale * plot, abs=0.01)
        # drawn as a stack: refused on top of allowed, both on the baseline
        allowed_y = float(bar.locator("rect.usage-allowed").get_attribute("y") or "0")
        refused_y = float(bar.locator("rect.usage-refused").get_attribute("y") or "0")
        assert refused_y + refused == pytest.approx(allowed_y, abs=0.02)


def test_limits_set_at_creation_are_shown_after_reload_and_the_chart_counts_their_use(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    user = make_user()
    access = api_login(local_api, user)["access_token"]
    log_in(page, console_url, user)

    form = page.locator("#key-create-form")
    form.get_by_label("Handle").fill("metered")
    form.get_by_label("Expires").select_option(label="In 30 days")
    details = form.locator("details")
    expect(form.get_by_label("Requests")).to_be_hidden()  # folded away until asked for
    details.get_by_text(LIMITS).click()
    fill_limits(
        form,
        limit="3",
        window="3600",
        remaining="50",
        refill="Monthly",
        amount="1000",
        meta=json.dumps(META),
        networks="\n".join(NETWORKS),
    )
    form.get_by_role("button", name="Create key").click()
    panel = page.get_by_role("region", name="Key “metered” created")
    token = copy(page, panel, "Copy token")
    expect(details).not_to_have_attribute("open", "")  # the form is reset and folded again
    page.get_by_role("button", name="Done").click()

    key = api_key(local_api, access, "metered")
    assert key["ratelimit"] == {"limit": 3, "window_seconds": 3600}
    assert key["credits"] == {"remaining": 50, "refill": {"interval": "monthly", "amount": 1000}}
    assert key["meta"] == META
    assert key["allowed_ips"] == NETWORKS

    page.reload()
    expect(page.get_by_role("heading", level=1, name="API keys")).to_be_focused()
    row = key_row(page, "metered")
    limits = limits_cell(row)
    expect(limits.locator("dt")).to_have_text(["Rate limit", "Credits", "Networks", "Metadata"])
    expect(limits.locator("dd")).to_have_text(
        [
            "3 per hour",
            "50 left, refilled to 1,000 monthly",
            "127.0.0.0/8, ::1/128",
            json.dumps(META),
        ]
    )
    expires = datetime.fromisoformat(key["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    expires_cell = row.locator('td[data-label="Expires"] time')
    expect(expires_cell).to_have_attribute("datetime", key["expires_at"])
    expect(row.locator('td[data-label="Scopes"] li')).to_have_text(["*"])

    # before any use: a clear empty state, no chart
    row.get_by_role("button", name="Usage of key metered").click()
    usage_panel = page.get_by_role("region", name="Usage of key “metered”, last 30 days")
    expect(usage_panel).to_be_focused()
    expect(usage_panel.locator("#keys-usage-empty")).to_have_text(
        "No use yet: nothing was allowed or refused in the last 30 days."
    )
    expect(usage_panel.locator("svg")).to_have_count(0)
    expect(usage_panel.get_by_role("figure")).to_be_hidden()

    # three allowed by the rate limit (3 an hour), then refused with 429 rate_limited
    answers = [call(local_api, "GET", "/auth/authenticated", token) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    assert answers[-1].json()["errors"][0]["code"] == "rate_limited"
    assert int(answers[-1].headers["Retry-After"]) > 0

    # a higher limit from the dialog, sent alone; the next use is allowed again, and its
    # write carries the counts of the refusals (docs: a refusal writes nothing of its own)
    patches = patch_bodies(page)
    row.get_by_role("button", name="Change limits of key metered").click()
    dialog = page.get_by_role("dialog", name="Limits of key “metered”")
    fill_limits(dialog, limit="10")
    dialog.get_by_role("button", name="Save limits").click()
    expect(dialog).to_be_hidden()
    assert patches == [{"ratelimit": {"limit": 10, "window_seconds": 3600}}]
    expect(limits_cell(row).locator("dd").first).to_have_text("10 per hour")
    assert call(local_api, "GET", "/auth/authenticated", token).status_code == 200

    deadline = time.monotonic() + COUNT_DEADLINE_SECONDS
    reported = api_usage(local_api, access, "metered")
    while reported["days"][-1]["allowed"] + reported["days"][-1]["refused"] < 6:
        assert time.monotonic() < deadline, reported["days"][-1]
        time.sleep(0.5)
        reported = api_usage(local_api, access, "metered")
    today = reported["days"][-1]
    assert today["date"] == datetime.now(UTC).date().isoformat()
    assert (today["allowed"], today["refused"]) == (4, 2)
    assert len(reported["days"]) == 30

    usage_panel.get_by_role("button", name="Refresh").click()
    expect(usage_panel.locator("#keys-usage-empty")).to_be_hidden()
    expect(usage_panel.locator("#keys-usage-summary")).to_contain_text(
        "4 allowed and 2 refused in the last 30 days (UTC). Last used"
    )
    expect_chart_matches(usage_panel, reported["days"])
    today_bar = usage_panel.get_by_role("img", name=bar_name(today, today["date"]), exact=True)
    expect(today_bar).to_have_attribute("data-allowed", "4")
    expect(today_bar).to_have_attribute("data-refused", "2")
    expect(usage_panel.locator("text.axis-x").last).to_have_text("Today")
    shot(page, screenshots, "18-key-usage")

    # four allowed requests spent four credits; refusals spend none
    remaining = api_key(local_api, access, "metered")["credits"]["remaining"]
    assert remaining == 46
    page.get_by_role("region", name="Your keys").get_by_role("button", name="Refresh").click()
    expect(limits_cell(key_row(page, "metered")).locator("dd").nth(1)).to_have_text(
        f"{remaining} left, refilled to 1,000 monthly"
    )

    usage_panel.get_by_role("button", name="Close").click()
    expect(usage_panel).to_be_hidden()


def test_limits_are_changed_and_cleared_in_the_dialog(
    page: Page, console_url: str, local_api: str
) -> None:
    user = make_user()
    access = api_login(local_api, user)["access_token"]
    body = {
        "handle": "partner",
        "ratelimit": {"limit": 100, "window_seconds": 60},
        "credits": {"remaining": 7, "refill": None},
        "meta": {"partner": "acme"},
        "allowed_ips": ["10.0.0.0/8"],
    }
    created = call(local_api, "POST", "/user/keys", access, json=body)
    assert created.status_code == 201, created.text
    log_in(page, console_url, user)
    row = key_row(page, "partner")
    expect(limits_cell(row).locator("dd")).to_have_text(
        ["100 per minute", "7 left, no refill", "10.0.0.0/8", '{"partner": "acme"}']
    )

    row.get_by_role("button", name="Change limits of key partner").click()
    dialog = page.get_by_role("dialog", name="Limits of key “partner”")
    expect(dialog.get_by_label("Requests")).to_have_value("100")
    expect(dialog.get_by_label("Per (seconds)")).to_have_value("60")
    expect(dialog.get_by_label("Remaining")).to_have_value("7")
    expect(dialog.get_by_label("Refill", exact=True)).to_have_value("")
    expect(dialog.get_by_label("Allowed networks (optional)")).to_have_value("10.0.0.0/8")
    meta = dialog.get_by_label("Metadata (optional)").input_value()
    assert json.loads(meta) == {"partner": "acme"}

    patches = patch_bodies(page)
    # a new window, no networks and no metadata; the credits are left as they are
    fill_limits(dialog, limit="250", window="86400", networks="", meta="")
    dialog.get_by_role("button", name="Save limits").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#announcer")).to_have_text("Limits of key partner changed")
    expect(row.get_by_role("button", name="Change limits of key partner")).to_be_focused()
    # only what changed is sent: resending the credits would reset what is left
    assert patches == [
        {"ratelimit": {"limit": 250, "window_seconds": 86400}, "meta": None, "allowed_ips": None}
    ]
    expect(limits_cell(row).locator("dd")).to_have_text(["250 per day", "7 left, no refill"])
    key = api_key(local_api, access, "partner")
    assert key["ratelimit"] == {"limit": 250, "window_seconds": 86400}
    assert key["credits"] == {"remaining": 7, "refill": None}
    assert key.get("meta") is None and key.get("allowed_ips") is None

    # credits get a daily refill, then everything is cleared
    row.get_by_role("button", name="Change limits of key partner").click()
    fill_limits(dialog, refill="Daily", amount="20")
    dialog.get_by_role("button", name="Save limits").click()
    expect(dialog).to_be_hidden()
    refill = {"interval": "daily", "amount": 20}
    assert patches[-1] == {"credits": {"remaining": 7, "refill": refill}}
    expect(limits_cell(row).locator("dd").nth(1)).to_have_text("7 left, refilled to 20 daily")

    row.get_by_role("button", name="Change limits of key partner").click()
    fill_limits(dialog, limit="", window="", remaining="", amount="")
    dialog.get_by_label("Refill", exact=True).select_option(label="Never")
    dialog.get_by_role("button", name="Save limits").click()
    expect(dialog).to_be_hidden()
    assert patches[-1] == {"ratelimit": None, "credits": None}
    expect(limits_cell(row)).to_contain_text("None")
    key = api_key(local_api, access, "partner")
    assert [key.get(name) for name in ("ratelimit", "credits", "meta", "allowed_ips")] == [None] * 4

    # nothing changed: nothing is sent
    row.get_by_role("button", name="Change limits of key partner").click()
    dialog.get_by_role("button", name="Save limits").click()
    expect(page.locator("#announcer")).to_have_text("Limits of key partner unchanged")
    assert len(patches) == 3


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "plan: pro",
            f"Metadata: this is not valid JSON; {WRITE_AN_OBJECT}",
        ),
        (
            '["pro"]',
            f"Metadata: this is JSON but not an object; {WRITE_AN_OBJECT}",
        ),
        (
            '{"plan": "pro", "limits": {"rps": 5}, "tags": ["a"]}',
            "Metadata: “limits”, “tags” hold a list, an object or null; the object must be flat: "
            "each value text, a number, true or false.",
        ),
        (
            json.dumps({"note": "x" * 1100}),
            "Metadata: it takes 1111 bytes as JSON; at most 1024 are allowed.",
        ),
    ],
    ids=["not-json", "a-list", "nested", "too-big"],
)
def test_metadata_that_is_not_a_flat_object_is_explained_beside_it(
    page: Page, console_url: str, typed: str, message: str
) -> None:
    user = make_user()
    log_in(page, console_url, user)
    sent: list[str] = []
    page.on(
        "request", lambda request: sent.append(request.url) if request.method == "POST" else None
    )
    form = page.locator("#key-create-form")
    form.get_by_label("Handle").fill("with-meta")
    form.locator("details").get_by_text(LIMITS).click()
    meta = form.get_by_label("Metadata (optional)")
    meta.fill(typed)
    form.locator("details").get_by_text(LIMITS).click()  # folded again: the error opens it
    form.get_by_role("button", name="Create key").click()

    error = form.locator("#key-meta-error")
    expect(error).to_have_text(message)
    expect(error).to_have_role("alert")
    expect(meta).to_be_focused()
    expect(meta).to_have_attribute("aria-invalid", "true")
    expect(form.locator("#key-create-error")).to_be_hidden()
    assert sent == []

    # fixed: the mark goes, and the key is created with the metadata
    meta.fill('{"plan": "pro"}')
    form.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("region", name="Key “with-meta” created")).to_be_visible()
    expect(error).to_be_hidden()
    expect(meta).not_to_have_attribute("aria-invalid", "true")
    expect(limits_cell(key_row(page, "with-meta")).locator("dd")).to_have_text(['{"plan": "pro"}'])


def test_half_a_rate_limit_or_a_refill_without_amount_is_refused_before_sending(
    page: Page, console_url: str
) -> None:
    user = make_user()
    log_in(page, console_url, user)
    form = page.locator("#key-create-form")
    form.get_by_label("Handle").fill("half")
    form.locator("details").get_by_text(LIMITS).click()
    fill_limits(form, limit="10")
    form.get_by_role("button", name="Create key").click()
    expect(form.locator("#key-ratelimit-error")).to_have_text(
        "Rate limit: give both the number of requests and the window in seconds, or neither."
    )
    expect(form.get_by_label("Requests")).to_be_focused()

    fill_limits(form, limit="", refill="Daily")
    form.get_by_role("button", name="Create key").click()
    expect(form.locator("#key-ratelimit-error")).to_be_hidden()
    expect(form.locator("#key-credits-error")).to_have_text(
        "Credits: say how many credits a refill gives."
    )
    fill_limits(form, networks="10.0.0.0/8\nlocalhost")
    fill_limits(form, amount="5")
    form.get_by_role("button", name="Create key").click()
    expect(form.locator("#key-allowed-ips-error")).to_have_text(
        "Allowed networks: “localhost” is not an IPv4 or IPv6 network; write one per line, "
        "such as 203.0.113.0/24."
    )
    expect(form.get_by_label("Allowed networks (optional)")).to_be_focused()


def stubbed_days(counts: dict[int, tuple[int, int]]) -> list[dict[str, Any]]:
    """30 days ending today, oldest first; `counts` maps days ago to (allowed, refused)."""
    today = datetime.now(UTC).date()
    return [
        {
            "date": (today - timedelta(days=ago)).isoformat(),
            "allowed": counts.get(ago, (0, 0))[0],
            "refused": counts.get(ago, (0, 0))[1],
        }
        for ago in range(29, -1, -1)
    ]


def test_the_chart_draws_every_day_the_api_reports_to_scale(
    page: Page, console_url: str, local_api: str, screenshots: Path
) -> None:
    """The drawing alone, from a stubbed usage route: many days, a scale above 10."""
    user = make_user()
    access = api_login(local_api, user)["access_token"]
    created = call(local_api, "POST", "/user/keys", access, json={"handle": "reports"})
    assert created.status_code == 201, created.text
    shape = {ago: (40 + (ago * 37) % 90, (ago * 13) % 25) for ago in range(0, 30) if ago % 6 != 3}
    shape[0] = (120, 18)
    days = stubbed_days(shape)
    answers: list[dict[str, Any]] = [
        {"days": days, "last_used_at": datetime.now(UTC).isoformat()},
        {"days": stubbed_days({}), "last_used_at": None},
    ]

    def usage(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(answers[0]))

    page.route(lambda url: url.endswith("/user/keys/reports/usage?days=30"), usage)
    log_in(page, console_url, user)
    key_row(page, "reports").get_by_role("button", name="Usage of key reports").click()
    panel = page.get_by_role("region", name="Usage of key “reports”, last 30 days")
    expect_chart_matches(panel, days)
    chart = panel.locator("svg")
    expect(chart).to_have_attribute("data-scale", "200")  # the highest day is 150
    expect(panel.locator("text.axis-y")).to_have_text(["0", "100", "200"])
    allowed = sum(day["allowed"] for day in days)
    refused = sum(day["refused"] for day in days)
    expect(panel.locator("#keys-usage-summary")).to_contain_text(
        f"{allowed:,} allowed and {refused:,} refused in the last 30 days (UTC). Last used"
    )
    expect(panel.get_by_role("figure")).to_contain_text("Allowed")
    shot(page, screenshots, "19-key-usage-chart", full_page=False)

    # a period without use: no bars, the empty state says so
    answers.pop(0)
    panel.get_by_role("button", name="Refresh").click()
    expect(panel.locator("#keys-usage-empty")).to_have_text(
        "No use yet: nothing was allowed or refused in the last 30 days."
    )
    expect(panel.locator("g.usage-day")).to_have_count(0)
    expect(panel.get_by_role("figure")).to_be_hidden()
