"""The access-token signing keys: their published public halves, and the signer.

The private keys never leave KMS (on AWS an asymmetric RSA_2048 SIGN_VERIFY key; locally
a key file under `.local/` behind the same two calls, `local_kms`). What the other
functions need is published in the table by the one function that may call
`kms:GetPublicKey` (`oauth.jwks.publish`, a CloudFormation custom resource, and the local
run at start-up): the public JWKs, which key signs now, the issuer and the audience.

Readers keep that document per container (`PublishedKeys.get`) and read it again every
few minutes, or at once (at most every `REREAD_SECONDS`) when a token names a key or an
issuer they do not know, so a rotation reaches warm containers without a read per token.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from threading import Lock
from typing import Any, Protocol

from gatekey.errors import ConfigurationError, ServiceUnavailable
from gatekey.tokens.rs256 import RsaPublicKey

REFRESH_SECONDS = 300
REREAD_SECONDS = 10  # the bound on re-reads caused by unknown `kid`s or issuers
SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"  # KMS's name for RS256


@dataclass(frozen=True)
class SigningDocument:
    """What `oauth.jwks.publish` wrote: issuer, audience, and the keys by `kid`."""

    issuer: str
    audience: str
    current_kid: str
    keys: dict[str, RsaPublicKey]
    key_arns: dict[str, str]

    @classmethod
    def from_item(cls, document: dict[str, Any]) -> SigningDocument:
        keys: dict[str, RsaPublicKey] = {}
        arns: dict[str, str] = {}
        for entry in document.get("keys") or []:
            key = RsaPublicKey.from_jwk({"kty": "RSA", **entry})
            keys[key.kid] = key
            arns[key.kid] = str(entry["key_arn"])
        current = str(document["current_kid"])
        if current not in keys:
            raise ConfigurationError("the published signing keys do not hold the current one")
        return cls(
            issuer=str(document["issuer"]),
            audience=str(document["audience"]),
            current_kid=current,
            keys=keys,
            key_arns=arns,
        )

    @property
    def current_key_arn(self) -> str:
        return self.key_arns[self.current_kid]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set: the current key first, then any other still published."""
        order = [self.current_kid, *sorted(kid for kid in self.keys if kid != self.current_kid)]
        return {"keys": [self.keys[kid].to_jwk() for kid in order]}


class PublishedKeys:
    """The container's copy of the published document."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._document: SigningDocument | None = None
        self._loaded_at = -float("inf")
        self._lock = Lock()

    def get(self, *, unknown: bool = False) -> SigningDocument | None:
        """The document (None if none was published). `unknown=True`: the caller met a
        `kid` or issuer it does not know, so read again unless that was just done."""
        short = unknown or self._document is None
        if time.monotonic() - self._loaded_at < (REREAD_SECONDS if short else REFRESH_SECONDS):
            return self._document
        with self._lock:
            if time.monotonic() - self._loaded_at >= (REREAD_SECONDS if short else 0):
                try:
                    item = self._store.get_signing_keys()
                except ServiceUnavailable:
                    if self._document is None:
                        raise
                    return self._document
                self._document = None if item is None else SigningDocument.from_item(item)
                self._loaded_at = time.monotonic()
            return self._document


class Kms(Protocol):
    """The two KMS calls gatekey makes, with boto3's names, parameters and answers."""

    def sign(self, **params: Any) -> dict[str, Any]: ...

    def get_public_key(self, **params: Any) -> dict[str, Any]: ...


def sign_rs256(kms: Kms, key_arn: str, message: bytes) -> bytes:
    """An RS256 signature of `message` by a KMS key (KMS hashes nothing: we send the digest)."""
    from gatekey.store import ACCESS_DENIED_CODES, error_code, permission_misconfigured

    try:
        answer = kms.sign(
            KeyId=key_arn,
            Message=hashlib.sha256(message).digest(),
            MessageType="DIGEST",
            SigningAlgorithm=SIGNING_ALGORITHM,
        )
    except Exception as exc:
        if error_code(exc) in ACCESS_DENIED_CODES:
            raise permission_misconfigured(exc, "kms:Sign") from exc
        if error_code(exc) or type(exc).__module__.startswith(("botocore", "gatekey")):
            raise ServiceUnavailable() from exc
        raise
    return bytes(answer["Signature"])


_kms: Kms | None = None
_kms_settings: Any = None


def get_kms() -> Kms:
    """KMS through boto3; locally (`GATEKEY_LOCAL_KMS_DIR`) the key-file stand-in. One
    client per container (per settings: tests that change them get a new one)."""
    global _kms, _kms_settings
    from gatekey.settings import get_settings

    settings = get_settings()
    if _kms is None or _kms_settings is not settings:
        _kms_settings = settings
        local_dir = settings.local_kms_dir
        if local_dir:
            from gatekey.tokens.local_kms import LocalKms

            _kms = LocalKms(local_dir)
        else:
            import boto3
            from botocore.config import Config

            config = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2})
            _kms = boto3.client("kms", config=config)
    return _kms


def current_document(store: Any) -> SigningDocument:
    """The published document a signer needs; 503 (and one log line) until it exists."""
    document = published_keys(store).get()
    if document is None:
        import logging

        logging.getLogger(__name__).warning(
            "no access-token signing keys are published: the stack's SigningKeysPublication "
            "(or, locally, the local run's start-up) writes them"
        )
        raise ServiceUnavailable()
    return document


_published: PublishedKeys | None = None
_published_store: Any = None


def published_keys(store: Any) -> PublishedKeys:
    """The container's `PublishedKeys` for this store (one per store)."""
    global _published, _published_store
    if _published is None or _published_store is not store:
        _published = PublishedKeys(store)
        _published_store = store
    return _published


def reset() -> None:
    global _kms, _kms_settings, _published, _published_store
    _kms = _kms_settings = _published = _published_store = None
