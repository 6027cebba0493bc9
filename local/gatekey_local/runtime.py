"""The local run behind ``make run`` / ``gatekey local``.

For gatekey's own template: starts DynamoDB Local (unless DYNAMODB_ENDPOINT names
another DynamoDB), creates the table from the template, provides a signing secret, and
serves the API until SIGINT/SIGTERM, then stops both.

For a template without a DynamoDB table, such as ``examples/consumer`` (an API that
attaches gatekey's authorizer): starts and creates nothing, but hands the functions the
DynamoDB endpoint, table and signing secret of the gatekey that ``make run`` serves in
another terminal, so that tokens issued there are accepted here.

Each API of a template gets its own port, from GATEKEY_PORT (or ``--port``) upwards.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from gatekey.settings import DEFAULT_TABLE
from gatekey_local import schedules
from gatekey_local.cloudformation import TemplateError
from gatekey_local.dynamodb_local import DynamoDBLocal, DynamoDBLocalError, create_table
from gatekey_local.lambda_runner import parse_function_source
from gatekey_local.local_aws import (
    DEFAULT_API_PORT,
    DEFAULT_DYNAMODB_PORT,
    LOCAL_HOST,
    use_local_aws_defaults,
)
from gatekey_local.sam_model import (
    Api,
    FunctionSource,
    Template,
    effective_authorizer,
    effective_jwt_authorizer,
)
from gatekey_local.server import (
    ApiGatewayEmulator,
    BackgroundApi,
    PortInUseError,
)
from gatekey_local.template import load_template

SIGNING_KEY_FILE = "signing-key.json"

logger = logging.getLogger(__name__)


class LocalRunError(RuntimeError):
    """The local run cannot start; the message says what to change."""


def load_or_create_signing_secret(data_dir: Path) -> str:
    """The local signing secret as ``{"current": "k1", "k1": "..."}``, created once
    (mode 0600) under ``data_dir`` so tokens survive restarts of the local run."""
    path = data_dir / SIGNING_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        keys = {"current": "k1", "k1": secrets.token_urlsafe(48)}
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another local run created it first; read theirs
        else:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                json.dump(keys, stream)
    return _read_signing_secret(path)


def read_signing_secret(data_dir: Path) -> str | None:
    """The signing secret another local run created under ``data_dir``; None if none."""
    path = data_dir / SIGNING_KEY_FILE
    return _read_signing_secret(path) if path.exists() else None


def _read_signing_secret(path: Path) -> str:
    try:
        keys = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LocalRunError(f"cannot read {path} ({exc}); delete it to make a new key") from exc
    current = keys.get("current") if isinstance(keys, dict) else None
    if not isinstance(current, str) or not isinstance(keys.get(current), str):
        raise LocalRunError(f"{path} has no current key; delete it to make a new key")
    return json.dumps(keys)


def require_gatekey_data(endpoint: str, table: str, secret: str | None, data_dir: Path) -> None:
    """Check that the gatekey of another local run is there to check tokens against:
    its DynamoDB answers at ``endpoint``, its table exists, its signing secret is known."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
    )
    try:
        client.describe_table(TableName=table)
    except client.exceptions.ResourceNotFoundException as exc:
        raise LocalRunError(
            f"table {table} does not exist at {endpoint}: start gatekey (`make run`) first, "
            "or set GATEKEY_TABLE to its table"
        ) from exc
    except (BotoCoreError, ClientError) as exc:
        raise LocalRunError(
            f"no DynamoDB at {endpoint} ({exc}): start gatekey (`make run`) in another "
            "terminal first, or set DYNAMODB_ENDPOINT"
        ) from exc
    finally:
        client.close()
    if secret is None:
        raise LocalRunError(
            f"no signing key at {data_dir / SIGNING_KEY_FILE}: run this from the directory "
            "where `make run` runs (or pass its --data-dir), or set GATEKEY_SECRET"
        )


def ensure_table(endpoint: str, table: str, template: Template) -> bool:
    """Create the template's table at ``endpoint`` if absent; True when created."""
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    try:
        return create_table(client, table, template)
    except (BotoCoreError, ClientError) as exc:
        raise LocalRunError(f"cannot create table {table} at {endpoint}: {exc}") from exc
    finally:
        client.close()


