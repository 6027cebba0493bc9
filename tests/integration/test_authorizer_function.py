"""The authorizer function with real API Gateway events from events/, for every token kind."""

import json
import logging
import os
import subprocess
import sys
import time

import jwt
import pytest

from gatekey.accounts.sessions import get_session_service
from gatekey.credentials.keys import get_key_service
from gatekey.store import Store
from tests.helpers import PASSWORD, REPO_ROOT, load_event, load_handler

EVENT_USER_AGENT = "curl/8.5.0"  # the User-Agent in the sample events
CONTEXT_FIELDS = {"user_id", "account_id", "email", "role", "token_type", "key_handle"}


@pytest.fixture(scope="module")
def authorizer():
    return load_handler("authorizer")


@pytest.fixture
def tokens(store, user):
    owner = user.principal()
    keys = get_key_service()
    api_key = keys.create(owner, handle="ci", alias=None, key_type="token", expires_at=None)
    jwt_key = keys.create(owner, handle="app", alias=None, key_type="jwt", expires_at=None)
    client_jwt = jwt.encode(
        {"exp": int(time.time()) + 60},
        jwt_key["secret"],
        algorithm="HS256",
        headers={"kid": jwt_key["kid"]},
    )
    session = get_session_service().login(user.email, PASSWORD, None, EVENT_USER_AGENT)
    return {
        "session": session["access_token"],
        "api_key": api_key["token"],
        "client_jwt": client_jwt,
    }


def statement(response):
    (only,) = response["policyDocument"]["Statement"]
    return only


@pytest.mark.parametrize("kind", ["session", "api_key", "client_jwt"])
def test_rest_request_event_allows_each_token_kind(authorizer, tokens, user, kind):
    event = load_event("authorizer_rest_request.json", token=tokens[kind])
    response = authorizer.lambda_handler(event, None)
    assert response["principalId"] == user.user_id
    assert statement(response)["Effect"] == "Allow"
    assert statement(response)["Resource"] == [
        "arn:aws:execute-api:us-east-1:123456789012:abc123defg/v1/*"
    ]
    context = response["context"]
    assert set(context) >= CONTEXT_FIELDS
    assert all(isinstance(value, str | int | bool) for value in context.values())
    assert (context["user_id"], context["account_id"]) == (user.user_id, user.account_id)
    assert context["token_type"] == kind
    assert context["key_handle"] == {"session": "", "api_key": "ci", "client_jwt": "app"}[kind]


@pytest.mark.parametrize("kind", ["api_key", "client_jwt"])
def test_rest_token_event_allows_keys(authorizer, tokens, user, kind):
    event = load_event("authorizer_rest_token.json", token=tokens[kind])
    response = authorizer.lambda_handler(event, None)
    assert statement(response)["Effect"] == "Allow"
    assert response["principalId"] == user.user_id


def test_rest_token_event_refuses_a_bound_session_token_without_ending_it(
    authorizer, tokens, store: Store
):
    event = load_event("authorizer_rest_token.json", token=tokens["session"])
    response = authorizer.lambda_handler(event, None)
    assert statement(response)["Effect"] == "Deny"
    assert response["context"]["error_code"] == "invalid_token"
    request = load_event("authorizer_rest_request.json", token=tokens["session"])
    assert statement(authorizer.lambda_handler(request, None))["Effect"] == "Allow"


@pytest.mark.parametrize("kind", ["session", "api_key", "client_jwt"])
def test_http_api_event_gets_a_simple_response(authorizer, tokens, user, kind):
    event = load_event("authorizer_http_v2.json", token=tokens[kind])
    response = authorizer.lambda_handler(event, None)
    assert response["isAuthorized"] is True
    assert response["context"]["user_id"] == user.user_id
    assert response["context"]["token_type"] == kind


def test_http_api_iam_responses_when_configured(authorizer, tokens, configure):
    configure(GATEKEY_HTTP_API_SIMPLE_RESPONSES="false")
    event = load_event("authorizer_http_v2.json", token=tokens["api_key"])
    response = authorizer.lambda_handler(event, None)
    assert statement(response)["Effect"] == "Allow"
    assert statement(response)["Resource"] == [
        "arn:aws:execute-api:us-east-1:123456789012:xyz789hijk/$default/*"
    ]


@pytest.mark.parametrize(
    "event_name", ["authorizer_rest_request.json", "authorizer_rest_token.json"]
)
@pytest.mark.parametrize("bad", ["garbage", "gk_" + "A" * 60, "a.b.c"])
def test_bad_tokens_are_denied_with_the_reason(authorizer, store, event_name, bad):
    response = authorizer.lambda_handler(load_event(event_name, token=bad), None)
    assert statement(response)["Effect"] == "Deny"
    assert response["principalId"] == "anonymous"
    assert response["context"]["error_code"] == "invalid_token"


def test_http_api_bad_token_is_not_authorized(authorizer, store):
    response = authorizer.lambda_handler(load_event("authorizer_http_v2.json", token="x"), None)
    assert response["isAuthorized"] is False


