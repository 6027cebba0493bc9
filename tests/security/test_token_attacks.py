"""Hostile tokens: every one is refused with invalid_token, most before any database read."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest

from gatekey.errors import GatekeyError, InvalidToken, NotAuthenticated
from gatekey.tokens.keyring import get_keyring
from gatekey.tokens.session_tokens import PURPOSE
from tests.helpers import USER_AGENT
from tests.security.conftest import client_jwt


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, payload: dict, signature: bytes = b"sig") -> str:
    encoded = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    return encoded + "." + b64(signature)


def refused(authorizer, token: str, user_agent: str = USER_AGENT) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        authorizer.authorize(f"Bearer {token}", user_agent)
    return caught.value


def reads(authorizer, token: str) -> int:
    before = authorizer.store.calls
    with pytest.raises(GatekeyError):
        authorizer.authorize(f"Bearer {token}", USER_AGENT)
    return authorizer.store.calls - before


def session_claims(access_token: str) -> dict:
    return jwt.decode(access_token, options={"verify_signature": False})


def test_alg_none_is_refused_for_sessions_and_client_jwts(authorizer, credentials):
    claims = session_claims(credentials["access_token"])
    refused(authorizer, forge({"alg": "none", "kid": "k1"}, claims, b""))
    refused(authorizer, jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"}))
    unsigned = jwt.encode(
        {"exp": int(time.time()) + 60}, None, algorithm="none", headers={"kid": credentials["kid"]}
    )
    refused(authorizer, unsigned)


def test_header_alg_is_never_trusted(authorizer, credentials):
    """A valid HS256 signature under a header that claims another algorithm is refused."""
    claims = session_claims(credentials["access_token"])
    key = get_keyring().derive(PURPOSE, "k1")
    for alg in ("RS256", "ES256", "HS512", "HS384", "PS256"):
        header = b64(json.dumps({"alg": alg, "kid": "k1", "typ": "JWT"}).encode())
        body = b64(json.dumps(claims).encode())
        signature = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        refused(authorizer, f"{header}.{body}.{b64(signature)}")
    refused(authorizer, client_jwt(credentials, key=credentials["secret"] * 2, algorithm="HS512"))


def test_rs_hs_confusion_with_a_public_key_is_refused(authorizer, credentials):
    public_key = "\n".join(
        [
            "-----BEGIN PUBLIC KEY-----",
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
            "-----END PUBLIC KEY-----",
        ]
    )
    claims = session_claims(credentials["access_token"])
    header = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(public_key.encode(), f"{header}.{body}".encode(), hashlib.sha256)
    refused(authorizer, f"{header}.{body}.{b64(signature.digest())}")


@pytest.mark.parametrize(
    "kid",
    [
        "../../etc/passwd",
        "k1' OR '1'='1",
        "k1\x00",
        "K1",
        " k1",
        "k1 ",
        "x" * 5000,
        "ключ",
        "{{7*7}}",
    ],
)
def test_kid_injection_is_refused_without_a_read(authorizer, credentials, kid):
    claims = session_claims(credentials["access_token"])
    token = forge({"alg": "HS256", "kid": kid}, claims)
    assert reads(authorizer, token) == 0


@pytest.mark.parametrize("kid", [7, ["k1"], {"k": "k1"}, None, True, ""])
def test_non_string_kid_is_the_missing_kid_error(authorizer, credentials, kid):
    token = forge({"alg": "HS256", "kid": kid}, {"exp": 1})
    assert refused(authorizer, token).detail == "jwt token is missing 'kid' header parameter"


def test_unknown_client_kid_is_refused(authorizer, credentials):
    token = client_jwt(credentials, headers={"kid": str(uuid.uuid4())})
    refused(authorizer, token)
    assert reads(authorizer, token) == 1


def test_tampered_payloads_are_refused(authorizer, credentials):
    header, _, signature = credentials["access_token"].split(".")
    claims = session_claims(credentials["access_token"])
    for change in ({"sub": str(uuid.uuid4())}, {"exp": claims["exp"] + 3600}, {"typ": "refresh"}):
        tampered = b64(json.dumps({**claims, **change}).encode())
        refused(authorizer, f"{header}.{tampered}.{signature}")
    signed = client_jwt(credentials)
    header, _, signature = signed.split(".")
    tampered = b64(json.dumps({"exp": int(time.time()) + 999999}).encode())
    refused(authorizer, f"{header}.{tampered}.{signature}")


def test_expired_and_not_yet_valid_client_jwts_are_refused(authorizer, credentials):
    now = int(time.time())
    refused(authorizer, client_jwt(credentials, {"exp": now - 1}))
    refused(authorizer, client_jwt(credentials, {"nbf": now + 300}))
    refused(authorizer, client_jwt(credentials, {"iat": now + 300}))
    refused(authorizer, client_jwt(credentials, {"exp": "tomorrow"}))


def test_missing_claims_are_refused(authorizer, credentials):
    key = get_keyring().derive(PURPOSE, "k1")
    claims = session_claims(credentials["access_token"])
    for claim in ("sid", "sub", "exp", "typ", "jti", "iss", "iat"):
        partial = {name: value for name, value in claims.items() if name != claim}
        refused(authorizer, jwt.encode(partial, key, algorithm="HS256", headers={"kid": "k1"}))
    no_exp = jwt.encode(
        {"sub": "x"}, credentials["secret"], algorithm="HS256", headers={"kid": credentials["kid"]}
    )
    refused(authorizer, no_exp)


def test_oversized_token_is_refused_without_a_read(authorizer, credentials):
    huge = client_jwt(credentials, {"pad": "x" * 10_000})
    assert reads(authorizer, huge) == 0


@pytest.mark.parametrize(
    "token",
    [
        "\xff\xfe.e30.sig",
        b64(b"\xff\xfe\xfd") + ".e30.sig",
        b64(b"not json") + ".e30.sig",
        b64(b'{"alg":"HS256","kid":"k1"}') + "." + b64(b"\xff\xfe") + ".sig",
        b64(b'{"alg":"HS256","kid":"k1"}') + "." + b64(b"[1, 2]") + ".sig",
        b64(b'{"alg":"HS256","kid":"k1"}') + ".!!!.sig",
        "..",
        "a..b",
    ],
)
def test_garbled_segments_are_invalid_tokens(authorizer, token):
    with pytest.raises(InvalidToken):
        authorizer.authorize(f"Bearer {token}", USER_AGENT)


def test_forged_and_truncated_key_tokens_cost_no_read(authorizer, credentials):
    token = credentials["api_key"]
    variants = [
        token[:-1],
        token[:-6] + "000000",
        token[:30],
        token + "A",
        "gk_" + token[3:].swapcase(),
        token.replace("gk_", "gK_"),
    ]
    for variant in variants:
        assert reads(authorizer, variant) == 0, variant


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer a b",
        "Digest username=x",
    ],
)
def test_header_variants_are_refused(authorizer, header):
    with pytest.raises((InvalidToken, NotAuthenticated)):
        authorizer.authorize(header, USER_AGENT)


def test_whitespace_and_case_of_the_scheme_are_tolerated(authorizer, credentials):
    token = credentials["api_key"]
    for header in (f"bearer {token}", f"BEARER {token}", f"  Bearer\t{token}  ", token):
        assert authorizer.authorize(header, USER_AGENT).user_id == credentials["user"].user_id


def test_a_refresh_token_is_not_an_access_token_anywhere(authorizer, credentials):
    refused(authorizer, credentials["refresh_token"])
