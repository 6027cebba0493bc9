"""The HTTP request and response as the local API Gateway sees them, and the wire
details both payload versions share (forwarded headers, header values, status codes,
request times)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Request:
    """An incoming HTTP request as API Gateway sees it."""

    method: str
    target: str
    headers: Headers
    body: bytes
    source_ip: str
    host: str

    def header(self, name: str) -> str | None:
        """The last value of a header, matched case-insensitively (as API Gateway)."""
        wanted = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found


@dataclass(frozen=True)
class Response:
    """What goes back on the wire."""

    status: int
    headers: Headers
    body: bytes


def forwarded_headers(request: Request) -> Headers:
    """The request headers plus the X-Forwarded-* ones API Gateway adds."""
    headers = list(request.headers)
    forwarded_for = request.header("X-Forwarded-For")
    headers = [(key, value) for key, value in headers if key.lower() != "x-forwarded-for"]
    headers.append(
        (
            "X-Forwarded-For",
            f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip,
        )
    )
    if request.header("X-Forwarded-Proto") is None:
        headers.append(("X-Forwarded-Proto", "http"))
    if request.header("X-Forwarded-Port") is None:
        headers.append(("X-Forwarded-Port", request.host.rpartition(":")[2] or "80"))
    return headers


def header_text(value: Any) -> str:
    """A header value of a Lambda response as text; only scalars are allowed."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError("malformed Lambda proxy response: a header value is not a scalar")


def status_code(result: Mapping[str, Any]) -> int:
    """The ``statusCode`` of a Lambda response (200 when absent); a bad one is an error."""
    status = result.get("statusCode", 200)
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"malformed Lambda proxy response: statusCode {status!r}")
    return status


def request_time(now: float) -> str:
    """``requestTime`` / ``time`` of a request context (CLF format, UTC)."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
