"""The token endpoint (RFC 6749: client_credentials, refresh_token) and introspection
(RFC 7662).

Clients are `jwt` keys: `client_id` = the key id, `client_secret` = its secret. Each
client authentication is an attempt on the client's own lockout (as a password is on
its user's): counted before the secret is compared, in constant time, against every
secret version the key accepts now.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from gatekey import clock, scopes
from gatekey.accounts.audit import RequestMeta
from gatekey.accounts.lockout import Lockout
from gatekey.accounts.sessions import SessionService
from gatekey.errors import InvalidToken, NotAuthenticated, SessionUsedElsewhere
from gatekey.oauth.errors import (
    ClientLocked,
    InvalidBearer,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    UnsupportedGrantType,
)
from gatekey.principal import API_KEY, CLIENT_JWT, SESSION, Principal
from gatekey.records import JWT, ApiKey
from gatekey.settings import Settings
from gatekey.store import Store, item_keys
from gatekey.tokens import access_tokens, key_tokens, signing_keys
from gatekey.tokens.authorization import Authorizer
from gatekey.tokens.keyring import Keyring

FORM = "application/x-www-form-urlencoded"
# The parameters gatekey reads; a repeated one is an error, any other is ignored.
PARAMETERS = frozenset(
    {
        "grant_type",
        "scope",
        "refresh_token",
        "client_id",
        "client_secret",
        "token",
        "token_type_hint",
    }
)
MAX_FORM_LENGTH = 8192
BAD_CLIENT = "Client authentication failed."
# Compared against when the client does not exist, so a miss costs what a wrong secret does.
_DUMMY_SECRET = key_tokens.SECRET_PREFIX + "0" * 43


@dataclass(frozen=True)
class Client:
    key: ApiKey
    version: tuple[int, str]


def parse_form(
    content_type: str | None, body: str | None, *, encoded: bool = False
) -> dict[str, str]:
    """The form's parameters; empty values count as absent and a repeated one is an
    error (RFC 6749 §3.1). `encoded`: API Gateway passed the body base64-encoded."""
    if (content_type or "").split(";")[0].strip().lower() != FORM:
        raise InvalidRequest(f"The body must be {FORM}.")
    text = body or ""
    if encoded:
        try:
            text = base64.b64decode(text).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidRequest("The body is not valid UTF-8.") from None
    if len(text) > MAX_FORM_LENGTH:
        raise InvalidRequest("The request body is too large.")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        raise InvalidRequest("The body is not a valid form.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if not value or name not in PARAMETERS:  # unknown parameters are ignored (§3.2)
            continue
        if name in form:
            raise InvalidRequest(f"The parameter {name} is repeated.")
        form[name] = value
    return form


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """`client_id`, `client_secret` from an HTTP Basic header (RFC 6749 §2.3.1: each
    form-urlencoded before Base64); None without a Basic header."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidClient(BAD_CLIENT) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise InvalidClient(BAD_CLIENT)
    return unquote_plus(client_id), unquote_plus(secret)


