"""DynamoDB Local from the npm package, and the table created from template.yaml."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from gatekey_local.dynamodb_local import DynamoDBLocal, DynamoDBLocalError, create_table, find_jar
from gatekey_local.template import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def client_for(endpoint: str):
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )


def test_jar_is_found_in_the_npm_package():
    jar = find_jar()
    assert jar.name == "DynamoDBLocal.jar"
    assert (jar.parent / "DynamoDBLocal_lib").is_dir()


def test_missing_package_says_how_to_install_it(tmp_path):
    with pytest.raises(DynamoDBLocalError, match=r"npm ci --prefix local"):
        DynamoDBLocal(package_dir=tmp_path).start()


@pytest.mark.slow
def test_start_answers_and_stop_ends_the_process():
    with DynamoDBLocal() as database:
        endpoint = database.endpoint
        assert endpoint.startswith("http://127.0.0.1:")
        client = client_for(endpoint)
        try:
            assert client.list_tables()["TableNames"] == []
        finally:
            client.close()
    client = client_for(endpoint)
    try:
        with pytest.raises(EndpointConnectionError):
            client.list_tables()
    finally:
        client.close()


@pytest.mark.slow
def test_taken_port_is_reported(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(DynamoDBLocalError, match=f"port {port} is already in use"):
            DynamoDBLocal(port=port).start()


@pytest.mark.slow
def test_tables_persist_under_a_relative_db_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    template = load_template(TEMPLATE)
    for expect_created in (True, False):
        with DynamoDBLocal(db_path=Path("db")) as database:
            client = client_for(database.endpoint)
            try:
                assert create_table(client, "persisted", template) is expect_created
            finally:
                client.close()
    assert (tmp_path / "db" / "shared-local-instance.db").is_file()


def test_table_is_created_from_the_template_with_its_index_and_ttl(dynamodb_endpoint):
    table = f"template-{uuid.uuid4().hex[:8]}"
    template = load_template(TEMPLATE, table_name=table)
    client = client_for(dynamodb_endpoint)
    try:
        assert create_table(client, table, template) is True
        assert create_table(client, table, template) is False, "a second start reuses it"
        described = client.describe_table(TableName=table)["Table"]
        ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        client.delete_table(TableName=table)
    finally:
        client.close()
    assert described["TableStatus"] == "ACTIVE"
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert described["KeySchema"] == template.table.definition["KeySchema"]
    (index,) = described["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "gsi1"
    assert index["KeySchema"] == [
        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
