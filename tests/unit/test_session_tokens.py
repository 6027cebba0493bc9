import json
import time

import jwt
import pytest

from gatekey.errors import InvalidToken
from gatekey.tokens import session_tokens
from gatekey.tokens.keyring import Keyring

KEYRING = Keyring.parse(json.dumps({"current": "k1", "k1": "s" * 48}))


def issue(token_use=session_tokens.ACCESS, lifetime=60, keyring=KEYRING):
    now = int(time.time())
    return session_tokens.issue(
        keyring,
        user_id="u1",
        session_id="s1",
        token_use=token_use,
        issued_at=now,
        expires_at=now + lifetime,
    )


def test_round_trip_names_the_signing_key_version():
    token = issue()
    assert jwt.get_unverified_header(token)["kid"] == "k1"
    claims = session_tokens.verify(KEYRING, token, "k1", token_use=session_tokens.ACCESS)
    assert (claims.user_id, claims.session_id, claims.token_use) == ("u1", "s1", "access")


def test_refresh_token_is_not_an_access_token():
    with pytest.raises(InvalidToken):
        session_tokens.verify(
            KEYRING, issue(session_tokens.REFRESH), "k1", token_use=session_tokens.ACCESS
        )


def test_expired_token_is_invalid():
    with pytest.raises(InvalidToken):
        session_tokens.verify(KEYRING, issue(lifetime=-1), "k1", token_use=session_tokens.ACCESS)


def test_token_signed_with_another_key_is_invalid():
    other = Keyring.parse(json.dumps({"current": "k1", "k1": "t" * 48}))
    with pytest.raises(InvalidToken):
        session_tokens.verify(KEYRING, issue(keyring=other), "k1", token_use=session_tokens.ACCESS)


def test_old_key_version_still_verifies_after_rotation():
    old = issue()
    rotated = Keyring.parse(json.dumps({"current": "k2", "k1": "s" * 48, "k2": "r" * 48}))
    claims = session_tokens.verify(rotated, old, "k1", token_use=session_tokens.ACCESS)
    assert claims.user_id == "u1"
    assert jwt.get_unverified_header(issue(keyring=rotated))["kid"] == "k2"


def test_alg_none_is_rejected():
    now = int(time.time())
    claims = {"iss": "gatekey", "sub": "u1", "sid": "s1", "typ": "access", "jti": "j"}
    token = jwt.encode({**claims, "iat": now, "exp": now + 60}, None, algorithm="none")
    with pytest.raises(InvalidToken):
        session_tokens.verify(KEYRING, token, "k1", token_use=session_tokens.ACCESS)


def test_missing_claim_is_rejected():
    now = int(time.time())
    key = KEYRING.derive(session_tokens.PURPOSE, "k1")
    token = jwt.encode({"iss": "gatekey", "sub": "u1", "exp": now + 60}, key, algorithm="HS256")
    with pytest.raises(InvalidToken):
        session_tokens.verify(KEYRING, token, "k1", token_use=session_tokens.ACCESS)
