"""Token-test routes: who am I, and is my token good."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from gatekey import clock
from gatekey.accounts.users import get_user, public_user
from gatekey.edges.api import create_app, current_principal, json_response, lambda_handler_for
from gatekey.store import get_store

app = create_app()


@app.get("/")
def hello() -> Response[str]:
    return json_response(200, {"message": "Oh, Hello", "time": clock.iso(clock.now())})


@app.head("/")
def is_up() -> Response[str]:
    """Whether the host is up (gazu's ``host_is_up``): 200 with no body, for anyone; it
    reads nothing, so it tells nothing but that the API answers."""
    return Response(status_code=200, body="", headers={"Cache-Control": "no-store"})


@app.get("/auth/authenticated")
def authenticated() -> Response[str]:
    principal = current_principal(app)
    user = get_user(get_store(), principal.user_id)
    token: dict[str, Any] = {
        "type": principal.token_type,
        "expires_at": clock.iso(principal.token_expires_at),
        "scopes": list(principal.scopes),
    }
    if principal.key_handle:
        token["handle"] = principal.key_handle
    return json_response(200, {"authenticated": True, "user": public_user(user), "token": token})


@app.get("/user")
def current_user() -> Response[str]:
    principal = current_principal(app)
    return json_response(200, public_user(get_user(get_store(), principal.user_id)))


lambda_handler = lambda_handler_for(app)
