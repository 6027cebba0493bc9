"""A lean AWS client for the authorizer: SigV4 signing by hand over `http.client`.

Why: the authorizer sits in front of every request of every API that attaches it, and
`import boto3` plus a DynamoDB client costs ~290 ms of each of its cold starts. The five
calls it makes (DynamoDB GetItem, UpdateItem, DeleteItem, PutItem; Secrets Manager
GetSecretValue) are JSON POSTs, which the standard library signs and sends for a small
part of that. Handlers keep boto3.

The clients mirror boto3's low-level ones (`get_item(TableName=..., Key=...)`, same
DynamoDB-JSON parameters and responses), so the Store has one design whatever client it
is given. Behaviour matches the store's botocore Config: connect timeout 1 s, read
timeout 2 s, 2 attempts in all, with jittered backoff on throttling, 5xx and transport
errors. Errors: `ClientError` when the service answered with one (`.response` shaped as
botocore's), `TransportError` when no usable answer came, `NoCredentials`.

Hook for local IAM enforcement (the emulator's, mirroring botocore's `before-send`):
callables in `before_send` get `(service, operation, params)`, e.g.
`("dynamodb", "GetItem", {"TableName": ..., "Key": ...})`, before each attempt. One that
returns `{"status": int, "body": bytes, "headers": dict}` answers instead of AWS, and
that answer is parsed like a real one: a 400 with an `AccessDeniedException` body
raises the same `ClientError` AWS would cause. `None` lets the request go on.

One module of ~570 lines, on purpose: signing, credentials, retries and response parsing
are one small client that mirrors botocore piece by piece (tests/unit/test_aws.py checks
them against botocore together), and the authorizer imports it whole at cold start.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import random
import select
import socket
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple
from urllib.parse import quote, urlsplit

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.0
MAX_ATTEMPTS = 2
# Full jitter: the n-th retry waits uniform(0, BACKOFF_SECONDS * 2**(n-1)). Short, since
# a user's request waits on it; botocore's standard mode waits up to 1 s.
BACKOFF_SECONDS = 0.1
MAX_IDLE_CONNECTIONS = 10
CREDENTIALS_REFRESH_MARGIN = 300  # seconds before expiry that container credentials renew

# As botocore's standard retry mode: codes that mean "slow down" or "try again".
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}
)
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})

# Headers that proxies may change or that are not part of the request's meaning;
# botocore's SIGNED_HEADERS_BLACKLIST, so signatures agree byte for byte.
UNSIGNED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
USER_AGENT = "gatekey-lean/1"

Hook = Callable[[str, str, dict[str, Any]], dict[str, Any] | None]
before_send: list[Hook] = []


class AWSError(Exception):
    """Root of this module's errors; anything but ClientError means "no usable answer"."""


class ClientError(AWSError):
    """The service answered with an error; `response` is shaped as botocore's."""

    def __init__(self, response: dict[str, Any], operation_name: str) -> None:
        self.response = response
        self.operation_name = operation_name
        error = response.get("Error", {})
        super().__init__(
            f"An error occurred ({error.get('Code')}) when calling the {operation_name} "
            f"operation: {error.get('Message', '')}"
        )


class TransportError(AWSError):
    """No usable answer: connection refused or reset, timeout, corrupt response."""


class NoCredentials(AWSError):
    """Neither the environment nor the container credentials endpoint gave credentials."""


class NoRegion(AWSError):
    """Neither AWS_REGION nor AWS_DEFAULT_REGION is set (Lambda always sets AWS_REGION)."""


class Credentials(NamedTuple):
    access_key: str
    secret_key: str
    token: str | None = None


