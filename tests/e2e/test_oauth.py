"""OAuth 2.0 and OpenID Connect through the local API (contract section 10), driven by
clients nobody here wrote: requests-oauthlib, Authlib and PyJWT's PyJWKClient."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from tests.conftest import LOCAL_ISSUER
from tests.helpers import USER_AGENT, make_user


def create_client(api, token, **fields) -> dict:
    body = {"handle": f"client-{uuid.uuid4().hex[:8]}", "type": "jwt", **fields}
    response = api.post("/user/keys", token=token, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def client_token(api, client, **form) -> dict:
    response = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **form},
        headers=basic(client["kid"], client["secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


def jwks_client(api) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(f"{api.base_url}/.well-known/jwks.json", cache_keys=False)


def verify_offline(api, access_token: str) -> dict:
    """What any service can do with the JWKS alone, as PyJWT documents it."""
    signing_key = jwks_client(api).get_signing_key_from_jwt(access_token)
    return jwt.decode(
        access_token,
        signing_key.key,
        algorithms=["RS256"],
        audience=LOCAL_ISSUER,
        issuer=LOCAL_ISSUER,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )


# -- discovery and JWKS ------------------------------------------------------------------


def test_discovery_names_the_issuer_from_configuration_not_the_host_header(api):
    response = api.get("/.well-known/openid-configuration", headers={"Host": "evil.example"})
    assert response.status_code == 200
    document = response.json()
    assert document["issuer"] == LOCAL_ISSUER == api.base_url
    assert document["jwks_uri"] == f"{LOCAL_ISSUER}/.well-known/jwks.json"
    assert document["token_endpoint"] == f"{LOCAL_ISSUER}/oauth/token"
    assert document["revocation_endpoint"] == f"{LOCAL_ISSUER}/oauth/revoke"
    assert document["introspection_endpoint"] == f"{LOCAL_ISSUER}/oauth/introspect"
    assert document["grant_types_supported"] == ["client_credentials", "refresh_token"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "*" in document["scopes_supported"]
    assert "max-age=" in response.headers["Cache-Control"]


def test_jwks_holds_the_public_rsa_key_and_is_cacheable(api):
    response = api.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age=" in response.headers["Cache-Control"]
    (key,) = response.json()["keys"]
    assert set(key) == {"kty", "kid", "alg", "use", "n", "e"}
    assert (key["kty"], key["alg"], key["use"], key["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert len(base64.urlsafe_b64decode(key["n"] + "==")) == 256  # RSA 2048


# -- access tokens from login and refresh ------------------------------------------------


def test_login_access_token_is_rs256_and_verifies_offline(api, user):
    body = api.login(user)
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS256"
    claims = verify_offline(api, body["access_token"])
    assert claims["sub"] == user.user_id
    assert claims["account_id"] == user.account_id
    assert "*" in claims["scope"].split()
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert "sid" in claims and "client_id" not in claims


def test_refresh_gives_an_rs256_token_of_the_same_session(api, user):
    login = api.login(user)
    refreshed = api.get(
        "/auth/refresh-token", headers={"Authorization": f"Bearer {login['refresh_token']}"}
    )
    assert refreshed.status_code == 200
    access = refreshed.json()["access_token"]
    assert verify_offline(api, access)["sid"] == verify_offline(api, login["access_token"])["sid"]
    assert api.get("/user", token=access).status_code == 200


def test_logout_ends_the_rs256_access_token_at_once(api, user):
    access = api.login(user)["access_token"]
    assert api.get("/user", token=access).status_code == 200
    assert api.post("/auth/logout", token=access).status_code == 200
    assert api.get("/user", token=access).status_code == 401


def test_rs256_session_token_is_bound_to_its_user_agent(api, user):
    access = api.login(user)["access_token"]
    stolen = api.get("/user", token=access, headers={"User-Agent": "curl/8"})
    assert stolen.status_code == 401
    assert api.get("/user", token=access).status_code == 401  # the session is gone


def test_forged_and_altered_rs256_tokens_are_refused(api, user):
    access = api.login(user)["access_token"]
    header, payload, signature = access.split(".")
    claims = jwt.decode(access, options={"verify_signature": False})
    claims["sub"] = str(uuid.uuid4())
    altered_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    altered = f"{header}.{altered_payload}.{signature}"
    assert api.get("/user", token=altered).status_code == 401
    # the header's alg is never trusted: an HS256 token under our kid is refused
    kid = jwt.get_unverified_header(access)["kid"]
    hs256 = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": kid})
    assert api.get("/user", token=hs256).status_code == 401
    none_header = jwt.utils.base64url_encode(
        json.dumps({"alg": "none", "kid": kid}).encode()
    ).decode()
    assert api.get("/user", token=f"{none_header}.{payload}.").status_code == 401
    assert api.get("/user", token=f"{none_header}.{payload}.{signature}").status_code == 401


# -- the token endpoint: clients nobody here wrote ------------------------------------


def test_requests_oauthlib_backend_client_gets_a_token_that_works(api, token, user, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the local API is loopback http
    client = create_client(api, token, scopes=["orders:read", "orders:write"])
    session = OAuth2Session(client=BackendApplicationClient(client_id=client["kid"]))
    session.headers["User-Agent"] = USER_AGENT
    answer = session.fetch_token(
        token_url=f"{api.base_url}/oauth/token",
        client_id=client["kid"],
        client_secret=client["secret"],
    )
    assert answer["token_type"] == "Bearer"
    assert answer["scope"] == ["orders:read", "orders:write"]
    claims = verify_offline(api, answer["access_token"])
    assert claims["client_id"] == client["kid"]
    assert claims["sub"] == user.user_id and claims["account_id"] == user.account_id
    authenticated = api.get("/auth/authenticated", token=answer["access_token"])
    assert authenticated.status_code == 200
    assert authenticated.json()["token"]["type"] == "client_jwt"


def test_authlib_session_gets_a_narrowed_token_with_body_authentication(api, token):
    client = create_client(api, token, scopes=["orders:read", "orders:write"])
    with AuthlibSession(
        client["kid"],
        client["secret"],
        token_endpoint_auth_method="client_secret_post",
        scope="orders:read",
    ) as session:
        session.headers["User-Agent"] = USER_AGENT
        answer = session.fetch_token(f"{api.base_url}/oauth/token", grant_type="client_credentials")
    assert answer["scope"] == "orders:read"
    claims = verify_offline(api, answer["access_token"])
    assert claims["scope"] == "orders:read"
    seen = api.get("/auth/authenticated", token=answer["access_token"]).json()
    assert seen["token"]["scopes"] == ["orders:read"]


def test_client_token_never_outlives_the_key(api, token):
    expires_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120))
    client = create_client(api, token, expires_at=expires_at)
    answer = client_token(api, client)
    assert 0 < answer["expires_in"] <= 120
    assert answer["expires_in"] <= 3600


def test_deleting_the_client_key_ends_its_tokens_at_once(api, token):
    client = create_client(api, token)
    access = client_token(api, client)["access_token"]
    assert api.get("/user", token=access).status_code == 200
    assert api.delete(f"/user/keys/{client['handle']}", token=token).status_code == 204
    assert api.get("/user", token=access).status_code == 401


def test_rotation_without_grace_ends_tokens_and_with_grace_keeps_them(api, token):
    client = create_client(api, token)
    access = client_token(api, client)["access_token"]
    rotated = api.post(
        f"/user/keys/{client['handle']}/rotate", token=token, json={"grace_seconds": 600}
    )
    assert rotated.status_code == 200
    assert api.get("/user", token=access).status_code == 200  # still in its grace
    new = rotated.json()
    fresh = client_token(api, {**client, "secret": new["secret"]})["access_token"]
    again = api.post(f"/user/keys/{client['handle']}/rotate", token=token, json={})
    assert again.status_code == 200
    assert api.get("/user", token=access).status_code == 401
    assert api.get("/user", token=fresh).status_code == 401


def test_refresh_token_grant_gives_a_new_access_token(api, user):
    login = api.login(user)
    response = api.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert api.get("/user", token=body["access_token"]).status_code == 200


# -- the token endpoint's errors (RFC 6749 §5.2) ----------------------------------------


def oauth_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
    return body


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "not-a-token"}, "invalid_grant"),
    ],
)
def test_token_request_errors(api, form, error):
    oauth_error(api.post("/oauth/token", data=form), 400, error)


def test_token_endpoint_takes_forms_only_and_no_repeated_parameters(api, token):
    client = create_client(api, token)
    as_json = api.post(
        "/oauth/token",
        json={"grant_type": "client_credentials"},
        headers=basic(client["kid"], client["secret"]),
    )
    oauth_error(as_json, 400, "invalid_request")
    repeated = api.post(
        "/oauth/token",
        data="grant_type=client_credentials&scope=a:b&scope=c:d",
        headers={
            **basic(client["kid"], client["secret"]),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    oauth_error(repeated, 400, "invalid_request")
    both = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_secret": client["secret"]},
        headers=basic(client["kid"], client["secret"]),
    )
    oauth_error(both, 400, "invalid_request")


def test_scope_beyond_the_key_or_malformed_is_invalid_scope(api, token):
    client = create_client(api, token, scopes=["orders:read"])
    for scope in ("orders:write", "orders:read gatekey:keys", "NOT A SCOPE", "*"):
        response = api.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": scope},
            headers=basic(client["kid"], client["secret"]),
        )
        oauth_error(response, 400, "invalid_scope")


@pytest.mark.parametrize(
    "kind", ["wrong_secret", "unknown_client", "not_a_uuid", "no_auth", "api_key"]
)
def test_bad_client_authentication_is_401_invalid_client_with_a_basic_challenge(api, token, kind):
    client = create_client(api, token)
    form = {"grant_type": "client_credentials"}
    headers = {
        "wrong_secret": basic(client["kid"], "gks_" + "A" * 43),
        "unknown_client": basic(str(uuid.uuid4()), client["secret"]),
        "not_a_uuid": basic("client", client["secret"]),
        "no_auth": {},
        "api_key": basic(client["kid"], "gk_whatever"),
    }[kind]
    response = api.post("/oauth/token", data=form, headers=headers)
    oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_token_keys_are_not_clients(api, token):
    key = api.post("/user/keys", token=token, json={"handle": f"t-{uuid.uuid4().hex[:6]}"}).json()
    response = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(key.get("kid") or str(uuid.uuid4()), key["token"]),
    )
    oauth_error(response, 401, "invalid_client")


def test_failed_client_authentications_lock_the_client_out(api, token):
    client = create_client(api, token)
    wrong = basic(client["kid"], "gks_" + "B" * 43)
    for _ in range(5):
        response = api.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers=wrong
        )
        assert response.status_code == 401
    locked = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(client["kid"], client["secret"]),
    )
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert locked.json()["error"] == "invalid_client"


# -- introspection and revocation --------------------------------------------------------


def introspect(api, client, token_to_check: str):
    response = api.post(
        "/oauth/introspect",
        data={"token": token_to_check},
        headers=basic(client["kid"], client["secret"]),
    )
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()


def test_introspection_of_every_kind_of_token(api, admin):
    session = api.login(admin)
    token = session["access_token"]
    client = create_client(api, token, scopes=["orders:read"])
    api_key = api.post("/user/keys", token=token, json={"handle": f"k-{uuid.uuid4().hex[:6]}"})
    bot = api.post("/account/bots", token=token, json={"name": f"bot-{uuid.uuid4().hex[:6]}"})
    assert api_key.status_code == 201 and bot.status_code == 201, bot.text
    client_jwt = jwt.encode(
        {"sub": "svc", "exp": int(time.time()) + 60},
        client["secret"],
        algorithm="HS256",
        headers={"kid": client["kid"]},
    )
    client_access = client_token(api, client)["access_token"]
    cases = {
        "session": (token, "session"),
        "refresh": (session["refresh_token"], "refresh_token"),
        "api_key": (api_key.json()["token"], "api_key"),
        "bot": (bot.json()["token"], "api_key"),
        "client_jwt": (client_jwt, "client_jwt"),
        "client_credentials": (client_access, "client_jwt"),
    }
    for name, (credential, kind) in cases.items():
        answer = introspect(api, client, credential)
        assert answer["active"] is True, name
        assert answer["gatekey_token_type"] == kind, name
        assert answer["account_id"] == admin.account_id, name
        assert answer["iss"] == LOCAL_ISSUER, name
        if name not in ("api_key", "bot"):  # keys without an expiry have no `exp`
            assert isinstance(answer["exp"], int), name
        assert answer["token_type"] == "Bearer"
    assert introspect(api, client, client_access)["client_id"] == client["kid"]
    assert introspect(api, client, client_access)["scope"] == "orders:read"
    assert introspect(api, client, "gk_" + "0" * 60) == {"active": False}
    assert introspect(api, client, "nonsense") == {"active": False}


def test_introspection_never_shows_another_accounts_tokens(api, token):
    client = create_client(api, token)
    stranger = make_user()
    theirs = api.login(stranger)["access_token"]
    assert introspect(api, client, theirs) == {"active": False}


def test_introspection_with_a_session_and_without_credentials(api, user):
    token = api.login(user)["access_token"]
    own = api.post("/oauth/introspect", data={"token": token}, token=token)
    assert own.status_code == 200 and own.json()["active"] is True
    anonymous = api.post("/oauth/introspect", data={"token": token})
    oauth_error(anonymous, 401, "invalid_client")
    key = api.post("/user/keys", token=token, json={"handle": f"k-{uuid.uuid4().hex[:6]}"}).json()
    with_key = api.post("/oauth/introspect", data={"token": token}, token=key["token"])
    assert with_key.status_code == 401
    missing = api.post("/oauth/introspect", data={}, token=token)
    oauth_error(missing, 400, "invalid_request")


def test_revocation_is_visible_at_once(api, token):
    client = create_client(api, token)
    access = client_token(api, client)["access_token"]
    assert introspect(api, client, access)["active"] is True
    revoked = api.post("/oauth/revoke", token=token, data={"token": access})
    assert revoked.status_code == 200
    assert introspect(api, client, access) == {"active": False}
    assert api.get("/user", token=access).status_code == 401


def test_oauth_revoke_revokes_a_session_access_token(api, user):
    access = api.login(user)["access_token"]
    other = api.login(user)["access_token"]
    assert api.post("/oauth/revoke", token=other, data={"token": access}).status_code == 200
    assert api.get("/user", token=access).status_code == 401
    assert api.get("/user", token=other).status_code == 200
