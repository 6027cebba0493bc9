"""Session JWTs (HS256) issued at login: a short access token and a refresh token.

The header's `kid` names the keyring version that signed the token, so the signing
key can rotate while tokens it issued stay verifiable. Verification never reads the
header's `alg`: only HS256 is accepted.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from gatekey.errors import InvalidToken
from gatekey.tokens.keyring import Keyring

ALGORITHM = "HS256"
ISSUER = "gatekey"
PURPOSE = "session-jwt"
ACCESS = "access"
REFRESH = "refresh"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "typ", "jti", "iss"]


@dataclass(frozen=True)
class SessionClaims:
    user_id: str
    session_id: str
    token_use: str
    token_id: str
    issued_at: int
    expires_at: int


def issue(
    keyring: Keyring,
    *,
    user_id: str,
    session_id: str,
    token_use: str,
    issued_at: int,
    expires_at: int,
) -> str:
    import jwt  # deferred: PyJWT's import costs ~30 ms of cold start that API keys never need

    claims = {
        "iss": ISSUER,
        "sub": user_id,
        "sid": session_id,
        "typ": token_use,
        "jti": secrets.token_urlsafe(12),
        "iat": issued_at,
        "exp": expires_at,
    }
    key = keyring.derive(PURPOSE, keyring.current_kid)
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": keyring.current_kid})


def verify(keyring: Keyring, token: str, kid: str, *, token_use: str) -> SessionClaims:
    """Checks signature, expiry and claims of a session token whose header named `kid`."""
    import jwt  # deferred, as in issue()

    key = keyring.derive(PURPOSE, kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
    except (jwt.PyJWTError, RecursionError):  # deep nesting is hostile input, not our error
        raise InvalidToken() from None
    if claims.get("typ") != token_use:
        raise InvalidToken()
    try:
        return SessionClaims(
            user_id=str(claims["sub"]),
            session_id=str(claims["sid"]),
            token_use=token_use,
            token_id=str(claims["jti"]),
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
        )
    except (TypeError, ValueError):
        raise InvalidToken() from None
