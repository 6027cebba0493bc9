"""The caller's API keys: create, list, read, rename, rotate, delete."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from gatekey import scopes
from gatekey.credentials.keys import get_key_service, resolve_expiry
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
    CreateKeyRequest,
    RotateKeyRequest,
    UpdateKeyRequest,
    usage_days,
)
from gatekey.policy import Action

app = create_app()


@app.post("/user/keys")
def create_key() -> Response[str]:
    owner = current_principal(app, Action.MANAGE_KEYS)
    body = parse_body(app, CreateKeyRequest)
    key = get_key_service().create(
        owner,
        handle=body.handle,
        alias=body.alias,
        key_type=body.type,
        expires_at=resolve_expiry(body.expires_at, body.expires_in_days),
        key_scopes=tuple(body.scopes or scopes.DEFAULT_SCOPES),
        rules=body.rules(),
        meta=request_meta(app),
    )
    return json_response(201, key)


@app.get("/user/keys")
def list_keys() -> Response[str]:
    return json_response(200, get_key_service().list(current_principal(app, Action.MANAGE_KEYS)))


@app.get("/user/keys/<handle>")
def get_key(handle: str) -> Response[str]:
    return json_response(
        200, get_key_service().get(current_principal(app, Action.MANAGE_KEYS), handle)
    )


@app.patch("/user/keys/<handle>")
def update_key(handle: str) -> Response[str]:
    owner = current_principal(app, Action.MANAGE_KEYS)
    body = parse_body(app, UpdateKeyRequest)
    changes = {**body.model_dump(include={"alias", "scopes"}, exclude_unset=True), **body.rules()}
    return json_response(200, get_key_service().update(owner, handle, changes, request_meta(app)))


@app.get("/user/keys/<handle>/usage")
def key_usage(handle: str) -> Response[str]:
    owner = current_principal(app, Action.MANAGE_KEYS)
    days = usage_days(app.current_event.get_query_string_value("days"))
    return json_response(200, get_key_service().usage(owner, handle, days))


@app.delete("/user/keys/<handle>")
def delete_key(handle: str) -> Response[str]:
    get_key_service().delete(current_principal(app, Action.MANAGE_KEYS), handle, request_meta(app))
    return empty_response(204)


@app.post("/user/keys/<handle>/rotate")
def rotate_key(handle: str) -> Response[str]:
    owner = current_principal(app, Action.MANAGE_KEYS)
    body = parse_body(app, RotateKeyRequest)
    key = get_key_service().rotate(owner, handle, body.grace_seconds, request_meta(app))
    return json_response(200, key)


lambda_handler = lambda_handler_for(app)