# -- signing ---------------------------------------------------------------------------


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, and no empty segments (AWS wants `//` collapsed), as botocore."""
    if not path:
        return "/"
    output: list[str] = []
    for segment in path.split("/"):
        if segment == ".." and output:
            output.pop()
        elif segment and segment not in (".", ".."):
            output.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and output else ""
    return first + "/".join(output) + last


def _host_header(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


_signing_keys: dict[tuple[str, str, str, str], bytes] = {}


def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The day's derived key, kept so each request costs one HMAC instead of five."""
    cache_key = (secret_key, date, region, service)
    key = _signing_keys.get(cache_key)
    if key is None:
        key = f"AWS4{secret_key}".encode()
        for part in (date, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        _signing_keys.clear()
        _signing_keys[cache_key] = key
    return key


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    service: str,
    region: str,
    credentials: Credentials,
    amz_date: str,
) -> dict[str, str]:
    """`headers` plus X-Amz-Date, X-Amz-Security-Token and Authorization (SigV4).

    Canonicalization follows botocore's SigV4Auth (tests compare them byte for byte):
    header names are distinct case-insensitively and carry no Authorization/X-Amz-Date;
    the URL's query string is taken as already encoded.
    """
    signed = dict(headers)
    signed["X-Amz-Date"] = amz_date
    if credentials.token:
        signed["X-Amz-Security-Token"] = credentials.token
    canonical: dict[str, str] = {}
    for name, value in signed.items():
        lowered = name.lower()
        if lowered not in UNSIGNED_HEADERS:
            canonical[lowered] = " ".join(value.split())
    canonical.setdefault("host", _host_header(url))
    names = sorted(canonical)
    parts = urlsplit(url)
    pairs = [pair.partition("=") for pair in parts.query.split("&")] if parts.query else []
    query = "&".join(f"{key}={value}" for key, value in sorted((k, v) for k, _, v in pairs))
    canonical_request = "\n".join(
        (
            method.upper(),
            quote(_remove_dot_segments(parts.path), safe="/~"),
            query,
            "".join(f"{name}:{canonical[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        )
    )
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        (
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        )
    )
    key = _signing_key(credentials.secret_key, date, region, service)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    signed["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


# -- credentials -------------------------------------------------------------------------

_container: tuple[Credentials, float] | None = None


def get_credentials() -> Credentials:
    """The function's role credentials, read at each request so none is frozen at init.

    Lambda puts them in the environment, except under SnapStart, where it serves them
    from the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI) instead.
    """
    access_key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if access_key and secret_key:
        return Credentials(access_key, secret_key, os.environ.get("AWS_SESSION_TOKEN") or None)
    uri = os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not uri:
        raise NoCredentials("no AWS credentials in the environment")
    global _container
    if _container is None or _container[1] - time.time() < CREDENTIALS_REFRESH_MARGIN:
        _container = _fetch_container_credentials(uri)
    return _container[0]


def _fetch_container_credentials(uri: str) -> tuple[Credentials, float]:
    from datetime import datetime

    parts = urlsplit(uri)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise NoCredentials("the container credentials endpoint must be https or loopback")
    token = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    token_file = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if token_file:
        with open(token_file) as handle:
            token = handle.read().strip()
    headers = {"Host": _host_header(uri), "User-Agent": USER_AGENT}
    if token:
        headers["Authorization"] = token
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            sock = _connect(parts.scheme, parts.hostname or "", parts.port)
            try:
                status, _, data, _ = _send(sock, "GET", path, headers, b"")
            finally:
                sock.close()
            if status == 200:
                document = json.loads(data)
                expires = datetime.fromisoformat(document["Expiration"].replace("Z", "+00:00"))
                credentials = Credentials(
                    document["AccessKeyId"], document["SecretAccessKey"], document.get("Token")
                )
                return credentials, expires.timestamp()
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError):
            pass
        if attempt < MAX_ATTEMPTS:
            _backoff(attempt)
    raise NoCredentials("the container credentials endpoint gave no credentials")


# -- transport ---------------------------------------------------------------------------


_tls: Any = None


def tls_context() -> Any:
    """The process's TLS context, shared by all clients: loading the CA certificates
    costs ~40 ms, so it happens once, when an https endpoint is first used (or at init
    under SnapStart or provisioned concurrency, where no user waits on it)."""
    global _tls
    if _tls is None:
        import ssl

        _tls = ssl.create_default_context()
    return _tls


def _connect(scheme: str, host: str, port: int | None) -> socket.socket:
    """An open socket: connect (and TLS handshake) within CONNECT_TIMEOUT, then every
    read within READ_TIMEOUT; TCP keep-alive on, as the store's botocore Config; no
    Nagle delay, as urllib3."""
    sock = socket.create_connection(
        (host, port or (443 if scheme == "https" else 80)), timeout=CONNECT_TIMEOUT
    )
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "https":
            sock = tls_context().wrap_socket(sock, server_hostname=host)
        sock.settimeout(READ_TIMEOUT)
    except BaseException:
        sock.close()
        raise
    return sock


def _send(
    sock: socket.socket, method: str, path: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes, bool]:
    """One HTTP/1.1 exchange: (status, lower-cased headers, body, whether to close).

    The request goes out in one write (http.client writes headers and body apart,
    which costs a second round of kernel work per request); http.client parses the
    answer. Raises OSError or http.client.HTTPException.
    """
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    if any("\r" in line or "\n" in line for line in lines):
        raise ValueError("a header holds a line break")  # refused, as http.client does
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    response = http.client.HTTPResponse(sock, method=method)
    try:
        response.begin()
        data = response.read()
    finally:
        response.close()
    answer_headers = {name.lower(): value for name, value in response.getheaders()}
    return response.status, answer_headers, data, bool(response.will_close)


def _dropped(sock: socket.socket) -> bool:
    """An idle kept-alive connection that has become readable was closed by the server
    (or says something unasked): not worth a request, which would fail mid-way."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** (attempt - 1)))  # noqa: S311 - jitter


class Client:
    """One AWS service over JSON: signed POSTs on kept-alive connections.

    Thread-safe (the local emulator calls the authorizer from several threads): each
    request takes an idle connection from a small pool or opens one.
    """

    service: ClassVar[str]  # the signing name and the endpoint's first label
    endpoint_variable: ClassVar[str]  # as boto3's AWS_ENDPOINT_URL_<SERVICE>
    target_prefix: ClassVar[str]
    content_type: ClassVar[str]

    def __init__(self, *, endpoint_url: str | None = None, region_name: str | None = None):
        self._idle: list[socket.socket] = []
        region = region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise NoRegion("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION")
        self.region = region
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        self.endpoint_url = (
            endpoint_url
            or os.environ.get(self.endpoint_variable)
            or os.environ.get("AWS_ENDPOINT_URL")
            or f"https://{self.service}.{region}.{suffix}"
        ).rstrip("/")
        parts = urlsplit(self.endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {self.endpoint_url!r}")
        self._scheme = parts.scheme
        self._hostname = parts.hostname
        self._port = parts.port
        self._path = parts.path or "/"
        self._url = f"{parts.scheme}://{parts.netloc}{self._path}"
        self._host = _host_header(self._url)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def __del__(self) -> None:
        # A dropped client (tests rebuild stores) closes its sockets rather than
        # leaving them to the garbage collector's ResourceWarning.
        self.close()

    # -- one call ------------------------------------------------------------------

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params, separators=(",", ":")).encode()
        attempt = 1
        while True:
            try:
                status, headers, data = self._exchange(operation, params, body)
            except TransportError:
                if attempt >= MAX_ATTEMPTS:
                    raise
            else:
                if status < 300:
                    try:
                        parsed = json.loads(data) if data else {}
                    except ValueError:
                        parsed = None
                    if not isinstance(parsed, dict):
                        raise TransportError(f"{operation}: the response is not a JSON object")
                    parsed["ResponseMetadata"] = _metadata(status, headers, attempt)
                    return parsed
                error = _error_response(status, headers, data, attempt)
                code = error["Error"]["Code"]
                retryable = (
                    status in RETRYABLE_STATUSES
                    or code in THROTTLING_CODES
                    or code in TRANSIENT_CODES
                )
                if attempt >= MAX_ATTEMPTS or not retryable:
                    raise ClientError(error, operation)
            _backoff(attempt)
            attempt += 1

    def _exchange(
        self, operation: str, params: dict[str, Any], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One attempt: (status, lower-cased headers, body), from a hook or from AWS."""
        if before_send:
            for hook in before_send:
                answer = hook(self.service, operation, params)
                if answer is not None:
                    hook_headers = answer.get("headers") or {}
                    lowered = {str(k).lower(): str(v) for k, v in hook_headers.items()}
                    return int(answer["status"]), lowered, bytes(answer["body"])
        headers = sign(
            "POST",
            self._url,
            {
                "Host": self._host,
                "Content-Type": self.content_type,
                "X-Amz-Target": f"{self.target_prefix}.{operation}",
                "User-Agent": USER_AGENT,
            },
            body,
            service=self.service,
            region=self.region,
            credentials=get_credentials(),
            amz_date=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        )
        sock = self._connection()
        try:
            status, answer_headers, data, close = _send(sock, "POST", self._path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            sock.close()
            raise TransportError(f"{operation}: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            sock.close()
            raise
        if close or len(self._idle) >= MAX_IDLE_CONNECTIONS:
            sock.close()
        else:
            self._idle.append(sock)
        checksum = answer_headers.get("x-amz-crc32")
        if checksum is not None and checksum.isdigit() and zlib.crc32(data) != int(checksum):
            raise TransportError(f"{operation}: the response failed its CRC32 check")
        return status, answer_headers, data

    def _connection(self) -> socket.socket:
        while True:
            try:
                sock = self._idle.pop()
            except IndexError:
                break
            if not _dropped(sock):
                return sock
            sock.close()
        try:
            return _connect(self._scheme, self._hostname, self._port)
        except OSError as exc:
            raise TransportError(f"cannot connect to {self._host}: {exc}") from exc


def _metadata(status: int, headers: dict[str, str], attempt: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "HTTPStatusCode": status,
        "HTTPHeaders": headers,
        "RetryAttempts": attempt - 1,
    }
    request_id = headers.get("x-amzn-requestid")
    if request_id is not None:
        metadata["RequestId"] = request_id
    return metadata


def _error_response(
    status: int, headers: dict[str, str], data: bytes, attempt: int
) -> dict[str, Any]:
    """An error answer as botocore's JSON parser reads it (code from `__type`)."""
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("__type") or status)
    code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    message = body.get("message", body.get("Message", ""))
    response = {k: v for k, v in body.items() if k not in ("__type", "message", "Message")}
    response["Error"] = {"Code": code, "Message": message}
    response["ResponseMetadata"] = _metadata(status, headers, attempt)
    return response


class DynamoDB(Client):
    """DynamoDB's item calls the authorizer makes, as boto3's client names them."""

    service = "dynamodb"
    endpoint_variable = "AWS_ENDPOINT_URL_DYNAMODB"
    target_prefix = "DynamoDB_20120810"
    content_type = "application/x-amz-json-1.0"

    def get_item(self, **params: Any) -> dict[str, Any]:
        return self._call("GetItem", params)

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self._call("UpdateItem", params)

    def delete_item(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteItem", params)

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self._call("PutItem", params)


class SecretsManager(Client):
    """Secrets Manager's GetSecretValue, for the keyring."""

    service = "secretsmanager"
    endpoint_variable = "AWS_ENDPOINT_URL_SECRETS_MANAGER"
    target_prefix = "secretsmanager"
    content_type = "application/x-amz-json-1.1"

    def get_secret_value(self, **params: Any) -> dict[str, Any]:
        return self._call("GetSecretValue", params)
