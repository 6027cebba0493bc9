import time

import jwt
import pytest

from gatekey.accounts.sessions import get_session_service
from gatekey.credentials.keys import get_key_service
from gatekey.tokens.authorization import Authorizer, get_authorizer
from tests.helpers import PASSWORD, USER_AGENT, make_user, reset_gatekey_caches


@pytest.fixture
def authorizer(gatekey_env) -> Authorizer:
    reset_gatekey_caches()
    return get_authorizer()


@pytest.fixture
def credentials(authorizer):
    """A user with a live session, an API key and a jwt key, as an attacker would target."""
    user = make_user()
    owner = user.principal()
    keys = get_key_service()
    api_key = keys.create(owner, handle="k", alias=None, key_type="token", expires_at=None)
    jwt_key = keys.create(owner, handle="j", alias=None, key_type="jwt", expires_at=None)
    session = get_session_service().login(user.email, PASSWORD, None, USER_AGENT)
    return {
        "user": user,
        "access_token": session["access_token"],
        "refresh_token": session["refresh_token"],
        "api_key": api_key["token"],
        "kid": jwt_key["kid"],
        "secret": jwt_key["secret"],
    }


def client_jwt(credentials, claims=None, headers=None, key=None, algorithm="HS256") -> str:
    payload = {"exp": int(time.time()) + 60, **(claims or {})}
    return jwt.encode(
        payload,
        credentials["secret"] if key is None else key,
        algorithm=algorithm,
        headers={"kid": credentials["kid"], **(headers or {})},
    )
