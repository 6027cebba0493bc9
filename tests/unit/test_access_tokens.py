"""RS256 access tokens: the pure-Python PKCS #1 v1.5 check against `cryptography`'s
signatures, and the claims every token must carry."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gatekey import clock
from gatekey.errors import InvalidToken
from gatekey.oauth.discovery import publish
from gatekey.tokens import access_tokens, rs256
from gatekey.tokens.local_kms import LocalKms
from gatekey.tokens.signing_keys import PublishedKeys
from tests.conftest import REPO_ROOT

ISSUER = "https://api.example.com/v1"


@pytest.fixture(scope="module")
def private_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def public_key(private_key):
    numbers = private_key.public_key().public_numbers()
    return rs256.RsaPublicKey(kid=rs256.thumbprint(numbers.n, numbers.e), n=numbers.n, e=numbers.e)


def test_pure_python_check_accepts_exactly_the_valid_signature(private_key, public_key):
    message = b"header.payload"
    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    assert rs256.verify(public_key, message, signature)
    assert not rs256.verify(public_key, message + b"!", signature)
    assert not rs256.verify(public_key, message, signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not rs256.verify(public_key, message, signature[1:])  # wrong length
    too_big = (public_key.n + 1).to_bytes(256, "big")
    assert not rs256.verify(public_key, message, too_big)
    sha1 = private_key.sign(message, padding.PKCS1v15(), hashes.SHA1())
    assert not rs256.verify(public_key, message, sha1)


def test_spki_from_kms_gives_the_key_numbers_and_the_rfc7638_thumbprint(private_key, public_key):
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert rs256.public_numbers_from_spki(der) == (public_key.n, public_key.e)
    with pytest.raises(ValueError):
        rs256.public_numbers_from_spki(der + b"\x00")
    # RFC 7638 §3.1's example key and thumbprint
    n = int.from_bytes(
        rs256.b64url_decode(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
            "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YG"
            "jQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt"
            "-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqD"
            "Kgw"
        ),
        "big",
    )
    assert rs256.thumbprint(n, 65537) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.fixture
def signing(tmp_path):
    """A published document on a store stand-in and the local KMS that signs for it."""

    class Store:
        document = None

        def get_signing_keys(self):
            return self.document

        def put_signing_keys(self, document):
            self.document = document

    store, kms = Store(), LocalKms(tmp_path)
    key_arn = f"arn:aws:kms:us-east-1:123456789012:key/{uuid.uuid4()}"
    kms.create_key(key_arn)
    publish(store, kms, key_arns=[key_arn], current_key_arn=key_arn, issuer=ISSUER)
    published = PublishedKeys(store)
    return kms, published


def issue(signing, **claims):
    kms, published = signing
    now = clock.now()
    values = {
        "user_id": "u1",
        "account_id": "a1",
        "scopes": ("orders:read",),
        "issued_at": now,
        "expires_at": now + 60,
        "session_id": "s1",
    } | claims
    return access_tokens.issue(kms, published.get(), **values)


def verify(signing, token):
    return access_tokens.verify(
        signing[1], token, json.loads(rs256.b64url_decode(token.split(".")[0]))["kid"]
    )


def test_issued_tokens_verify_with_their_claims(signing):
    claims = verify(signing, issue(signing))
    assert (claims.user_id, claims.account_id, claims.session_id) == ("u1", "a1", "s1")
    assert claims.scopes == ("orders:read",) and claims.issuer == ISSUER
    client = verify(
        signing, issue(signing, session_id=None, client_id="c1", client_key_version="1:k1")
    )
    assert (client.client_id, client.key_version, client.session_id) == ("c1", "1:k1", None)


@pytest.mark.parametrize(
    "change",
    [
        {"expires_at": 0},
        {"session_id": None},  # neither a session's nor a client's
        {"client_id": "c1", "client_key_version": "1:k1"},  # both
    ],
)
def test_tokens_missing_or_mixing_claims_are_refused(signing, change):
    token = issue(signing, **change)
    with pytest.raises(InvalidToken):
        verify(signing, token)


def test_a_valid_signature_under_another_header_alg_is_refused(signing):
    token = issue(signing)
    header, payload, signature = token.split(".")
    kid = json.loads(rs256.b64url_decode(header))["kid"]
    for alg in ("HS256", "none", "RS512"):
        other = rs256.b64url_encode(json.dumps({"alg": alg, "kid": kid}).encode())
        with pytest.raises(InvalidToken):
            verify(signing, f"{other}.{payload}.{signature}")
    with pytest.raises(InvalidToken):
        verify(signing, f"{header}.{payload}.{signature}=")


def test_a_remembered_signature_still_expires(signing, monkeypatch):
    token = issue(signing)
    verify(signing, token)
    assert token in access_tokens._verified
    later = clock.now() + 3600
    monkeypatch.setattr(clock, "now", lambda: later)
    with pytest.raises(InvalidToken):
        verify(signing, token)


def test_a_remembered_signature_dies_with_its_published_key(signing, tmp_path):
    kms, published = signing
    token = issue(signing)
    verify(signing, token)
    new_arn = f"arn:aws:kms:us-east-1:123456789012:key/{uuid.uuid4()}"
    kms.create_key(new_arn)
    publish(published._store, kms, key_arns=[new_arn], current_key_arn=new_arn, issuer=ISSUER)
    published._loaded_at = -float("inf")  # the container's next read, after a rotation
    with pytest.raises(InvalidToken):
        verify(signing, token)


def test_the_authorizer_imports_no_rsa_library_and_api_keys_no_access_token_code():
    code = (
        "import sys; import gatekey.tokens.authorization; "
        "print(sorted(m for m in sys.modules if m.startswith(('cryptography', "
        "'gatekey.tokens.access_tokens', 'gatekey.tokens.rs256', 'gatekey.oauth'))))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT / "layers" / "gatekey")},
    )
    assert found.stdout.strip() == "[]"
