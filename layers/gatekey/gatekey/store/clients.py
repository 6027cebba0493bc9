"""The container's stores: boto3's for handlers, gatekey.aws's for the authorizer."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from gatekey.settings import Settings, get_settings
from gatekey.store.store import Store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from gatekey.aws import DynamoDB


def create_dynamodb_client(settings: Settings, *, lean: bool = False) -> DynamoDBClient | DynamoDB:
    """A client with short timeouts: a slow database must become a 503, not a Lambda timeout.

    `lean`: gatekey.aws's stdlib client (same timeouts and attempts), for the authorizer,
    whose cold start boto3 would dominate; otherwise boto3's.
    """
    if lean:
        from gatekey import aws

        return aws.DynamoDB(endpoint_url=settings.dynamodb_endpoint)
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=1,
        read_timeout=2,
        retries={"total_max_attempts": 2, "mode": "standard"},
        tcp_keepalive=True,
    )
    return boto3.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, config=config)


@lru_cache(maxsize=1)
def get_store() -> Store:
    """The container's store, built on first use and reused by every invocation."""
    settings = get_settings()
    return Store(create_dynamodb_client(settings), settings.table_name)


@lru_cache(maxsize=1)
def get_lean_store() -> Store:
    """The authorizer's store: the same Store on gatekey.aws instead of boto3."""
    settings = get_settings()
    return Store(create_dynamodb_client(settings, lean=True), settings.table_name)


def reset() -> None:
    """Forgets the container's stores (tests that change the environment)."""
    get_store.cache_clear()
    get_lean_store.cache_clear()
