"""Scopes: what a credential may do (CONTRACT section 7).

A scope is `*` or `resource:action`; the action may be `*` (`orders:*`). `*` covers
every scope of the APIs that attach the authorizer and never gatekey's own management
scopes, which are granted only by name. Session tokens hold every scope.

Kept free of third-party imports: the authorizer imports this on every cold start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ANY = "*"
KEYS = "gatekey:keys"
SESSIONS = "gatekey:sessions"
BOTS = "gatekey:bots"
USERS = "gatekey:users"
MANAGEMENT = frozenset({KEYS, SESSIONS, BOTS, USERS})
MANAGEMENT_RESOURCE = "gatekey"
# What a session token (a logged-in person) holds: everything, by name.
SESSION_SCOPES: tuple[str, ...] = (ANY, *sorted(MANAGEMENT))
DEFAULT_SCOPES: tuple[str, ...] = (ANY,)
MAX_SCOPES = 50
MAX_SCOPE_LENGTH = 128

_SCOPE = re.compile(r"^(?:\*|[a-z0-9_-]+:(?:[a-z0-9_-]+|\*))$")


def problem(scope: str) -> str | None:
    """Why `scope` is not a valid scope, or None when it is."""
    if len(scope) > MAX_SCOPE_LENGTH or not _SCOPE.match(scope):
        return "A scope is '*' or 'resource:action' of [a-z0-9_-] (the action may be '*')."
    resource = scope.partition(":")[0]
    if resource == MANAGEMENT_RESOURCE and scope not in MANAGEMENT:
        names = ", ".join(sorted(MANAGEMENT))
        return f"gatekey's scopes are granted only by name: {names}."
    return None


def normalize(scopes: Iterable[str]) -> tuple[str, ...]:
    """Sorted and without duplicates, so equal sets compare and store equally."""
    return tuple(sorted(set(scopes)))


def covers(held: Iterable[str], required: str) -> bool:
    """Whether a credential holding `held` may use something that needs `required`."""
    held = set(held)
    if required in held:
        return True
    resource, _, action = required.partition(":")
    if resource == MANAGEMENT_RESOURCE:
        return False
    if ANY in held:
        return True
    return action != ANY and f"{resource}:{ANY}" in held


def covers_all(held: Iterable[str], requested: Iterable[str]) -> bool:
    """No escalation: every requested scope is covered by what is held."""
    held = tuple(held)
    return all(covers(held, scope) for scope in requested)


def parse(text: str | None) -> tuple[str, ...]:
    """Scopes from their OAuth-style form (space-separated), as the authorizer passes them."""
    return normalize((text or "").split())


def render(scopes: Iterable[str]) -> str:
    return " ".join(scopes)
