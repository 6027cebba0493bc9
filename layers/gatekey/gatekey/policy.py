"""Who may do what: the one place that decides every management action.

Handlers ask before reading a body (`check(principal, action)`), services ask again with
what is requested (scopes, expiry, role, the target user). Nothing else in gatekey checks
roles, scopes or token kinds for management; `docs/api.md`'s permission table is tested
against `RULES`.

A decision is `None` (allowed) or a refusal: a `GatekeyError` carrying its contract code
(403 `permission_denied`, or 400 `validation_error` for a request no caller may make).
`check` raises it.

Kept free of third-party imports: the authorizer's cold start imports `principal`, and
this module must never be a reason for it to import more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gatekey import scopes, usage
from gatekey.errors import GatekeyError, PermissionDenied, ValidationFailed
from gatekey.principal import Principal
from gatekey.records import TokenType, User

ADMIN = "admin"


class Action(StrEnum):
    """A management action; its value names it in `docs/api.md`'s permission table."""

    MANAGE_KEYS = "manage_keys"
    MANAGE_SESSIONS = "manage_sessions"
    MANAGE_BOTS = "manage_bots"
    MANAGE_USERS = "manage_users"
    READ_AUDIT = "read_audit"
    MANAGE_ACCOUNT_KEYS = "manage_account_keys"
    CHANGE_OWN_SECURITY = "change_own_security"
    RESET_MEMBER_MFA = "reset_member_mfa"


@dataclass(frozen=True)
class Rule:
    """What an action needs of the credential: a scope held by name, the owner's role
    being admin now, or a login session (the person, never a key or JWT)."""

    scope: str | None = None
    admin: bool = False
    session_only: bool = False


RULES: dict[Action, Rule] = {
    Action.MANAGE_KEYS: Rule(scope=scopes.KEYS),
    Action.MANAGE_SESSIONS: Rule(scope=scopes.SESSIONS),
    Action.MANAGE_BOTS: Rule(scope=scopes.BOTS, admin=True),
    Action.MANAGE_USERS: Rule(scope=scopes.USERS, admin=True),
    Action.READ_AUDIT: Rule(scope=scopes.USERS, admin=True),
    Action.MANAGE_ACCOUNT_KEYS: Rule(scope=scopes.USERS, admin=True),
    Action.CHANGE_OWN_SECURITY: Rule(session_only=True),
    Action.RESET_MEMBER_MFA: Rule(admin=True, session_only=True),
}


@dataclass(frozen=True)
class Request:
    """What a management call asks for, where it matters to the decision.

    `grant_scopes`/`grant_expires_at`/`grant_rules`: the scopes, expiry and usage rules
    (as a key view shows them) a new or changed credential gets (`grant_expires_at` None
    = never expires; `grants` says whether one is asked).
    `role`: a role given to a user. `target`: the user acted upon.
    """

    grants: bool = False
    grant_scopes: tuple[str, ...] = ()
    grant_expires_at: int | None = None
    grant_rules: dict[str, Any] = field(default_factory=dict)
    role: str | None = None
    target: User | None = None


def is_session(principal: Principal) -> bool:
    return principal.token_type == TokenType.SESSION


def is_admin(principal: Principal) -> bool:
    """An account admin now (the role the authorizer read); a bot never is one."""
    return principal.role == ADMIN and not principal.is_bot


def decide(
    principal: Principal, action: Action, request: Request | None = None
) -> GatekeyError | None:
    """None when `principal` may do `action` as `request` asks, else the refusal."""
    rule = RULES[action]
    if rule.session_only and not is_session(principal):
        return PermissionDenied("Only a login session may do this, never a key or a JWT.")
    if rule.scope is not None and not principal.has_scope(rule.scope):
        return PermissionDenied(f"This credential lacks the scope {rule.scope}.")
    if rule.admin and not is_admin(principal):
        return PermissionDenied("Only account admins may do this.")
    if request is None:
        return None
    own = request.target is not None and request.target.user_id == principal.user_id
    if action == Action.RESET_MEMBER_MFA and own:  # a stolen session must not skip DELETE /user/mfa
        return PermissionDenied(
            "Turn off your own two-step verification with your password and a code."
        )
    if request.grants:
        refusal = _refuse_escalation(
            principal, request.grant_scopes, request.grant_expires_at, request.grant_rules
        )
        if refusal is not None:
            return refusal
    return _refuse_admin_power(principal, request)


def check(principal: Principal, action: Action, request: Request | None = None) -> None:
    """Raises the refusal of `decide`, if any."""
    refusal = decide(principal, action, request)
    if refusal is not None:
        raise refusal


def grant_expiry(principal: Principal, requested: int | None) -> int | None:
    """The expiry a credential created on `principal`'s behalf gets when none is asked:
    a session's person may mint a never-expiring one; a key or JWT passes on its own
    expiry, never more (a bot made by a 1-day key lives one day)."""
    if is_session(principal) or requested is not None:
        return requested
    return principal.token_expires_at


def _refuse_escalation(
    principal: Principal,
    requested: tuple[str, ...],
    expires_at: int | None,
    rules: dict[str, Any],
) -> GatekeyError | None:
    """No escalation: a credential may give (or show) only scopes it holds, no longer a
    life than its own, and no looser usage rules than its own (rate limit, credits,
    networks; `usage.looser_than`). A session is the person: anything of theirs."""
    if is_session(principal):
        return None
    if not scopes.covers_all(principal.scopes, requested):
        return PermissionDenied(
            "A credential cannot hold scopes the credential managing it lacks.", attr="scopes"
        )
    limit = principal.token_expires_at
    if limit is not None and (expires_at is None or expires_at > limit):
        return PermissionDenied(
            "A credential cannot outlive the credential managing it.", attr="expires_at"
        )
    if principal.limits:
        looser = usage.looser_than(json.loads(principal.limits), rules)
        if looser is not None:
            return PermissionDenied(looser[1], attr=looser[0])
    return None


def _refuse_admin_power(principal: Principal, request: Request) -> GatekeyError | None:
    """Admin power comes only from an admin's session; a bot is never an admin; a key
    with `gatekey:users` manages members only."""
    if request.role == ADMIN:
        if request.target is not None and request.target.is_bot:
            return ValidationFailed.field("role", "A bot cannot be an admin.")
        if not (is_session(principal) and is_admin(principal)):
            return PermissionDenied("Only an admin's login session may make an admin.", attr="role")
    target = request.target
    if target is not None and target.role == ADMIN and not is_session(principal):
        return PermissionDenied("Only an admin's login session may change an admin.")
    return None
