"""gatekey's access tokens: RS256 JWTs (RFC 9068 shape) from login, refresh and the
OAuth token endpoint, verifiable by anyone with the JWKS.

Claims: `iss`, `aud`, `sub` (user id), `exp`, `iat`, `jti`, `scope` (space-separated),
`account_id`; a session's token has `sid` (the session it belongs to), a client's has
`client_id` (its `jwt` key) and `kv` (the key version whose secret authenticated the
client, so a rotation without grace ends the token with the secret).

Verification takes RS256 only, whatever the header says, with the pure-Python check of
`rs256` (no `cryptography` import on the authorizer's path), then the claims.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from gatekey import clock
from gatekey.errors import InvalidToken
from gatekey.tokens import rs256
from gatekey.tokens.signing_keys import Kms, PublishedKeys, SigningDocument, sign_rs256

ALGORITHM = "RS256"
TOKEN_TYPE = "at+jwt"  # RFC 9068's media type for JWT access tokens
# A kid of ours is an RFC 7638 thumbprint: 43 base64url characters (session kids are
# keyring versions such as "k1", client JWT kids are UUIDs: 36 characters).
KID_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_STRICT_B64 = re.compile(r"^[A-Za-z0-9_-]*$")
# Tokens whose signature this container has checked, with their claims, under the
# published document they were checked against: a client presents the same access token
# for up to an hour, and the RSA exponentiation (~0.25 ms of pure Python, most of a warm
# authorization's CPU) need not be repeated for it. A token is checked again when the
# document is read again (every few minutes, or on a rotation). Expiry, the session or
# key, and revocations are checked on every authorization, cached or not.
VERIFIED_CACHE_SIZE = 1024
_verified: dict[str, tuple[SigningDocument, dict[str, Any]]] = {}


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    account_id: str
    token_id: str
    issued_at: int
    expires_at: int
    scopes: tuple[str, ...]
    issuer: str
    session_id: str | None = None
    client_id: str | None = None
    key_version: str | None = None


def key_version(version: int, secret_kid: str) -> str:
    """The `kv` claim: one version of a `jwt` key's secret."""
    return f"{version}:{secret_kid}"


def issue(
    kms: Kms,
    document: SigningDocument,
    *,
    user_id: str,
    account_id: str,
    scopes: tuple[str, ...],
    issued_at: int,
    expires_at: int,
    session_id: str | None = None,
    client_id: str | None = None,
    client_key_version: str | None = None,
) -> str:
    """An access token signed by the current key (one `kms:Sign`)."""
    claims: dict[str, Any] = {
        "iss": document.issuer,
        "sub": user_id,
        "aud": document.audience,
        "exp": expires_at,
        "iat": issued_at,
        "jti": secrets.token_urlsafe(16),
        "scope": " ".join(scopes),
        "account_id": account_id,
    }
    if session_id is not None:
        claims["sid"] = session_id
    if client_id is not None:
        claims["client_id"] = client_id
        claims["kv"] = client_key_version
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": document.current_kid}
    signing_input = f"{_encode(header)}.{_encode(claims)}"
    signature = sign_rs256(kms, document.current_key_arn, signing_input.encode())
    return f"{signing_input}.{rs256.b64url_encode(signature)}"


def verify(published: PublishedKeys, token: str, kid: str) -> AccessClaims:
    """The claims of a token we signed and that is not expired; InvalidToken otherwise.

    `kid` is the header's (read by the caller); a kid or issuer this container does not
    know makes it read the published keys again (bounded), so rotations take effect.
    """
    document = published.get()
    if document is None or kid not in document.keys:
        document = published.get(unknown=True)
    if document is None or kid not in document.keys:
        raise InvalidToken()
    cached = _verified.get(token)
    if cached is not None and cached[0] is document:
        return _checked(cached[1], document)
    header_b64, payload_b64, signature_b64 = token.split(".")
    signature = _decode(signature_b64)
    if not rs256.verify(document.keys[kid], f"{header_b64}.{payload_b64}".encode(), signature):
        raise InvalidToken()
    try:
        header = json.loads(_decode(header_b64))
        claims = json.loads(_decode(payload_b64))
    except (ValueError, RecursionError):
        raise InvalidToken() from None
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        raise InvalidToken()
    if not isinstance(claims, dict):
        raise InvalidToken()
    if claims.get("iss") != document.issuer:
        fresh = published.get(unknown=True)
        if fresh is None or claims.get("iss") != fresh.issuer or kid not in fresh.keys:
            raise InvalidToken()
        document = fresh
    checked = _checked(claims, document)
    if len(_verified) >= VERIFIED_CACHE_SIZE:
        _verified.clear()
    _verified[token] = (document, claims)
    return checked


def forget_verified() -> None:
    """Forgets which tokens were checked (tests; a new container starts empty)."""
    _verified.clear()


def _checked(claims: dict[str, Any], document: SigningDocument) -> AccessClaims:
    audience = claims.get("aud")
    if audience != document.audience and not (
        isinstance(audience, list) and document.audience in audience
    ):
        raise InvalidToken()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int) or isinstance(exp, bool):
        raise InvalidToken()
    if exp <= clock.now():
        raise InvalidToken()
    texts = {name: claims.get(name) for name in ("sub", "jti", "account_id", "scope")}
    if not all(isinstance(value, str) for value in texts.values()):
        raise InvalidToken()
    session_id, client_id = claims.get("sid"), claims.get("client_id")
    if (session_id is None) == (client_id is None):
        raise InvalidToken()  # exactly one of a session's and a client's
    if client_id is not None and not (
        isinstance(client_id, str) and isinstance(claims.get("kv"), str)
    ):
        raise InvalidToken()
    if session_id is not None and not isinstance(session_id, str):
        raise InvalidToken()
    return AccessClaims(
        user_id=str(texts["sub"]),
        account_id=str(texts["account_id"]),
        token_id=str(texts["jti"]),
        issued_at=iat,
        expires_at=exp,
        scopes=tuple(str(texts["scope"]).split()),
        issuer=document.issuer,
        session_id=session_id,
        client_id=client_id,
        key_version=claims.get("kv"),
    )


def _encode(value: dict[str, Any]) -> str:
    return rs256.b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def _decode(segment: str) -> bytes:
    """Strict base64url: one spelling per token (no padding, no stray trailing bits)."""
    if not _STRICT_B64.match(segment):
        raise InvalidToken()
    try:
        decoded = rs256.b64url_decode(segment)
    except ValueError:
        raise InvalidToken() from None
    if rs256.b64url_encode(decoded) != segment:
        raise InvalidToken()
    return decoded
