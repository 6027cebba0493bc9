import pytest

from gatekey.errors import ConfigurationError
from gatekey.settings import Settings

BASE = {"GATEKEY_SECRET": "x" * 40}


def test_defaults_match_the_contract():
    settings = Settings.from_environ(BASE)
    assert settings.table_name == "gatekey"
    assert settings.bind_user_agent is True
    assert settings.session_idle_seconds == 2_592_000
    assert settings.touch_interval_seconds == 3_600
    assert settings.access_token_seconds == 3_600
    assert settings.session_max_seconds == 7_776_000
    assert settings.authorizer_cache_seconds == 60
    assert settings.dynamodb_endpoint is None


def test_environment_overrides_every_setting():
    settings = Settings.from_environ(
        {
            **BASE,
            "GATEKEY_TABLE": "t",
            "DYNAMODB_ENDPOINT": "http://127.0.0.1:1",
            "GATEKEY_BIND_USER_AGENT": "false",
            "GATEKEY_SESSION_IDLE_SECONDS": "5",
            "GATEKEY_TOUCH_INTERVAL_SECONDS": "0",
            "GATEKEY_ACCESS_TOKEN_SECONDS": "7",
            "GATEKEY_SESSION_MAX_SECONDS": "9",
            "GATEKEY_AUTHORIZER_CACHE_SECONDS": "0",
        }
    )
    assert (settings.table_name, settings.dynamodb_endpoint) == ("t", "http://127.0.0.1:1")
    assert settings.bind_user_agent is False
    assert settings.session_idle_seconds == 5
    assert settings.touch_interval_seconds == 0
    assert settings.access_token_seconds == 7
    assert settings.session_max_seconds == 9
    assert settings.authorizer_cache_seconds == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEKEY_SESSION_IDLE_SECONDS", "soon"),
        ("GATEKEY_SESSION_IDLE_SECONDS", "0"),
        ("GATEKEY_TOUCH_INTERVAL_SECONDS", "-1"),
        ("GATEKEY_BIND_USER_AGENT", "maybe"),
        ("GATEKEY_KEY_PREFIX", "gk"),
        ("GATEKEY_KEY_PREFIX", "GK_"),
        ("GATEKEY_KEY_PREFIX", "_"),
        ("GATEKEY_KEY_PREFIX", "abcdefghij_"),
        ("GATEKEY_KEY_PREFIX", "g-k_"),
        ("GATEKEY_KEY_PREFIX", "gk_\n"),
    ],
)
def test_bad_values_refuse_to_start(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_environ({**BASE, name: value})


def test_missing_secret_refuses_to_start():
    with pytest.raises(ConfigurationError, match="GATEKEY_SECRET"):
        Settings.from_environ({})


def test_template_parameter_defaults_are_the_settings_defaults():
    """A deployed stack with default parameters behaves as the code's defaults say."""
    from gatekey_local.template import load_yaml
    from tests.helpers import REPO_ROOT

    document = load_yaml(REPO_ROOT / "template.yaml")
    parameters = document["Parameters"]
    environments = [document["Globals"]["Function"]["Environment"]["Variables"]]
    environments += [
        resource["Properties"].get("Environment", {}).get("Variables", {})
        for resource in document["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    ]
    # Where the stack and the code differ on purpose: names of deployed resources.
    deployment = {
        "GATEKEY_TABLE",
        "GATEKEY_SECRET_ARN",
        "GATEKEY_STAGE",
        "GATEKEY_CONSOLE_URL_PARAMETER",
    }
    checked = {}
    for variables in environments:
        for name, value in variables.items():
            if name.startswith("GATEKEY_") and name not in deployment:
                parameter = value["Ref"]
                checked[name] = str(parameters[parameter]["Default"])
    assert len(checked) >= 8, checked
    secret = {"GATEKEY_SECRET": "s" * 40}
    assert Settings.from_environ({**secret, **checked}) == Settings.from_environ(secret)


def test_the_key_prefix_is_gk_unless_configured():
    assert Settings.from_environ(BASE).key_prefix == "gk_"
    assert Settings.from_environ({**BASE, "GATEKEY_KEY_PREFIX": "acme_"}).key_prefix == "acme_"
    assert Settings.from_environ({**BASE, "GATEKEY_KEY_PREFIX": "a_b_c_de_"}).key_prefix
