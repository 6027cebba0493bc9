"""The template's scheduled functions, run by the local run as EventBridge runs them.

A function with a ``Schedule`` (or ``ScheduleV2``) event, such as NotifyExpiringFunction
(the daily expiry warnings), is invoked with the event EventBridge sends (``detail-type``
``Scheduled Event``), through the same function process and IAM gate as its API
functions. Understood expressions: ``rate(N minute|minutes|hour|hours|day|days)`` and a
daily ``cron(M H * * ? *)`` (UTC); any other is reported and not run locally.

A local run is rarely up at the scheduled minute, so each schedule also runs once a few
seconds after the run is ready (``FIRST_RUN_SECONDS``): what a function would have
done on a missed day, it does then (the expiry warnings catch up on their own).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gatekey_local.cloudformation import load_yaml

logger = logging.getLogger(__name__)

FIRST_RUN_SECONDS = 5.0
LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_DAILY_CRON = re.compile(r"^cron\((\d{1,2}) (\d{1,2}) \* \* \? \*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400}


@dataclass(frozen=True)
class Schedule:
    """One schedule event of a function: ``expression`` as the template gives it."""

    function_id: str
    event_name: str
    expression: str

    def next_after(self, moment: datetime) -> datetime | None:
        """When it fires next after ``moment`` (UTC); None for an expression not run here."""
        rate = _RATE.match(self.expression)
        if rate:
            unit = rate.group(2).rstrip("s")
            return moment + timedelta(seconds=int(rate.group(1)) * _UNIT_SECONDS[unit])
        cron = _DAILY_CRON.match(self.expression)
        if cron:
            minute, hour = int(cron.group(1)), int(cron.group(2))
            fire = moment.replace(hour=hour, minute=minute, second=0, microsecond=0)
            return fire if fire > moment else fire + timedelta(days=1)
        return None

    def event(self, moment: datetime) -> dict[str, Any]:
        """The event EventBridge sends a rule's target."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": LOCAL_ACCOUNT,
            "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": LOCAL_REGION,
            "resources": [
                f"arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT}:rule/"
                f"{self.function_id}{self.event_name}"
            ],
            "detail": {},
        }


def schedules_of(template_path: Path, function_ids: Mapping[str, Any]) -> list[Schedule]:
    """The Schedule/ScheduleV2 events of the template's functions (those it loaded)."""
    document = load_yaml(template_path)
    found = []
    for logical_id, resource in (document.get("Resources") or {}).items():
        if logical_id not in function_ids:
            continue
        events = (resource.get("Properties") or {}).get("Events") or {}
        for name, event in events.items():
            if event.get("Type") not in ("Schedule", "ScheduleV2"):
                continue
            properties = event.get("Properties") or {}
            expression = properties.get("Schedule") or properties.get("ScheduleExpression")
            if isinstance(expression, str):
                found.append(Schedule(logical_id, name, expression.strip()))
    return found


class ScheduleTimers:
    """A thread per schedule, invoking its function through ``runner`` until stopped."""

    def __init__(self, schedules: list[Schedule], runner: Any) -> None:
        self.schedules = schedules
        self._runner = runner
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(s,), daemon=True, name=s.function_id)
            for s in schedules
            if s.next_after(datetime.now(UTC)) is not None
        ]

    def lines(self) -> list[str]:
        lines = []
        for schedule in self.schedules:
            runs = (
                "runs a few seconds after start, then on that schedule"
                if schedule.next_after(datetime.now(UTC)) is not None
                else "not run locally (only rate(...) and a daily cron(M H * * ? *) are)"
            )
            lines.append(f"Schedule: {schedule.function_id} {schedule.expression} (UTC): {runs}")
        return lines

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _loop(self, schedule: Schedule) -> None:
        if self._stop.wait(FIRST_RUN_SECONDS):
            return
        while True:
            self.fire(schedule)
            now = datetime.now(UTC)
            fire = schedule.next_after(now)
            if fire is None or self._stop.wait((fire - now).total_seconds()):
                return

    def fire(self, schedule: Schedule) -> Any:
        """One invocation, as EventBridge makes it; a failure is logged, as Lambda would."""
        started = time.monotonic()
        try:
            result = self._runner.invoke(schedule.function_id, schedule.event(datetime.now(UTC)))
        except Exception as exc:  # the function's error: logged, the timer goes on
            logger.warning("%s (schedule) failed: %s", schedule.function_id, exc)
            return None
        milliseconds = (time.monotonic() - started) * 1000
        logger.info("schedule %s %.0f ms", schedule.function_id, milliseconds)
        return result


@contextmanager
def running(
    template_path: Path, functions: Mapping[str, Any], runner: Any
) -> Iterator[ScheduleTimers]:
    """The template's schedules, started on entry and stopped on exit."""
    timers = ScheduleTimers(schedules_of(template_path, functions), runner)
    timers.start()
    try:
        yield timers
    finally:
        timers.stop()
