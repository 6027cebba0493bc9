"""An HTTP API's JWT authorizer, as API Gateway documents it: no function is called.

"Control access to HTTP APIs with JWT authorizers in API Gateway"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html):

1. the identity source holds the token, alone or after ``Bearer ``;
2. the token is decoded;
3. its algorithm and signature are checked with the public key fetched from the
   issuer's ``jwks_uri`` (read from ``{issuer}/.well-known/openid-configuration``);
   only RSA-based algorithms are supported; API Gateway may cache the keys for two hours;
4. its claims: ``kid`` names a key of the ``jwks_uri``; ``iss`` equals the issuer;
   ``aud`` matches one of the audiences, or, only when there is no ``aud``,
   ``client_id`` does; ``exp`` is after now; ``nbf`` and ``iat`` are before now;
   ``scope`` or ``scp`` holds at least one of the route's ``AuthorizationScopes``.

Any failure is 401 ``{"message":"Unauthorized"}`` with a ``www-authenticate: Bearer``
challenge ("Troubleshooting issues with HTTP API JWT authorizers", which shows
``error="invalid_token" error_description="the token does not have a valid audience"``);
a valid token without the route's scope is 403 ``{"message":"Forbidden"}`` (what API
Gateway answers; the pages above say only that it denies). The backend gets the claims
as strings at ``requestContext.authorizer.jwt.claims`` (arrays as ``[a b]``) and the
token's scopes at ``.scopes`` (null when the route declares none).

Keys are cached per issuer for :data:`KEYS_TTL_SECONDS` (AWS's two hours) and fetched
again at once for a ``kid`` the cache does not know (a rotation), at most once per
:data:`REFETCH_SECONDS`. Tokens are never logged; a refusal is logged with its reason.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt.exceptions import InvalidTokenError, PyJWKError

from gatekey_local.sam_model import JwtAuthorizer

logger = logging.getLogger(__name__)

KEYS_TTL_SECONDS = 7200
"""How long the keys of an issuer are used before they are read again (AWS: up to 2 h)."""
REFETCH_SECONDS = 10
"""An unknown ``kid`` reads the keys again, but not more often than this."""
RSA_ALGORITHMS = ("RS256", "RS384", "RS512")
_FETCH_TIMEOUT_SECONDS = 5
AUDIENCE_DESCRIPTION = "the token does not have a valid audience"
"""The one error_description AWS documents (http-api-troubleshooting-jwt)."""


@dataclass(frozen=True)
class JwtAllowed:
    """What the integration receives at ``requestContext.authorizer.jwt``."""

    claims: Mapping[str, str]
    scopes: list[str] | None


@dataclass(frozen=True)
class JwtRefused:
    """401 (a bad token) or 403 (a valid one without the route's scope)."""

    status: int
    www_authenticate: str | None
    reason: str


class KeysUnavailable(Exception):
    """The issuer's discovery document or JWKS could not be read."""


class IssuerKeys:
    """The JWKS of each issuer, read through its discovery document and cached."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[float, dict[str, Mapping[str, Any]]]] = {}
        self._lock = threading.Lock()

    def key(self, issuer: str, kid: str) -> Mapping[str, Any] | None:
        """The JWK ``kid`` of ``issuer``, or None; raises :class:`KeysUnavailable`."""
        now = time.monotonic()
        with self._lock:
            fetched_at, keys = self._keys.get(issuer, (None, {}))
            stale = fetched_at is None or now - fetched_at >= KEYS_TTL_SECONDS
            unknown = kid not in keys and (
                fetched_at is None or now - fetched_at >= REFETCH_SECONDS
            )
            if stale or unknown:
                keys = _fetch_keys(issuer)
                self._keys[issuer] = (now, keys)
            return keys.get(kid)


def _get_json(url: str) -> Any:
    """A JSON document over http(s) (the issuer's: https on AWS, loopback http locally)."""
    if urlsplit(url).scheme not in ("https", "http"):
        raise KeysUnavailable(f"{url}: not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            return json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise KeysUnavailable(f"{url}: {exc}") from exc


def _fetch_keys(issuer: str) -> dict[str, Mapping[str, Any]]:
    discovery = _get_json(f"{issuer}/.well-known/openid-configuration")
    jwks_uri = discovery.get("jwks_uri") if isinstance(discovery, Mapping) else None
    if not isinstance(jwks_uri, str):
        raise KeysUnavailable(f"{issuer}: the discovery document has no jwks_uri")
    document = _get_json(jwks_uri)
    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise KeysUnavailable(f"{jwks_uri} is not a JWK Set")
    return {
        entry["kid"]: entry
        for entry in entries
        if isinstance(entry, Mapping) and isinstance(entry.get("kid"), str)
    }


def _refused(reason: str, description: str | None = None) -> JwtRefused:
    challenge = 'Bearer scope="" error="invalid_token"'
    if description is not None:
        challenge += f' error_description="{description}"'
    return JwtRefused(401, challenge, reason)


def authorize(
    authorizer: JwtAuthorizer,
    header_value: str,
    route_scopes: Sequence[str],
    keys: IssuerKeys,
    now: float | None = None,
) -> JwtAllowed | JwtRefused:
    """Check one request's token; raises :class:`KeysUnavailable` when the issuer's
    keys cannot be read (and ValueError when the authorizer is not resolved locally)."""
    if authorizer.issuer is None or authorizer.audiences is None:
        raise ValueError(f"JWT authorizer {authorizer.name}: issuer or audience unresolved")
    token = header_value[len("Bearer ") :] if header_value.startswith("Bearer ") else header_value
    try:
        header = jwt.get_unverified_header(token)
    except InvalidTokenError:
        return _refused("the token is not a JWT")
    algorithm = header.get("alg")
    if algorithm not in RSA_ALGORITHMS:
        return _refused(f"algorithm {str(algorithm)[:10]!r} is not RSA-based")
    kid = header.get("kid")
    if not isinstance(kid, str):
        return _refused("no kid in the header")
    jwk = keys.key(authorizer.issuer, kid)
    if jwk is None:
        return _refused("no key of the issuer has this kid")
    if jwk.get("alg") not in (None, algorithm) or jwk.get("kty") != "RSA":
        return _refused("the key does not sign with this algorithm")
    try:
        public_key = jwt.PyJWK(dict(jwk), algorithm).key
        payload = jwt.api_jws.decode(token, public_key, algorithms=[algorithm])
        claims = json.loads(payload)
    except (InvalidTokenError, PyJWKError, ValueError):
        return _refused("bad signature or payload")
    if not isinstance(claims, dict):
        return _refused("the payload is not a claims object")
    return _check_claims(authorizer, claims, route_scopes, time.time() if now is None else now)


def _check_claims(
    authorizer: JwtAuthorizer,
    claims: dict[str, Any],
    route_scopes: Sequence[str],
    now: float,
) -> JwtAllowed | JwtRefused:
    assert authorizer.audiences is not None
    if claims.get("iss") != authorizer.issuer:
        return _refused("iss is not the issuer")
    if "aud" in claims:
        aud = claims["aud"]
        token_audiences = aud if isinstance(aud, list) else [aud]
    else:
        token_audiences = [claims.get("client_id")]
    if not any(audience in authorizer.audiences for audience in token_audiences):
        return _refused("no matching aud or client_id", AUDIENCE_DESCRIPTION)
    exp = _number(claims.get("exp"))
    if exp is None or exp <= now:
        return _refused("expired, or no exp")
    for name in ("nbf", "iat"):
        moment = _number(claims.get(name, now))
        if moment is None or moment > now:
            return _refused(f"{name} is in the future")
    token_scopes = _scopes(claims)
    if route_scopes and not set(route_scopes) & set(token_scopes):
        challenge = f'Bearer scope="{" ".join(route_scopes)}" error="insufficient_scope"'
        return JwtRefused(403, challenge, "the token has none of the route's scopes")
    return JwtAllowed(
        claims={name: _claim_text(value) for name, value in claims.items()},
        scopes=list(token_scopes) if route_scopes else None,
    )


def _number(value: Any) -> float | None:
    """A NumericDate (RFC 7519 §2), or None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    """``scope`` (RFC 8693: space-separated) or else ``scp`` (a string or a list)."""
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _claim_text(value: Any) -> str:
    """A claim as payload 2.0 carries it: every value a string, arrays as ``[a b]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