def run_local(
    template_path: str | Path = "template.yaml",
    *,
    port: int | None = None,
    dynamodb_port: int | None = None,
    table: str | None = None,
    endpoint: str | None = None,
    data_dir: str | Path = ".local",
    authorizer_sources: Mapping[str, FunctionSource] | None = None,
    parameter_overrides: Mapping[str, str] | None = None,
) -> None:
    """Serve the template's APIs on 127.0.0.1 until SIGINT or SIGTERM.

    Unset arguments come from the environment (GATEKEY_PORT, GATEKEY_DYNAMODB_PORT,
    GATEKEY_TABLE, DYNAMODB_ENDPOINT), then from the defaults. The template's APIs listen
    on ``port``, ``port + 1``, ... in template order. A function setting that is a
    template parameter (``GATEKEY_SESSION_IDLE_SECONDS: !Ref SessionIdleSeconds``) is
    taken from the environment when set there, else from the parameter's default.

    A template without a DynamoDB table starts no DynamoDB Local and creates no key: its
    functions get the endpoint (default 127.0.0.1:GATEKEY_DYNAMODB_PORT), table and
    signing key (GATEKEY_SECRET, else ``data_dir``/signing-key.json) of the gatekey that
    ``make run`` serves; with ``authorizer_sources`` given, they must exist.

    It says what it is doing, with durations, on stdout, and ends the start-up with the
    APIs' URLs. GATEKEY_LOG_LEVEL (default INFO) is the level of what it logs on stderr:
    one access line per request, warnings and errors, and the functions' output
    (``lambda_runner.FunctionOutput``: their audit and metric lines at DEBUG only).
    """
    started = time.monotonic()
    environ = os.environ
    _configure_logging(environ.get(LOG_LEVEL_ENV) or "INFO")
    api_port = port if port is not None else int(environ.get("GATEKEY_PORT", DEFAULT_API_PORT))
    database_port = (
        dynamodb_port
        if dynamodb_port is not None
        else int(environ.get("GATEKEY_DYNAMODB_PORT", DEFAULT_DYNAMODB_PORT))
    )
    table_name = table or environ.get("GATEKEY_TABLE") or DEFAULT_TABLE
    endpoint = endpoint or environ.get("DYNAMODB_ENDPOINT") or None
    data_path = Path(data_dir)

    overrides = load_template(
        template_path, parameter_overrides, table_name=table_name
    ).parameter_overrides_from(environ)
    template = load_template(
        template_path, {**overrides, **(parameter_overrides or {})}, table_name
    )
    use_local_aws_defaults(environ)

    database: DynamoDBLocal | None = None
    try:
        if template.table is None:
            endpoint = endpoint or f"http://{LOCAL_HOST}:{database_port}"
        elif endpoint is None:
            database = DynamoDBLocal(port=database_port, db_path=data_path / "dynamodb")
            with _step(
                f"Starting DynamoDB Local on {LOCAL_HOST}:{database_port} "
                f"(data in {data_path / 'dynamodb'})",
                "DynamoDB Local is up",
            ):
                database.start()
            endpoint = database.endpoint
        else:
            _say(f"Using the DynamoDB at {endpoint} (DYNAMODB_ENDPOINT)")
        if template.table is not None:
            with _step(f"Creating table {table_name} if absent", f"Table {table_name}") as done:
                done.append("created" if ensure_table(endpoint, table_name, template) else "found")
            secret: str | None = environ.get("GATEKEY_SECRET") or load_or_create_signing_secret(
                data_path
            )
        else:
            secret = environ.get("GATEKEY_SECRET") or read_signing_secret(data_path)
            if authorizer_sources:
                require_gatekey_data(endpoint, table_name, secret, data_path)
        # Messages (set-password, reset links) are files here unless SenderEmail is set.
        outbox = environ.get("GATEKEY_OUTBOX_DIR") or str((data_path / "outbox").resolve())
        function_env = {
            "GATEKEY_TABLE": table_name,
            "DYNAMODB_ENDPOINT": endpoint,
            "GATEKEY_OUTBOX_DIR": outbox,
            # the KMS stand-in's key files (access-token signing), created on first run
            "GATEKEY_LOCAL_KMS_DIR": environ.get("GATEKEY_LOCAL_KMS_DIR")
            or str((data_path / "kms").resolve()),
        }
        if secret is not None:
            function_env["GATEKEY_SECRET"] = secret
        _say(
            f"Starting the API from {template_path}: {len(template.functions)} functions "
            f"(each in its own process from its first request), {len(template.routes)} routes"
        )
        try:
            emulator = ApiGatewayEmulator(
                template,
                LOCAL_HOST,
                api_port,
                function_env,
                authorizer_sources,
            )
        except PortInUseError as exc:
            raise LocalRunError(
                f"{exc}: stop what holds it, or choose another port with --port or "
                "GATEKEY_PORT (a template's APIs take consecutive ports from it)"
            ) from exc
        with _stop_requested_by_signal() as stop_requested:
            with (
                BackgroundApi(emulator) as api,
                schedules.running(template.path, template.functions, emulator.runner) as timers,
            ):
                lines: list[str] = []
                for api_id in api.urls:
                    lines += _route_lines(template.apis[api_id], template)
                lines.append(_iam_line(emulator, sources=bool(authorizer_sources)))
                shared = "" if template.table is not None else ", of the gatekey local run"
                lines.append(f"DynamoDB endpoint: {endpoint} (table {table_name}{shared})")
                lines.append(f"Messages (reset and set-password links): {outbox}/*.eml")
                lines += timers.lines()
                lines.append(
                    "Logs: one line per request; GATEKEY_LOG_LEVEL=DEBUG adds the functions' "
                    "audit and metric lines."
                )
                stops = "the API and DynamoDB Local" if database else "the API"
                lines.append(f"Ready in {time.monotonic() - started:.1f} s. Ctrl-C stops {stops}.")
                # The URLs last, in one write: what to open (and what tests wait for).
                lines += [_url_line(template.apis[api_id], url) for api_id, url in api.urls.items()]
                print("\n".join(lines), flush=True)
                while not stop_requested.wait(timeout=0.5):
                    pass
            if database is not None:
                database.stop()
            if sys.stdout.isatty():
                print()  # after the terminal's ^C
            print(f"gatekey local stopped ({stops}).", flush=True)
    finally:
        if database is not None:
            database.stop()


