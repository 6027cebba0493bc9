"""What the local run prints: the access line of each request, and which lines of the
functions' output it shows at which GATEKEY_LOG_LEVEL (the functions write them all)."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from gatekey.accounts.audit import logger as audit_logger
from gatekey.metrics import emf_document
from gatekey_local.lambda_runner import FUNCTION_OUTPUT_LOGGER, FunctionOutput
from gatekey_local.server import access_line


def test_access_line_is_method_path_status_and_milliseconds():
    assert access_line("POST", "/auth/login", 200, 61.6) == "POST /auth/login 200 62 ms"
    assert access_line("HEAD", "/", 200, 0.2) == "HEAD / 200 0 ms"


def test_access_line_carries_no_query_string():
    line = access_line("GET", "/user?access_token=gk_s3cret&password=hunter2", 401, 3)
    assert line == "GET /user 401 3 ms"


def test_access_line_cannot_forge_or_flood_the_log():
    forged = access_line("GET", "/a\x1b[2J\x00 200 1 ms", 404, 1)
    assert forged == "GET /a\\x1b[2J\\x00\\x20200\\x201\\x20ms 404 1 ms"
    assert len(access_line("GET", "/" + "x" * 10_000, 404, 1)) < 300
    assert access_line("BREW\nGET", "/", 501, 1).startswith("? / 501")


@pytest.fixture
def level() -> Iterator[object]:
    logger = logging.getLogger(FUNCTION_OUTPUT_LOGGER)
    before = logger.level

    def set_level(name: str) -> None:
        logger.setLevel(name)

    yield set_level
    logger.setLevel(before)


def audit_line() -> str:
    """An audit event's line as Powertools writes it in a function."""
    return json.dumps(
        {
            "level": "INFO",
            "location": "emit:243",
            "message": "audit",
            "timestamp": "2026-11-22 03:54:51,000+0000",
            "service": "gatekey",
            "account_id": "a1",
            "audit": {"action": "login.succeeded", "outcome": "success"},
        }
    )


def metric_line() -> str:
    document = emf_document("Logins", {"outcome": "success"}, timestamp_ms=int(time.time() * 1000))
    return json.dumps(document, separators=(",", ":"))


def log_line(level_name: str, message: str = "something") -> str:
    return json.dumps({"level": level_name, "message": message, "service": "gatekey"})


def test_audit_and_metric_lines_are_shown_at_debug_only(level):
    level("INFO")
    assert not FunctionOutput.shown(audit_line())
    assert not FunctionOutput.shown(metric_line())
    level("DEBUG")
    assert FunctionOutput.shown(audit_line())
    assert FunctionOutput.shown(metric_line())


def test_warnings_errors_and_plain_output_are_shown(level):
    level("INFO")
    assert FunctionOutput.shown(log_line("WARNING", "permission missing: dynamodb:GetItem"))
    assert FunctionOutput.shown(log_line("ERROR", "unhandled error"))
    assert FunctionOutput.shown(log_line("INFO", "message written to the outbox"))
    assert FunctionOutput.shown("Traceback (most recent call last):")
    assert FunctionOutput.shown("{not json")
    assert FunctionOutput.shown("[1, 2]")
    assert not FunctionOutput.shown(log_line("DEBUG"))
    level("WARNING")
    assert not FunctionOutput.shown(log_line("INFO"))
    assert FunctionOutput.shown(log_line("WARNING"))


def test_the_audit_line_is_recognised_as_the_layer_writes_it():
    """The record rule follows gatekey's own audit logger (message "audit", field
    "audit"), not a copy of it that could drift."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    handler.setFormatter(LambdaPowertoolsFormatter())
    audit_logger.addHandler(handler)
    try:
        audit_logger.info("audit", extra={"account_id": "a1", "audit": {"action": "x"}})
    finally:
        audit_logger.removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    assert FunctionOutput.is_record(json.loads(line))


def test_relay_copies_shown_lines_only(level, capsys):
    level("INFO")
    source = io.BytesIO(
        f"{audit_line()}\n{metric_line()}\nplain line\n{log_line('WARNING')}\nno newline".encode()
    )
    FunctionOutput.relay(source, "stdout").join(timeout=5)
    out = capsys.readouterr().out
    assert out.splitlines() == ["plain line", log_line("WARNING"), "no newline"]
