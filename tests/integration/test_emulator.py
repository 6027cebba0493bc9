"""The API Gateway emulator, against small fixture APIs (REST and HTTP) with their own
functions."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from gatekey_local.cloudformation import TemplateError
from gatekey_local.sam_model import FunctionSource
from gatekey_local.server import BackgroundApi, PortInUseError, serve_in_thread

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "emulator"
TEMPLATE = FIXTURES / "template.yaml"
HTTP_TEMPLATE = FIXTURES / "http_api.yaml"
GOOD = {"Authorization": "good-s3cret-token", "User-Agent": "emulator-tests/1.0"}


class FixtureApi:
    """A running fixture API, a session to call it, and the authorizer's event log.

    ``api_id`` picks which API of the template the requests go to (the first by default).
    """

    def __init__(self, api: BackgroundApi, events_file: Path, api_id: str | None = None):
        self.api = api
        self.url = api.urls[api_id] if api_id is not None else api.url
        self.events_file = events_file
        self.session = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url + path, timeout=10, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=10, **kwargs)

    def authorizer_events(self) -> list[dict[str, Any]]:
        if not self.events_file.exists():
            return []
        lines = self.events_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]


def _start(
    tmp_path: Path, template: Path = TEMPLATE, api_id: str | None = None, **options: Any
) -> Iterator[FixtureApi]:
    events_file = tmp_path / "authorizer-events.jsonl"
    api = serve_in_thread(
        template,
        env={"AUTHORIZER_EVENTS_FILE": str(events_file), "ECHO_FROM_CALLER": "given"},
        table_name="fixture-table",
        **options,
    )
    fixture = FixtureApi(api, events_file, api_id)
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


def test_each_function_gets_only_its_own_variables(fixture_api):
    """The authorizer declares ECHO_AUTHORIZER_ONLY, the echo ECHO_FUNCTION_ONLY: each
    process sees its own (the echo's whole ECHO_ set is checked above), and the local
    run's variables that no function declares reach every function."""
    echo = echoed(fixture_api.get("/items/x", headers=GOOD))
    assert "ECHO_AUTHORIZER_ONLY" not in echo["environ"]
    assert fixture_api.authorizer_events()  # it read AUTHORIZER_EVENTS_FILE from its own
    authorizer = fixture_api.api.emulator.runner.environment_of("AuthorizerFunction")
    assert authorizer["ECHO_AUTHORIZER_ONLY"] == "for the authorizer alone"
    assert authorizer["AUTHORIZER_EVENTS_FILE"] == str(fixture_api.events_file)
    assert authorizer["AWS_LAMBDA_FUNCTION_NAME"] == "AuthorizerFunction"
    assert "ECHO_FUNCTION_ONLY" not in authorizer


def test_the_server_leaves_this_process_environment_alone(tmp_path):
    before = dict(os.environ)
    with serve_in_thread(TEMPLATE, env={"AUTHORIZER_EVENTS_FILE": str(tmp_path / "e")}) as api:
        assert requests.get(api.url + "/public", timeout=10).status_code == 200
        assert dict(os.environ) == before
    assert dict(os.environ) == before


def test_a_function_stays_warm_until_its_variables_change(fixture_api, monkeypatch):
    first = echoed(fixture_api.get("/public"))
    assert echoed(fixture_api.get("/public"))["pid"] == first["pid"]
    monkeypatch.setenv("ECHO_STAGE", "changed")
    monkeypatch.setenv("ECHO_AUTHORIZER_ONLY", "still not the echo's")
    changed = echoed(fixture_api.get("/public"))
    assert changed["pid"] != first["pid"]  # a fresh execution environment
    assert changed["environ"]["ECHO_STAGE"] == "changed"
    assert "ECHO_AUTHORIZER_ONLY" not in changed["environ"]
    monkeypatch.undo()
    assert echoed(fixture_api.get("/public"))["environ"]["ECHO_STAGE"] == "test"


def test_a_function_whose_process_dies_gets_a_new_one(fixture_api):
    first = echoed(fixture_api.get("/public"))
    assert fixture_api.get("/exit").status_code == 502
    after = echoed(fixture_api.get("/public"))
    assert after["pid"] != first["pid"]


def test_a_function_past_its_timeout_is_stopped(fixture_api):
    first = echoed(fixture_api.get("/public"))
    started = time.monotonic()
    response = fixture_api.get("/sleep", params={"seconds": "60"})
    assert response.status_code == 502
    assert 5 <= time.monotonic() - started < 15  # its Timeout is 5 s
    assert echoed(fixture_api.get("/public"))["pid"] != first["pid"]


def test_a_function_log_record_reaches_this_process(fixture_api, caplog):
    """With its level, its logger's name and its traceback (as text)."""
    with caplog.at_level(logging.INFO, logger="echo"):
        assert fixture_api.get("/crash", headers=GOOD).status_code == 502
    [record] = [r for r in caplog.records if r.name == "echo"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "echo is about to crash"
    assert record.exc_info and "ValueError: handler crashed" in (record.exc_text or "")


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


# HTTP APIs (payload 2.0)

CONTEXT = {"user": "alice", "admin": True, "level": 3, "tags": ["a", "b"]}


@pytest.fixture
def http_api(tmp_path: Path) -> Iterator[FixtureApi]:
    yield from _start(tmp_path, HTTP_TEMPLATE, "FixtureHttpApi")


@pytest.fixture
def uncached_http_api(tmp_path: Path) -> Iterator[FixtureApi]:
    yield from _start(
        tmp_path, HTTP_TEMPLATE, "FixtureHttpApi", parameter_overrides={"CacheSeconds": "0"}
    )


def http_message(response: requests.Response, status: int) -> str:
    """The ``{"message": ...}`` of one of an HTTP API's own answers."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["apigw-requestid"]
    body = response.json()
    assert set(body) == {"message"}, body
    message: str = body["message"]
    return message


def test_a_rest_and_an_http_api_declaring_the_same_route_get_a_port_each(http_api):
    urls = http_api.api.urls
    assert list(urls) == ["FixtureRestApi", "FixtureHttpApi"], "template order"
    assert urls["FixtureRestApi"] != urls["FixtureHttpApi"]
    assert http_api.api.url == urls["FixtureRestApi"]
    with requests.Session() as session:
        rest = session.get(urls["FixtureRestApi"] + "/items/7", timeout=10)
    assert echoed(rest)["event"]["resource"] == "/items/{item_id}"
    assert echoed(http_api.get("/items/7", headers=GOOD))["event"]["version"] == "2.0"


def test_ports_follow_the_given_one_and_a_taken_port_is_reported(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        first = probe.getsockname()[1]
    options: dict[str, Any] = {"env": {"AUTHORIZER_EVENTS_FILE": str(tmp_path / "events")}}
    try:
        api = serve_in_thread(HTTP_TEMPLATE, port=first, **options)
    except PortInUseError:
        pytest.skip(f"port {first} or {first + 1} was taken meanwhile")
    with api:
        assert api.urls == {
            "FixtureRestApi": f"http://127.0.0.1:{first}",
            "FixtureHttpApi": f"http://127.0.0.1:{first + 1}",
        }
        with pytest.raises(PortInUseError, match=f"port {first} is in use"):
            serve_in_thread(HTTP_TEMPLATE, port=first, **options)
    assert "AUTHORIZER_EVENTS_FILE" not in os.environ


def test_http_routing_literal_parameter_and_greedy(http_api):
    assert echoed(http_api.get("/items/search", headers=GOOD))["event"]["routeKey"] == (
        "GET /items/search"
    )
    event = echoed(http_api.get("/items/a%20b", headers=GOOD))["event"]
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["pathParameters"] == {"item_id": "a b"}
    event = echoed(http_api.request("DELETE", "/files/a/b/c.txt"))["event"]
    assert event["routeKey"] == "ANY /files/{path+}"
    assert event["requestContext"]["http"]["method"] == "DELETE"
    assert event["pathParameters"] == {"path": "a/b/c.txt"}
    assert len(http_api.authorizer_events()) == 1


def test_http_unknown_route_or_method_is_a_404_without_the_authorizer(http_api):
    for method, path in [("GET", "/nowhere"), ("DELETE", "/items/1"), ("GET", "/")]:
        assert http_message(http_api.request(method, path, headers=GOOD), 404) == "Not Found"
    assert http_api.authorizer_events() == []


def test_implicit_http_api_and_its_default_route(tmp_path):
    with (
        serve_in_thread(FIXTURES / "http_default_route.yaml") as api,
        requests.Session() as session,
    ):
        assert list(api.urls) == ["ServerlessHttpApi"]
        hello = echoed(session.get(f"{api.url}/hello", timeout=10))["event"]
        other = echoed(session.post(f"{api.url}/x/y?z=1", timeout=10))["event"]
    assert hello["routeKey"] == "GET /hello"
    assert other["routeKey"] == "$default"
    assert other["rawPath"] == "/x/y"
    assert other["requestContext"]["routeKey"] == "$default"
    assert other["requestContext"]["stage"] == "$default"
    assert "pathParameters" not in other


def test_http_proxy_event_has_the_v2_shape(http_api):
    response = http_api.get(
        "/items/42?q=x%20y&tag=a&tag=b",
        headers={**GOOD, "Cookie": "c1=v1; c2=v2", "X-Custom": "Mixed-Case"},
    )
    event = echoed(response)["event"]
    assert set(event) == {
        "version",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "cookies",
        "headers",
        "queryStringParameters",
        "requestContext",
        "pathParameters",
        "isBase64Encoded",
    }, "empty fields (body, stageVariables) are left out, as API Gateway does"
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "q=x%20y&tag=a&tag=b"
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["queryStringParameters"] == {"q": "x y", "tag": "a,b"}
    assert event["pathParameters"] == {"item_id": "42"}
    assert event["isBase64Encoded"] is False
    headers = event["headers"]
    assert all(name == name.lower() for name in headers)
    assert "cookie" not in headers
    assert headers["authorization"] == "good-s3cret-token"
    assert headers["x-custom"] == "Mixed-Case"
    assert headers["x-forwarded-for"] == "127.0.0.1"

    context = event["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == "local"
    assert context["http"] == {
        "method": "GET",
        "path": "/items/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "emulator-tests/1.0",
    }
    assert context["requestId"] == response.headers["apigw-requestid"]
    assert context["routeKey"] == "GET /items/{item_id}"
    assert context["stage"] == "$default"
    assert context["time"].endswith(" +0000")
    assert isinstance(context["timeEpoch"], int)
    assert context["authorizer"] == {"lambda": CONTEXT}, "context values keep their JSON types"


def test_http_request_bodies_are_text_or_base64(http_api):
    event = echoed(http_api.request("POST", "/items", headers=GOOD, json={"name": "n"}))["event"]
    assert json.loads(event["body"]) == {"name": "n"}
    assert event["isBase64Encoded"] is False
    binary = {**GOOD, "Content-Type": "application/octet-stream"}
    event = echoed(http_api.request("POST", "/items", headers=binary, data=b"\x00\xff"))["event"]
    assert base64.b64decode(event["body"]) == b"\x00\xff"
    assert event["isBase64Encoded"] is True


def test_http_structured_response_with_headers_and_cookies(http_api):
    response = http_api.request("POST", "/items", headers=GOOD, json={})
    assert response.status_code == 201
    assert response.headers["x-echo"] == "yes"
    assert response.headers["Content-Type"] == "application/json"
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert response.headers["apigw-requestid"]


@pytest.mark.parametrize(
    ("kind", "body"),
    [("inferred", b'{"orders": [], "count": 0}'), ("string", b'"hello"')],
)
def test_http_response_without_status_code_is_a_200_json_body(http_api, kind, body):
    response = http_api.get(f"/answers/{kind}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.content == body


def test_http_base64_response_body_is_decoded(http_api):
    response = http_api.get("/answers/binary")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == b"\x00\x01\xff"


@pytest.mark.parametrize("kind", ["crash", "malformed"])
def test_http_handler_failure_is_a_500(http_api, caplog, kind):
    with caplog.at_level(logging.INFO, logger="gatekey_local"):
        response = http_api.get(f"/answers/{kind}", headers=GOOD)
    assert http_message(response, 500) == "Internal Server Error"
    assert "HttpEchoFunction failed" in caplog.text
    assert "s3cret" not in caplog.text


def test_http_public_route_skips_the_authorizer(http_api):
    event = echoed(http_api.get("/files/x"))["event"]
    assert "authorizer" not in event["requestContext"]
    assert http_api.authorizer_events() == []


def test_http_authorizer_receives_a_payload_2_event(http_api):
    echoed(http_api.get("/items/7?q=1", headers={**GOOD, "Cookie": "c=1"}))
    (event,) = http_api.authorizer_events()
    assert set(event) == {
        "version",
        "type",
        "routeArn",
        "identitySource",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "cookies",
        "headers",
        "queryStringParameters",
        "requestContext",
        "pathParameters",
        "stageVariables",
    }
    assert event["version"] == "2.0"
    assert event["type"] == "REQUEST"
    assert (
        event["routeArn"] == "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/items/7"
    )
    assert event["identitySource"] == ["good-s3cret-token", "emulator-tests/1.0"]
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["rawPath"] == "/items/7"
    assert event["rawQueryString"] == "q=1"
    assert event["cookies"] == ["c=1"]
    assert event["headers"]["authorization"] == "good-s3cret-token"
    assert event["headers"]["user-agent"] == "emulator-tests/1.0"
    assert "cookie" not in event["headers"]
    assert event["queryStringParameters"] == {"q": "1"}
    assert event["pathParameters"] == {"item_id": "7"}
    assert event["stageVariables"] == {}
    context = event["requestContext"]
    assert context["routeKey"] == "GET /items/{item_id}"
    assert context["stage"] == "$default"
    assert context["http"]["method"] == "GET"
    assert context["requestId"] and context["time"] and isinstance(context["timeEpoch"], int)
    assert "authorizer" not in context


def test_http_simple_response_denied_is_a_403(http_api):
    response = http_api.get("/items/1", headers={**GOOD, "Authorization": "bad"})
    assert http_message(response, 403) == "Forbidden"


@pytest.mark.parametrize("api_fixture", ["http_api", "uncached_http_api"])
def test_http_missing_identity_source_is_a_401_without_calling_the_authorizer(request, api_fixture):
    api = request.getfixturevalue(api_fixture)
    for headers in ({"User-Agent": "emulator-tests/1.0"}, {**GOOD, "Authorization": ""}):
        assert http_message(api.get("/items/1", headers=headers), 401) == "Unauthorized"
    assert api.authorizer_events() == []


@pytest.mark.parametrize(
    ("path", "token"),
    [
        ("/items/1", "boom"),
        ("/items/1", "not-simple"),
        ("/items/1", "policy"),
        ("/policy/1", "boom"),
        ("/policy/1", "simple"),
    ],
)
def test_http_failing_or_malformed_authorizer_is_a_500_and_not_cached(
    http_api, caplog, path, token
):
    for _ in range(2):
        response = http_api.get(path, headers={**GOOD, "Authorization": token})
        assert http_message(response, 500) == "Internal Server Error"
    assert len(http_api.authorizer_events()) == 2
    assert f"authorizer {'Policy' if path.startswith('/policy') else 'Simple'}" in caplog.text


def test_http_iam_policy_allows_with_its_context_and_denies_with_403(http_api):
    event = echoed(http_api.get("/policy/1", headers=GOOD))["event"]
    assert event["requestContext"]["authorizer"] == {"lambda": CONTEXT}
    response = http_api.get("/policy/1", headers={**GOOD, "Authorization": "bad"})
    assert http_message(response, 403) == "Forbidden"


def test_http_cached_policy_is_evaluated_against_each_route(http_api):
    headers = {**GOOD, "Authorization": "items-only"}
    event = echoed(http_api.get("/policy/1", headers=headers))["event"]
    assert event["requestContext"]["authorizer"] == {"lambda": {"scope": "one"}}
    assert http_message(http_api.get("/policy/2", headers=headers), 403) == "Forbidden"
    assert len(http_api.authorizer_events()) == 1


def test_http_authorizer_result_is_cached_per_authorizer_and_identity_values(http_api):
    for path in ("/items/1", "/items/2", "/items/search"):
        echoed(http_api.get(path, headers=GOOD))
    echoed(http_api.request("POST", "/items", headers=GOOD, json={}))
    assert len(http_api.authorizer_events()) == 1

    echoed(http_api.get("/items/1", headers={**GOOD, "User-Agent": "another-agent/2.0"}))
    assert len(http_api.authorizer_events()) == 2
    echoed(http_api.get("/policy/1", headers=GOOD))
    assert len(http_api.authorizer_events()) == 3, "another authorizer has its own cache"
    http_api.get("/items/1", headers={**GOOD, "Authorization": "bad"})
    http_api.get("/items/1", headers={**GOOD, "Authorization": "bad"})
    assert len(http_api.authorizer_events()) == 4, "a denial is cached too"


def test_http_without_cache_every_request_calls_the_authorizer(uncached_http_api):
    for _ in range(3):
        echoed(uncached_http_api.get("/items/1", headers=GOOD))
    assert len(uncached_http_api.authorizer_events()) == 3


# the caller's address: from the socket, in events and in the authorizer's cache key

ADDRESS_TEMPLATE = FIXTURES / "source_ip.yaml"


def _get_from(url: str, path: str, source_ip: str, headers: dict[str, str]) -> requests.Response:
    """A GET sent from ``source_ip`` (any 127.0.0.0/8 address is this machine)."""
    with requests.Session() as session:
        adapter = _SourceAddressAdapter(source_ip)
        session.mount("http://", adapter)
        return session.get(url + path, headers=headers, timeout=10)


class _SourceAddressAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, source_ip: str):
        self._source_ip = source_ip
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture
def address_api(tmp_path: Path) -> Iterator[FixtureApi]:
    yield from _start(tmp_path, ADDRESS_TEMPLATE, "AddressRestApi")


@pytest.fixture
def address_http_api(tmp_path: Path) -> Iterator[FixtureApi]:
    yield from _start(tmp_path, ADDRESS_TEMPLATE, "AddressHttpApi")


def test_source_ip_is_the_socket_address_never_a_forwarded_header(address_api):
    spoofed = {**GOOD, "X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
    event = echoed(_get_from(address_api.url, "/items/1", "127.0.0.2", spoofed))["event"]
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.2"
    assert event["headers"]["X-Forwarded-For"] == "203.0.113.9, 127.0.0.2"
    (authorizer_event,) = address_api.authorizer_events()
    assert authorizer_event["requestContext"]["identity"]["sourceIp"] == "127.0.0.2"


def test_http_source_ip_is_the_socket_address_never_a_forwarded_header(address_http_api):
    spoofed = {**GOOD, "X-Forwarded-For": "203.0.113.9"}
    event = echoed(_get_from(address_http_api.url, "/items/1", "127.0.0.3", spoofed))["event"]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.3"
    (authorizer_event,) = address_http_api.authorizer_events()
    assert authorizer_event["requestContext"]["http"]["sourceIp"] == "127.0.0.3"
    assert authorizer_event["identitySource"] == ["good-s3cret-token", "127.0.0.3"]


def test_a_source_ip_identity_source_keys_the_cache_per_address(address_api):
    for source_ip in ("127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.1"):
        echoed(_get_from(address_api.url, "/items/1", source_ip, GOOD))
    events = address_api.authorizer_events()
    assert [e["requestContext"]["identity"]["sourceIp"] for e in events] == [
        "127.0.0.1",
        "127.0.0.2",
    ]


def test_http_source_ip_identity_source_keys_the_cache_per_address(address_http_api):
    for source_ip in ("127.0.0.1", "127.0.0.2", "127.0.0.1", "127.0.0.2"):
        echoed(_get_from(address_http_api.url, "/items/1", source_ip, GOOD))
    assert len(address_http_api.authorizer_events()) == 2


def test_access_denied_inserts_authorizer_json_unquoted(address_api):
    response = address_api.get("/items/1", headers={**GOOD, "Authorization": "limited"})
    assert response.status_code == 403
    assert response.json() == {"code": "rate_limited", "extra": {"retry_after": 12}}


def test_stage_variables_of_the_api_reach_the_authorizer_and_the_handler(address_api):
    event = echoed(address_api.get("/items/1", headers=GOOD))["event"]
    assert event["stageVariables"] == {"refusalsToBackend": "true"}
    (authorizer_event,) = address_api.authorizer_events()
    assert authorizer_event["stageVariables"] == {"refusalsToBackend": "true"}


@pytest.mark.parametrize(
    ("api", "sources"),
    [
        (0, "QueryStrings: [k]"),  # REST: method.request.querystring.k
        (0, "Context: [requestId]"),
        (1, "Context: [identity.clientCert]"),  # HTTP API
    ],
)
def test_identity_sources_the_emulator_cannot_evaluate_are_refused(tmp_path, api, sources):
    """Refused at load, never silently left out of the cache key."""
    line = "              Context: [identity.sourceIp]\n"
    parts = ADDRESS_TEMPLATE.read_text().split(line)
    assert len(parts) == 3
    replaced = [line, line]
    replaced[api] = f"              {sources}\n"
    broken = tmp_path / "broken.yaml"
    broken.write_text(parts[0] + replaced[0] + parts[1] + replaced[1] + parts[2])
    with pytest.raises(TemplateError, match="does not emulate"):
        serve_in_thread(broken)
