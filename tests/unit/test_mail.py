import email
import email.policy
import logging
from pathlib import Path

import pytest
from botocore.stub import Stubber

from gatekey.accounts import mail
from gatekey.errors import ServiceUnavailable
from gatekey.settings import Settings

LINK = "http://127.0.0.1:3000/console#reset=secret-token-value-123456"


@pytest.fixture
def settings(monkeypatch, tmp_path):
    """The mail module's settings: the outbox in a tmp dir, or SES with `sender`."""

    def apply(**values):
        current = Settings(secret="s" * 40, outbox_dir=str(tmp_path / "outbox"), **values)
        monkeypatch.setattr(mail, "get_settings", lambda: current)
        return current

    return apply


def logged(caplog) -> str:
    """Every record's message and attributes (Powertools puts `extra` on the record)."""
    return "\n".join(str(vars(record)) for record in caplog.records)


@pytest.fixture(autouse=True)
def _capture_all(caplog):
    caplog.set_level(logging.DEBUG)


def test_without_sender_each_message_is_one_rfc_5322_file(settings, tmp_path, caplog):
    settings()
    path = mail.send("ada@example.com", "Reset your gatekey password", f"Open {LINK}\n")
    [written] = (tmp_path / "outbox").iterdir()
    assert str(written) == path and written.suffix == ".eml"
    message = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Reset your gatekey password"
    assert message["From"] == mail.LOCAL_SENDER
    assert message["Date"].datetime.tzinfo is not None
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith(">")
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == f"Open {LINK}\n"
    # the log names the file, and never holds the message (a reset link is a secret)
    assert [r.outbox_file for r in caplog.records if hasattr(r, "outbox_file")] == [path]
    assert "secret-token" not in logged(caplog) and "Reset your" not in logged(caplog)


def test_outbox_names_sort_in_the_order_messages_were_written(settings, tmp_path):
    settings()
    paths = [mail.send("ada@example.com", f"n{i}", "text") for i in range(5)]
    assert sorted(paths) == paths
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [
        p.rsplit("/", 1)[1] for p in paths
    ]
    assert not list((tmp_path / "outbox").glob("*.part"))


def test_an_unwritable_outbox_is_a_service_error(settings, tmp_path):
    blocker = tmp_path / "outbox"
    blocker.write_text("a file, not a directory")
    settings()
    with pytest.raises(ServiceUnavailable):
        mail.send("ada@example.com", "s", "t")


@pytest.fixture
def ses(monkeypatch):
    import boto3

    client = boto3.client("sesv2", region_name="us-east-1")
    monkeypatch.setattr(mail, "_ses_client", lambda: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_with_a_sender_the_message_goes_through_ses_send_email(settings, ses, tmp_path, caplog):
    settings(sender_email="no-reply@example.org")
    expected = {
        "FromEmailAddress": "no-reply@example.org",
        "Destination": {"ToAddresses": ["ada@example.com"]},
        "Content": {
            "Simple": {
                "Subject": {"Data": "Choose your gatekey password", "Charset": "UTF-8"},
                "Body": {"Text": {"Data": f"Open {LINK}\n", "Charset": "UTF-8"}},
            }
        },
    }
    ses.add_response("send_email", {"MessageId": "0100-abc"}, expected)
    assert mail.send("ada@example.com", "Choose your gatekey password", f"Open {LINK}\n") == (
        "0100-abc"
    )
    assert not (tmp_path / "outbox").exists()
    assert "0100-abc" in logged(caplog) and "secret-token" not in logged(caplog)


def test_ses_refusing_is_a_service_error_without_the_message_in_the_log(settings, ses, caplog):
    settings(sender_email="no-reply@example.org")
    ses.add_client_error("send_email", "MessageRejected", "Email address is not verified.")
    with pytest.raises(ServiceUnavailable):
        mail.send("ada@example.com", "Reset", f"Open {LINK}\n")
    assert "MessageRejected" in logged(caplog) and "secret-token" not in logged(caplog)


def test_a_long_link_stays_one_line_of_the_raw_file(settings, tmp_path):
    settings()
    link = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/console#reset=" + "A" * 43
    path = mail.send("ada@example.com", "Reset", f"Open\n\n{link}\n\nToken: {'A' * 43}\n")
    raw = Path(path).read_text(encoding="ascii")
    assert f"\n{link}\n" in raw and "quoted-printable" not in raw
    accented = mail.send("ada@example.com", "Reset", f"Réinitialiser: {link}\n")
    message = email.message_from_bytes(Path(accented).read_bytes(), policy=email.policy.default)
    assert message.get_content() == f"Réinitialiser: {link}\n"
