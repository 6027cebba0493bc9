"""The local run's access-token signing keys: KMS keys of the template as key files, and
their publication, as the stack's custom resource does at deploy time.

Every ``AWS::KMS::Key`` of the template has a local ARN (:func:`local_kms_key_arn`, what
``!GetAtt Key.Arn`` resolves to in the functions' roles) and a key file in
``GATEKEY_LOCAL_KMS_DIR`` (``.local/kms/`` under ``make run``), created on first run.
Each ``Custom::SigningKeysPublication`` is carried out when the local API starts, with
the layer's own entry point (``gatekey.oauth.discovery.publish``), the local API's URL as
the issuer (or ``GATEKEY_ISSUER``: configuration, never a request's Host), and the
``Audience`` parameter (empty: the issuer).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from gatekey_local.cloudformation import Resolver, load_yaml
from gatekey_local.local_aws import LOCAL_ACCOUNT_ID, LOCAL_REGION, LOCAL_STACK_NAME

PUBLICATION_TYPE = "Custom::SigningKeysPublication"
LOCAL_KMS_DIR_ENV = "GATEKEY_LOCAL_KMS_DIR"
ISSUER_ENV = "GATEKEY_ISSUER"  # the local run's issuer when not its own URL (a proxy's)


def local_kms_key_arn(logical_id: str) -> str:
    """The ARN a template's KMS key has in the local account (a stable key id)."""
    key_id = uuid.uuid5(uuid.NAMESPACE_URL, f"gatekey-local:{LOCAL_STACK_NAME}:{logical_id}")
    return f"arn:aws:kms:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:key/{key_id}"


class _KeyResolver(Resolver):
    def __init__(self, document: Mapping[str, Any], parameters: Mapping[str, str], table: str):
        super().__init__(document, parameters, table)
        self._types = {
            name: resource.get("Type")
            for name, resource in (document.get("Resources") or {}).items()
            if isinstance(resource, Mapping)
        }

    def _attribute(self, resource: str, attribute: str) -> str:
        if self._types.get(resource) == "AWS::KMS::Key" and attribute == "Arn":
            return local_kms_key_arn(resource)
        return super()._attribute(resource, attribute)


def publish_signing_keys(template: Any, api_url: str, environment: Mapping[str, str]) -> bool:
    """Creates the key files and publishes the keys for the API at ``api_url``; False when
    the template publishes none or the run has no key directory (nothing to do)."""
    directory = environment.get(LOCAL_KMS_DIR_ENV)
    document = load_yaml(template.path)
    publications = [
        resource.get("Properties") or {}
        for resource in (document.get("Resources") or {}).values()
        if isinstance(resource, Mapping) and resource.get("Type") == PUBLICATION_TYPE
    ]
    if not directory or not publications or template.table is None:
        return False
    import boto3

    from gatekey.oauth.discovery import publish
    from gatekey.store import Store
    from gatekey.tokens.local_kms import LocalKms

    resolver = _KeyResolver(document, template.parameters, template.table_name)
    kms = LocalKms(directory)
    client = boto3.client(
        "dynamodb",
        endpoint_url=environment.get("DYNAMODB_ENDPOINT") or None,
        region_name=environment.get("AWS_DEFAULT_REGION") or LOCAL_REGION,
    )
    try:
        store = Store(client, environment.get("GATEKEY_TABLE") or template.table_name)
        for properties in publications:
            key_arns = [str(arn) for arn in resolver.value(properties["KeyArns"])]
            current = properties.get("CurrentKeyArn")
            for key_arn in key_arns:
                kms.create_key(key_arn)
            publish(
                store,
                kms,
                key_arns=key_arns,
                current_key_arn=str(resolver.value(current)) if current else key_arns[0],
                issuer=(environment.get(ISSUER_ENV) or api_url).rstrip("/"),
                audience=str(template.parameters.get("Audience") or ""),
            )
    finally:
        client.close()
    return True
