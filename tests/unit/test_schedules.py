"""The local run's schedules: the template's daily expiry warnings are found, fire when
EventBridge would, with the event EventBridge sends (events/scheduled_daily.json)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from gatekey_local import schedules
from gatekey_local.schedules import Schedule, ScheduleTimers, schedules_of
from gatekey_local.template import load_template
from tests.conftest import TEMPLATE
from tests.helpers import load_event


def test_the_template_schedules_the_expiry_warnings_daily():
    template = load_template(TEMPLATE)
    [schedule] = schedules_of(template.path, template.functions)
    assert schedule.function_id == "NotifyExpiringFunction"
    assert schedule.expression == "cron(0 8 * * ? *)"
    before = datetime(2026, 12, 4, 7, 59, tzinfo=UTC)
    assert schedule.next_after(before) == datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    after = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    assert schedule.next_after(after) == datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def test_rates_and_unsupported_expressions():
    moment = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    assert Schedule("F", "E", "rate(1 day)").next_after(moment) == datetime(
        2026, 12, 5, 8, 0, tzinfo=UTC
    )
    assert Schedule("F", "E", "rate(5 minutes)").next_after(moment) == datetime(
        2026, 12, 4, 8, 5, tzinfo=UTC
    )
    assert Schedule("F", "E", "cron(0 8 ? * MON *)").next_after(moment) is None


def test_the_event_is_eventbridges():
    moment = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    event = Schedule("NotifyExpiringFunction", "Daily", "cron(0 8 * * ? *)").event(moment)
    sample = load_event("scheduled_daily.json")
    assert set(event) == set(sample)
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["time"] == "2026-12-04T08:00:00Z"


class RecordingRunner:
    def __init__(self) -> None:
        self.invoked = threading.Event()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, function_id: str, event: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((function_id, event))
        self.invoked.set()
        return {}


def test_a_timer_runs_its_function_soon_after_start(monkeypatch):
    monkeypatch.setattr(schedules, "FIRST_RUN_SECONDS", 0.01)
    runner = RecordingRunner()
    timers = ScheduleTimers([Schedule("F", "Daily", "cron(0 8 * * ? *)")], runner)
    timers.start()
    try:
        assert runner.invoked.wait(5)
    finally:
        timers.stop()
    [(function_id, event)] = runner.calls
    assert function_id == "F" and event["detail-type"] == "Scheduled Event"
    assert timers.lines() == [
        "Schedule: F cron(0 8 * * ? *) (UTC): runs a few seconds after start, then on that schedule"
    ]
