"""The local JWT authorizer's key cache and claim rules, against an issuer served over
HTTP from a thread (its discovery document and JWKS, as gatekey publishes them)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gatekey_local import jwt_authorizer
from gatekey_local.jwt_authorizer import IssuerKeys, JwtAllowed, JwtRefused, KeysUnavailable
from gatekey_local.sam_model import JwtAuthorizer


class Issuer:
    """A discovery document and a JWKS over HTTP; counts the JWKS reads."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.jwks_reads = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/keys"}
                elif self.path == "/keys":
                    issuer.jwks_reads += 1
                    body = {"keys": [issuer.jwk(kid) for kid in issuer.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self, kid: str) -> dict:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}

    def token(self, kid: str, **claims: object) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": "api", "exp": now + 60, "iat": now, **claims}
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def issuer():
    served = Issuer()
    served.add_key("k1")
    yield served
    served.server.shutdown()
    served.server.server_close()


def authorizer(issuer: Issuer) -> JwtAuthorizer:
    return JwtAuthorizer("Jwt", issuer.url, ("api",), "Authorization")


def test_keys_are_read_once_through_discovery_and_cached(issuer):
    keys = IssuerKeys()
    for _ in range(3):
        assert isinstance(
            jwt_authorizer.authorize(authorizer(issuer), issuer.token("k1"), (), keys), JwtAllowed
        )
    assert issuer.jwks_reads == 1


def test_an_unknown_kid_reads_the_keys_again_at_most_once_per_interval(issuer, monkeypatch):
    """A rotation is seen at once; a stream of made-up kids does not hammer the issuer."""
    keys = IssuerKeys()
    monkeypatch.setattr(jwt_authorizer, "REFETCH_SECONDS", 0)
    assert isinstance(
        jwt_authorizer.authorize(authorizer(issuer), issuer.token("k1"), (), keys), JwtAllowed
    )
    issuer.add_key("k2")
    assert isinstance(
        jwt_authorizer.authorize(authorizer(issuer), issuer.token("k2"), (), keys), JwtAllowed
    )
    assert issuer.jwks_reads == 2
    monkeypatch.setattr(jwt_authorizer, "REFETCH_SECONDS", 3600)
    issuer.add_key("k3")
    for _ in range(3):
        refused = jwt_authorizer.authorize(authorizer(issuer), issuer.token("k3"), (), keys)
        assert isinstance(refused, JwtRefused) and refused.status == 401
    assert issuer.jwks_reads == 2


def test_keys_older_than_the_ttl_are_read_again(issuer, monkeypatch):
    keys = IssuerKeys()
    jwt_authorizer.authorize(authorizer(issuer), issuer.token("k1"), (), keys)
    monkeypatch.setattr(jwt_authorizer, "KEYS_TTL_SECONDS", 0)
    jwt_authorizer.authorize(authorizer(issuer), issuer.token("k1"), (), keys)
    assert issuer.jwks_reads == 2


def test_an_unreachable_issuer_is_keys_unavailable(issuer):
    dead = JwtAuthorizer("Jwt", "http://127.0.0.1:9", ("api",), "Authorization")
    with pytest.raises(KeysUnavailable):
        jwt_authorizer.authorize(dead, "Bearer " + issuer.token("k1"), (), IssuerKeys())
    # a token that is not a JWT is refused before any key is read
    assert isinstance(jwt_authorizer.authorize(dead, "a.b.c", (), IssuerKeys()), JwtRefused)


def test_claims_reach_the_backend_as_strings_and_scp_lists_count(issuer):
    token = issuer.token("k1", scope=None, scp=["b", "c"], aud=["api", "x"], flag=True, n=1.0)
    allowed = jwt_authorizer.authorize(authorizer(issuer), token, ("c",), IssuerKeys())
    assert isinstance(allowed, JwtAllowed)
    assert allowed.scopes == ["b", "c"]
    assert allowed.claims["aud"] == "[api x]"
    assert allowed.claims["scp"] == "[b c]"
    assert (allowed.claims["flag"], allowed.claims["n"]) == ("true", "1")
    assert allowed.claims["exp"].isdigit()
    no_route_scopes = jwt_authorizer.authorize(authorizer(issuer), token, (), IssuerKeys())
    assert isinstance(no_route_scopes, JwtAllowed) and no_route_scopes.scopes is None


def test_scope_wins_over_scp_and_matching_is_literal(issuer):
    token = issuer.token("k1", scope="orders:*", scp="orders:read")
    refused = jwt_authorizer.authorize(authorizer(issuer), token, ("orders:read",), IssuerKeys())
    assert isinstance(refused, JwtRefused) and refused.status == 403


def test_the_jwk_alg_binds_the_header_alg(issuer):
    """A token claiming RS512 under a key published for RS256 is refused."""
    now = int(time.time())
    body = {"iss": issuer.url, "aud": "api", "exp": now + 60}
    token = jwt.encode(body, issuer.keys["k1"], algorithm="RS512", headers={"kid": "k1"})
    refused = jwt_authorizer.authorize(authorizer(issuer), token, (), IssuerKeys())
    assert isinstance(refused, JwtRefused) and refused.status == 401
