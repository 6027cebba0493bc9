"""Ending credentials: logout, revoke, and the caller's sessions."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from gatekey.credentials.revocation import get_revocation_service
from gatekey.edges.api import (
    create_app,
    current_principal,
    empty_response,
    json_response,
    lambda_handler_for,
    parse_body,
    request_meta,
)
from gatekey.edges.models import RevokeRequest
from gatekey.policy import Action

app = create_app()


@app.get("/auth/logout")
@app.post("/auth/logout")
def logout() -> Response[str]:
    return json_response(
        200, get_revocation_service().logout(current_principal(app), request_meta(app))
    )


@app.get("/auth/revoke")
def revoke_presented_token() -> Response[str]:
    get_revocation_service().revoke(current_principal(app), request_meta(app))
    return empty_response(200)


@app.post("/auth/revoke")
@app.post("/oauth/revoke")  # the name the discovery document gives (RFC 7009)
def revoke_given_token() -> Response[str]:
    body = parse_body(app, RevokeRequest, allow_form=True)
    get_revocation_service().revoke_given(current_principal(app), body.token, request_meta(app))
    return empty_response(200)


@app.get("/user/sessions")
def list_sessions() -> Response[str]:
    return json_response(
        200, get_revocation_service().list_sessions(current_principal(app, Action.MANAGE_SESSIONS))
    )


@app.delete("/user/sessions/<session_id>")
def end_session(session_id: str) -> Response[str]:
    get_revocation_service().end_session(
        current_principal(app, Action.MANAGE_SESSIONS), session_id, request_meta(app)
    )
    return empty_response(204)


lambda_handler = lambda_handler_for(app)
