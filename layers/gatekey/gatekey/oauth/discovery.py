"""The OpenID Connect discovery document, the JWKS, and publishing the signing keys.

`publish` is the one entry point that writes what the other functions read
(`tokens.signing_keys`): on AWS the `SigningKeysPublication` custom resource calls it at
each deploy (the function serving the JWKS is the only one allowed kms:GetPublicKey);
the local run calls it at start-up with its own URL and key file.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gatekey import clock, scopes
from gatekey.errors import ConfigurationError, ServiceUnavailable
from gatekey.tokens import rs256
from gatekey.tokens.signing_keys import SigningDocument, published_keys

CACHE_SECONDS = 300  # Cache-Control max-age of both documents (docs/rotation.md)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def check_issuer(issuer: str) -> str:
    """The issuer as published: an https URL without query or fragment (http only on
    loopback, for the local run), no trailing slash."""
    parts = urlsplit(issuer)
    local = parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS
    if not (parts.scheme == "https" or local) or not parts.hostname:
        raise ConfigurationError(f"the issuer must be an https URL, not {issuer!r}")
    if parts.query or parts.fragment:
        raise ConfigurationError("the issuer has no query or fragment")
    return issuer.rstrip("/")


def publish(
    store: Any,
    kms: Any,
    *,
    key_arns: list[str],
    current_key_arn: str,
    issuer: str,
    audience: str | None = None,
) -> dict[str, Any]:
    """Reads each key's public half from KMS and writes the document; returns it."""
    from gatekey.store import ACCESS_DENIED_CODES, error_code, permission_misconfigured

    if current_key_arn not in key_arns:
        raise ConfigurationError("the current signing key must be one of the published keys")
    issuer = check_issuer(issuer)
    entries = []
    current_kid = ""
    for key_arn in dict.fromkeys(key_arns):
        try:
            answer = kms.get_public_key(KeyId=key_arn)
        except Exception as exc:
            if error_code(exc) in ACCESS_DENIED_CODES:
                raise permission_misconfigured(exc, "kms:GetPublicKey") from exc
            raise
        try:
            n, e = rs256.public_numbers_from_spki(bytes(answer["PublicKey"]))
        except ValueError as exc:
            raise ConfigurationError(f"{key_arn} is not an RSA public key: {exc}") from None
        key = rs256.RsaPublicKey(kid=rs256.thumbprint(n, e), n=n, e=e)
        jwk = key.to_jwk()
        entries.append({"kid": key.kid, "key_arn": key_arn, "n": jwk["n"], "e": jwk["e"]})
        if key_arn == current_key_arn:
            current_kid = key.kid
    document = {
        "issuer": issuer,
        "audience": (audience or "").strip() or issuer,
        "current_kid": current_kid,
        "keys": entries,
        "published_at": clock.now(),
    }
    SigningDocument.from_item(document)  # what readers will parse must parse
    store.put_signing_keys(document)
    return document


def current(store: Any) -> SigningDocument:
    document = published_keys(store).get()
    if document is None:
        raise ServiceUnavailable()
    return document


def openid_configuration(document: SigningDocument) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 / RFC 8414 metadata for gatekey's OAuth endpoints."""
    issuer = document.issuer
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/oauth/token",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "bearer",
        ],
        "revocation_endpoint_auth_methods_supported": ["bearer"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "access_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "scopes_supported": list(scopes.SESSION_SCOPES),
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "scope",
            "client_id",
            "account_id",
            "sid",
        ],
    }
