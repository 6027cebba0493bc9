"""What API Gateway answers itself (issue 23): every method token, in the contract's
JSON body through the template's gateway responses, with the headers a handler's JSON
answer carries."""

import http.client
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import error_code

# API Gateway: "the gateway response for a missing authentication token error, including
# the cases when the client attempts to invoke an unsupported API method or resource"
# (MISSING_AUTHENTICATION_TOKEN, which template.yaml answers as 404 not_found).
UNDECLARED = ["TRACE", "QUERY", "CONNECT", "FOO", "PROPFIND", "PUT"]


def raw_request(local_api: str, method: str, path: str, headers: dict[str, str] | None = None):
    """One request with any method token (requests would send it too; http.client keeps
    CONNECT an ordinary request line)."""
    url = urlsplit(local_api)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("method", UNDECLARED)
@pytest.mark.parametrize("path", ["/", "/user", "/user/keys/ci", "/no/such/route"])
def test_undeclared_methods_get_the_gateway_response_in_json(api, local_api, method, path):
    status, headers, body = raw_request(local_api, method, path, {"Authorization": "Bearer x"})
    assert status == 404, (method, path, body)
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    assert b"<html" not in body.lower()


def test_gateway_made_errors_carry_no_store(api):
    answers = [
        api.get("/user"),  # no credentials: UNAUTHORIZED
        api.get("/user", headers={"Authorization": "Bearer not-a-token"}),  # ACCESS_DENIED
        api.get("/no/such/route"),  # MISSING_AUTHENTICATION_TOKEN
        api.request("TRACE", "/"),
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 404, 404]
    assert [error_code(answer) for answer in answers] == [
        "not_authenticated",
        "invalid_token",
        "not_found",
        "not_found",
    ]
    for answer in answers:
        assert answer.headers["Cache-Control"] == "no-store", answer.request.method
        assert answer.headers["Content-Type"] == "application/json"
