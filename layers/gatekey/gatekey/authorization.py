"""Where a token gets checked: turns an Authorization header into a Principal.

The authorizer and every handler that accepts a credential call this module; nothing
else verifies tokens. Each path costs at most one DynamoDB read (plus a throttled
touch), and malformed or forged tokens are rejected before any read.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

from gatekey import clock, session_tokens
from gatekey.errors import InvalidToken, NotAuthenticated
from gatekey.keyring import Keyring, get_keyring
from gatekey.principal import SESSION, Principal
from gatekey.settings import Settings, get_settings
from gatekey.store import Item, Store, get_store

MAX_TOKEN_LENGTH = 4096
MISSING_KID_DETAIL = "jwt token is missing 'kid' header parameter"


def extract_token(authorization: str | None) -> str:
    """`Bearer <token>` or a bare `<token>`; anything else is not a credential we accept."""
    if authorization is None or not authorization.strip():
        raise NotAuthenticated()
    parts = authorization.strip().split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        token = parts[1]
    elif len(parts) == 1 and parts[0].lower() != "bearer":
        token = parts[0]
    else:
        raise InvalidToken()
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidToken()
    return token


def read_jwt_header(token: str) -> dict[str, Any]:
    """The unverified JWT header, used only to pick the key; never trusted for `alg`."""
    segments = token.split(".")
    if len(segments) != 3:
        raise InvalidToken()
    encoded = segments[0]
    try:
        decoded = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        header = json.loads(decoded)
    except (binascii.Error, ValueError):
        raise InvalidToken() from None
    if not isinstance(header, dict):
        raise InvalidToken()
    return header


def session_kid(token: str, keyring: Keyring) -> str:
    """The keyring version named by a session JWT's header."""
    kid = read_jwt_header(token).get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken(MISSING_KID_DETAIL)
    if kid not in keyring.keys:
        raise InvalidToken()
    return kid


class Authorizer:
    """Checks credentials against one store, keyring and settings."""

    def __init__(self, store: Store, keyring: Keyring, settings: Settings) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings

    def authorize(self, authorization: str | None, user_agent: str | None) -> Principal:
        """The principal behind an Authorization header, or NotAuthenticated/InvalidToken."""
        token = extract_token(authorization)
        kid = session_kid(token, self.keyring)
        return self._authorize_session(token, kid, user_agent)

    def authorize_refresh(self, authorization: str | None, user_agent: str | None) -> Item:
        """The live session behind a refresh token."""
        token = extract_token(authorization)
        kid = session_kid(token, self.keyring)
        claims = session_tokens.verify(self.keyring, token, kid, token_use=session_tokens.REFRESH)
        return self._live_session(claims, user_agent)

    def _authorize_session(self, token: str, kid: str, user_agent: str | None) -> Principal:
        claims = session_tokens.verify(self.keyring, token, kid, token_use=session_tokens.ACCESS)
        session = self._live_session(claims, user_agent)
        return Principal(
            user_id=session["user_id"],
            account_id=session["account_id"],
            email=session["email"],
            role=session["role"],
            is_bot=bool(session.get("is_bot", False)),
            token_type=SESSION,
            token_expires_at=claims.expires_at,
            session_id=session["session_id"],
            token_id=claims.token_id,
        )

    def _live_session(self, claims: session_tokens.SessionClaims, user_agent: str | None) -> Item:
        """The session named by verified claims, enforcing User-Agent binding and idle expiry."""
        session = self.store.get_session(claims.session_id)
        if session is None or session["user_id"] != claims.user_id:
            raise InvalidToken()
        if self.settings.bind_user_agent and not hmac.compare_digest(
            session.get("user_agent", "").encode(), (user_agent or "").encode()
        ):
            # A token replayed from another client: end the session for everyone.
            self.store.delete_session(claims.session_id)
            raise InvalidToken()
        self._touch(session)
        return session

    def _touch(self, session: Item) -> None:
        now = clock.now()
        if now - int(session["last_used_at"]) < self.settings.touch_interval_seconds:
            return
        ttl = min(now + self.settings.session_idle_seconds, int(session["max_expires_at"]))
        if not self.store.touch_session(session["session_id"], at=now, ttl=ttl):
            raise InvalidToken()


def get_authorizer() -> Authorizer:
    """The container's authorizer (store and settings are cached; the keyring refreshes)."""
    return Authorizer(get_store(), get_keyring(), get_settings())
