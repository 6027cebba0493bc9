from gatekey.passwords import MEMORY_COST_KIB, TIME_COST, hash_password, verify_password


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
