"""examples/consumer's GET /native/orders behind API Gateway's own JWT authorizer, as the
local HTTP API emulates it, on the session's real gatekey (its discovery document and
JWKS over HTTP, its tokens from login and POST /oauth/token), beside the consumer's
Lambda-authorized GET /orders."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gatekey.credentials.keys import get_key_service
from gatekey.oauth.discovery import current
from gatekey.store import get_store
from gatekey_local.jwt_authorizer import AUDIENCE_DESCRIPTION
from gatekey_local.server import serve_in_thread
from tests.conftest import LOCAL_ISSUER
from tests.e2e.conftest import Client
from tests.e2e.test_consumer_example import AUTHORIZER, CONSUMER, HTTP_FORBIDDEN, HTTP_UNAUTHORIZED
from tests.e2e.test_oauth import client_token

NATIVE = "/native/orders"
INVALID_TOKEN = 'Bearer scope="" error="invalid_token"'


@pytest.fixture(scope="module")
def http(gatekey_env, local_api):
    """The consumer's HTTP API, its JWT authorizer on the session's gatekey (issuer and
    audience as gatekey's Issuer and Audience outputs; the local API's URL, here)."""
    apis = serve_in_thread(
        CONSUMER,
        env=gatekey_env,
        parameter_overrides={
            "AuthorizerCacheSeconds": "0",
            "GatekeyIssuer": LOCAL_ISSUER,
            "GatekeyAudience": LOCAL_ISSUER,
        },
        authorizer_sources=AUTHORIZER,
    )
    client = Client(apis.urls["OrdersHttpApi"])
    yield client
    client.close()
    apis.stop()


def sign(claims: dict, *, kid: str | None = None, key=None, algorithm: str = "RS256") -> str:
    """A token signed with gatekey's own current signing key (the local KMS key file),
    with whatever claims a test needs."""
    document = current(get_store())
    if key is None:
        arn = document.key_arns[document.current_kid]
        pem = Path(_kms_dir(), f"{arn.rpartition('/')[2]}.pem").read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
    headers = {"kid": document.current_kid if kid is None else kid}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def _kms_dir() -> str:
    import os

    return os.environ["GATEKEY_LOCAL_KMS_DIR"]


def claims(**changes) -> dict:
    now = int(time.time())
    base = {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_ISSUER,
        "sub": str(uuid.uuid4()),
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "scope": "orders:read",
        "account_id": str(uuid.uuid4()),
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def new_client(user, *key_scopes: str) -> dict:
    """An OAuth client (a key of type jwt) of ``user``, made through the layer."""
    return get_key_service().create(
        user.principal(),
        handle=f"client-{uuid.uuid4().hex[:8]}",
        alias=None,
        key_type="jwt",
        expires_at=None,
        key_scopes=key_scopes,
    )


def refused(response, status: int = 401, challenge: str | None = INVALID_TOKEN) -> None:
    assert response.status_code == status, response.text
    assert response.json() == (HTTP_UNAUTHORIZED if status == 401 else HTTP_FORBIDDEN)
    assert response.headers.get("www-authenticate") == challenge


def test_client_credentials_token_passes_with_its_claims_as_strings(http, api, user):
    client = new_client(user, "orders:read")
    answer = client_token(api, client)
    response = http.get(NATIVE, token=answer["access_token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["api"] == "http-jwt"
    assert body["caller"]["client_id"] == client["kid"]
    assert body["caller"]["scopes"] == ["orders:read"]
    # payload 2.0: every claim a string, the numbers too
    assert body["claims"]["iss"] == LOCAL_ISSUER
    assert body["claims"]["aud"] == LOCAL_ISSUER
    assert body["claims"]["exp"].isdigit()
    assert set(body["claims"]) >= {"sub", "exp", "iat", "jti", "scope", "account_id"}


def test_login_access_token_passes_through_the_wildcard_scope(http, api, user):
    """A session's token has scope "*": the route lists it beside orders:read."""
    access = api.login(user)["access_token"]
    response = http.get(NATIVE, token=access)
    assert response.status_code == 200, response.text
    assert response.json()["caller"]["user_id"] == user.user_id
    assert "*" in response.json()["caller"]["scopes"]


