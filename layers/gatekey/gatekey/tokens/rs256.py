"""RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 8017 §8.2.2) verification in pure Python.

The authorizer verifies gatekey's access tokens here rather than with `cryptography`,
whose import would cost its cold start more than the whole check: one modular
exponentiation with the public exponent (65537: 17 multiplications) and a comparison.

The decrypted block is never parsed. The expected encoding `EM = 00 01 FF..FF 00 ||
DigestInfo(SHA-256) || H` is built from the digest we computed and compared with the
whole block in constant time, so no padding or ASN.1 parsing quirk (Bleichenbacher's
2006 forgery for e = 3 lived in parsers) can accept a forged signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

# DER of DigestInfo{ AlgorithmIdentifier{ sha256, NULL }, OCTET STRING(32) } (RFC 8017 §9.2)
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
MIN_MODULUS_BITS = 2048


@dataclass(frozen=True)
class RsaPublicKey:
    """A public key as a JWK gives it (`n`, `e` base64url big-endian integers)."""

    kid: str
    n: int
    e: int

    @property
    def size(self) -> int:
        """k, the modulus length in octets."""
        return (self.n.bit_length() + 7) // 8

    @classmethod
    def from_jwk(cls, jwk: dict[str, str]) -> RsaPublicKey:
        if jwk.get("kty") != "RSA":
            raise ValueError("not an RSA key")
        n = int.from_bytes(b64url_decode(jwk["n"]), "big")
        e = int.from_bytes(b64url_decode(jwk["e"]), "big")
        if n.bit_length() < MIN_MODULUS_BITS or e < 3 or e % 2 == 0:
            raise ValueError("refusing a weak RSA key")
        return cls(kid=str(jwk["kid"]), n=n, e=e)

    def to_jwk(self) -> dict[str, str]:
        return {
            "kty": "RSA",
            "kid": self.kid,
            "alg": "RS256",
            "use": "sig",
            "n": b64url_encode(self.n.to_bytes(self.size, "big")),
            "e": b64url_encode(self.e.to_bytes((self.e.bit_length() + 7) // 8, "big")),
        }


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


RSA_ENCRYPTION_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1


def _der(data: bytes, offset: int, tag: int) -> tuple[bytes, int]:
    """One DER element of `tag` at `offset`: (its content, the offset after it)."""
    if offset + 2 > len(data) or data[offset] != tag:
        raise ValueError("unexpected DER element")
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or offset + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("truncated DER")
    return data[offset : offset + length], offset + length


def public_numbers_from_spki(der: bytes) -> tuple[int, int]:
    """(n, e) of an RSA SubjectPublicKeyInfo, as KMS's GetPublicKey returns it."""
    spki, end = _der(der, 0, 0x30)
    if end != len(der):
        raise ValueError("trailing bytes after the key")
    algorithm, offset = _der(spki, 0, 0x30)
    oid, _ = _der(algorithm, 0, 0x06)
    if oid != RSA_ENCRYPTION_OID:
        raise ValueError("not an RSA key")
    bits, _ = _der(spki, offset, 0x03)
    if not bits or bits[0] != 0:
        raise ValueError("bad BIT STRING")
    key, _ = _der(bits[1:], 0, 0x30)
    n_bytes, offset = _der(key, 0, 0x02)
    e_bytes, _ = _der(key, offset, 0x02)
    return int.from_bytes(n_bytes, "big"), int.from_bytes(e_bytes, "big")


def thumbprint(n: int, e: int) -> str:
    """The key's RFC 7638 JWK thumbprint (SHA-256, base64url): gatekey's `kid` for it."""
    size = (n.bit_length() + 7) // 8
    members = (
        '{"e":"'
        + b64url_encode(e.to_bytes((e.bit_length() + 7) // 8, "big"))
        + '","kty":"RSA","n":"'
        + b64url_encode(n.to_bytes(size, "big"))
        + '"}'
    )
    return b64url_encode(hashlib.sha256(members.encode()).digest())


def expected_encoding(message: bytes, size: int) -> bytes:
    """EMSA-PKCS1-v1_5-ENCODE(message, k) for SHA-256 (RFC 8017 §9.2)."""
    t = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    return b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t


def verify(key: RsaPublicKey, message: bytes, signature: bytes) -> bool:
    """RSASSA-PKCS1-V1_5-VERIFY with SHA-256: True only for a valid signature."""
    size = key.size
    if len(signature) != size:
        return False
    s = int.from_bytes(signature, "big")
    if s >= key.n:
        return False
    em = pow(s, key.e, key.n).to_bytes(size, "big")
    return hmac.compare_digest(em, expected_encoding(message, size))
