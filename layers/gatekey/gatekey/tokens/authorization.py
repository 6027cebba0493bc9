"""Where a token gets checked: turns an Authorization header into a Principal.

The authorizer and every handler that accepts a credential call this module; nothing
else verifies tokens. Each path costs at most one DynamoDB read (plus a throttled
touch), and malformed or forged tokens are rejected before any read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gatekey import clock, scopes
from gatekey.errors import InvalidToken, NotAuthenticated, SessionUsedElsewhere
from gatekey.principal import API_KEY, CLIENT_JWT, SESSION, Principal
from gatekey.records import JWT, TOKEN, ApiKey, KeyType, Session, TokenType
from gatekey.settings import Settings, get_settings
from gatekey.store import Store, get_lean_store, get_store
from gatekey.tokens import key_tokens, metering, session_tokens
from gatekey.tokens.keyring import Keyring, get_keyring

MAX_TOKEN_LENGTH = 4096
MAX_JWT_HEADER_LENGTH = 512
MISSING_KID_DETAIL = "jwt token is missing 'kid' header parameter"
# Unpadded base64url only: `=` or stray characters would give one token many spellings.
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
# gatekey's RS256 access tokens name their key by its RFC 7638 thumbprint (43 characters).
_ACCESS_TOKEN_KID = re.compile(r"^[A-Za-z0-9_-]{43}$")


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


def b64url_decode(segment: str) -> bytes:
    """Strict base64url: a segment that does not re-encode to itself is refused, so no
    re-encoding of a token (padding, non-zero trailing bits) is a different token."""
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken() from None
    if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode() != segment:
        raise InvalidToken()
    return decoded


def read_jwt_header(token: str) -> dict[str, Any]:
    """The unverified JWT header, used only to pick the key; never trusted for `alg`.

    Hostile input (deep nesting, huge headers, bad encodings) is an invalid token,
    never an error of ours.
    """
    if not _JWT_SHAPE.match(token):
        raise InvalidToken()
    encoded = token.partition(".")[0]
    if len(encoded) > MAX_JWT_HEADER_LENGTH:
        raise InvalidToken()
    try:
        header = json.loads(b64url_decode(encoded))
    except (ValueError, RecursionError):
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


def client_jwt_revocation_id(key_id: str, token: str, claims: dict[str, Any]) -> str:
    """What identifies a client JWT for revocation, whatever its length or spelling.

    Its (verified) `jti`, hashed so that any length fits a DynamoDB key; without one, the
    digest of its decoded signature bytes, which no re-encoding of the token changes.
    """
    jti = claims.get("jti")
    if isinstance(jti, str) and jti:
        return f"jwt:{key_id}:{hashlib.sha256(jti.encode()).hexdigest()}"
    signature = b64url_decode(token.rpartition(".")[2])
    return f"jwtsig:{key_id}:{hashlib.sha256(signature).hexdigest()}"


class Authorizer:
    """Checks credentials against one store, keyring and settings."""

    def __init__(self, store: Store, keyring: Keyring, settings: Settings) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings

    def authorize(
        self,
        authorization: str | None,
        user_agent: str | None,
        *,
        user_agent_known: bool = True,
        source_ip: str | None = None,
    ) -> Principal:
        """The principal behind an Authorization header, or NotAuthenticated/InvalidToken,
        or a key's usage refusal (`UsageRefused`: rate limit, credits, networks).

        `user_agent_known=False` (REST TOKEN events carry no headers) refuses bound
        session tokens without ending their session: nothing proves they were stolen.
        `source_ip`: the caller's address as API Gateway saw it (None: unknown, which a
        key limited to networks never passes).
        """
        token = extract_token(authorization)
        if not user_agent_known and self.settings.bind_user_agent:
            return self._check(
                token, None, enforce=True, sessions_allowed=False, source_ip=source_ip
            )
        return self._check(token, user_agent, enforce=True, source_ip=source_ip)

    def identify(self, token: str) -> Principal:
        """Whose token this is, for revocation: no User-Agent binding, no last-used write."""
        return self._check(token, None, enforce=False)

    def authorize_refresh(
        self, authorization: str | None, user_agent: str | None, *, enforce: bool = True
    ) -> Session:
        """The live session behind a refresh token."""
        token = extract_token(authorization)
        kid = session_kid(token, self.keyring)
        claims = session_tokens.verify(self.keyring, token, kid, token_use=session_tokens.REFRESH)
        session = self.store.get_session(claims.session_id)
        return self._checked_session(session, claims, user_agent, enforce=enforce)

    def _check(
        self,
        token: str,
        user_agent: str | None,
        *,
        enforce: bool,
        sessions_allowed: bool = True,
        source_ip: str | None = None,
    ) -> Principal:
        if token.startswith(self.settings.key_prefix):
            return self._authorize_api_key(token, enforce=enforce, source_ip=source_ip)
        kid = jwt_kid(token)
        if kid in self.keyring.keys:
            if not sessions_allowed:
                raise InvalidToken()
            return self._authorize_session(token, kid, user_agent, enforce=enforce)
        if _ACCESS_TOKEN_KID.match(kid):
            return self._authorize_access_token(
                token,
                kid,
                user_agent,
                enforce=enforce,
                sessions_allowed=sessions_allowed,
                source_ip=source_ip,
            )
        return self._authorize_client_jwt(token, kid, enforce=enforce, source_ip=source_ip)

    def _authorize_access_token(
        self,
        token: str,
        kid: str,
        user_agent: str | None,
        *,
        enforce: bool,
        sessions_allowed: bool,
        source_ip: str | None,
    ) -> Principal:
        """An RS256 access token gatekey signed (login, refresh, the OAuth token endpoint):
        its signature and claims, then one read of the session or the client's key."""
        from gatekey.tokens import access_tokens, signing_keys  # deferred: not API keys' cost

        claims = access_tokens.verify(signing_keys.published_keys(self.store), token, kid)
        revocation_id = f"access:{claims.token_id}"
        if claims.client_id is None:
            if not sessions_allowed:
                raise InvalidToken()
            as_session = session_tokens.SessionClaims(
                user_id=claims.user_id,
                session_id=str(claims.session_id),
                token_use=session_tokens.ACCESS,
                token_id=claims.token_id,
                issued_at=claims.issued_at,
                expires_at=claims.expires_at,
            )
            return self._session_principal(
                as_session, user_agent, enforce=enforce, account_id=claims.account_id
            )
        # A client's token lives only while the key, and the secret version that got it,
        # do: deleting the key or rotating it without grace ends the token at once.
        version_text, _, secret_kid = str(claims.key_version).partition(":")
        if not version_text.isdigit():
            raise InvalidToken()
        version = (int(version_text), secret_kid)
        key = self._live_key(self.store.get_key(claims.client_id), JWT)
        if key.user_id != claims.user_id or key.account_id != claims.account_id:
            raise InvalidToken()
        if version not in key.valid_versions(clock.now()):
            raise InvalidToken()
        self._refuse_if_revoked(key.revoked_until, revocation_id)
        if enforce:
            key = self._use_key(key, version, source_ip, fresh=True)
        expires_at = claims.expires_at
        if key.expires_at is not None:
            expires_at = min(expires_at, key.expires_at)
        principal = self._key_principal(key, CLIENT_JWT, expires_at, revocation_id)
        # The token's scopes, as far as the key still holds them (scopes can be narrowed).
        held = key.scopes or scopes.DEFAULT_SCOPES
        granted = tuple(scope for scope in claims.scopes if scopes.covers(held, scope))
        return replace(principal, scopes=granted)

    def _authorize_session(
        self, token: str, kid: str, user_agent: str | None, *, enforce: bool
    ) -> Principal:
        claims = session_tokens.verify(self.keyring, token, kid, token_use=session_tokens.ACCESS)
        return self._session_principal(claims, user_agent, enforce=enforce)

    def _session_principal(
        self,
        claims: session_tokens.SessionClaims,
        user_agent: str | None,
        *,
        enforce: bool,
        account_id: str | None = None,
    ) -> Principal:
        """The caller behind a checked session access token (HS256 or RS256): one read of
        its session; `account_id`, when the token names one, must be the session's."""
        revocation_id = f"access:{claims.token_id}"
        stored = self.store.get_session(claims.session_id)
        session = self._checked_session(stored, claims, user_agent, enforce=enforce)
        self._refuse_if_revoked(session.revoked_until, revocation_id)
        if account_id is not None and session.account_id != account_id:
            raise InvalidToken()
        return Principal(
            user_id=session.user_id,
            account_id=session.account_id,
            email=session.email,
            role=session.role,
            is_bot=session.is_bot,
            token_type=SESSION,
            token_expires_at=claims.expires_at,
            session_id=session.session_id,
            token_id=revocation_id,
            scopes=scopes.SESSION_SCOPES,
        )

    def _checked_session(
        self,
        session: Session | None,
        claims: session_tokens.SessionClaims,
        user_agent: str | None,
        *,
        enforce: bool,
    ) -> Session:
        """Enforces the session's owner, User-Agent binding and (by touching) idle expiry."""
        if session is None:
            raise InvalidToken()
        if session.user_id != claims.user_id or session.disabled:
            raise InvalidToken()
        if not enforce:
            return session
        if self.settings.bind_user_agent and not hmac.compare_digest(
            session.user_agent.encode(), (user_agent or "").encode()
        ):
            # A token replayed from another client: end the session for everyone. The
            # caller records why (`accounts.audit.session_used_elsewhere`).
            self.store.delete_session(claims.session_id)
            raise SessionUsedElsewhere(session)
        self._touch_session(session)
        return session

    def _touch_session(self, session: Session) -> None:
        """Slides the idle expiry; never less often than twice per idle period, so a
        session in use cannot expire because its touches were throttled."""
        now = clock.now()
        interval = min(
            self.settings.touch_interval_seconds, self.settings.session_idle_seconds // 2
        )
        if now - session.last_used_at < interval:
            return
        ttl = min(now + self.settings.session_idle_seconds, session.max_expires_at)
        if not self.store.touch_session(session.session_id, at=now, ttl=ttl):
            raise InvalidToken()

    def _authorize_api_key(
        self, token: str, *, enforce: bool, source_ip: str | None = None
    ) -> Principal:
        claims = key_tokens.parse_token(self.keyring, token, self.settings.key_prefix)
        version = (claims.version, claims.secret_kid)
        image = metering.remembered(claims.key_id) if enforce else None
        if image is not None and _authorizes(image, TOKEN, version):
            key = self._use_key(image, version, source_ip, fresh=False)
        else:
            key = self._live_key(self.store.get_key(claims.key_id), TOKEN)
            if version not in key.valid_versions(clock.now()):
                raise InvalidToken()
            if enforce:
                key = self._use_key(key, version, source_ip, fresh=True)
        return self._key_principal(key, API_KEY, key.expires_at, key.key_id)

    def _authorize_client_jwt(
        self, token: str, kid: str, *, enforce: bool, source_ip: str | None = None
    ) -> Principal:
        """A JWT the client signed (HS256 only) with the secret of one of its `jwt` keys."""
        try:
            key_id = str(uuid.UUID(kid))
        except ValueError:
            raise InvalidToken() from None
        image = metering.remembered(key_id) if enforce else None
        verified = self._verified_by_image(token, image)
        if image is not None and verified is not None:
            claims, version = verified
            revocation_id = client_jwt_revocation_id(key_id, token, claims)
            key = self._use_key(image, version, source_ip, fresh=False, revocation=revocation_id)
        else:
            key = self._live_key(self.store.get_key(key_id), JWT)
            claims, version = self._verify_client_jwt(token, key)
            revocation_id = client_jwt_revocation_id(key_id, token, claims)
            self._refuse_if_revoked(key.revoked_until, revocation_id)
            if enforce:
                key = self._use_key(key, version, source_ip, fresh=True)
        expires_at = int(claims["exp"])
        if key.expires_at is not None:
            expires_at = min(expires_at, key.expires_at)
        return self._key_principal(key, CLIENT_JWT, expires_at, revocation_id)

    def _verified_by_image(
        self, token: str, image: ApiKey | None
    ) -> tuple[dict[str, Any], tuple[int, str]] | None:
        """A client JWT checked against a remembered key: its claims and the version that
        signed it, or None when the image cannot tell (read the key instead)."""
        if image is None or not _authorizes(image, JWT, None):
            return None
        try:
            return self._verify_client_jwt(token, image)
        except InvalidToken:
            return None

    def _use_key(
        self,
        key: ApiKey,
        version: tuple[int, str],
        source_ip: str | None,
        *,
        fresh: bool,
        revocation: str | None = None,
    ) -> ApiKey:
        """One use of a live key under its usage rules (tokens/metering.py): the key as
        the use left it, or a `UsageRefused`."""
        if key.metered:
            key_type = key.type
            revoked = None if revocation is None else self._revocation_check(revocation)
            key = metering.spend(
                self.store,
                key,
                version,
                source_ip,
                fresh=fresh,
                live=lambda current, presented: _authorizes(current, key_type, presented),
                revoked=revoked,
            )
            if key.metered:
                return key
        now = clock.now()
        metering.check_network(self.store, key, source_ip, now)
        metering.record_unmetered_use(self.store, key, now, self.settings.touch_interval_seconds)
        return key

    def _revocation_check(self, revocation_id: str) -> Callable[[ApiKey], bool]:
        return lambda _key: self.store.is_revoked(revocation_id)

    def _verify_client_jwt(self, token: str, key: ApiKey) -> tuple[dict[str, Any], tuple[int, str]]:
        import jwt  # deferred: PyJWT's import costs ~30 ms of cold start that API keys never need

        for version, secret_kid in key.valid_versions(clock.now()):
            secret = key_tokens.make_client_secret(
                self.keyring, key_id=key.key_id, version=version, secret_kid=secret_kid
            )
            try:
                claims: dict[str, Any] = jwt.decode(
                    token, secret, algorithms=["HS256"], options={"require": ["exp"]}
                )
            except jwt.InvalidSignatureError:
                continue
            except (jwt.PyJWTError, RecursionError):  # deep nesting is hostile, not ours
                raise InvalidToken() from None
            if not isinstance(claims.get("exp"), int):
                raise InvalidToken()
            return claims, (version, secret_kid)
        raise InvalidToken()

    def _refuse_if_revoked(self, revoked_until: int | None, revocation_id: str) -> None:
        """A second read only for a session or key that has live revocations."""
        if (revoked_until or 0) > clock.now() and self.store.is_revoked(revocation_id):
            raise InvalidToken()

    @staticmethod
    def _live_key(key: ApiKey | None, key_type: KeyType) -> ApiKey:
        if key is None or key.type != key_type:
            raise InvalidToken()
        now = clock.now()
        if key.disabled or key.is_expired(now) or key.is_idle(now):
            raise InvalidToken()
        return key

    @staticmethod
    def _key_principal(
        key: ApiKey, token_type: TokenType, expires_at: int | None, token_id: str | None
    ) -> Principal:
        return Principal(
            user_id=key.user_id,
            account_id=key.account_id,
            email=key.email,
            role=key.role,
            is_bot=key.is_bot,
            token_type=token_type,
            token_expires_at=expires_at,
            key_handle=key.handle,
            token_id=token_id,
            scopes=key.scopes or scopes.DEFAULT_SCOPES,
            key_id=key.key_id,
            meta=key.meta,
            limits=metering.limits_text(key),
        )


def _authorizes(key: ApiKey, key_type: KeyType, version: tuple[int, str] | None) -> bool:
    """Whether a key as it is now is live for its type and (when given) the version."""
    now = clock.now()
    if key.type != key_type or key.disabled or key.is_expired(now) or key.is_idle(now):
        return False
    return version is None or version in key.valid_versions(now)


def get_authorizer(*, lean: bool = False) -> Authorizer:
    """The container's authorizer (store and settings are cached; the keyring refreshes).

    `lean=True` (the authorizer function) reads DynamoDB and Secrets Manager through
    gatekey.aws, so its cold start does not pay for boto3.
    """
    store = get_lean_store() if lean else get_store()
    return Authorizer(store, get_keyring(lean=lean), get_settings())
