"""The API Gateway emulator, against a small fixture API with its own functions."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from gatekey_local.emulator import BackgroundApi, serve_in_thread
from gatekey_local.template import FunctionSource, TemplateError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "emulator"
TEMPLATE = FIXTURES / "template.yaml"
GOOD = {"Authorization": "good-s3cret-token", "User-Agent": "emulator-tests/1.0"}


class FixtureApi:
    """A running fixture API, a session to call it, and the authorizer's event log."""

    def __init__(self, api: BackgroundApi, events_file: Path):
        self.api = api
        self.events_file = events_file
        self.session = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.api.url + path, timeout=10, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.api.url + path, timeout=10, **kwargs)

    def authorizer_events(self) -> list[dict[str, Any]]:
        if not self.events_file.exists():
            return []
        lines = self.events_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]


def _start(tmp_path: Path, **options: Any) -> Iterator[FixtureApi]:
    events_file = tmp_path / "authorizer-events.jsonl"
    api = serve_in_thread(
        TEMPLATE,
        env={"AUTHORIZER_EVENTS_FILE": str(events_file), "ECHO_FROM_CALLER": "given"},
        table_name="fixture-table",
        **options,
    )
    fixture = FixtureApi(api, events_file)
    try:
        yield fixture
    finally:
        fixture.session.close()
        api.stop()


@pytest.fixture
def fixture_api(tmp_path: Path) -> Iterator[FixtureApi]:
    yield from _start(tmp_path)


@pytest.fixture
def uncached_api(tmp_path: Path) -> Iterator[FixtureApi]:
    yield from _start(tmp_path, parameter_overrides={"CacheSeconds": "0"})


def echoed(response: requests.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


# routing


def test_path_parameters_are_decoded_and_trailing_slash_tolerated(fixture_api):
    event = echoed(fixture_api.get("/items/a%20b/", headers=GOOD))["event"]
    assert event["resource"] == "/items/{item_id}"
    assert event["pathParameters"] == {"item_id": "a b"}


def test_literal_segment_outranks_a_path_parameter(fixture_api):
    event = echoed(fixture_api.get("/items/search", headers=GOOD))["event"]
    assert event["resource"] == "/items/search"
    assert event["pathParameters"] is None


def test_greedy_path_and_any_method(fixture_api):
    response = fixture_api.request("DELETE", "/files/a/b/c.txt", headers=GOOD)
    event = echoed(response)["event"]
    assert event["httpMethod"] == "DELETE"
    assert event["resource"] == "/files/{path+}"
    assert event["pathParameters"] == {"path": "a/b/c.txt"}


def test_unknown_route_and_wrong_method_get_missing_authentication_token(fixture_api):
    for method, path in [("GET", "/nowhere"), ("DELETE", "/items/1"), ("GET", "/")]:
        response = fixture_api.request(method, path, headers=GOOD)
        assert response.status_code == 404
        assert response.json() == {"error": "not_found"}
        assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert fixture_api.authorizer_events() == []


def test_public_route_skips_the_authorizer(fixture_api):
    event = echoed(fixture_api.get("/public"))["event"]
    assert "authorizer" not in event["requestContext"]
    assert fixture_api.authorizer_events() == []


# the proxy event and the handler's answer


def test_proxy_event_has_the_rest_v1_shape(fixture_api):
    event = echoed(
        fixture_api.get(
            "/items/42", params=[("q", "x y"), ("tag", "a"), ("tag", "b")], headers=GOOD
        )
    )["event"]
    assert set(event) == {
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "requestContext",
        "body",
        "isBase64Encoded",
    }
    assert event["path"] == "/items/42"
    assert event["httpMethod"] == "GET"
    assert event["headers"]["User-Agent"] == "emulator-tests/1.0"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["multiValueHeaders"]["Authorization"] == ["good-s3cret-token"]
    assert event["queryStringParameters"] == {"q": "x y", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"q": ["x y"], "tag": ["a", "b"]}
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False

    context = event["requestContext"]
    assert context["stage"] == "test"
    assert context["path"] == "/test/items/42"
    assert context["resourcePath"] == "/items/{item_id}"
    assert context["httpMethod"] == "GET"
    assert context["accountId"] == "123456789012"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "emulator-tests/1.0"
    assert isinstance(context["requestTimeEpoch"], int)
    assert context["requestId"]
    assert context["authorizer"] == {
        "user": "alice",
        "admin": "true",
        "level": "3",
        "principalId": "user-1",
        "integrationLatency": context["authorizer"]["integrationLatency"],
    }


def test_body_is_passed_as_a_string(fixture_api):
    event = echoed(fixture_api.request("POST", "/items", headers=GOOD, json={"name": "n"}))["event"]
    assert json.loads(event["body"]) == {"name": "n"}
    assert event["isBase64Encoded"] is False


def test_handler_gets_a_lambda_context_and_the_template_environment(fixture_api):
    body = echoed(fixture_api.get("/public"))
    context = body["context"]
    assert context["function_name"] == "EchoFunction"
    assert context["memory_limit_in_mb"] == 512
    assert context["invoked_function_arn"].endswith(":function:EchoFunction")
    assert context["aws_request_id"]
    assert 0 < context["remaining_ms"] <= 5000
    assert body["environ"] == {
        "ECHO_STAGE": "test",
        "ECHO_TABLE": "fixture-table",
        "ECHO_REGION": "us-east-1",
        "ECHO_FLAVOUR": "testing",
        "ECHO_FUNCTION_ONLY": "yes",
        "ECHO_FROM_CALLER": "given",
    }


def test_environment_is_restored_when_the_server_closes(tmp_path):
    with serve_in_thread(TEMPLATE, env={"AUTHORIZER_EVENTS_FILE": str(tmp_path / "e")}):
        assert os.environ["ECHO_STAGE"] == "test"
    assert "ECHO_STAGE" not in os.environ
    assert "AUTHORIZER_EVENTS_FILE" not in os.environ


def test_proxy_response_status_headers_and_multi_value_headers(fixture_api):
    response = fixture_api.request("POST", "/items", headers=GOOD, json={})
    assert response.status_code == 201
    assert response.headers["X-Echo"] == "yes"
    assert response.headers["Content-Type"] == "application/json"
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]


