"""API key tokens and client-JWT secrets, derived from the keyring (never stored).

An API key token is the prefix (`gk_` unless the KeyPrefix parameter says otherwise)
+ 54 base62 characters of payload + 6 of CRC-32 (of the prefix and payload):

    payload = key id (16 bytes) | version (4 bytes) | HMAC-SHA256(server key, id|version)[:20]

The CRC catches typos and lets secret scanners recognise a token offline
(docs/secret-scanning.md); the HMAC tag means a forged token fails before any database
read. The prefix is in the CRC, so a token shown under one prefix fails under another;
the owner reads it again (GET /user/keys/{handle}) under the new one. Because the token is a
function of the server key, the key id and its version, the owner can read it again
while a dump of the table (ids and versions only) lets nobody authenticate.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
import zlib
from dataclasses import dataclass
from functools import lru_cache

from gatekey.errors import InvalidToken
from gatekey.tokens.keyring import Keyring

PREFIX = "gk_"  # the default; settings.key_prefix is the configured one
SECRET_PREFIX = "gks_"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PAYLOAD_CHARS = 54
CHECKSUM_CHARS = 6
TAG_BYTES = 20
BODY_CHARS = PAYLOAD_CHARS + CHECKSUM_CHARS
TOKEN_PURPOSE = "api-key-token"
SECRET_PURPOSE = "client-jwt-secret"
CLIENT_SECRET_CACHE_SIZE = 4096

# Client-JWT secrets are recomputed on every authorization otherwise; the cache key holds
# the derived server sub-key, so a rotated keyring never reuses an old entry.
_client_secrets: dict[tuple[bytes, str, int], str] = {}


@dataclass(frozen=True)
class KeyTokenClaims:
    """What a well-formed, authentic token says; the database decides if it is still live."""

    key_id: str
    version: int
    secret_kid: str


@lru_cache(maxsize=8)
def token_pattern(prefix: str = PREFIX) -> re.Pattern[str]:
    """A whole token under `prefix` (settings.KEY_PREFIX_PATTERN keeps it regex-safe)."""
    return re.compile(rf"^{re.escape(prefix)}[0-9A-Za-z]{{{BODY_CHARS}}}\Z")


def _base62(data: bytes, width: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    while number:
        number, digit = divmod(number, 62)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars)).rjust(width, ALPHABET[0])


def _from_base62(text: str, size: int) -> bytes:
    number = 0
    for char in text:
        number = number * 62 + ALPHABET.index(char)
    return number.to_bytes(size, "big")


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()).to_bytes(4, "big"), CHECKSUM_CHARS)


def _tag(keyring: Keyring, purpose: str, secret_kid: str, key_id: str, version: int) -> bytes:
    material = uuid.UUID(key_id).bytes + version.to_bytes(4, "big")
    return hmac.new(keyring.derive(purpose, secret_kid), material, hashlib.sha256).digest()


def make_token(
    keyring: Keyring, *, key_id: str, version: int, secret_kid: str, prefix: str = PREFIX
) -> str:
    tag = _tag(keyring, TOKEN_PURPOSE, secret_kid, key_id, version)[:TAG_BYTES]
    payload = uuid.UUID(key_id).bytes + version.to_bytes(4, "big") + tag
    body = prefix + _base62(payload, PAYLOAD_CHARS)
    return body + _checksum(body)


def parse_token(keyring: Keyring, token: str, prefix: str = PREFIX) -> KeyTokenClaims:
    """Checks shape, checksum and HMAC tag; raises InvalidToken without touching the store."""
    if not token_pattern(prefix).match(token):
        raise InvalidToken()
    body, checksum = token[:-CHECKSUM_CHARS], token[-CHECKSUM_CHARS:]
    if not hmac.compare_digest(_checksum(body), checksum):
        raise InvalidToken()
    try:
        payload = _from_base62(body[len(prefix) :], 16 + 4 + TAG_BYTES)
    except OverflowError:
        raise InvalidToken() from None
    key_id = str(uuid.UUID(bytes=payload[:16]))
    version = int.from_bytes(payload[16:20], "big")
    tag = payload[20:]
    for secret_kid in keyring.keys:
        expected = _tag(keyring, TOKEN_PURPOSE, secret_kid, key_id, version)[:TAG_BYTES]
        if hmac.compare_digest(expected, tag):
            return KeyTokenClaims(key_id=key_id, version=version, secret_kid=secret_kid)
    raise InvalidToken()


def make_client_secret(keyring: Keyring, *, key_id: str, version: int, secret_kid: str) -> str:
    """The HS256 secret a client signs its JWTs with, for one version of a `jwt` key."""
    cache_key = (keyring.derive(SECRET_PURPOSE, secret_kid), key_id, version)
    secret = _client_secrets.get(cache_key)
    if secret is None:
        tag = _tag(keyring, SECRET_PURPOSE, secret_kid, key_id, version)
        secret = SECRET_PREFIX + _base62(tag, 43)
        if len(_client_secrets) >= CLIENT_SECRET_CACHE_SIZE:
            _client_secrets.clear()
        _client_secrets[cache_key] = secret
    return secret
