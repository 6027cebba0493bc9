"""The local stand-in for KMS's asymmetric keys: `Sign` and `GetPublicKey` with boto3's
names, parameters and answers, on RSA key files in a directory (`.local/kms/` under
`make run`), one PEM file per key, named by the key id of its ARN.

Used only where `GATEKEY_LOCAL_KMS_DIR` is set (never on AWS). Each call first goes
through `gatekey.aws.before_send`, where the local run's IAM gate checks it against the
calling function's role in template.yaml, as it checks DynamoDB and Secrets Manager: a
function without `kms:Sign` on the key gets AWS's AccessDeniedException.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gatekey import aws

SIGNING_ALGORITHMS = ["RSASSA_PKCS1_V1_5_SHA_256"]


class LocalKms:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._keys: dict[Path, tuple[float, Any]] = {}  # parsed keys, by file and mtime

    def create_key(self, key_arn: str) -> bool:
        """Creates the key file of `key_arn` (RSA 2048) unless it exists; True if created."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        path = self._path(key_arn)
        if path.exists():
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        return True

    def sign(self, **params: Any) -> dict[str, Any]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, utils

        self._authorize("Sign", params)
        if params.get("SigningAlgorithm") not in SIGNING_ALGORITHMS:
            raise _error("Sign", "ValidationException", "unsupported SigningAlgorithm")
        if params.get("MessageType") != "DIGEST" or len(params["Message"]) != 32:
            raise _error("Sign", "ValidationException", "this stand-in signs SHA-256 digests")
        key = self._private_key("Sign", params["KeyId"])
        signature = key.sign(
            params["Message"], padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
        )
        return {
            "KeyId": params["KeyId"],
            "Signature": signature,
            "SigningAlgorithm": params["SigningAlgorithm"],
        }

    def get_public_key(self, **params: Any) -> dict[str, Any]:
        from cryptography.hazmat.primitives import serialization

        self._authorize("GetPublicKey", params)
        key = self._private_key("GetPublicKey", params["KeyId"])
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "KeyId": params["KeyId"],
            "PublicKey": der,
            "KeySpec": "RSA_2048",
            "KeyUsage": "SIGN_VERIFY",
            "SigningAlgorithms": SIGNING_ALGORITHMS,
        }

    def _authorize(self, operation: str, params: dict[str, Any]) -> None:
        wire = {name: value for name, value in params.items() if isinstance(value, str)}
        for hook in aws.before_send:
            answer = hook("kms", operation, wire)
            if answer is not None:
                body = json.loads(bytes(answer["body"]) or b"{}")
                code = str(body.get("__type", "")).rpartition("#")[2] or "AccessDeniedException"
                raise _error(operation, code, str(body.get("Message", "")))

    def _path(self, key_arn: str) -> Path:
        key_id = key_arn.rpartition("/")[2]
        if not key_id or not all(c.isalnum() or c == "-" for c in key_id):
            raise _error("Sign", "NotFoundException", f"Invalid keyId {key_arn!r}")
        return self.directory / f"{key_id}.pem"

    def _private_key(self, operation: str, key_arn: str) -> Any:
        from cryptography.hazmat.primitives import serialization

        path = self._path(key_arn)
        try:
            mtime = path.stat().st_mtime
            cached = self._keys.get(path)
            if cached is not None and cached[0] == mtime:
                return cached[1]
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            raise _error(
                operation, "NotFoundException", f"Key '{key_arn}' does not exist"
            ) from None
        self._keys[path] = (mtime, key)
        return key


def _error(operation: str, code: str, message: str) -> aws.ClientError:
    return aws.ClientError({"Error": {"Code": code, "Message": message}}, operation)
