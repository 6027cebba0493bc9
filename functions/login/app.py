"""Login with email and password (and a TOTP or recovery code when MFA is on), the
refresh-token exchange, and password resets: all public routes."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from gatekey.accounts import reset
from gatekey.accounts.passwords import warm_up
from gatekey.accounts.sessions import get_session_service
from gatekey.edges.api import (
    create_app,
    header,
    json_response,
    lambda_handler_for,
    parse_body,
    request_meta,
)
from gatekey.edges.models import LoginRequest, PasswordResetConfirm, PasswordResetRequest
from gatekey.tokens.authorization import get_authorizer

app = create_app()
warm_up()


@app.post("/auth/login")
def login() -> Response[str]:
    body = parse_body(app, LoginRequest, allow_form=True)
    result = get_session_service().login(
        body.email,
        body.password,
        body.account_id,
        header(app, "User-Agent"),
        totp=body.totp or None,
        recovery_code=body.recovery_code or None,
        meta=request_meta(app),
    )
    return json_response(200, result)


@app.get("/auth/refresh-token")
def refresh_token() -> Response[str]:
    session = get_authorizer().authorize_refresh(
        header(app, "Authorization"), header(app, "User-Agent")
    )
    return json_response(200, get_session_service().refresh(session))


@app.post("/auth/password-reset")
def request_password_reset() -> Response[str]:
    body = parse_body(app, PasswordResetRequest)
    reset.get_password_service().request_reset(
        body.email,
        body.account_id,
        console=reset.console_url(),
        meta=request_meta(app),
    )
    return json_response(
        202,
        {"accepted": True, "detail": "If an account uses this email, a reset link is on its way."},
    )


@app.post("/auth/password-reset/confirm")
def confirm_password_reset() -> Response[str]:
    body = parse_body(app, PasswordResetConfirm)
    result = reset.get_password_service().confirm_reset(
        body.token, body.new_password, meta=request_meta(app)
    )
    return json_response(200, result)


lambda_handler = lambda_handler_for(app)
