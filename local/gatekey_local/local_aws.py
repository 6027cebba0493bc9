"""The facts of the local run, written once: the pretend AWS account and region, the
dummy credentials DynamoDB Local accepts, and where things listen by default.

The default table name is the layer's (``gatekey.settings.DEFAULT_TABLE``), so the
local run and a deployed function agree on it without a second copy here.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import boto3

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_STACK_NAME = "gatekey-local"
LOCAL_API_ID = "local"
"""The ``apiId`` of every local API (in request contexts and execute-api ARNs)."""

LOCAL_HOST = "127.0.0.1"
DEFAULT_API_PORT = 3000
DEFAULT_DYNAMODB_PORT = 8000

DUMMY_CREDENTIALS: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
}
"""DynamoDB Local checks that requests are signed, not by whom."""

LOCAL_AWS_ENVIRONMENT: Mapping[str, str] = {"AWS_DEFAULT_REGION": LOCAL_REGION, **DUMMY_CREDENTIALS}
"""The region and credentials of a process that talks only to DynamoDB Local."""


def use_local_aws_defaults(environ: MutableMapping[str, str]) -> None:
    """A region, and dummy credentials when none are configured: DynamoDB Local needs
    signed requests but accepts any key."""
    if "AWS_REGION" not in environ and "AWS_DEFAULT_REGION" not in environ:
        environ["AWS_DEFAULT_REGION"] = LOCAL_REGION
    if boto3.Session().get_credentials() is None:
        environ.update(DUMMY_CREDENTIALS)
