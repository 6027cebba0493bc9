"""argon2id password hashing, with a dummy hash so unknown emails cost the same time,
and the password rule of CONTRACT section 8.

Parameters meet OWASP's minimum for argon2id (m=19 MiB, t=2, p=1).
"""

from __future__ import annotations

import gzip
import secrets
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gatekey.errors import ValidationFailed

TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_LOCAL_PART = 3  # a one- or two-letter local part would refuse nearly every password
COMMON_PASSWORDS = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt.gz"

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; a missing hash still costs one full verification."""
    target = password_hash or _dummy_hash()
    try:
        matched = _hasher.verify(target, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(24))


def warm_up() -> None:
    """Computes the dummy hash at cold start so the first unknown email is not slower."""
    _dummy_hash()


def check_password_rule(password: str, email: str | None) -> None:
    """Refuses (400, attr `password`) a new password that is too short or too long, among
    the common passwords, or that contains the local part of the user's email.

    The comparisons ignore case. The common list is read on the first call only.
    """
    if len(password) < MIN_LENGTH:
        _refuse("password_too_short", f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        _refuse("password_too_long", f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered.strip() in _common_passwords():
        _refuse("password_too_common", "This password is too common; choose another.")
    local_part = (email or "").rpartition("@")[0].strip().lower()
    if len(local_part) >= MIN_LOCAL_PART and local_part in lowered:
        _refuse("password_too_similar", "The password must not contain your email's name.")


def _refuse(code: str, detail: str) -> None:
    raise ValidationFailed.field("password", detail, code=code)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    """Django's list of 20,000 common passwords (data/README.md), lowercased."""
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())
