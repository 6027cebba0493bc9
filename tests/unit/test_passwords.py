import hashlib
import subprocess
import sys

import pytest

from gatekey.accounts.passwords import (
    COMMON_PASSWORDS,
    MAX_LENGTH,
    MEMORY_COST_KIB,
    MIN_LENGTH,
    TIME_COST,
    _common_passwords,
    check_password_rule,
    hash_password,
    verify_password,
)
from gatekey.errors import ValidationFailed
from tests.helpers import REPO_ROOT

LIST_SHA256 = "3c1baed62596de36860824eb3f436d5932d37ca8b06e59df78f5a44ec175afe4"


def test_hash_is_argon2id_with_owasp_parameters():
    encoded = hash_password("correct horse")
    assert encoded.startswith("$argon2id$")
    assert f"m={MEMORY_COST_KIB},t={TIME_COST},p=1" in encoded
    assert MEMORY_COST_KIB >= 19 * 1024 and TIME_COST >= 2


def test_verify_accepts_only_the_right_password():
    encoded = hash_password("correct horse")
    assert verify_password(encoded, "correct horse")
    assert not verify_password(encoded, "correct horsE")


def test_missing_hash_never_verifies():
    assert not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "anything")


# -- the password rule (CONTRACT section 8) ---------------------------------------------


def refusal(password: str, email: str | None = "ada.lovelace@example.com") -> str:
    with pytest.raises(ValidationFailed) as caught:
        check_password_rule(password, email)
    body = caught.value.body()
    assert body["type"] == "validation_error"
    [entry] = body["errors"]
    assert entry["attr"] == "password"
    assert password not in entry["detail"]
    return str(entry["code"])


def test_a_long_uncommon_password_passes():
    check_password_rule("correct horse battery staple", "ada.lovelace@example.com")
    check_password_rule("x" * MAX_LENGTH, None)


def test_length_is_10_to_256_characters():
    assert refusal("Tr0ub4dor") == "password_too_short"  # 9 characters
    check_password_rule("Tr0ub4dor&", "ada@example.com")  # 10
    assert refusal("y" * (MAX_LENGTH + 1)) == "password_too_long"
    assert MIN_LENGTH == 10 and MAX_LENGTH == 256


@pytest.mark.parametrize("password", ["qwertyuiop", "1234567890", "Password123", "QWERTYUIOP"])
def test_common_passwords_are_refused_whatever_their_case(password):
    assert refusal(password) == "password_too_common"


def test_the_email_local_part_is_refused_case_insensitively():
    assert refusal("my-Ada.Lovelace-pass") == "password_too_similar"
    assert refusal("xxADA.LOVELACExx", "Ada.Lovelace@Example.com") == "password_too_similar"
    # the domain is not the local part; a one- or two-letter local part is not checked
    check_password_rule("example.com rocks on", "ada.lovelace@example.com")
    check_password_rule("a long passphrase", "a@example.com")


def test_the_list_is_djangos_file_unchanged_and_complete():
    assert hashlib.sha256(COMMON_PASSWORDS.read_bytes()).hexdigest() == LIST_SHA256
    common = _common_passwords()
    assert len(common) == 19_640
    assert all(word == word.lower().strip() for word in common)
    assert (COMMON_PASSWORDS.parent / "LICENSE.django").is_file()


def test_the_list_is_loaded_lazily_and_never_by_the_authorizer():
    code = (
        "import importlib.util, sys;"
        "spec = importlib.util.spec_from_file_location('a', 'functions/authorizer/app.py');"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module);"
        "from gatekey.accounts import passwords;"
        "print(passwords._common_passwords.cache_info().currsize)"
    )
    env = {"GATEKEY_SECRET": "s" * 40, "AWS_DEFAULT_REGION": "us-east-1", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
