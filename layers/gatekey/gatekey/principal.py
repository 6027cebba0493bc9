"""Who the caller is, as the authorizer passes it to every function behind it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SESSION = "session"
API_KEY = "api_key"
CLIENT_JWT = "client_jwt"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller; `to_context` keeps to scalars, as API Gateway requires."""

    user_id: str
    account_id: str
    email: str
    role: str
    is_bot: bool
    token_type: str
    token_expires_at: int | None = None
    key_handle: str | None = None
    session_id: str | None = None
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def to_context(self) -> dict[str, str | int | bool]:
        """Authorizer context: None becomes "" (API Gateway drops null values)."""
        return {key: ("" if value is None else value) for key, value in asdict(self).items()}

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
            token_type=str(context["token_type"]),
            token_expires_at=int(expires) if expires else None,
            key_handle=text("key_handle"),
            session_id=text("session_id"),
            token_id=text("token_id"),
        )
