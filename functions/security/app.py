"""The signed-in user's own security: password change and TOTP two-step verification.

Every route here needs a login session (an API key or a client JWT gets 403, whatever
its scopes): these settings belong to the person, not to their credentials.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from gatekey.accounts.mfa import get_mfa_service
from gatekey.accounts.reset import get_password_service
from gatekey.edges.api import (
    create_app,
    current_principal,
    empty_response,
    json_response,
    lambda_handler_for,
    parse_body,
    request_meta,
)
from gatekey.edges.models import (
    ChangePasswordRequest,
    DisableMfaRequest,
    TotpConfirmRequest,
    TotpEnrolRequest,
)
from gatekey.policy import Action

app = create_app()


@app.post("/user/password")
def change_password() -> Response[str]:
    principal = current_principal(app, Action.CHANGE_OWN_SECURITY)
    body = parse_body(app, ChangePasswordRequest)
    result = get_password_service().change(
        principal, body.current_password, body.new_password, meta=request_meta(app)
    )
    return json_response(200, result)


@app.post("/user/mfa/totp")
def enrol_totp() -> Response[str]:
    principal = current_principal(app, Action.CHANGE_OWN_SECURITY)
    body = parse_body(app, TotpEnrolRequest)
    return json_response(200, get_mfa_service().enrol(principal, body.password, request_meta(app)))


@app.post("/user/mfa/totp/confirm")
def confirm_totp() -> Response[str]:
    principal = current_principal(app, Action.CHANGE_OWN_SECURITY)
    body = parse_body(app, TotpConfirmRequest)
    result = get_mfa_service().confirm(principal, body.code, body.password, request_meta(app))
    return json_response(200, result)


@app.delete("/user/mfa")
def disable_mfa() -> Response[str]:
    principal = current_principal(app, Action.CHANGE_OWN_SECURITY)
    body = parse_body(app, DisableMfaRequest)
    get_mfa_service().disable(principal, body.password, body.code, request_meta(app))
    return empty_response(204)


lambda_handler = lambda_handler_for(app)
