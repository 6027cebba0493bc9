"""Messages to users (set-password, reset): one `send`, two transports.

With `SenderEmail` set (env `GATEKEY_SENDER_EMAIL`) a message goes through Amazon SES
(`sesv2` SendEmail, simple plain-text content). Without it, as in the local run and the
tests, each message is written as one RFC 5322 file, `<time>-<id>.eml`, under
`GATEKEY_OUTBOX_DIR` (default `.local/outbox`), and the log names the file.

A message may hold a secret (a reset link is one): the log line names the recipient's
domain and the file or SES message id only, never the subject or the text.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from gatekey.errors import ConfigurationError, ServiceUnavailable
from gatekey.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_sesv2.client import SESV2Client

LOCAL_SENDER = "gatekey <no-reply@gatekey.localhost>"

logger = Logger()


def send(to: str, subject: str, text: str) -> str:
    """Sends one plain-text message; returns the SES message id or the .eml file's path.

    Raises `ServiceUnavailable` when SES refuses or cannot be reached.
    """
    settings = _settings()
    if settings.sender_email:
        return _send_with_ses(settings.sender_email, to, subject, text)
    return write_to_outbox(Path(settings.outbox_dir), to, subject, text)


def _settings() -> Settings:
    """The function's settings; the admin CLI (`gatekey notify-expiring`), which holds no
    signing secret, reads what sending needs from the environment alone."""
    try:
        return get_settings()
    except ConfigurationError:
        return Settings.from_environ(require_secret=False)


def build_message(sender: str, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="gatekey.localhost")
    # 7bit/8bit rather than quoted-printable: a link stays one greppable line in the file
    # (lines up to RFC 5322's 998 characters are fine; these messages have short ones)
    message.set_content(text, cte="7bit" if text.isascii() else "8bit")
    return message


def write_to_outbox(directory: Path, to: str, subject: str, text: str) -> str:
    """Writes the message as `<UTC time>-<id>.eml`: names sort by time, and a reader never
    sees half a file (it is written aside, then renamed)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
    partial = path.with_suffix(".part")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(build_message(LOCAL_SENDER, to, subject, text).as_bytes())
        os.replace(partial, path)
    except OSError as exc:  # e.g. on AWS without SenderEmail: the code directory is read-only
        logger.warning("the outbox is not writable", extra={"outbox_dir": str(directory)})
        raise ServiceUnavailable() from exc
    logger.info("message written to the outbox", extra={"outbox_file": str(path)})
    return str(path)


def _send_with_ses(sender: str, to: str, subject: str, text: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = _ses_client().send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": [to]},
            Content={
                "Simple": {
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                }
            },
        )
    except (BotoCoreError, ClientError) as exc:
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
        reason = code or type(exc).__name__
        logger.warning("SES did not send a message", extra={"ses_error": reason})
        raise ServiceUnavailable() from exc
    message_id = str(response.get("MessageId", ""))
    logger.info(
        "message sent with SES",
        extra={"ses_message_id": message_id, "recipient_domain": to.rpartition("@")[2]},
    )
    return message_id


@lru_cache(maxsize=1)
def _ses_client() -> SESV2Client:
    import boto3
    from botocore.config import Config

    config: Any = Config(
        connect_timeout=1, read_timeout=3, retries={"total_max_attempts": 2, "mode": "standard"}
    )
    return boto3.client("sesv2", config=config)
