import pytest
import requests

from tests import openapi_responses
from tests.helpers import USER_AGENT, TestUser, make_user, reset_gatekey_caches

# Every answer a Client receives in the session; checked against docs/openapi.yaml at
# the end (`spec_conformance`).
RECORDED: list[openapi_responses.Recorded] = []


class Client:
    """A requests session against the local API that always sends the test User-Agent
    and records each answer for the spec check."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def request(self, method: str, path: str, *, token: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        response = self.session.request(
            method, self.base_url + path, headers=headers, timeout=30, **kwargs
        )
        RECORDED.append(
            openapi_responses.Recorded(
                method=method.upper(),
                path=path,
                status=response.status_code,
                content_type=response.headers.get("Content-Type", ""),
                body=response.content,
            )
        )
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def login(self, user: TestUser) -> dict:
        response = self.post("/auth/login", json={"email": user.email, "password": user.password})
        assert response.status_code == 200, response.text
        return response.json()

    def close(self) -> None:
        self.session.close()


@pytest.fixture(scope="session", autouse=True)
def spec_conformance():
    """After the e2e tests: every body they saw matches the spec's schema for its
    operation and status (issue 23); a mismatch names both and the schema error."""
    yield
    mismatches = openapi_responses.problems(RECORDED)
    RECORDED.clear()
    assert not mismatches, "answers that disagree with docs/openapi.yaml:\n" + "\n".join(mismatches)


@pytest.fixture
def api(local_api, gatekey_env):
    reset_gatekey_caches()
    client = Client(local_api)
    yield client
    client.close()


@pytest.fixture
def user(api) -> TestUser:
    return make_user()


@pytest.fixture
def admin(api) -> TestUser:
    return make_user(admin=True)


@pytest.fixture
def token(api, user) -> str:
    return api.login(user)["access_token"]


def error_code(response) -> str:
    body = response.json()
    assert set(body) == {"type", "errors"}, body
    assert all(set(entry) == {"code", "detail", "attr", "extra"} for entry in body["errors"])
    return body["errors"][0]["code"]


@pytest.fixture
def cached_api(gatekey_env):
    """The local API with the authorizer result cache on for 2 seconds."""
    from gatekey_local.server import serve_in_thread
    from tests.conftest import TEMPLATE

    reset_gatekey_caches()
    with serve_in_thread(
        TEMPLATE,
        env=gatekey_env,
        table_name=gatekey_env["GATEKEY_TABLE"],
        parameter_overrides={"AuthorizerCacheSeconds": "2"},
    ) as server:
        client = Client(server.url)
        yield client
        client.close()
