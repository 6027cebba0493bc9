"""gatekey.aws, the authorizer's stdlib AWS client: signatures checked against botocore,
and transport behaviour against real misbehaving HTTP servers on local sockets."""

from __future__ import annotations

import datetime
import json
import socket
import string
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekey import aws
from gatekey.errors import NotFound, ServiceUnavailable
from gatekey.records import ApiKey
from gatekey.settings import Settings
from gatekey.store import Store
from gatekey.tokens.keyring import KeyringSource

TABLE = "gatekey-unit"
KEY = {"pk": {"S": "APIKEY#k"}, "sk": {"S": "KEY"}}


# -- signatures, byte for byte against botocore's SigV4Auth ------------------------------

RESERVED_HEADERS = {
    "authorization",
    "date",
    "host",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
}
header_names = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=16).filter(
    lambda name: name.lower() not in RESERVED_HEADERS
)
header_values = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
path_segments = st.one_of(
    st.sampled_from(["", ".", "..", "a b", "%41", "~x", "é", "日本"]),
    # no control characters: urlsplit strips some, and botocore then misreads IPv6 hosts
    st.text(st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="/?#"), max_size=12),
)
query_parts = st.text(st.characters(exclude_categories=["Cs"]), max_size=10)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    path = "/" + "/".join(draw(st.lists(path_segments, max_size=5)))
    pairs = draw(st.lists(st.tuples(query_parts, query_parts), max_size=4))
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
    host = draw(
        st.sampled_from(
            ["dynamodb.us-east-1.amazonaws.com", "127.0.0.1:8000", "Example.COM:443", "[::1]:9"]
        )
    )
    scheme = draw(st.sampled_from(["https", "http"]))
    names = draw(st.lists(header_names, max_size=6, unique_by=str.lower))
    return {
        "method": draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "head"])),
        "url": f"{scheme}://{host}{path}" + (f"?{query}" if query else ""),
        "headers": {name: draw(header_values) for name in names},
        "body": draw(st.one_of(st.binary(max_size=64), header_values.map(str.encode))),
        "service": draw(st.sampled_from(["dynamodb", "secretsmanager"])),
        "region": draw(st.sampled_from(["us-east-1", "eu-west-3", "cn-north-1"])),
        "credentials": aws.Credentials(
            draw(st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=20)),
            draw(st.text(string.printable, min_size=1, max_size=40)),
            draw(st.none() | st.text(string.ascii_letters + "/+=", min_size=1, max_size=60)),
        ),
        "when": draw(
            st.datetimes(datetime.datetime(2000, 1, 1), datetime.datetime(2099, 12, 31))
        ).replace(microsecond=0),
    }


def botocore_headers(request: dict[str, Any]) -> dict[str, str]:
    """The headers botocore's SigV4Auth adds, with its clock stopped at request['when']."""
    boto_request = AWSRequest(
        method=request["method"],
        url=request["url"],
        headers=dict(request["headers"]),
        data=request["body"],
    )
    credentials = request["credentials"]
    signer = SigV4Auth(
        BotoCredentials(credentials.access_key, credentials.secret_key, credentials.token),
        request["service"],
        request["region"],
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=request["when"]):
        signer.add_auth(boto_request)
    return dict(boto_request.headers.items())


def lean_headers(request: dict[str, Any]) -> dict[str, str]:
    return aws.sign(
        request["method"],
        request["url"],
        request["headers"],
        request["body"],
        service=request["service"],
        region=request["region"],
        credentials=request["credentials"],
        amz_date=request["when"].strftime("%Y%m%dT%H%M%SZ"),
    )


@settings(max_examples=400, deadline=None)
@given(requests())
def test_signature_matches_botocore_byte_for_byte(request):
    expected = botocore_headers(request)
    signed = lean_headers(request)
    assert signed["Authorization"] == expected["Authorization"]
    assert signed["X-Amz-Date"] == expected["X-Amz-Date"]
    assert signed.get("X-Amz-Security-Token") == expected.get("X-Amz-Security-Token")
    assert signed == expected  # nothing else added, removed or changed


