import base64
import re

import pyotp
import pytest

from gatekey.accounts.mfa import (
    INTERVAL,
    RECOVERY_CODE_COUNT,
    derive_secret,
    hash_recovery_code,
    matching_step,
    new_recovery_codes,
    normalize_recovery_code,
    time_step,
)
from gatekey.tokens.keyring import Keyring

KEYRING = Keyring.parse('{"current": "k2", "k1": "' + "a" * 40 + '", "k2": "' + "b" * 40 + '"}')
AT = 1_800_000_015  # 15 s into a 30 s window


def test_secret_is_derived_per_user_enrolment_and_key_version():
    secret = derive_secret(KEYRING, "user-1", "nonce-1", "k2")
    assert secret == derive_secret(KEYRING, "user-1", "nonce-1", "k2")
    assert len(base64.b32decode(secret)) == 20  # 160 bits, RFC 4226's recommendation
    others = {
        derive_secret(KEYRING, "user-2", "nonce-1", "k2"),
        derive_secret(KEYRING, "user-1", "nonce-2", "k2"),
        derive_secret(KEYRING, "user-1", "nonce-1", "k1"),
    }
    assert secret not in others and len(others) == 3
    # another deployment's signing key gives another secret: the nonce alone is useless
    stranger = Keyring.parse("c" * 40)
    assert derive_secret(stranger, "user-1", "nonce-1", "k1") != derive_secret(
        KEYRING, "user-1", "nonce-1", "k1"
    )


def test_codes_of_the_current_and_neighbouring_windows_match_their_step():
    secret = derive_secret(KEYRING, "user-1", "n", "k2")
    app = pyotp.TOTP(secret)  # what an authenticator app computes
    step = time_step(AT)
    assert matching_step(secret, app.at(AT), AT) == step
    assert matching_step(secret, app.at(AT - INTERVAL), AT) == step - 1
    assert matching_step(secret, app.at(AT + INTERVAL), AT) == step + 1
    assert matching_step(secret, app.at(AT - 2 * INTERVAL), AT) is None
    assert matching_step(secret, app.at(AT + 2 * INTERVAL), AT) is None
    spaced = app.at(AT)[:3] + " " + app.at(AT)[3:]
    assert matching_step(secret, spaced, AT) == step


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12345a", "١٢٣٤٥٦"])
def test_malformed_codes_never_match(code):
    secret = derive_secret(KEYRING, "user-1", "n", "k2")
    assert matching_step(secret, code, AT) is None


def test_the_otpauth_uri_is_rfc_6238_six_digits_thirty_seconds():
    uri = pyotp.TOTP(derive_secret(KEYRING, "u", "n", "k2")).provisioning_uri(
        name="ada@example.com", issuer_name="gatekey"
    )
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.digits == 6 and parsed.interval == 30 and parsed.issuer == "gatekey"


def test_ten_distinct_recovery_codes_in_a_readable_form():
    codes = new_recovery_codes()
    assert len(codes) == RECOVERY_CODE_COUNT == 10
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code) for code in codes)
    assert set(codes).isdisjoint(new_recovery_codes())


def test_recovery_codes_are_stored_as_keyed_hashes_that_ignore_case_and_dashes():
    code = "abcde-fghjk"
    digest = hash_recovery_code(KEYRING, "k2", "user-1", code)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert code.replace("-", "") not in digest
    assert hash_recovery_code(KEYRING, "k2", "user-1", " ABCDE FGHJK ") == digest
    assert normalize_recovery_code("ABCDE-fghjk") == "abcdefghjk"
    assert hash_recovery_code(KEYRING, "k2", "user-2", code) != digest
    assert hash_recovery_code(KEYRING, "k1", "user-1", code) != digest
