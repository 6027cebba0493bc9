"""Request bodies, validated with pydantic (never imported by the authorizer)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_PASSWORD_LENGTH = 1024


class LoginRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=False)

    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    account_id: str | None = Field(default=None, min_length=1, max_length=64)
