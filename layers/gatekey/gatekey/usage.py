"""A key's usage rules (contract section 9): rate-limit windows, credit refills, allowed
networks, metadata, and how one set of rules compares with another.

Ground: the standard library only, so the authorizer (tokens/metering.py), the policy
and the request models share one reading of the rules. `ipaddress` is imported only
when a key has networks: it is not on the path of a key without them.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

MAX_LIMIT = 1_000_000
MAX_WINDOW_SECONDS = 2_592_000  # 30 days
MAX_CREDITS = 1_000_000_000
MAX_META_BYTES = 1024
MAX_NETWORKS = 20
DAILY = "daily"
MONTHLY = "monthly"
INTERVALS = (DAILY, MONTHLY)
RULE_FIELDS = ("ratelimit", "credits", "meta", "allowed_ips")  # as bodies and views name them
USAGE_DAYS_KEPT = 90  # the usage route's longest view; older day counters are removed
DAY_SECONDS = 86_400


def new_rules_token() -> str:
    """A fresh `usage_rules` value: written with every change of a key's rules."""
    return secrets.token_hex(8)


# -- time: windows, days and refill periods -------------------------------------------


def window_start(now: int, window_seconds: int) -> int:
    """Windows start at multiples of their length since the epoch (UTC)."""
    return now - now % window_seconds


def day(now: int) -> str:
    """The UTC day of an epoch second: `2026-12-04`."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def refill_period(interval: str, now: int) -> str:
    """The refill period `now` falls in: the UTC day, or the UTC month (`2026-12`)."""
    return day(now) if interval == DAILY else day(now)[:7]


def next_refill_at(interval: str, now: int) -> int:
    """When the next period starts: next 00:00 UTC, or the 1st of next month."""
    if interval == DAILY:
        return now - now % DAY_SECONDS + DAY_SECONDS
    moment = datetime.fromtimestamp(now, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp())


# -- networks ---------------------------------------------------------------------------


def normalize_networks(networks: list[str]) -> list[str]:
    """CIDRs (or single addresses) in canonical form, duplicates removed; ValueError
    naming the first bad one."""
    import ipaddress

    if len(networks) > MAX_NETWORKS:
        raise ValueError(f"At most {MAX_NETWORKS} networks.")
    result: list[str] = []
    for text in networks:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{text[:64]!r} is not an IPv4 or IPv6 network (CIDR).") from None
        if str(network) not in result:
            result.append(str(network))
    return result


def ip_allowed(source_ip: str | None, networks: tuple[str, ...] | list[str]) -> bool:
    """Whether a source address lies in one of the networks; no address never does."""
    if not source_ip:
        return False
    import ipaddress

    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in networks)


def networks_within(inner: list[str], outer: list[str]) -> bool:
    """Whether every network of `inner` lies inside one of `outer`."""
    import ipaddress

    outer_networks = [ipaddress.ip_network(network) for network in outer]
    return all(
        any(
            candidate.version == container.version and candidate.subnet_of(container)  # type: ignore[arg-type]
            for container in outer_networks
        )
        for candidate in (ipaddress.ip_network(network) for network in inner)
    )


# -- metadata ---------------------------------------------------------------------------


def meta_text(meta: dict[str, Any]) -> str:
    """Metadata as the authorizer passes it on: compact JSON text."""
    return json.dumps(meta, separators=(",", ":"), ensure_ascii=False)


def meta_problem(meta: dict[str, Any]) -> str | None:
    """Why metadata is refused: not flat, a value that is not a string, number or
    boolean, or more than 1024 bytes of JSON."""
    for name, value in meta.items():
        if not isinstance(value, str | int | float | bool) or value is None:
            return f"meta.{name[:64]} must be a string, a number or a boolean."
    if len(meta_text(meta).encode()) > MAX_META_BYTES:
        return f"meta is over {MAX_META_BYTES} bytes as JSON."
    return None


# -- comparing rules: no credential gives looser limits than it has ------------------------


def looser_than(holder: dict[str, Any], requested: dict[str, Any]) -> tuple[str, str] | None:
    """(attr, reason) when `requested` rules are looser than the `holder`'s, else None.

    Both are {"ratelimit", "credits", "allowed_ips"} as a key view shows them (absent or
    None = no limit). Looser means: no rate limit where the holder has one, or a higher
    rate or a bigger burst (limit); credits where the holder has none left to give, more
    than the holder has, or a refill the holder lacks or exceeds; networks beyond the
    holder's.
    """
    mine, theirs = holder.get("ratelimit"), requested.get("ratelimit")
    if mine is not None and _rate_looser(mine, theirs):
        return "ratelimit", "A key cannot have a looser rate limit than the credential making it."
    if holder.get("credits") is not None and _credits_looser(
        holder["credits"], requested.get("credits")
    ):
        return "credits", "A key cannot have more credits than the credential making it."
    networks = requested.get("allowed_ips")
    if holder.get("allowed_ips") is not None and (
        networks is None or not networks_within(networks, holder["allowed_ips"])
    ):
        return "allowed_ips", "A key cannot reach networks the credential making it cannot."
    return None


def _rate_looser(mine: dict[str, int], theirs: dict[str, int] | None) -> bool:
    """No limit, a higher rate, or a bigger burst than `mine`."""
    return (
        theirs is None
        or theirs["limit"] * mine["window_seconds"] > mine["limit"] * theirs["window_seconds"]
        or theirs["limit"] > mine["limit"]
    )


def _credits_looser(mine: dict[str, Any], theirs: dict[str, Any] | None) -> bool:
    if theirs is None or theirs["remaining"] > mine["remaining"]:
        return True
    my_refill, their_refill = mine.get("refill"), theirs.get("refill")
    if their_refill is None:
        return False
    if my_refill is None or their_refill["amount"] > my_refill["amount"]:
        return True
    return bool(my_refill["interval"] == MONTHLY and their_refill["interval"] == DAILY)
