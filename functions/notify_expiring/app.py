"""The daily expiry warnings (contract section 11): invoked by the EventBridge schedule
of NotifyExpiringFunction, by the local run's timer with the same scheduled event, and,
through the same service, by `gatekey notify-expiring`. No HTTP route."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from gatekey.credentials.expiry import get_expiry_warnings

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = get_expiry_warnings().run()
    logger.info(
        "expiry warnings",
        extra={
            "schedule_time": event.get("time"),
            "markers_read": report["markers_read"],
            "warned": len(report["warned"]),
            "messages": report["messages"],
            "failed": report["failed"],
        },
    )
    return report
