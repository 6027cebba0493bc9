import json
import uuid

import pytest

from gatekey.errors import InvalidToken
from gatekey.tokens import key_tokens
from gatekey.tokens.keyring import Keyring

KEYRING = Keyring.parse(json.dumps({"current": "k1", "k1": "q" * 48}))
KEY_ID = str(uuid.uuid4())


def token(version=1, keyring=KEYRING):
    return key_tokens.make_token(keyring, key_id=KEY_ID, version=version, secret_kid="k1")


def test_token_shape_and_round_trip():
    value = token(version=7)
    assert value.startswith("gk_") and len(value) == 63 and value[3:].isalnum()
    claims = key_tokens.parse_token(KEYRING, value)
    assert (claims.key_id, claims.version, claims.secret_kid) == (KEY_ID, 7, "k1")


def test_token_is_deterministic_and_changes_with_version():
    assert token() == token()
    assert token(version=1) != token(version=2)


@pytest.mark.parametrize("position", [3, 20, 40, 56, 62])
def test_any_changed_character_is_rejected(position):
    value = token()
    replacement = "A" if value[position] != "A" else "B"
    forged = value[:position] + replacement + value[position + 1 :]
    with pytest.raises(InvalidToken):
        key_tokens.parse_token(KEYRING, forged)


def test_truncated_and_padded_tokens_are_rejected():
    value = token()
    for bad in (value[:-1], value + "0", value[:30], "gk_", "gk_" + "!" * 60):
        with pytest.raises(InvalidToken):
            key_tokens.parse_token(KEYRING, bad)


def test_forged_token_with_valid_checksum_fails_the_hmac():
    other = Keyring.parse(json.dumps({"current": "k1", "k1": "z" * 48}))
    with pytest.raises(InvalidToken):
        key_tokens.parse_token(KEYRING, token(keyring=other))


def test_token_from_a_retired_key_version_still_parses_while_the_key_is_kept():
    rotated = Keyring.parse(json.dumps({"current": "k2", "k1": "q" * 48, "k2": "w" * 48}))
    assert key_tokens.parse_token(rotated, token()).secret_kid == "k1"


def test_client_secret_depends_on_version():
    first = key_tokens.make_client_secret(KEYRING, key_id=KEY_ID, version=1, secret_kid="k1")
    second = key_tokens.make_client_secret(KEYRING, key_id=KEY_ID, version=2, secret_kid="k1")
    assert first.startswith("gks_") and first != second
    assert len(first) >= 40


def test_checksum_and_tag_are_compared_in_constant_time(monkeypatch):
    calls = []
    real = key_tokens.hmac.compare_digest

    def spy(a, b):
        calls.append((type(a).__name__, len(a)))
        return real(a, b)

    monkeypatch.setattr(key_tokens.hmac, "compare_digest", spy)
    key_tokens.parse_token(KEYRING, token())
    assert ("str", key_tokens.CHECKSUM_CHARS) in calls
    assert ("bytes", key_tokens.TAG_BYTES) in calls


def test_another_prefix_round_trips_and_the_prefix_is_in_the_checksum():
    value = key_tokens.make_token(
        KEYRING, key_id=KEY_ID, version=3, secret_kid="k1", prefix="acme_"
    )
    assert value.startswith("acme_") and len(value) == 65
    assert key_tokens.parse_token(KEYRING, value, "acme_").key_id == KEY_ID
    for other in ("gk_", "acmf_"):
        with pytest.raises(InvalidToken):
            key_tokens.parse_token(KEYRING, other + value[5:], other)
    with pytest.raises(InvalidToken):
        key_tokens.parse_token(KEYRING, value)  # under the default prefix
    with pytest.raises(InvalidToken):
        key_tokens.parse_token(KEYRING, token() + "\n")
