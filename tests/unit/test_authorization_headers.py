import base64

import pytest

from gatekey.errors import InvalidToken, NotAuthenticated
from gatekey.tokens.authorization import (
    MISSING_KID_DETAIL,
    extract_token,
    read_jwt_header,
    session_kid,
)
from gatekey.tokens.keyring import Keyring


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("  Bearer   abc  ", "abc"),
        ("abc.def.ghi", "abc.def.ghi"),
        ("gk_token", "gk_token"),
    ],
)
def test_bearer_and_bare_tokens_are_accepted(header, token):
    assert extract_token(header) == token


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_credentials_is_not_authenticated(header):
    with pytest.raises(NotAuthenticated):
        extract_token(header)


@pytest.mark.parametrize(
    "header", ["Bearer", "Basic dXNlcjpwYXNz", "Bearer a b", "Token abc", "Bearer " + "a" * 5000]
)
def test_other_shapes_are_invalid_tokens(header):
    with pytest.raises(InvalidToken):
        extract_token(header)


def segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "onlyone",
        "two.parts",
        "a.b.c.d",
        segment(b"\xff\xfe") + ".e30.sig",
        segment(b"[1,2]") + ".e30.sig",
        "!!!.e30.sig",
    ],
)
def test_malformed_jwt_headers_are_invalid(token):
    with pytest.raises(InvalidToken):
        read_jwt_header(token)


def test_jwt_without_kid_gets_the_contract_detail():
    keyring = Keyring.parse("k" * 40)
    token = segment(b'{"alg":"HS256","typ":"JWT"}') + ".e30.sig"
    with pytest.raises(InvalidToken) as caught:
        session_kid(token, keyring)
    assert caught.value.detail == MISSING_KID_DETAIL


def test_unknown_kid_is_invalid():
    keyring = Keyring.parse("k" * 40)
    token = segment(b'{"alg":"HS256","kid":"k9"}') + ".e30.sig"
    with pytest.raises(InvalidToken):
        session_kid(token, keyring)
