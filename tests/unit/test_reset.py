import pytest

from gatekey import reset
from gatekey.settings import Settings


@pytest.fixture
def console_setting(monkeypatch):
    def apply(url=None):
        current = Settings(secret="s" * 40, console_url=url)
        monkeypatch.setattr(reset, "get_settings", lambda: current)

    apply()
    return apply


def event(domain, proto, full_path, path="/auth/password-reset"):
    return {
        "path": path,
        "headers": {"Host": domain, "X-Forwarded-Proto": proto},
        "requestContext": {"domainName": domain, "path": full_path, "stage": "v1"},
    }


def test_deployed_links_point_at_the_stage_console(console_setting):
    url = reset.console_url(
        event("abc123.execute-api.eu-west-1.amazonaws.com", "https", "/v1/auth/password-reset")
    )
    assert url == "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/console"


def test_a_custom_domain_keeps_its_base_path(console_setting):
    assert (
        reset.console_url(event("auth.example.com", "https", "/gatekey/auth/password-reset"))
        == "https://auth.example.com/gatekey/console"
    )
    assert (
        reset.console_url(event("auth.example.com", "https", "/auth/password-reset"))
        == "https://auth.example.com/console"
    )


def test_the_local_api_serves_the_console_without_the_stage(console_setting):
    url = reset.console_url(event("127.0.0.1:3000", "http", "/v1/auth/password-reset"))
    assert url == "http://127.0.0.1:3000/console"


def test_the_setting_wins(console_setting):
    console_setting("https://console.example.com/gk")
    url = reset.console_url(event("127.0.0.1:3000", "http", "/v1/auth/password-reset"))
    assert url == "https://console.example.com/gk"


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
