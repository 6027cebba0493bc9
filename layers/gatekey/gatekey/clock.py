"""Time in one place: epoch seconds for storage and comparison, ISO 8601 `Z` for clients."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> int:
    """Current time in whole epoch seconds."""
    return int(time.time())


def iso(epoch: int | float | None) -> str | None:
    """ISO 8601 UTC with `Z`, second precision; None stays None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> int:
    """Epoch seconds from an ISO 8601 timestamp; naive timestamps are read as UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())
