"""Who the caller is, as the authorizer passes it to every function behind it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gatekey import scopes as scope_rules
from gatekey.records import TokenType

SESSION = TokenType.SESSION
API_KEY = TokenType.API_KEY
CLIENT_JWT = TokenType.CLIENT_JWT


@dataclass(frozen=True)
class Principal:
    """An authenticated caller; `to_context` keeps to scalars, as API Gateway requires."""

    user_id: str
    account_id: str
    email: str
    role: str
    is_bot: bool
    token_type: TokenType
    token_expires_at: int | None = None
    key_handle: str | None = None
    session_id: str | None = None
    token_id: str | None = None
    scopes: tuple[str, ...] = ()
    key_id: str | None = None  # the key item behind an API key or a client JWT
    meta: str | None = None  # the key's metadata, JSON text, passed on to the backend
    limits: str | None = None  # the key's own usage rules, JSON text (policy compares)

    def __post_init__(self) -> None:
        if self.token_type == SESSION:  # a logged-in person holds every scope, by name
            object.__setattr__(self, "scopes", scope_rules.SESSION_SCOPES)

    def has_scope(self, scope: str) -> bool:
        return scope_rules.covers(self.scopes, scope)

    def to_context(self) -> dict[str, str | int | bool]:
        """Authorizer context: scalars only (API Gateway refuses others); None becomes ""
        (API Gateway drops null values); scopes are space-separated, OAuth style."""
        context: dict[str, str | int | bool] = {}
        for key, value in asdict(self).items():
            if key == "scopes":
                context[key] = scope_rules.render(value)
            else:
                context[key] = "" if value is None else value
        return context

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> Principal:
        """Reads a context back; API Gateway may hand scalars back as strings."""

        def text(name: str) -> str | None:
            value = context.get(name)
            return None if value in (None, "") else str(value)

        expires = text("token_expires_at")
        return cls(
            user_id=str(context["user_id"]),
            account_id=str(context["account_id"]),
            email=str(context["email"]),
            role=str(context["role"]),
            is_bot=str(context.get("is_bot")).lower() == "true",
            token_type=TokenType(str(context["token_type"])),
            token_expires_at=int(expires) if expires else None,
            key_handle=text("key_handle"),
            session_id=text("session_id"),
            token_id=text("token_id"),
            key_id=text("key_id"),
            scopes=scope_rules.parse(text("scopes")),
            meta=text("meta"),
            limits=text("limits"),
        )