def test_token_without_any_route_scope_is_403(http, api, user):
    client = new_client(user, "refunds:read")
    response = http.get(NATIVE, token=client_token(api, client)["access_token"])
    refused(response, 403, 'Bearer scope="orders:read orders:* *" error="insufficient_scope"')


def test_the_bearer_prefix_is_optional(http):
    assert http.get(NATIVE, headers={"Authorization": sign(claims())}).status_code == 200


def test_missing_token_is_401_without_a_challenge(http):
    refused(http.get(NATIVE), challenge=None)


def test_wrong_audience_is_401_with_aws_description(http):
    response = http.get(NATIVE, token=sign(claims(aud="https://other.example")))
    refused(response, challenge=f'{INVALID_TOKEN} error_description="{AUDIENCE_DESCRIPTION}"')


def test_client_id_counts_only_when_there_is_no_aud(http):
    assert http.get(NATIVE, token=sign(claims(aud=None, client_id=LOCAL_ISSUER))).ok
    both = claims(aud="https://other.example", client_id=LOCAL_ISSUER)
    assert http.get(NATIVE, token=sign(both)).status_code == 401
    assert http.get(NATIVE, token=sign(claims(aud=[LOCAL_ISSUER, "x"]))).ok


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 1},
        {"exp": None},
        {"nbf": int(time.time()) + 600},
        {"iat": int(time.time()) + 600},
        {"iss": "https://other.example"},
        {"iss": LOCAL_ISSUER + "/"},
    ],
    ids=["expired", "no-exp", "nbf-future", "iat-future", "other-issuer", "issuer-slash"],
)
def test_claims_aws_checks_are_401(http, changes):
    refused(http.get(NATIVE, token=sign(claims(**changes))))


def test_bad_signature_is_401(http):
    header, _, signature = sign(claims()).split(".")
    forged = dict(claims(), scope="*")
    forged_payload = jwt.utils.base64url_encode(json.dumps(forged).encode()).decode()
    refused(http.get(NATIVE, token=f"{header}.{forged_payload}.{signature}"))
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(http.get(NATIVE, token=sign(claims(), key=other_key)))


def test_alg_none_and_hs256_are_401(http):
    kid = current(get_store()).current_kid
    none_header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "kid": kid}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(claims()).encode())
    refused(http.get(NATIVE, token=f"{none_header.decode()}.{payload.decode()}."))
    refused(http.get(NATIVE, token=sign(claims(), key="x" * 32, algorithm="HS256")))


def test_unknown_kid_and_garbage_are_401(http):
    refused(http.get(NATIVE, token=sign(claims(), kid="not-a-key-of-the-issuer")))
    refused(http.get(NATIVE, token="not.a.jwt"))


def test_revoked_token_passes_the_native_route_until_exp_not_the_lambda_one(http, api, user):
    """The documented limitation: API Gateway checks the signature and exp, never
    gatekey's table; the Lambda-authorized route of the same API refuses it at once."""
    access = api.login(user)["access_token"]
    other = api.login(user)["access_token"]
    assert http.get("/orders", token=access).status_code == 200
    assert api.post("/oauth/revoke", token=other, data={"token": access}).status_code == 200
    assert http.get(NATIVE, token=access).status_code == 200
    response = http.get("/orders", token=access)
    assert response.status_code == 403 and response.json() == HTTP_FORBIDDEN


def test_deleted_client_key_still_passes_the_native_route_until_exp(http, api, user):
    """gatekey's authorizer refuses a deleted client's token at once; API Gateway's own
    authorizer cannot know of the deletion."""
    client = new_client(user, "orders:read")
    access = client_token(api, client)["access_token"]
    get_key_service().delete(user.principal(), client["handle"])
    assert http.get(NATIVE, token=access).status_code == 200
    assert http.get("/orders", token=access).status_code == 403
