"""The caller's API keys: create, list, read, rename, rotate, delete."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from gatekey.api import create_app, current_principal, empty_response, json_response, parse_body
from gatekey.keys import get_key_service, resolve_expiry
from gatekey.models import CreateKeyRequest, RotateKeyRequest, UpdateKeyRequest

logger = Logger()
app = create_app()


@app.post("/user/keys")
def create_key() -> Response[str]:
    body = parse_body(app, CreateKeyRequest)
    key = get_key_service().create(
        current_principal(app),
        handle=body.handle,
        alias=body.alias,
        key_type=body.type,
        expires_at=resolve_expiry(body.expires_at, body.expires_in_days),
    )
    return json_response(201, key)


@app.get("/user/keys")
def list_keys() -> Response[str]:
    return json_response(200, get_key_service().list(current_principal(app)))


@app.get("/user/keys/<handle>")
def get_key(handle: str) -> Response[str]:
    return json_response(200, get_key_service().get(current_principal(app), handle))


@app.patch("/user/keys/<handle>")
def rename_key(handle: str) -> Response[str]:
    body = parse_body(app, UpdateKeyRequest)
    service, principal = get_key_service(), current_principal(app)
    if "alias" not in body.model_fields_set:
        return json_response(200, service.get(principal, handle, with_secret=False))
    return json_response(200, service.rename(principal, handle, body.alias))


@app.delete("/user/keys/<handle>")
def delete_key(handle: str) -> Response[str]:
    get_key_service().delete(current_principal(app), handle)
    return empty_response(204)


@app.post("/user/keys/<handle>/rotate")
def rotate_key(handle: str) -> Response[str]:
    body = parse_body(app, RotateKeyRequest)
    key = get_key_service().rotate(current_principal(app), handle, body.grace_seconds)
    return json_response(200, key)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
