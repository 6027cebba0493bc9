"""Each function of the local API gets its own environment, as in Lambda: a variable
the template gives one function reaches that function alone."""

from __future__ import annotations

from gatekey.settings import ENV_HTTP_API_SIMPLE_RESPONSES
from gatekey_local.template import load_template
from tests.conftest import TEMPLATE

LOCAL_RUN_VARIABLES = ("DYNAMODB_ENDPOINT", "GATEKEY_TABLE", "GATEKEY_SECRET", "AWS_REGION")


def test_an_authorizer_setting_reaches_the_authorizer_alone(local_server):
    runner = local_server.emulator.runner
    functions = set(load_template(TEMPLATE).functions)
    assert {"AuthorizerFunction", "LoginFunction", "KeysFunction"} <= functions
    for function in functions:
        environment = runner.environment_of(function)
        assert environment["AWS_LAMBDA_FUNCTION_NAME"] == function
        assert all(name in environment for name in LOCAL_RUN_VARIABLES), function
        if function == "AuthorizerFunction":
            assert environment[ENV_HTTP_API_SIMPLE_RESPONSES] in ("true", "false")
        else:
            assert ENV_HTTP_API_SIMPLE_RESPONSES not in environment, function


def test_a_function_process_does_not_see_the_test_process_environment(
    local_server, api, user, monkeypatch
):
    """A variable of this process that no function declares and the local run does not
    give stays here (a developer's shell is not the function's environment)."""
    monkeypatch.setenv("GATEKEY_UNRELATED_SHELL_VARIABLE", "from the developer's shell")
    assert api.login(user)["access_token"]
    for function in load_template(TEMPLATE).functions:
        environment = local_server.emulator.runner.environment_of(function)
        assert "GATEKEY_UNRELATED_SHELL_VARIABLE" not in environment
        assert "HOME" not in environment
