"""The local API Gateway: every ``Api`` and ``HttpApi`` of a SAM template served over
HTTP, for machines without Docker, calling the template's handlers with real proxy
events (``rest_gateway``, ``http_gateway``).

Each API has its own listener, as each has its own hostname on AWS, so a REST and an
HTTP API may both declare ``GET /orders``: the first API of the template listens on
the given port, the next on port + 1, and so on (port 0 picks a free port for each).
Routes are served from the root, without the stage name in the path. All APIs share
one set of functions, each in a process of its own with its own environment
(``lambda_runner``; one cold start per function) and its execution role from the
template (``iam_gate``; ``enforce_iam``, default on unless GATEKEY_ENFORCE_IAM is
false). Each request is one access-log line (method, path, status, milliseconds;
logger ``gatekey_local.access``); headers, bodies and query strings are never logged:
they carry credentials.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from gatekey.settings import DEFAULT_TABLE, ENV_CONSOLE_URL
from gatekey_local import iam_gate, signing_keys
from gatekey_local.cloudformation import TemplateError
from gatekey_local.gateway import Gateway
from gatekey_local.http_gateway import HttpGateway
from gatekey_local.http_types import Request
from gatekey_local.iam_roles import function_roles
from gatekey_local.lambda_runner import FunctionRunner, Functions
from gatekey_local.local_aws import LOCAL_HOST
from gatekey_local.rest_gateway import RestGateway
from gatekey_local.sam_model import FunctionSource, Template
from gatekey_local.template import load_template

logger = logging.getLogger(__name__)

CONSOLE_PATH = "/console"


ACCESS_LOGGER = logging.getLogger("gatekey_local.access")
"""One line per request, as ``sam local start-api`` prints: ``POST /auth/login 200 62 ms``."""

_LOGGED_PATH_LENGTH = 200


def access_line(method: str, target: str, status: int, milliseconds: float) -> str:
    """``METHOD /path STATUS N ms``: the path without its query string (which may carry
    a credential), control characters escaped and long paths cut, so that a request
    cannot forge or flood log lines."""
    path = urlsplit(target).path or "/"
    if len(path) > _LOGGED_PATH_LENGTH:
        path = path[:_LOGGED_PATH_LENGTH] + "..."
    shown = "".join(c if c.isprintable() and c != " " else f"\\x{ord(c):02x}" for c in path)
    verb = method if method.isalpha() and len(method) <= 10 else "?"
    return f"{verb} {shown} {status} {round(milliseconds)} ms"


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiServer

    def _dispatch(self) -> None:
        started = time.monotonic()
        status = self._answer()
        self.server.log_access(
            access_line(self.command, self.path, status, (time.monotonic() - started) * 1000)
        )

    def _answer(self) -> int:
        """Answer the request; its status."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.send_error(411, "Send a Content-Length; chunked bodies are not supported")
            return 411
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Invalid Content-Length")
            return 400
        request = Request(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self.rfile.read(length) if length > 0 else b"",
            source_ip=self.client_address[0],
            host=self.headers.get("Host") or f"{self.server.host}:{self.server.port}",
        )
        response = self.server.gateway.handle(request)
        self.send_response_only(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        return response.status

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def __getattr__(self, name: str) -> Any:
        """Any other method token (``TRACE``, ``QUERY``, ``FOO``) goes to the gateway
        too, which answers it as API Gateway does (a REST API: the
        MISSING_AUTHENTICATION_TOKEN gateway response for a method no resource declares),
        instead of http.server's 501 in HTML."""
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: the default line holds the query string; ``_dispatch`` logs instead."""

    def log_error(self, format: str, *args: Any) -> None:
        logger.warning("rejected a malformed HTTP request")


class ApiServer(ThreadingHTTPServer):
    """The listener of one API.

    The listen backlog is far above socketserver's default of 5, so a burst of clients
    waits in the kernel's queue (and then behind the one-invocation-per-function rule)
    instead of getting a reset connection.
    """

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, gateway: Gateway[Any], host: str, port: int):
        super().__init__((host, port), _RequestHandler)
        self.gateway = gateway
        self.access_log_prefix = ""
        """Names the API in the access log when a template has several."""

    def log_access(self, line: str) -> None:
        ACCESS_LOGGER.info("%s%s", self.access_log_prefix, line)

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-response (a closed browser tab) is not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s went away mid-response", client_address[0])
            return
        super().handle_error(request, client_address)


class PortInUseError(OSError):
    """An API's port is already taken."""

    def __init__(self, port: int):
        super().__init__(errno.EADDRINUSE, f"port {port} is in use")
        self.port = port

    def __str__(self) -> str:
        return f"port {self.port} is in use"


class ApiGatewayEmulator:
    """Every API of a template, each on its own listener (bound, not yet serving).

    The APIs take ``port``, ``port + 1``, ... in template order (free ports when
    ``port`` is 0) and share one set of functions. ``environment`` holds the local
    run's variables (DynamoDB endpoint, table, secret, outbox); each function gets
    them as :class:`~gatekey_local.lambda_runner.FunctionEnvironments` says. This
    process's own ``os.environ`` is left alone.
    """

    def __init__(
        self,
        template: Template,
        host: str = LOCAL_HOST,
        port: int = 0,
        environment: Mapping[str, str] | None = None,
        authorizer_sources: Mapping[str, FunctionSource] | None = None,
        *,
        enforce_iam: bool | None = None,
    ):
        self.template = template
        self.enforce_iam = (
            iam_gate.enforcement_enabled(os.environ) if enforce_iam is None else enforce_iam
        )
        roles = function_roles(template) if self.enforce_iam else None
        self._functions = Functions(template, authorizer_sources or {}, roles, environment)
        gateways = _gateways(template, self._functions)
        if not gateways:
            raise TemplateError(f"{template.path} has no Api or HttpApi event to serve")
        self.servers: dict[str, ApiServer] = {}
        try:
            for index, gateway in enumerate(gateways):
                wanted = port + index if port else 0
                try:
                    self.servers[gateway.api.logical_id] = ApiServer(gateway, host, wanted)
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        raise PortInUseError(wanted) from exc
                    raise
        except BaseException:
            self._close_servers()
            self._functions.unload()
            raise
        if len(self.servers) > 1:
            for api_id, server in self.servers.items():
                server.access_log_prefix = f"{api_id} "
        console = self._console_url()
        if console is not None:
            self._functions.runner.set_default_environment(ENV_CONSOLE_URL, console)
        # The stack's SigningKeysPublication, done here: the issuer is this run's API URL.
        signing_keys.publish_signing_keys(template, self.url, environment or {})

    def _console_url(self) -> str | None:
        """The links in messages point at this run's own console, wherever its listener
        is (on AWS the stack's parameter gives the stage's; never the request's Host)."""
        for route in self.template.routes:
            if route.method.upper() == "GET" and route.path == CONSOLE_PATH:
                server = self.servers.get(route.api_id)
                if server is not None:
                    return f"{server.url}{CONSOLE_PATH}"
        return None

    @property
    def url(self) -> str:
        """The base URL of the first API (the only one, for most templates)."""
        return next(iter(self.servers.values())).url

    @property
    def urls(self) -> dict[str, str]:
        """Base URL by API logical id."""
        return {api_id: server.url for api_id, server in self.servers.items()}

    @property
    def runner(self) -> FunctionRunner:
        """The functions' processes: their environments, and patches tests put in them."""
        return self._functions.runner

    def close(self) -> None:
        self._close_servers()
        self._functions.unload()

    def _close_servers(self) -> None:
        for server in self.servers.values():
            server.server_close()


def _gateways(template: Template, functions: Functions) -> list[Gateway[Any]]:
    """A gateway for each API that has routes, in template order."""
    gateways: list[Gateway[Any]] = []
    for api in template.apis.values():
        routes = [route for route in template.routes if route.api_id == api.logical_id]
        if not routes:
            continue
        if api.protocol == "HTTP":
            gateways.append(HttpGateway(api, routes, functions))
        else:
            gateways.append(RestGateway(api, routes, functions))
    return gateways


def function_environment(
    template: Template, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The union of every function's resolved variables (those only AWS can resolve,
    like the secret's ARN, left out), overridden by ``env``: the settings of code that
    runs in the caller's own process against the local run (the admin CLI, tests).
    Each function itself gets only its own (``lambda_runner``)."""
    merged: dict[str, str] = {}
    for function in template.functions.values():
        merged.update(function.environment)
    merged.update(env or {})
    return merged


def create_server(
    template_path: str | Path,
    host: str = LOCAL_HOST,
    port: int = 0,
    env: Mapping[str, str] | None = None,
    *,
    table_name: str = DEFAULT_TABLE,
    parameter_overrides: Mapping[str, str] | None = None,
    authorizer_sources: Mapping[str, FunctionSource] | None = None,
    enforce_iam: bool | None = None,
) -> ApiGatewayEmulator:
    """Build (not start) the emulator for a template; port 0 picks free ports.

    ``env`` holds the local run's variables for the functions (e.g. DYNAMODB_ENDPOINT
    and GATEKEY_SECRET; see ``lambda_runner`` for which function gets which).
    ``authorizer_sources`` names the handler of an authorizer whose FunctionArn points
    outside the template (keyed by authorizer name, for every API).
    ``enforce_iam`` (default: GATEKEY_ENFORCE_IAM, on unless "false") checks each AWS
    call of a function against its role in the template (see ``iam_gate``).
    """
    template = load_template(template_path, parameter_overrides, table_name)
    return ApiGatewayEmulator(
        template,
        host,
        port,
        env,
        authorizer_sources,
        enforce_iam=enforce_iam,
    )


class BackgroundApi:
    """An emulator serving from daemon threads, one per API; ``stop()`` shuts it down
    and closes it."""

    def __init__(self, emulator: ApiGatewayEmulator):
        self.emulator = emulator
        self._stopped = False
        self._threads = [
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            )
            for server in emulator.servers.values()
        ]
        for thread in self._threads:
            thread.start()

    @property
    def url(self) -> str:
        """The base URL of the first API."""
        return self.emulator.url

    @property
    def urls(self) -> dict[str, str]:
        """Base URL by API logical id."""
        return self.emulator.urls

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            for server in self.emulator.servers.values():
                server.shutdown()
            for thread in self._threads:
                thread.join()
            self.emulator.close()

    def __enter__(self) -> BackgroundApi:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(
    template_path: str | Path,
    host: str = LOCAL_HOST,
    port: int = 0,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> BackgroundApi:
    """Create the emulator (see :func:`create_server`) and serve it from threads."""
    return BackgroundApi(create_server(template_path, host, port, env, **options))