class OAuthService:
    def __init__(
        self, store: Store, keyring: Keyring, settings: Settings, authorizer: Authorizer
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings
        self.authorizer = authorizer
        self.lockout = Lockout(store, settings)

    # -- client authentication ----------------------------------------------------------

    def client_credentials_of(
        self, form: dict[str, str], authorization: str | None
    ) -> tuple[str, str] | None:
        """The client's id and secret, by Basic or in the body (one method only)."""
        basic = basic_credentials(authorization)
        in_body = "client_secret" in form
        other_id = "client_id" in form and form["client_id"] != (basic or ("", ""))[0]
        if basic is not None and (in_body or other_id):
            raise InvalidRequest("Authenticate the client one way only (RFC 6749 §2.3).")
        if basic is not None:
            return basic
        if in_body:
            if "client_id" not in form:
                raise InvalidClient(BAD_CLIENT)
            return form["client_id"], form["client_secret"]
        return None

    def authenticate_client(self, client_id: str, secret: str) -> Client:
        """The live `jwt` key whose secret this is, as one attempt on its lockout."""
        try:
            key_id = str(uuid.UUID(client_id))
        except ValueError:
            raise InvalidClient(BAD_CLIENT) from None
        if key_id != client_id.lower():
            raise InvalidClient(BAD_CLIENT)
        counter = item_keys.client_login_counter(key_id)
        now = clock.now()
        reserved = self.lockout.reserve_attempts([counter], now)
        if counter not in reserved:
            locked = self.lockout.throttled([counter], now)
            raise ClientLocked(
                "Too many failed authentications of this client; try again later.",
                retry_after=locked.retry_after,
            )
        key = self.store.get_key(key_id)
        live = (
            key is not None
            and key.type == JWT
            and not key.disabled
            and not key.is_expired(now)
            and not key.is_idle(now)
        )
        matched: tuple[int, str] | None = None
        versions = key.valid_versions(now) if key is not None and live else []
        for version, secret_kid in versions or [(0, "")]:
            expected = (
                key_tokens.make_client_secret(
                    self.keyring, key_id=key_id, version=version, secret_kid=secret_kid
                )
                if versions
                else _DUMMY_SECRET
            )
            if hmac.compare_digest(expected.encode(), secret.encode()) and versions:
                matched = (version, secret_kid)
        if key is None or matched is None:
            self.lockout.record_failure(counter, reserved[counter], now)
            raise InvalidClient(BAD_CLIENT)
        self.store.clear_login_failures(counter)
        return Client(key=key, version=matched)

    # -- the token endpoint -------------------------------------------------------------

    def token(
        self,
        form: dict[str, str],
        authorization: str | None,
        user_agent: str | None,
        meta: RequestMeta | None = None,
    ) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("grant_type is required.")
        if grant_type not in ("client_credentials", "refresh_token"):
            raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported.")
        credentials = self.client_credentials_of(form, authorization)
        if grant_type == "client_credentials":
            if credentials is None:
                raise InvalidClient("The client must authenticate (Basic or client_secret).")
            return self._client_token(self.authenticate_client(*credentials), form.get("scope"))
        if "refresh_token" not in form:
            raise InvalidRequest("refresh_token is required.")
        client = self.authenticate_client(*credentials) if credentials else None
        return self._refreshed(form["refresh_token"], form.get("scope"), client, user_agent, meta)

    def _client_token(self, client: Client, requested: str | None) -> dict[str, Any]:
        key = client.key
        held = key.scopes or scopes.DEFAULT_SCOPES
        granted = held if requested is None else _requested_scopes(requested)
        if not scopes.covers_all(held, granted):
            raise InvalidScope("The requested scope exceeds the client's scopes.")
        now = clock.now()
        expires_at = now + self.settings.access_token_seconds
        if key.expires_at is not None:
            expires_at = min(expires_at, key.expires_at)
        token = access_tokens.issue(
            signing_keys.get_kms(),
            signing_keys.current_document(self.store),
            user_id=key.user_id,
            account_id=key.account_id,
            scopes=tuple(granted),
            issued_at=now,
            expires_at=expires_at,
            client_id=key.key_id,
            client_key_version=access_tokens.key_version(*client.version),
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_at - now,
            "scope": scopes.render(granted),
        }

    def _refreshed(
        self,
        refresh_token: str,
        requested: str | None,
        client: Client | None,
        user_agent: str | None,
        meta: RequestMeta | None,
    ) -> dict[str, Any]:
        from gatekey.accounts import audit

        try:
            session = self.authorizer.authorize_refresh(f"Bearer {refresh_token}", user_agent)
        except SessionUsedElsewhere as error:
            audit.session_used_elsewhere(self.store, error.session, meta)
            raise InvalidGrant("The refresh token is invalid, expired or revoked.") from None
        except (InvalidToken, NotAuthenticated):
            raise InvalidGrant("The refresh token is invalid, expired or revoked.") from None
        if client is not None and client.key.account_id != session.account_id:
            raise InvalidGrant("The refresh token was not issued in this client's account.")
        if requested is not None and not scopes.covers_all(
            scopes.SESSION_SCOPES, _requested_scopes(requested)
        ):
            raise InvalidScope("The requested scope exceeds the session's.")
        answer = SessionService(self.store, self.keyring, self.settings).refresh(session)
        return {
            "access_token": answer["access_token"],
            "token_type": "Bearer",
            "expires_in": answer["expires_in"],
            "scope": scopes.render(scopes.SESSION_SCOPES),
        }

    # -- introspection ------------------------------------------------------------------

    def introspection_caller(
        self, form: dict[str, str], authorization: str | None, user_agent: str | None
    ) -> str:
        """The account of the caller: a client (Basic or body) or a login session."""
        credentials = self.client_credentials_of(form, authorization)
        if credentials is not None:
            return self.authenticate_client(*credentials).key.account_id
        if not authorization:
            raise InvalidClient("Authenticate as a client, or with a session token.")
        from gatekey.accounts import audit
        from gatekey.tokens.authorization import extract_token

        try:
            # Only a session may: identify first, so a key presented here is neither
            # touched nor metered; then authorize (User-Agent binding, idle expiry).
            if self.authorizer.identify(extract_token(authorization)).token_type != SESSION:
                raise InvalidBearer("Introspection takes a client's credentials or a session.")
            principal = self.authorizer.authorize(authorization, user_agent)
        except SessionUsedElsewhere as error:
            audit.session_used_elsewhere(self.store, error.session, None)
            raise InvalidBearer("The session token is invalid or expired.") from None
        except (InvalidToken, NotAuthenticated):
            raise InvalidBearer("The session token is invalid or expired.") from None
        return principal.account_id

    def introspect(self, caller_account_id: str, token: str | None) -> dict[str, Any]:
        """RFC 7662: what the token is, if it is live and of the caller's account."""
        if token is None:
            raise InvalidRequest("token is required.")
        inactive: dict[str, Any] = {"active": False}
        try:
            principal = self.authorizer.identify(token)
        except (InvalidToken, NotAuthenticated):
            return self._introspect_refresh(caller_account_id, token) or inactive
        if principal.account_id != caller_account_id:
            return inactive
        return self._active(principal, token)

    def _introspect_refresh(self, caller_account_id: str, token: str) -> dict[str, Any] | None:
        try:
            session = self.authorizer.authorize_refresh(f"Bearer {token}", None, enforce=False)
        except (InvalidToken, NotAuthenticated):
            return None
        if session.account_id != caller_account_id:
            return None
        return {
            "active": True,
            "scope": scopes.render(scopes.SESSION_SCOPES),
            "sub": session.user_id,
            "username": session.email or None,
            "exp": session.max_expires_at,
            "token_type": "Bearer",
            "gatekey_token_type": "refresh_token",
            "iss": self._issuer(),
            "account_id": session.account_id,
        }

    def _active(self, principal: Principal, token: str) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "active": True,
            "scope": scopes.render(principal.scopes),
            "sub": principal.user_id,
            "username": principal.email or None,
            "exp": principal.token_expires_at,
            "token_type": "Bearer",
            "gatekey_token_type": principal.token_type.value,
            "iss": self._issuer(),
            "account_id": principal.account_id,
        }
        if principal.token_type == CLIENT_JWT and principal.key_id is not None:
            answer["client_id"] = principal.key_id
        if principal.token_type == API_KEY:
            answer["key_handle"] = principal.key_handle
        if principal.token_type == CLIENT_JWT:
            answer["key_handle"] = principal.key_handle
        return {name: value for name, value in answer.items() if value is not None}

    def _issuer(self) -> str | None:
        document = signing_keys.published_keys(self.store).get()
        return None if document is None else document.issuer


def _requested_scopes(text: str) -> tuple[str, ...]:
    requested = tuple(dict.fromkeys(text.split()))
    if not requested or any(scopes.problem(scope) for scope in requested):
        raise InvalidScope("The scope is malformed.")
    return requested


def get_oauth_service() -> OAuthService:
    from gatekey.settings import get_settings
    from gatekey.store import get_store
    from gatekey.tokens.authorization import get_authorizer
    from gatekey.tokens.keyring import get_keyring

    return OAuthService(get_store(), get_keyring(), get_settings(), get_authorizer())
