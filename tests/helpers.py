"""Test helpers shared by the integration and end-to-end suites."""

from __future__ import annotations

import importlib.util
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gatekey
from gatekey import scopes, store
from gatekey.accounts import users
from gatekey.principal import SESSION, Principal

PASSWORD = "correct horse battery staple"
USER_AGENT = "gatekey-tests/1.0"
REPO_ROOT = Path(__file__).resolve().parents[1]


def reset_gatekey_caches() -> None:
    """Forget the container-level caches so a changed environment takes effect."""
    gatekey.reset_caches()


@dataclass(frozen=True)
class TestUser:
    user_id: str
    account_id: str
    email: str
    password: str
    admin: bool = False

    def principal(self, **details: Any) -> Principal:
        """The user as the authorizer would describe them (a session by default)."""
        if details.get("token_type", SESSION) == SESSION:
            details.setdefault("scopes", scopes.SESSION_SCOPES)
        return Principal(
            user_id=self.user_id,
            account_id=self.account_id,
            email=self.email,
            role="admin" if self.admin else "member",
            is_bot=False,
            token_type=details.pop("token_type", SESSION),
            **details,
        )


def make_user(
    *, account_id: str | None = None, admin: bool = False, email: str | None = None
) -> TestUser:
    """A fresh account (unless given) and a user with a known password, in the test table."""
    db = store.get_store()
    if account_id is None:
        account_id = users.create_account(db, "Test Co")["account_id"]
    email = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
    user = users.create_user(db, account_id=account_id, email=email, password=PASSWORD, admin=admin)
    return TestUser(user.user_id, account_id, email, PASSWORD, admin)


def load_handler(function_dir: str) -> Any:
    """A function's `app` module, imported from functions/<dir>/app.py as Lambda would."""
    path = REPO_ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(f"gatekey_test_{function_dir}_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_event(name: str, **replacements: str) -> dict[str, Any]:
    """A sample event from events/, with `<placeholder>` strings replaced."""
    text = (REPO_ROOT / "events" / name).read_text()
    for placeholder, value in replacements.items():
        text = text.replace(f"<{placeholder}>", value)
    event: dict[str, Any] = json.loads(text)
    return event
