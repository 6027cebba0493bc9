"""User administration, the audit log, the key policy and every key of the caller's
account (account admins)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from gatekey.accounts import reset
from gatekey.accounts.mfa import get_mfa_service
from gatekey.accounts.user_admin import get_user_admin_service
from gatekey.credentials.account_keys import get_account_key_service
from gatekey.edges.api import (
    create_app,
    current_principal,
    empty_response,
    json_response,
    lambda_handler_for,
    parse_body,
    request_meta,
)
from gatekey.edges.models import CreateUserRequest, KeyPolicyRequest, UpdateUserRequest
from gatekey.policy import Action

app = create_app()


@app.get("/account/users")
def list_users() -> Response[str]:
    return json_response(
        200, get_user_admin_service().list_users(current_principal(app, Action.MANAGE_USERS))
    )


@app.post("/account/users")
def create_user() -> Response[str]:
    admin = current_principal(app, Action.MANAGE_USERS)
    body = parse_body(app, CreateUserRequest)
    result = get_user_admin_service().create(
        admin,
        email=body.email,
        role=body.role,
        password=body.password,
        console_url=reset.console_url() if body.password is None else None,
        meta=request_meta(app),
    )
    return json_response(201, result)


@app.patch("/account/users/<user_id>")
def update_user(user_id: str) -> Response[str]:
    admin = current_principal(app, Action.MANAGE_USERS)
    body = parse_body(app, UpdateUserRequest)
    result = get_user_admin_service().update(
        admin, user_id, role=body.role, disabled=body.disabled, meta=request_meta(app)
    )
    return json_response(200, result)


@app.delete("/account/users/<user_id>")
def delete_user(user_id: str) -> Response[str]:
    admin = current_principal(app, Action.MANAGE_USERS)
    get_user_admin_service().delete(admin, user_id, request_meta(app))
    return empty_response(204)


@app.delete("/account/users/<user_id>/mfa")
def reset_user_mfa(user_id: str) -> Response[str]:
    """A member lost their device: an admin's session clears their MFA."""
    get_mfa_service().reset_by_admin(
        current_principal(app, Action.RESET_MEMBER_MFA), user_id, request_meta(app)
    )
    return empty_response(204)


@app.get("/account/audit")
def audit_log() -> Response[str]:
    admin = current_principal(app, Action.READ_AUDIT)
    query = app.current_event.query_string_parameters or {}
    result = get_user_admin_service().audit_log(
        admin,
        limit=query.get("limit"),
        cursor=query.get("cursor"),
        action=query.get("action"),
        user_id=query.get("user_id"),
    )
    return json_response(200, result)


@app.get("/account/policy")
def get_key_policy() -> Response[str]:
    admin = current_principal(app, Action.MANAGE_ACCOUNT_KEYS)
    return json_response(200, get_account_key_service().get_policy(admin))


@app.put("/account/policy")
def put_key_policy() -> Response[str]:
    admin = current_principal(app, Action.MANAGE_ACCOUNT_KEYS)
    body = parse_body(app, KeyPolicyRequest)
    result = get_account_key_service().put_policy(
        admin,
        max_key_lifetime_days=body.max_key_lifetime_days,
        key_idle_days=body.key_idle_days,
        meta=request_meta(app),
    )
    return json_response(200, result)


@app.get("/account/keys")
def list_account_keys() -> Response[str]:
    admin = current_principal(app, Action.MANAGE_ACCOUNT_KEYS)
    query = app.current_event.query_string_parameters or {}
    result = get_account_key_service().list_keys(
        admin, limit=query.get("limit"), cursor=query.get("cursor")
    )
    return json_response(200, result)


@app.delete("/account/keys/<key_id>")
def delete_account_key(key_id: str) -> Response[str]:
    admin = current_principal(app, Action.MANAGE_ACCOUNT_KEYS)
    get_account_key_service().delete_key(admin, key_id, request_meta(app))
    return empty_response(204)


lambda_handler = lambda_handler_for(app)
