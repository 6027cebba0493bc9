"""Schemathesis against the local API, from docs/openapi.yaml (issue 23).

Every operation of the spec gets generated requests, positive (valid by the spec) and
negative (invalid), checked by all of schemathesis' checks: no 5xx, documented statuses,
content types and headers, bodies that match their schema, invalid data refused, and no
answer without the credential the operation requires.

Credentials are made for the run:
- an API key (all of gatekey's scopes) of an account admin for the operations that
  change nothing the run depends on;
- for the destructive ones (logout, revoke, deletes, passwords, MFA), a fresh admin user
  and a session token per case, so that no case ends the credential of another.

Bounded for `make test`: MAX_EXAMPLES per operation and mode, no shrinking. A failure
names the operation (the test id) and the request (schemathesis' report, with a curl
line to reproduce it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from tests.helpers import USER_AGENT, make_user, reset_gatekey_caches
from tests.openapi_responses import SPEC_PATH

MAX_EXAMPLES = 6
# The one check left out: `unsupported_method` wants 405 for a method the spec does not
# list. A REST API in API Gateway cannot answer 405: a method no resource declares gets
# the MISSING_AUTHENTICATION_TOKEN gateway response, as an unknown path does (404
# not_found in the contract's JSON here); tests/e2e/test_gateway_responses.py holds the
# local API to that.
EXCLUDED_CHECKS = [unsupported_method]
# Operations whose schema-valid bodies the server may still refuse with a documented 400
# that no schema can express: `positive_data_acceptance` (valid data is never a 400) is
# off for them only.
SEMANTIC_400 = {
    # the password rule: not common, not containing the email's name
    ("POST", "/account/users"): "the password rule",
    ("POST", "/user/password"): "the password rule",
    ("POST", "/auth/password-reset/confirm"): "an unknown or used reset token; the rule",
    # format (Cf) characters in an email are refused; the pattern cannot name them
    ("POST", "/auth/password-reset"): "control and format characters in the email",
    ("POST", "/auth/login"): "control and format characters in the email",
    # a cursor that is not one this API gave out
    ("GET", "/account/audit"): "a cursor not given out by the API",
    ("GET", "/account/keys"): "a cursor not given out by the API",
    # usage rules: a network must parse as a CIDR, metadata must fit 1024 bytes as JSON,
    # and a credential's own limits bound the rules it may give (403, not 400)
    ("POST", "/user/keys"): "allowed_ips that are not networks, meta over 1024 bytes",
    ("PATCH", "/user/keys/{handle}"): "allowed_ips that are not networks, meta over 1024 bytes",
    ("POST", "/account/bots"): "allowed_ips that are not networks, meta over 1024 bytes",
    # RFC 6749 §5.2: a refresh token that is not live, a scope beyond the client's, the
    # one grant's parameter missing (which schema branch applies depends on grant_type)
    ("POST", "/oauth/token"): "invalid_grant, invalid_scope, invalid_request",
}
GATEKEY_SCOPES = ["*", "gatekey:keys", "gatekey:sessions", "gatekey:bots", "gatekey:users"]

schema = schemathesis.openapi.from_path(SPEC_PATH)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    no_shrink=True,
)


def destructive(method: str, path: str) -> bool:
    """Operations that end or change a credential or a user: a fresh session each."""
    return (
        method == "DELETE"
        or path in ("/auth/logout", "/auth/revoke", "/user/password")
        or path.startswith("/user/mfa")
    )


@dataclass(frozen=True)
class Credentials:
    local_api: str
    api_key: str

    def session_of_a_fresh_admin(self) -> str:
        user = make_user(admin=True)
        response = requests.post(
            f"{self.local_api}/auth/login",
            json={"email": user.email, "password": user.password},
            headers={"User-Agent": USER_AGENT},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def credentials(local_api, gatekey_env) -> Credentials:
    reset_gatekey_caches()
    probe = Credentials(local_api, "")
    session = probe.session_of_a_fresh_admin()
    response = requests.post(
        f"{local_api}/user/keys",
        json={"handle": f"schemathesis-{uuid.uuid4().hex[:8]}", "scopes": GATEKEY_SCOPES},
        headers={"User-Agent": USER_AGENT, "Authorization": f"Bearer {session}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return Credentials(local_api, response.json()["token"])


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api(case, credentials):
    headers = {"User-Agent": USER_AGENT}
    if case.operation.security or _guarded(case):
        if destructive(case.method, case.path):
            headers["Authorization"] = f"Bearer {credentials.session_of_a_fresh_admin()}"
        else:
            headers["Authorization"] = f"Bearer {credentials.api_key}"
    excluded = list(EXCLUDED_CHECKS)
    if (case.method, case.path) in SEMANTIC_400:
        excluded.append(positive_data_acceptance)
    case.call_and_validate(
        base_url=credentials.local_api, headers=headers, excluded_checks=excluded
    )


def _guarded(case) -> bool:
    return bool(case.operation.definition.raw.get("security"))
