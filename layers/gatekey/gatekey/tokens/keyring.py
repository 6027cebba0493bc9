"""The signing keyring: versioned server keys that everything secret is derived from.

The secret is a JSON object `{"current": "k2", "k1": "...", "k2": "..."}` (or, locally,
a bare string, which is read as key `k1`). New credentials use the `current` key;
older keys stay valid for what they issued until they are removed (docs/rotation.md).
Each use derives its own sub-key with HMAC-SHA256 and a purpose label, so a session
signing key can never verify an API key token and vice versa.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from threading import Lock
from typing import TYPE_CHECKING

from gatekey.errors import ConfigurationError, InvalidToken, ServiceUnavailable
from gatekey.settings import Settings, get_settings

if TYPE_CHECKING:
    from gatekey.aws import SecretsManager

MIN_KEY_LENGTH = 32
REFRESH_SECONDS = 300


@dataclass(frozen=True)
class Keyring:
    current_kid: str
    keys: dict[str, bytes]
    _derived: dict[tuple[str, str], bytes] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @classmethod
    def parse(cls, raw: str) -> Keyring:
        """Read the secret's text; refuses missing or short keys (short defaults too)."""
        text = raw.strip()
        if text.startswith("{"):
            try:
                document = json.loads(text)
            except ValueError:
                raise ConfigurationError("the signing secret is not valid JSON") from None
            if not isinstance(document, dict) or not isinstance(document.get("current"), str):
                raise ConfigurationError('the signing secret needs a "current" key id')
            current = document["current"]
            keys = {
                kid: value.encode()
                for kid, value in document.items()
                if kid != "current" and isinstance(value, str)
            }
        else:
            current, keys = "k1", {"k1": text.encode()}
        if current not in keys:
            raise ConfigurationError(f"the signing secret has no key {current!r}")
        for kid, key in keys.items():
            if len(key) < MIN_KEY_LENGTH:
                raise ConfigurationError(
                    f"signing key {kid!r} is too weak: use at least {MIN_KEY_LENGTH} random chars"
                )
        return cls(current_kid=current, keys=keys)

    def derive(self, purpose: str, kid: str | None = None) -> bytes:
        """A sub-key for one purpose; unknown `kid` means the credential is not ours."""
        version = kid or self.current_kid
        derived = self._derived.get((purpose, version))
        if derived is None:
            key = self.keys.get(version)
            if key is None:
                raise InvalidToken()
            derived = hmac.new(key, purpose.encode(), hashlib.sha256).digest()
            self._derived[(purpose, version)] = derived
        return derived


class KeyringSource:
    """Loads the keyring once and refreshes it every few minutes so rotation takes effect."""

    def __init__(self, settings: Settings, *, lean: bool = False) -> None:
        self._settings = settings
        self._lean = lean  # read Secrets Manager through gatekey.aws instead of boto3
        self._secrets: SecretsManager | None = None  # the lean client, kept for its connection
        self._keyring: Keyring | None = None
        self._loaded_at = 0.0
        self._lock = Lock()

    def get(self) -> Keyring:
        now = time.monotonic()
        if self._keyring is not None and (
            self._settings.secret is not None or now - self._loaded_at < REFRESH_SECONDS
        ):
            return self._keyring
        with self._lock:
            if self._keyring is None or now - self._loaded_at >= REFRESH_SECONDS:
                try:
                    self._keyring = Keyring.parse(self._read_secret())
                    self._loaded_at = now
                except ServiceUnavailable:
                    if self._keyring is None:
                        raise
            return self._keyring

    def _read_secret(self) -> str:
        if self._settings.secret is not None:
            return self._settings.secret
        if self._settings.secret_arn is None:
            raise ConfigurationError("no signing secret configured")
        if self._lean:
            from gatekey import aws

            try:
                if self._secrets is None:
                    self._secrets = aws.SecretsManager()
                answer = self._secrets.get_secret_value(SecretId=self._settings.secret_arn)
            except aws.ClientError as exc:
                from gatekey.store import ACCESS_DENIED_CODES, error_code, permission_misconfigured

                if error_code(exc) in ACCESS_DENIED_CODES:
                    raise permission_misconfigured(exc, "secretsmanager:GetSecretValue") from exc
                raise ServiceUnavailable() from exc
            except aws.AWSError as exc:
                raise ServiceUnavailable() from exc
            return str(answer["SecretString"])
        import boto3  # deferred: only deployed functions read Secrets Manager
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client = boto3.client("secretsmanager")
            response = client.get_secret_value(SecretId=self._settings.secret_arn)
        except ClientError as exc:
            from gatekey.store import ACCESS_DENIED_CODES, permission_misconfigured

            if exc.response.get("Error", {}).get("Code") in ACCESS_DENIED_CODES:
                raise permission_misconfigured(exc, "secretsmanager:GetSecretValue") from exc
            raise ServiceUnavailable() from exc
        except BotoCoreError as exc:
            raise ServiceUnavailable() from exc
        return str(response["SecretString"])


_source: KeyringSource | None = None
_lean_source: KeyringSource | None = None


def get_keyring(*, lean: bool = False) -> Keyring:
    """The container's keyring (`lean=True`: the authorizer's, read without boto3)."""
    global _source, _lean_source
    settings = get_settings()
    source = _lean_source if lean else _source
    if source is None or source._settings is not settings:
        source = KeyringSource(settings, lean=lean)
        if lean:
            _lean_source = source
        else:
            _source = source
    return source.get()


def reset() -> None:
    """Forgets both keyrings, so the next `get_keyring()` reads the secret again."""
    global _source, _lean_source
    _source = _lean_source = None