def test_handler_crash_is_a_502_from_default_5xx(fixture_api, caplog):
    with caplog.at_level(logging.INFO, logger="gatekey_local"):
        response = fixture_api.get("/crash", headers=GOOD)
    assert response.status_code == 502
    assert response.json() == {"error": "server", "message": "Internal server error"}
    assert "handler crashed" in caplog.text
    assert "s3cret" not in caplog.text


def test_malformed_proxy_response_is_a_502(fixture_api):
    response = fixture_api.get("/malformed", headers=GOOD)
    assert response.status_code == 502
    assert response.json()["message"] == "Internal server error"


# the authorizer


def test_authorizer_receives_a_rest_request_event(fixture_api):
    echoed(fixture_api.get("/items/7", params={"q": "1"}, headers=GOOD))
    (event,) = fixture_api.authorizer_events()
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == "arn:aws:execute-api:us-east-1:123456789012:local/test/GET/items/7"
    assert event["resource"] == "/items/{item_id}"
    assert event["path"] == "/items/7"
    assert event["httpMethod"] == "GET"
    assert event["headers"]["Authorization"] == "good-s3cret-token"
    assert event["multiValueHeaders"]["User-Agent"] == ["emulator-tests/1.0"]
    assert event["queryStringParameters"] == {"q": "1"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1"]}
    assert event["pathParameters"] == {"item_id": "7"}
    assert event["stageVariables"] == {}
    assert event["requestContext"]["resourcePath"] == "/items/{item_id}"
    assert event["requestContext"]["stage"] == "test"
    assert "authorizer" not in event["requestContext"]


def test_authorizer_result_is_cached_per_identity_source_values(fixture_api):
    for path in ("/items/1", "/items/2", "/items", "/items/1"):
        method = "POST" if path == "/items" else "GET"
        assert fixture_api.request(method, path, headers=GOOD, json={}).status_code in (200, 201)
    assert len(fixture_api.authorizer_events()) == 1

    other_agent = {**GOOD, "User-Agent": "another-agent/2.0"}
    echoed(fixture_api.get("/items/1", headers=other_agent))
    assert len(fixture_api.authorizer_events()) == 2


def test_cached_result_reports_zero_integration_latency(fixture_api):
    echoed(fixture_api.get("/items/1", headers=GOOD))
    event = echoed(fixture_api.get("/items/1", headers=GOOD))["event"]
    assert event["requestContext"]["authorizer"]["integrationLatency"] == 0


def test_without_cache_every_request_invokes_the_authorizer(uncached_api):
    for _ in range(3):
        echoed(uncached_api.get("/items/1", headers=GOOD))
    assert len(uncached_api.authorizer_events()) == 3


def test_missing_identity_header_is_401_without_invoking_the_authorizer(fixture_api):
    for headers in ({"User-Agent": "emulator-tests/1.0"}, {**GOOD, "Authorization": ""}):
        response = fixture_api.get("/items/1", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized", "message": "Unauthorized"}
    assert fixture_api.authorizer_events() == []


def test_without_cache_a_missing_identity_header_still_reaches_the_authorizer(uncached_api):
    response = uncached_api.get("/items/1", headers={"User-Agent": "emulator-tests/1.0"})
    assert response.status_code == 401
    assert len(uncached_api.authorizer_events()) == 1


def test_explicit_deny_renders_access_denied_with_the_deny_context(fixture_api):
    response = fixture_api.get("/items/1", headers={**GOOD, "Authorization": "bad"})
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "denied"
    assert body["reason"] == "token revoked"
    assert body["principal"] == "user-1"
    assert body["message"] == "User is not authorized to access this resource with an explicit deny"
    assert body["request"] == response.headers["x-amzn-RequestId"]
    assert response.headers["X-Denied-By"] == "fixture"
    assert response.headers["Content-Type"] == "application/json"


def test_policy_not_covering_the_route_is_an_implicit_deny(fixture_api):
    headers = {**GOOD, "Authorization": "items-only"}
    echoed(fixture_api.get("/items/1", headers=headers))
    response = fixture_api.get("/crash", headers=headers)
    assert response.status_code == 403
    assert response.json()["message"] == "User is not authorized to access this resource"
    assert len(fixture_api.authorizer_events()) == 1, "the cached policy is evaluated again"


def test_unauthorized_exception_is_a_401(fixture_api):
    response = fixture_api.get("/items/1", headers={**GOOD, "Authorization": "unknown"})
    assert response.status_code == 401
    assert response.json()["message"] == "Unauthorized"


@pytest.mark.parametrize("token", ["boom", "not-a-policy", "null-context"])
def test_failing_or_malformed_authorizer_is_an_authorizer_configuration_error(
    fixture_api, caplog, token
):
    response = fixture_api.get("/items/1", headers={**GOOD, "Authorization": token})
    assert response.status_code == 503
    assert response.json() == {"error": "authorizer_unavailable"}
    assert response.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"
    assert "authorizer Gate" in caplog.text
    assert len(fixture_api.authorizer_events()) == 1


def test_authorizer_errors_are_not_cached(fixture_api):
    for _ in range(2):
        fixture_api.get("/items/1", headers={**GOOD, "Authorization": "boom"})
    assert len(fixture_api.authorizer_events()) == 2


# another template whose authorizer lives elsewhere


def test_imported_authorizer_needs_its_handler(tmp_path):
    with pytest.raises(TemplateError, match="Imported"):
        serve_in_thread(FIXTURES / "external_authorizer.yaml")

    source = FunctionSource(FIXTURES / "authorizer", "app.lambda_handler")
    with (
        serve_in_thread(
            FIXTURES / "external_authorizer.yaml",
            env={"AUTHORIZER_EVENTS_FILE": str(tmp_path / "events")},
            authorizer_sources={"Imported": source},
        ) as api,
        requests.Session() as session,
    ):
        allowed = session.get(f"{api.url}/items/1", headers=GOOD, timeout=10)
        refused = session.get(f"{api.url}/items/1", timeout=10)
    assert allowed.status_code == 200
    assert allowed.json()["event"]["requestContext"]["stage"] == "prod"
    assert refused.status_code == 401
    assert refused.json() == {"message": "Unauthorized"}
