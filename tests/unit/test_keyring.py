import json

import pytest

from gatekey.errors import ConfigurationError, InvalidToken
from gatekey.tokens.keyring import Keyring

STRONG = "a" * 20 + "b" * 20


def test_bare_string_is_key_k1():
    keyring = Keyring.parse(STRONG)
    assert keyring.current_kid == "k1"
    assert keyring.keys == {"k1": STRONG.encode()}


def test_json_document_names_current_key():
    keyring = Keyring.parse(json.dumps({"current": "k2", "k1": STRONG, "k2": STRONG[::-1]}))
    assert keyring.current_kid == "k2"
    assert set(keyring.keys) == {"k1", "k2"}


@pytest.mark.parametrize(
    "raw",
    [
        "short",
        "changeme",
        json.dumps({"current": "k9", "k1": STRONG}),
        json.dumps({"k1": STRONG}),
        "{not json",
    ],
)
def test_weak_or_broken_secrets_refuse_to_start(raw):
    with pytest.raises(ConfigurationError):
        Keyring.parse(raw)


def test_derived_keys_differ_by_purpose_and_version():
    keyring = Keyring.parse(json.dumps({"current": "k2", "k1": STRONG, "k2": STRONG[::-1]}))
    assert keyring.derive("session-jwt") == keyring.derive("session-jwt", "k2")
    assert keyring.derive("session-jwt", "k1") != keyring.derive("session-jwt", "k2")
    assert keyring.derive("session-jwt") != keyring.derive("api-key")


def test_unknown_version_is_an_invalid_token():
    with pytest.raises(InvalidToken):
        Keyring.parse(STRONG).derive("session-jwt", "k7")