LOG_LEVEL_ENV = "GATEKEY_LOG_LEVEL"


def _say(text: str) -> None:
    print(text, flush=True)


@contextmanager
def _step(doing: str, done: str) -> Iterator[list[str]]:
    """``doing...`` now, ``done (N s).`` when the block ends; the block may append a word
    to ``done`` (``Table gatekey: created (0.3 s).``)."""
    _say(f"{doing}...")
    started = time.monotonic()
    outcome: list[str] = []
    yield outcome
    suffix = f": {outcome[0]}" if outcome else ""
    _say(f"{done}{suffix} ({time.monotonic() - started:.1f} s).")


def _iam_line(emulator: ApiGatewayEmulator, *, sources: bool) -> str:
    if not emulator.enforce_iam:
        return "IAM: not enforced (GATEKEY_ENFORCE_IAM=false): functions may do anything."
    line = "IAM: each function may make only the AWS calls its role in the template allows"
    if sources:
        line += " (authorizers given with --authorizer are not checked)"
    return line + "; GATEKEY_ENFORCE_IAM=false turns this off."


class _LogFormatter(logging.Formatter):
    """``12:00:01 POST /auth/login 200 62 ms``; other levels than INFO are named."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
        self._info = logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno == logging.INFO:
            return self._info.format(record)
        return super().format(record)


def _configure_logging(level_name: str) -> None:
    """Give the local run's loggers their own handler, at GATEKEY_LOG_LEVEL: Powertools
    puts a filter on the root handlers that drops every logger whose name contains its
    service name ("gatekey"), which would silence the access log and tracebacks."""
    level = level_name.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise LocalRunError(
            f"{LOG_LEVEL_ENV}={level_name!r}: use DEBUG, INFO (the default), WARNING or ERROR"
        )
    local_logger = logging.getLogger("gatekey_local")
    if not local_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_LogFormatter())
        local_logger.addHandler(handler)
        local_logger.propagate = False
    local_logger.setLevel(level)


def _route_lines(api: Api, template: Template) -> list[str]:
    """``GatekeyApi (REST API, stage v1):`` and a line per route, with its authorizer."""
    lines = [f"{api.logical_id} ({api.protocol} API, stage {api.stage_name}):"]
    for route in template.routes:
        if route.api_id == api.logical_id:
            authorizer = effective_authorizer(route, api)
            jwt_authorizer = effective_jwt_authorizer(route, api)
            guard = f"  [{authorizer.name}]" if authorizer is not None else ""
            if jwt_authorizer is not None:
                scopes = " ".join(route.authorization_scopes) or "no scope"
                guard = f"  [{jwt_authorizer.name}: JWT, {scopes}]"
            lines.append(f"  {route.method:<7} {route.path}{guard}")
    for jwt_authorizer in api.jwt_authorizers.values():
        if jwt_authorizer.issuer is None:
            lines.append(
                f"  JWT authorizer {jwt_authorizer.name}: its issuer or audience is a value "
                "only AWS knows (an import); its routes answer 500 until you give them "
                "with --parameter-overrides"
            )
        else:
            lines.append(
                f"  JWT authorizer {jwt_authorizer.name}: issuer {jwt_authorizer.issuer}, "
                f"audience {' '.join(jwt_authorizer.audiences or ())}"
            )
    return lines


def _url_line(api: Api, url: str) -> str:
    """``gatekey local API: URL  (Id: REST API, stage v1)``."""
    stage = f"{api.logical_id}: {api.protocol} API, stage {api.stage_name}"
    return f"gatekey local API: {url}  ({stage})"


@contextmanager
def _stop_requested_by_signal() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM, instead of KeyboardInterrupt mid-request."""
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_HELP_EPILOG = """\
Each API of the template listens on its own port: the first (in template order) on
--port, the next on the following port, and so on; each API's base URL is printed at
start. Routes are served from the root, without the stage name. REST APIs (Api events,
payload 1.0) and HTTP APIs (HttpApi events, payload 2.0) are both served, with their
Lambda authorizers.

gatekey itself (what `make run` does):
  .venv/bin/gatekey local

An API that attaches gatekey's authorizer, e.g. examples/consumer, in a second
terminal while `make run` serves gatekey, from the repository root:
  .venv/bin/gatekey local --port 3001 --template examples/consumer/template.yaml \\
      --authorizer GatekeyAuthorizer=functions/authorizer:app.lambda_handler
Its REST API is then on :3001 and its HTTP API on :3002. A template without a DynamoDB
table starts no DynamoDB Local and creates no signing key: it uses the running
gatekey's DynamoDB (DYNAMODB_ENDPOINT, default http://127.0.0.1:$GATEKEY_DYNAMODB_PORT,
i.e. :8000), table (GATEKEY_TABLE, default gatekey) and signing key (GATEKEY_SECRET,
default <data-dir>/signing-key.json); with --authorizer, it refuses to start when they
are not there.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """``gatekey local [--template T] [--port P] [--authorizer NAME=DIR:MODULE.FN]``."""
    parser = argparse.ArgumentParser(
        prog="gatekey local",
        description="Run the APIs of a SAM template locally.",
        epilog=_HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--template", default="template.yaml", help="SAM template to serve")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port of the first API (default: $GATEKEY_PORT, else {DEFAULT_API_PORT})",
    )
    parser.add_argument(
        "--authorizer",
        action="append",
        default=[],
        metavar="NAME=CODE_DIR:MODULE.FUNCTION",
        help="handler of an authorizer whose FunctionArn is outside the template, for "
        "every API that names it (e.g. GatekeyAuthorizer=functions/authorizer:"
        "app.lambda_handler)",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="template parameters, as sam's --parameter-overrides (e.g. the consumer "
        "example's GatekeyIssuer=http://127.0.0.1:3000 GatekeyAudience=http://127.0.0.1:3000)",
    )
    parser.add_argument(
        "--data-dir",
        default=".local",
        help="where local data persists, and where the signing key is read (default .local)",
    )
    arguments = parser.parse_args(argv)
    try:
        sources = {}
        for spec in arguments.authorizer:
            name, separator, source = spec.partition("=")
            if not separator:
                raise ValueError(f"expected NAME=CODE_DIR:MODULE.FUNCTION, got {spec!r}")
            sources[name] = parse_function_source(source)
        overrides = {}
        for spec in arguments.parameter_overrides:
            name, separator, value = spec.partition("=")
            if not separator or not name:
                raise ValueError(f"expected NAME=VALUE, got {spec!r}")
            overrides[name] = value
        run_local(
            arguments.template,
            port=arguments.port,
            data_dir=arguments.data_dir,
            authorizer_sources=sources,
            parameter_overrides=overrides,
        )
    except (LocalRunError, DynamoDBLocalError, TemplateError, ValueError) as exc:
        print(f"gatekey local: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
