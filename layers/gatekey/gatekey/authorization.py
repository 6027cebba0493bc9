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
import uuid
from typing import Any

import jwt

from gatekey import clock, key_tokens, session_tokens
from gatekey.errors import InvalidToken, NotAuthenticated
from gatekey.keyring import Keyring, get_keyring
from gatekey.principal import API_KEY, CLIENT_JWT, SESSION, Principal
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


def jwt_kid(token: str) -> str:
    """The `kid` a JWT's header names: a keyring version (session) or a key id (client)."""
    kid = read_jwt_header(token).get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken(MISSING_KID_DETAIL)
    return kid


def session_kid(token: str, keyring: Keyring) -> str:
    """The keyring version named by a session JWT's header."""
    kid = jwt_kid(token)
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
        if token.startswith(key_tokens.PREFIX):
            return self._authorize_api_key(token)
        kid = jwt_kid(token)
        if kid in self.keyring.keys:
            return self._authorize_session(token, kid, user_agent)
        return self._authorize_client_jwt(token, kid)

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

    def _authorize_api_key(self, token: str) -> Principal:
        claims = key_tokens.parse_token(self.keyring, token)
        key = self._live_key(claims.key_id, "token")
        if (claims.version, claims.secret_kid) not in self._valid_versions(key):
            raise InvalidToken()
        self._touch_key(key)
        return self._key_principal(key, API_KEY, key.get("expires_at"), key["key_id"])

    def _authorize_client_jwt(self, token: str, kid: str) -> Principal:
        """A JWT the client signed (HS256 only) with the secret of one of its `jwt` keys."""
        try:
            key_id = str(uuid.UUID(kid))
        except ValueError:
            raise InvalidToken() from None
        key = self._live_key(key_id, "jwt")
        for version, secret_kid in self._valid_versions(key):
            secret = key_tokens.make_client_secret(
                self.keyring, key_id=key_id, version=version, secret_kid=secret_kid
            )
            try:
                claims = jwt.decode(
                    token, secret, algorithms=["HS256"], options={"require": ["exp"]}
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                raise InvalidToken() from None
            break
        else:
            raise InvalidToken()
        self._touch_key(key)
        token_id = claims.get("jti")
        return self._key_principal(
            key, CLIENT_JWT, int(claims["exp"]), str(token_id) if token_id else None
        )

    def _live_key(self, key_id: str, key_type: str) -> Item:
        key = self.store.get_key(key_id)
        if key is None or key["type"] != key_type:
            raise InvalidToken()
        expires_at = key.get("expires_at")
        if expires_at is not None and int(expires_at) <= clock.now():
            raise InvalidToken()
        return key

    @staticmethod
    def _valid_versions(key: Item) -> list[tuple[int, str]]:
        """The current version, and the previous one while its rotation grace lasts."""
        versions = [(int(key["version"]), str(key["secret_kid"]))]
        previous_until = key.get("previous_valid_until")
        if previous_until is not None and int(previous_until) > clock.now():
            versions.append((int(key["previous_version"]), str(key["previous_secret_kid"])))
        return versions

    def _touch_key(self, key: Item) -> None:
        now = clock.now()
        if now - int(key.get("last_used_at") or 0) >= self.settings.touch_interval_seconds:
            self.store.touch_key(key["key_id"], at=now)

    @staticmethod
    def _key_principal(
        key: Item, token_type: str, expires_at: int | None, token_id: str | None
    ) -> Principal:
        return Principal(
            user_id=key["user_id"],
            account_id=key["account_id"],
            email=key.get("email", ""),
            role=key["role"],
            is_bot=bool(key.get("is_bot", False)),
            token_type=token_type,
            token_expires_at=expires_at,
            key_handle=key["handle"],
            token_id=token_id,
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
