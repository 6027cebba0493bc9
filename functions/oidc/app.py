"""OpenID Connect discovery and the JWKS (public, cacheable), and the custom resource
that publishes the signing keys' public halves at each deploy: the only function that
may call kms:GetPublicKey."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from aws_lambda_powertools.event_handler import Response

from gatekey.edges.api import create_app, json_response, lambda_handler_for
from gatekey.oauth import discovery
from gatekey.store import get_store
from gatekey.tokens import signing_keys

app = create_app()
logger = logging.getLogger(__name__)
CACHEABLE = {"Cache-Control": f"public, max-age={discovery.CACHE_SECONDS}"}


@app.get("/.well-known/openid-configuration")
def openid_configuration() -> Response[str]:
    document = discovery.current(get_store())
    return json_response(200, discovery.openid_configuration(document), CACHEABLE)


@app.get("/.well-known/jwks.json")
def jwks() -> Response[str]:
    return json_response(200, discovery.current(get_store()).jwks(), CACHEABLE)


_api_handler = lambda_handler_for(app)


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    if "RequestType" in event and "ResponseURL" in event:
        return _custom_resource(event)
    return _api_handler(event, context)


def _custom_resource(event: dict[str, Any]) -> None:
    """`Custom::SigningKeysPublication`: publish on Create and Update; on Delete leave the
    document (the table is retained, and tokens it signed may still be verified)."""
    status, reason = "SUCCESS", "published"
    properties = event.get("ResourceProperties") or {}
    try:
        if event["RequestType"] in ("Create", "Update"):
            key_arns = [str(arn) for arn in properties["KeyArns"]]
            discovery.publish(
                get_store(),
                signing_keys.get_kms(),
                key_arns=key_arns,
                current_key_arn=str(properties.get("CurrentKeyArn") or key_arns[0]),
                issuer=str(properties["Issuer"]),
                audience=str(properties.get("Audience") or ""),
            )
            signing_keys.reset()
    except Exception as exc:  # CloudFormation must hear back, or it waits an hour
        logger.exception("publishing the signing keys failed")
        status, reason = "FAILED", f"publishing the signing keys failed: {type(exc).__name__}"
    answer = {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": event.get("PhysicalResourceId") or "gatekey-signing-keys",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {},
    }
    body = json.dumps(answer).encode()
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's presigned https URL
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()
