import pytest

from gatekey.accounts import reset
from gatekey.errors import ConfigurationError
from gatekey.settings import Settings


@pytest.fixture
def console_setting(monkeypatch):
    def apply(url=None, parameter=None):
        current = Settings(secret="s" * 40, console_url=url, console_url_parameter=parameter)
        monkeypatch.setattr(reset, "get_settings", lambda: current)

    apply()
    reset._console_url_from_parameter.cache_clear()
    yield apply
    reset._console_url_from_parameter.cache_clear()


def test_the_configured_console_url_is_the_links_base(console_setting):
    console_setting("https://console.example.com/gk")
    assert reset.console_url() == "https://console.example.com/gk"


def test_without_a_setting_links_are_refused_rather_than_guessed(console_setting):
    with pytest.raises(ConfigurationError, match="GATEKEY_CONSOLE_URL"):
        reset.console_url()


class FakeSsm:
    def __init__(self, value):
        self.value = value
        self.names = []

    def get_parameter(self, Name):
        self.names.append(Name)
        return {"Parameter": {"Name": Name, "Value": self.value}}


def test_on_aws_the_stacks_parameter_is_read_once(console_setting, monkeypatch):
    import boto3

    ssm = FakeSsm("https://abc123.execute-api.eu-west-1.amazonaws.com/v1/console/")
    monkeypatch.setattr(boto3, "client", lambda service: ssm)
    console_setting(parameter="/stack/gatekey/console-url")
    expected = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/console"
    assert reset.console_url() == reset.console_url() == expected
    assert ssm.names == ["/stack/gatekey/console-url"]


def test_a_parameter_that_is_not_an_https_url_is_refused(console_setting, monkeypatch):
    import boto3

    monkeypatch.setattr(boto3, "client", lambda service: FakeSsm("http://evil.example"))
    console_setting(parameter="/stack/gatekey/console-url")
    with pytest.raises(ConfigurationError):
        reset.console_url()


def test_reset_link_puts_the_token_in_the_fragment():
    token = reset._new_token()[0]
    assert reset.reset_link("http://h/console/", token) == f"http://h/console#reset={token}"
    assert all(c.isalnum() or c in "-_" for c in token) and len(token) >= 43


def test_only_the_sha256_of_a_token_is_kept():
    token, digest = reset._new_token()
    assert digest == reset.token_hash(token) and len(digest) == 64 and token not in digest


@pytest.mark.parametrize("purpose", [reset.RESET, reset.SET_PASSWORD])
def test_messages_are_short_and_carry_the_link_and_the_token(purpose):
    subject, text = reset._message(purpose, "http://h/console#reset=tok123", "tok123", "Acme (a1)")
    assert "gatekey password" in subject
    assert "http://h/console#reset=tok123" in text and "Token: tok123" in text
    assert "Account: Acme (a1)" in text
    assert len(text) < 600
    assert ("30 minutes" in text) == (purpose == reset.RESET)
    assert ("7 days" in text) == (purpose == reset.SET_PASSWORD)