def test_signature_of_a_dynamodb_call_matches_botocore():
    """The exact shape the client sends: JSON body with unicode, session token, port."""
    body = json.dumps({"TableName": "t", "Key": {"pk": {"S": "USER#é日本"}}}).encode()
    request = {
        "method": "POST",
        "url": "http://127.0.0.1:8000/",
        "headers": {
            "Host": "127.0.0.1:8000",
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.GetItem",
            "User-Agent": aws.USER_AGENT,
        },
        "body": body,
        "service": "dynamodb",
        "region": "us-east-1",
        "credentials": aws.Credentials("AKIDEXAMPLE", "secret/with+chars", "token=="),
        "when": datetime.datetime(2026, 11, 23, 9, 0, 0),
    }
    assert lean_headers(request) == botocore_headers(request)


# -- a real HTTP server on a local socket, answering from a script ------------------------


@dataclass
class Captured:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next(value for key, value in self.headers if key.lower() == name.lower())


@dataclass
class ScriptedServer:
    """Answers the n-th request with the n-th action: ("reply", status, body[, headers]),
    ("hang",) never answers, ("close",) drops the connection without a word,
    ("reply_and_close", status, body) answers and then closes the kept-alive connection."""

    actions: list[tuple[Any, ...]]
    requests: list[Captured] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            while not self.stopping.is_set():
                line = reader.readline()
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers = []
                while (header := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers.append((name, value.strip()))
                length = int(next((v for k, v in headers if k.lower() == "content-length"), 0))
                self.requests.append(Captured(method, path, headers, reader.read(length)))
                action = self.actions.pop(0) if self.actions else ("reply", 200, b"{}")
                if action[0] == "hang":
                    self.stopping.wait(10)
                    return
                if action[0] == "close":
                    return
                status, body = action[1], action[2]
                extra = action[3] if len(action) > 3 else {}
                head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
                head += [f"{k}: {v}" for k, v in extra.items()]
                if action[0] == "reply_and_close":
                    head.append("Connection: close")
                conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                if action[0] == "reply_and_close":
                    return

    def stop(self) -> None:
        self.stopping.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(2)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ScriptedServer] = []

    def start(*actions: tuple[Any, ...]) -> ScriptedServer:
        servers.append(ScriptedServer(list(actions)))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    """Lambda-like credentials and region; no wait between attempts unless a test asks."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLEAN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lean-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "lean-token")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(aws, "BACKOFF_SECONDS", 0.0)
    monkeypatch.setattr(aws, "before_send", [])


def error(code: str, message: str = "no", prefix: str = "com.amazonaws.dynamodb.v20120810#"):
    return json.dumps({"__type": prefix + code, "message": message}).encode()


def lean_store(server: ScriptedServer) -> Store:
    return Store(aws.DynamoDB(endpoint_url=server.url), TABLE)


def test_timeouts_and_attempts_match_the_stores_botocore_config():
    assert (aws.CONNECT_TIMEOUT, aws.READ_TIMEOUT, aws.MAX_ATTEMPTS) == (1.0, 2.0, 2)


def test_get_item_sends_a_signed_request_that_botocore_would_sign_the_same(serve):
    item = {"pk": {"S": "APIKEY#k"}, "sk": {"S": "KEY"}, "n": {"N": "3"}}
    body = json.dumps({"Item": item}).encode()
    server = serve(
        ("reply", 200, body, {"x-amzn-RequestId": "r1", "x-amz-crc32": zlib.crc32(body)})
    )
    client = aws.DynamoDB(endpoint_url=server.url)
    response = client.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True)
    assert response["Item"] == item
    assert response["ResponseMetadata"]["RequestId"] == "r1"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    (sent,) = server.requests
    assert (sent.method, sent.path) == ("POST", "/")
    assert sent.header("X-Amz-Target") == "DynamoDB_20120810.GetItem"
    assert sent.header("Content-Type") == "application/x-amz-json-1.0"
    assert json.loads(sent.body) == {"TableName": TABLE, "Key": KEY, "ConsistentRead": True}
    # What went over the wire verifies with botocore's signer.
    signed_names = sent.header("Authorization").split("SignedHeaders=")[1].split(",")[0]
    names = set(signed_names.split(";"))
    assert {"host", "x-amz-date", "x-amz-security-token", "x-amz-target"} <= names
    when = datetime.datetime.strptime(sent.header("X-Amz-Date"), "%Y%m%dT%H%M%SZ")
    expected = botocore_headers(
        {
            "method": sent.method,
            "url": server.url + sent.path,
            "headers": {k: v for k, v in sent.headers if k.lower() in names - {"x-amz-date"}},
            "body": sent.body,
            "service": "dynamodb",
            "region": "eu-west-3",
            "credentials": aws.Credentials("AKIDLEAN", "lean-secret", "lean-token"),
            "when": when,
        }
    )
    assert sent.header("Authorization") == expected["Authorization"]


def test_kept_alive_connection_is_reused(serve):
    server = serve()
    client = aws.DynamoDB(endpoint_url=server.url)
    for _ in range(3):
        client.get_item(TableName=TABLE, Key=KEY)
    assert (len(server.requests), server.connections) == (3, 1)


def test_a_connection_the_server_closed_while_idle_is_replaced_without_an_error(serve):
    server = serve(("reply_and_close", 200, b"{}"), ("reply", 200, b'{"Item": null}'))
    client = aws.DynamoDB(endpoint_url=server.url)
    client.get_item(TableName=TABLE, Key=KEY)
    time.sleep(0.1)
    assert client.get_item(TableName=TABLE, Key=KEY)["Item"] is None
    assert (len(server.requests), server.connections) == (2, 2)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ProvisionedThroughputExceededException"),
        (400, "ThrottlingException"),
        (400, "RequestLimitExceeded"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
    ],
)
def test_throttling_and_5xx_are_retried_once(serve, status, code):
    server = serve(("reply", status, error(code)), ("reply", 200, b"{}"))
    assert lean_store(server).get_key("k") is None
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "ProvisionedThroughputExceededException"), (500, "InternalServerError")],
)
def test_a_second_failure_becomes_service_unavailable(serve, status, code):
    server = serve(("reply", status, error(code)), ("reply", status, error(code)))
    with pytest.raises(ServiceUnavailable) as raised:
        lean_store(server).get_key("k")
    assert isinstance(raised.value.__cause__, aws.ClientError)
    assert raised.value.__cause__.response["Error"]["Code"] == code
    assert len(server.requests) == aws.MAX_ATTEMPTS


def test_retries_wait_a_jittered_backoff(serve, monkeypatch):
    monkeypatch.setattr(aws, "BACKOFF_SECONDS", 0.2)
    waits: list[float] = []
    monkeypatch.setattr(aws.time, "sleep", waits.append)
    server = serve(("reply", 400, error("ThrottlingException")), ("reply", 200, b"{}"))
    lean_store(server).get_key("k")
    assert len(waits) == 1 and 0 <= waits[0] <= 0.2


def test_conditional_check_failure_is_not_retried_and_is_handled_as_with_boto3(serve):
    failed = ("reply", 400, error("ConditionalCheckFailedException"))
    server = serve(failed, failed, failed)
    store = lean_store(server)
    store.touch_key("k", at=1)  # a key deleted meanwhile stays deleted, silently
    assert store.touch_session("s", at=1, ttl=2) is False
    with pytest.raises(NotFound):
        key = ApiKey("k", "u", "a", "member", "ci", "token", 1, 1, "k1")
        store.update_key(key, {"alias": "x"})
    assert len(server.requests) == 3


def test_a_bug_is_not_disguised_as_an_outage(serve):
    server = serve(
        ("reply", 400, error("ValidationException", prefix="com.amazon.coral.validate#"))
    )
    with pytest.raises(aws.ClientError) as raised:
        lean_store(server).get_key("k")
    assert raised.value.response["Error"] == {"Code": "ValidationException", "Message": "no"}
    assert "when calling the GetItem operation" in str(raised.value)
    assert len(server.requests) == 1


def test_unknown_table_is_service_unavailable(serve):
    server = serve(("reply", 400, error("ResourceNotFoundException")))
    with pytest.raises(ServiceUnavailable):
        lean_store(server).get_key("k")


def test_a_dropped_connection_is_retried(serve):
    server = serve(("close",), ("reply", 200, b"{}"))
    assert lean_store(server).get_key("k") is None
    assert len(server.requests) == 2


def test_a_success_that_is_not_json_is_unavailable(serve):
    server = serve(("reply", 200, b"<html>proxy</html>"))
    with pytest.raises(ServiceUnavailable) as raised:
        lean_store(server).get_key("k")
    assert isinstance(raised.value.__cause__, aws.TransportError)


def test_a_response_failing_its_crc32_is_retried_then_unavailable(serve):
    corrupt = ("reply", 200, b'{"Item": {}}', {"x-amz-crc32": "1"})
    server = serve(corrupt, corrupt)
    with pytest.raises(ServiceUnavailable) as raised:
        lean_store(server).get_key("k")
    assert isinstance(raised.value.__cause__, aws.TransportError)
    assert len(server.requests) == 2


def test_a_hung_database_is_unavailable_after_two_read_timeouts(serve):
    server = serve(("hang",), ("hang",))
    start = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        lean_store(server).get_key("k")
    elapsed = time.monotonic() - start
    assert 2 * aws.READ_TIMEOUT <= elapsed < 2 * aws.READ_TIMEOUT + 1.5
    assert len(server.requests) == 2


def test_a_refused_connection_is_unavailable_at_once():
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    store = Store(aws.DynamoDB(endpoint_url=f"http://127.0.0.1:{port}"), TABLE)
    start = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        store.get_key("k")
    assert time.monotonic() - start < 0.5


def test_a_connect_that_never_completes_times_out_after_the_connect_timeout():
    """A listener whose accept queue is full drops new SYNs: the connect just waits."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)
        store = Store(aws.DynamoDB(endpoint_url=f"http://127.0.0.1:{port}"), TABLE)
        start = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            store.get_key("k")
        elapsed = time.monotonic() - start
        assert 2 * aws.CONNECT_TIMEOUT <= elapsed < 2 * aws.CONNECT_TIMEOUT + 1
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# -- the before_send hook ----------------------------------------------------------------------