def test_missing_header_is_not_authenticated(authorizer, store):
    event = load_event("authorizer_rest_request.json", token="x")
    del event["headers"]["Authorization"]
    response = authorizer.lambda_handler(event, None)
    assert response["context"]["error_code"] == "not_authenticated"


def test_other_user_agent_through_a_request_event_destroys_the_session(authorizer, tokens):
    event = load_event("authorizer_rest_request.json", token=tokens["session"])
    event["headers"]["User-Agent"] = "evil/1.0"
    assert statement(authorizer.lambda_handler(event, None))["Effect"] == "Deny"
    honest = load_event("authorizer_rest_request.json", token=tokens["session"])
    assert statement(authorizer.lambda_handler(honest, None))["Effect"] == "Deny"


def test_database_outage_fails_closed(authorizer, tokens, configure):
    configure(DYNAMODB_ENDPOINT="http://127.0.0.1:9")
    for kind in ("session", "api_key", "client_jwt"):
        event = load_event("authorizer_rest_request.json", token=tokens[kind])
        with pytest.raises(authorizer.AuthorizerUnavailable):
            authorizer.lambda_handler(event, None)


def test_unrecognised_event_fails_closed(authorizer, store):
    with pytest.raises(authorizer.AuthorizerUnavailable):
        authorizer.lambda_handler({"type": "REQUEST"}, None)


def test_neither_event_nor_token_is_logged(authorizer, tokens, caplog, configure):
    caplog.set_level(logging.DEBUG)
    for token in tokens.values():
        for presented in (token, token + "x"):
            event = load_event("authorizer_rest_request.json", token=presented)
            authorizer.lambda_handler(event, None)
    configure(DYNAMODB_ENDPOINT="http://127.0.0.1:9")
    with pytest.raises(authorizer.AuthorizerUnavailable):
        authorizer.lambda_handler(
            load_event("authorizer_rest_request.json", token=tokens["api_key"]), None
        )
    logged = caplog.text
    assert logged  # something was logged, so the check below means something
    for token in tokens.values():
        assert token not in logged
        assert token[:20] not in logged
    assert "methodArn" not in logged


def test_authorizer_imports_no_http_resolver_and_no_pydantic(gatekey_env):
    code = (
        "import sys; sys.path.insert(0, 'functions/authorizer'); import app; "
        "heavy = [m for m in sys.modules if m.startswith(('pydantic', "
        "'aws_lambda_powertools.event_handler', 'argon2'))]; print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **gatekey_env},
    )
    assert result.stdout.strip() == "[]"


def with_route_scopes(event, value="GET/widgets=widgets:read"):
    return {**event, "stageVariables": {"gatekeyRouteScopes": value}}


def test_route_scoped_rest_api_gets_unauthorized_for_a_bad_token(authorizer, caplog):
    """That API's ACCESS_DENIED (403) means "lacks the scope": a bad token must be a 401."""
    caplog.set_level(logging.INFO)
    event = with_route_scopes(load_event("authorizer_rest_request.json", token="garbage"))
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.lambda_handler(event, None)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_route_scoped_rest_api_lists_the_routes_of_the_scopes_held(authorizer, tokens):
    event = with_route_scopes(load_event("authorizer_rest_request.json", token=tokens["api_key"]))
    response = authorizer.lambda_handler(event, None)
    assert statement(response)["Resource"] == [
        "arn:aws:execute-api:us-east-1:123456789012:abc123defg/v1/GET/widgets"
    ]
    assert response["context"]["scopes"] == "*"


def test_malformed_route_scopes_fail_closed_with_one_warning(authorizer, tokens, caplog):
    caplog.set_level(logging.INFO)
    event = with_route_scopes(
        load_event("authorizer_rest_request.json", token=tokens["api_key"]), "GET widgets"
    )
    with pytest.raises(Exception) as raised:
        authorizer.lambda_handler(event, None)
    assert str(raised.value) != "Unauthorized"
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "gatekeyRouteScopes" in warnings[0].getMessage()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def emitted_authorizations(text: str) -> list[dict]:
    documents = [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]
    return [
        {"outcome": d["outcome"], "token_type": d["token_type"]}
        for d in documents
        if "Authorizations" in d
    ]


def test_each_answer_is_counted_by_outcome_and_token_type(authorizer, tokens, capsys):
    capsys.readouterr()
    authorizer.lambda_handler(
        load_event("authorizer_rest_request.json", token=tokens["api_key"]), None
    )
    authorizer.lambda_handler(load_event("authorizer_rest_request.json", token="garbage"), None)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.lambda_handler(
            with_route_scopes(load_event("authorizer_rest_request.json", token="garbage")), None
        )
    assert emitted_authorizations(capsys.readouterr().out) == [
        {"outcome": "allow", "token_type": "api_key"},
        {"outcome": "deny", "token_type": "unknown"},
        {"outcome": "deny", "token_type": "unknown"},
    ]