def test_a_hook_answer_is_parsed_like_aws_own_and_nothing_is_sent(serve, monkeypatch):
    server = serve()
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def deny(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        seen.append((service, operation, params))
        body = error("AccessDeniedException", "not allowed", prefix="com.amazon.coral.service#")
        return {"status": 400, "body": body, "headers": {"X-Amzn-RequestId": "local"}}

    monkeypatch.setattr(aws, "before_send", [deny])
    with pytest.raises(aws.ClientError) as raised:
        aws.DynamoDB(endpoint_url=server.url).get_item(TableName=TABLE, Key=KEY)
    assert raised.value.response["Error"] == {
        "Code": "AccessDeniedException",
        "Message": "not allowed",
    }
    assert raised.value.response["ResponseMetadata"]["RequestId"] == "local"
    assert seen == [("dynamodb", "GetItem", {"TableName": TABLE, "Key": KEY})]
    assert server.requests == []


def test_a_hook_that_returns_none_lets_the_request_through(serve, monkeypatch):
    server = serve(("reply", 200, b'{"Item": null}'))
    monkeypatch.setattr(aws, "before_send", [lambda service, operation, params: None])
    aws.DynamoDB(endpoint_url=server.url).delete_item(TableName=TABLE, Key=KEY)
    assert server.requests[0].header("X-Amz-Target") == "DynamoDB_20120810.DeleteItem"


def test_a_hook_success_answer_is_the_response(monkeypatch):
    answer = {"status": 200, "body": b'{"SecretString": "s3cret"}', "headers": {}}
    monkeypatch.setattr(aws, "before_send", [lambda *_: answer])
    client = aws.SecretsManager(endpoint_url="http://127.0.0.1:9")
    assert client.get_secret_value(SecretId="arn")["SecretString"] == "s3cret"


# -- credentials, region, endpoints ----------------------------------------------------------


def test_a_line_break_in_a_header_is_refused_before_sending(serve, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token\r\nX-Injected: 1")
    server = serve()
    with pytest.raises(ValueError, match="line break"):
        aws.DynamoDB(endpoint_url=server.url).get_item(TableName=TABLE, Key=KEY)
    assert server.requests == []


def test_without_a_session_token_no_token_header_is_sent(serve, monkeypatch):
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    server = serve()
    aws.DynamoDB(endpoint_url=server.url).update_item(TableName=TABLE, Key=KEY)
    names = {name.lower() for name, _ in server.requests[0].headers}
    assert "x-amz-security-token" not in names


def test_container_credentials_are_used_when_the_environment_has_none(serve, monkeypatch):
    """Lambda SnapStart serves credentials from AWS_CONTAINER_CREDENTIALS_FULL_URI."""
    expiration = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    document = {
        "AccessKeyId": "AKIDCONTAINER",
        "SecretAccessKey": "container-secret",
        "Token": "container-token",
        "Expiration": expiration,
    }
    credentials_server = serve(("reply", 200, json.dumps(document).encode()))
    server = serve()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", credentials_server.url + "/creds")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "auth-token")
    monkeypatch.setattr(aws, "_container", None)
    client = aws.DynamoDB(endpoint_url=server.url)
    client.get_item(TableName=TABLE, Key=KEY)
    client.get_item(TableName=TABLE, Key=KEY)
    (fetch,) = credentials_server.requests  # cached until near its expiry
    assert (fetch.method, fetch.path, fetch.header("Authorization")) == (
        "GET",
        "/creds",
        "auth-token",
    )
    sent = server.requests[0]
    assert sent.header("X-Amz-Security-Token") == "container-token"
    assert "Credential=AKIDCONTAINER/" in sent.header("Authorization")


def test_no_credentials_is_service_unavailable(serve, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    server = serve()
    with pytest.raises(ServiceUnavailable):
        lean_store(server).get_key("k")
    assert server.requests == []


def test_region_and_default_endpoint_come_from_the_lambda_environment(monkeypatch):
    assert aws.DynamoDB().endpoint_url == "https://dynamodb.eu-west-3.amazonaws.com"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    assert aws.SecretsManager().endpoint_url == "https://secretsmanager.cn-north-1.amazonaws.com.cn"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(aws.NoRegion):
        aws.DynamoDB()


def test_lean_keyring_reads_the_secret_from_secrets_manager(serve, monkeypatch):
    secret = json.dumps({"current": "k1", "k1": "s" * 40})
    server = serve(("reply", 200, json.dumps({"SecretString": secret}).encode()))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", server.url)
    arn = f"arn:aws:secretsmanager:eu-west-3:123456789012:secret:gatekey-{uuid.uuid4().hex[:6]}"
    keyring = KeyringSource(Settings(secret_arn=arn), lean=True).get()
    assert keyring.keys == {"k1": b"s" * 40}
    (sent,) = server.requests
    assert sent.header("X-Amz-Target") == "secretsmanager.GetSecretValue"
    assert sent.header("Content-Type") == "application/x-amz-json-1.1"
    assert json.loads(sent.body) == {"SecretId": arn}
    assert "/eu-west-3/secretsmanager/aws4_request" in sent.header("Authorization")


def test_lean_keyring_outage_is_service_unavailable(serve, monkeypatch):
    server = serve(("reply", 500, b"oops"), ("reply", 500, b"oops"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", server.url)
    with pytest.raises(ServiceUnavailable):
        KeyringSource(Settings(secret_arn="arn:x"), lean=True).get()
