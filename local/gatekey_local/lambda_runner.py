"""The Lambda side of the local run: each function in a process of its own (its
execution environment, ``function_worker``), started on first use (a cold start) with
only its own environment variables, inside its execution role (``iam_gate``), one
invocation at a time, stopped when it runs past its Timeout.

A function's environment, as Lambda builds it: the runtime's variables (function name,
memory, region, credentials), the variables the template gives that function (its own
and ``Globals``), and the local run's (``local_environment``: the DynamoDB endpoint,
table, signing secret and outbox that stand in for AWS). A local-run variable that some
function of the template declares reaches only the functions that declare it, as
``sam local --env-vars`` overrides only declared variables; one no function declares
(``DYNAMODB_ENDPOINT``) reaches all of them. A variable meant for the authorizer alone
reaches the authorizer alone.

The environment of the runner's own process is read at every invocation: a variable
of a function (or of the local run) changed there since the runner started replaces
that function's value and, as a configuration update does in Lambda, the next
invocation starts a fresh environment. Tests use this to change settings of a running
local API; ``make run`` never changes its environment.

What a function writes on stdout and stderr is what Lambda sends to CloudWatch; the
runner reads it and shows it on its own stdout and stderr, as the log stream a
developer watches (``FunctionOutput``): a JSON log line at the level of the logger
``gatekey_local.functions`` or above, every line that is not a JSON log line (prints,
tracebacks), and the records CloudWatch keeps rather than a person reads (audit events
and EMF metric documents) only at DEBUG. The functions write the same lines whatever
that level. A worker runs in a process group of its own and ignores SIGINT, so Ctrl-C
in a terminal reaches the runner alone, which stops the workers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from gatekey_local.cloudformation import TemplateError
from gatekey_local.function_worker import Init, PatchKey, has_handler, restored_record
from gatekey_local.iam_roles import FunctionRole
from gatekey_local.local_aws import LOCAL_ACCOUNT_ID, LOCAL_AWS_ENVIRONMENT, LOCAL_REGION
from gatekey_local.sam_model import Api, Authorizer, FunctionSource, Template

FUNCTION_OUTPUT_LOGGER = "gatekey_local.functions"
"""Its level says which lines of the functions' output are shown (``FunctionOutput``)."""

INIT_TIMEOUT_SECONDS = 10
"""Lambda's limit on a function's init phase (its imports)."""

_PASSED_THROUGH = ("PATH", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONWARNINGS")
"""What the worker's interpreter needs from the runner's process: not function settings."""


@dataclass(frozen=True)
class LocalFunction:
    """A handler to call: where its code lives, the limits Lambda would give it, and
    the variables its template declares (None: a function outside the template, such
    as an authorizer given with ``--authorizer``, which gets every local variable)."""

    name: str
    source: FunctionSource
    memory_mb: int
    timeout_seconds: int
    declared_environment: Mapping[str, str] | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{self.name}"


class FunctionTimeout(Exception):
    """The handler ran past its Timeout; its process was stopped, as Lambda stops it."""


class FunctionError(Exception):
    """The handler (or its module's import) raised: ``str()`` is the error's message,
    ``error_type`` its class name, and the worker's traceback is a note."""

    def __init__(self, error_type: str, message: str, remote_traceback: str = ""):
        super().__init__(message)
        self.error_type = error_type
        if remote_traceback:
            self.add_note(f"In the function's process:\n{remote_traceback.rstrip()}")


class FunctionEnvironments:
    """The environment of each function (see the module docstring)."""

    def __init__(
        self, functions: Mapping[str, LocalFunction], local_environment: Mapping[str, str]
    ):
        self._functions = functions
        # Lambda gives each function its role's credentials; here, those of this process
        # when it has some in its environment, else the dummies DynamoDB Local accepts.
        aws = {name: os.environ.get(name, value) for name, value in LOCAL_AWS_ENVIRONMENT.items()}
        if "AWS_SESSION_TOKEN" in os.environ and "AWS_ACCESS_KEY_ID" in os.environ:
            aws["AWS_SESSION_TOKEN"] = os.environ["AWS_SESSION_TOKEN"]
        self._local = aws | dict(local_environment)
        self._declared_anywhere = {
            name
            for function in functions.values()
            for name in (function.declared_environment or {})
        }
        watched = self._declared_anywhere | set(self._local)
        self._at_start = {name: os.environ.get(name) for name in watched}

    def set_default(self, name: str, value: str) -> None:
        """A local-run variable known only once the run is up (the API's own URL), unless
        the caller gave one."""
        self._local.setdefault(name, value)
        self._at_start.setdefault(name, os.environ.get(name))

    def of(self, function_key: str) -> dict[str, str]:
        function = self._functions[function_key]
        declared = function.declared_environment
        values = dict(declared or {})
        values.update(
            (name, value)
            for name, value in self._local.items()
            if declared is None or name in declared or name not in self._declared_anywhere
        )
        for name, value in self._changed_since_start().items():
            if name in values or name not in self._declared_anywhere or declared is None:
                values[name] = value
        runtime = {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_REGION": values.get("AWS_DEFAULT_REGION", LOCAL_REGION),
            "LAMBDA_TASK_ROOT": str(function.source.code_dir),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
        }
        interpreter = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
        return interpreter | values | runtime

    def _changed_since_start(self) -> dict[str, str]:
        changed = {}
        for name, at_start in self._at_start.items():
            now = os.environ.get(name)
            if now is not None and now != at_start:
                changed[name] = now
        return changed


_LEVELS = {
    name: value
    for name, value in logging.getLevelNamesMapping().items()
    if name in ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL")
}


class FunctionOutput:
    """Which lines of a function's stdout and stderr the runner shows (module docstring)."""

    @staticmethod
    def is_record(document: Mapping[str, Any]) -> bool:
        """An EMF metric document, or an audit event's log line: data that CloudWatch
        keeps (metrics, the audit trail), not a message for whoever runs the API."""
        metadata = document.get("_aws")
        if isinstance(metadata, dict) and "CloudWatchMetrics" in metadata:
            return True
        return document.get("message") == "audit" and "audit" in document

    @classmethod
    def shown(cls, line: str) -> bool:
        logger = logging.getLogger(FUNCTION_OUTPUT_LOGGER)
        if not line.startswith("{"):
            return True
        try:
            document = json.loads(line)
        except ValueError:
            return True
        if not isinstance(document, dict):
            return True
        if cls.is_record(document):
            return logger.isEnabledFor(logging.DEBUG)
        level = document.get("level")
        if isinstance(level, str) and level.upper() in _LEVELS:
            return logger.isEnabledFor(_LEVELS[level.upper()])
        return True

    @classmethod
    def relay(cls, source: IO[bytes], stream_name: str) -> threading.Thread:
        """A thread that copies ``source`` line by line to this process's
        ``sys.stdout`` or ``sys.stderr`` (looked up at each line: tests capture them)."""

        def copy() -> None:
            with source:
                for raw in iter(source.readline, b""):
                    line = raw.decode("utf-8", errors="replace")
                    if not cls.shown(line.rstrip("\r\n")):
                        continue
                    target = getattr(sys, stream_name)
                    try:
                        target.write(line if line.endswith("\n") else line + "\n")
                        target.flush()
                    except (OSError, ValueError):  # closed (a test's capture ended)
                        pass

        thread = threading.Thread(target=copy, name=f"function-{stream_name}", daemon=True)
        thread.start()
        return thread


class _Worker:
    """The process of one function's execution environment."""

    def __init__(self, function: LocalFunction, environment: Mapping[str, str], role: Any):
        self.environment = dict(environment)
        self.usable = True
        """False once the worker timed out or its process died: it is replaced."""
        ours, theirs = socket.socketpair()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "gatekey_local.function_worker", str(theirs.fileno())],
                cwd=function.source.code_dir,
                env=self.environment,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                process_group=0,  # Ctrl-C in a terminal is the runner's to handle
            )
        finally:
            theirs.close()
        assert self._process.stdout is not None and self._process.stderr is not None
        self._relays = [
            FunctionOutput.relay(self._process.stdout, "stdout"),
            FunctionOutput.relay(self._process.stderr, "stderr"),
        ]
        self._connection = Connection(ours.detach())
        init = Init(
            function_name=function.name,
            handler=function.source.handler,
            memory_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds,
            invoked_function_arn=function.arn,
            role=role,
        )
        try:
            self._connection.send(("init", init))
            self.answer(INIT_TIMEOUT_SECONDS, f"{function.name}'s init")
        except BaseException:
            self.stop()
            raise

    def invoke(
        self,
        event: Mapping[str, Any],
        patches: Mapping[PatchKey, Any],
        timeout_seconds: int,
        name: str,
    ) -> Any:
        self._connection.send(("invoke", json.dumps(event), _log_levels(), dict(patches)))
        return json.loads(self.answer(timeout_seconds, name))

    def answer(self, timeout_seconds: float, what: str) -> Any:
        """The worker's answer, after dispatching the log records it sends first."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            remaining = deadline - time.monotonic()
            try:
                ready = remaining > 0 and self._connection.poll(remaining)
                message = self._connection.recv() if ready else None
            except (EOFError, OSError):
                self.usable = False
                code = self._process.poll()
                raise FunctionError(
                    "Runtime.ExitError", f"{what}: the function's process exited ({code})"
                ) from None
            if message is None:
                self.usable = False
                raise FunctionTimeout(f"{what} ran longer than its {timeout_seconds} s limit")
            if message[0] == "log":
                _dispatch(*message[1:])
            elif message[0] == "error":
                raise FunctionError(*message[1:])
            else:
                return message[1] if len(message) > 1 else None

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._connection.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for relay in self._relays:  # the last lines the function wrote
            relay.join(timeout=2)


def _log_levels() -> dict[str, int]:
    """The levels this process's loggers are set to, for the worker's to match."""
    levels = {"": logging.getLogger().level}
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels[name] = logger.level
    return levels


def _dispatch(fields: Mapping[str, Any], written: bool) -> None:
    """A worker's log record, handled by the logger of the same name here; one the
    worker already wrote is not written again by this process's ``lastResort``."""
    record = restored_record(fields)
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno) and (not written or has_handler(logger, record)):
        logger.handle(record)


class FunctionRunner:
    """Runs each function in its own process (see the module docstring). Like one
    Lambda execution environment, a function handles one invocation at a time;
    different functions run concurrently."""

    def __init__(
        self,
        functions: Mapping[str, LocalFunction],
        roles: Mapping[str, FunctionRole] | None = None,
        local_environment: Mapping[str, str] | None = None,
    ):
        self._functions = functions
        self._roles = roles or {}
        self._environments = FunctionEnvironments(functions, local_environment or {})
        self._invocation_locks = {key: threading.Lock() for key in functions}
        self._workers: dict[str, _Worker] = {}
        self._patches: dict[PatchKey, Any] = {}

    def set_default_environment(self, name: str, value: str) -> None:
        """See :meth:`FunctionEnvironments.set_default`."""
        self._environments.set_default(name, value)

    def environment_of(self, function_key: str) -> dict[str, str]:
        """The variables ``function_key``'s process gets (as of now)."""
        return self._environments.of(function_key)

    def invoke(self, function_key: str, event: Mapping[str, Any]) -> Any:
        function = self._functions[function_key]
        with self._invocation_locks[function_key]:
            worker = self._worker(function_key, function)
            try:
                return worker.invoke(
                    event, dict(self._patches), function.timeout_seconds, function.name
                )
            finally:
                if not worker.usable:  # stopped at its Timeout, or its process died
                    self._workers.pop(function_key, None)
                    worker.stop()

    def patch(self, module: str, attribute: str, value: Any) -> None:
        """Set ``module.attribute`` to ``value`` in every function, from its next
        invocation on (tests: e.g. a ``FrozenClock``); :meth:`undo_patches` undoes."""
        self._patches[(module, attribute)] = value

    def undo_patches(self) -> None:
        self._patches.clear()

    def unload(self) -> None:
        for key in list(self._workers):
            with self._invocation_locks[key]:
                worker = self._workers.pop(key, None)
                if worker is not None:
                    worker.stop()

    def _worker(self, function_key: str, function: LocalFunction) -> _Worker:
        environment = self._environments.of(function_key)
        worker = self._workers.get(function_key)
        if worker is not None and worker.environment != environment:
            del self._workers[function_key]
            worker.stop()
            worker = None
        if worker is None:
            worker = _Worker(function, environment, self._roles.get(function_key))
            self._workers[function_key] = worker
        return worker


class Functions:
    """The handlers of one emulator: the template's functions and its authorizers'.

    An authorizer named in ``authorizer_sources`` is one function wherever it is used,
    so REST and HTTP APIs that share an authorizer name share its (warm) handler.
    """

    def __init__(
        self,
        template: Template,
        authorizer_sources: Mapping[str, FunctionSource],
        roles: Mapping[str, FunctionRole] | None = None,
        local_environment: Mapping[str, str] | None = None,
    ):
        functions = {
            logical_id: LocalFunction(
                name=logical_id,
                source=function.source,
                memory_mb=function.memory_mb,
                timeout_seconds=function.timeout_seconds,
                declared_environment=function.environment,
            )
            for logical_id, function in template.functions.items()
        }
        self._authorizers: dict[tuple[str, str], str] = {}
        for api in template.apis.values():
            for name, authorizer in api.authorizers.items():
                if name in authorizer_sources:
                    key = f"authorizer_{name}"
                    functions[key] = LocalFunction(
                        name=name, source=authorizer_sources[name], memory_mb=128, timeout_seconds=3
                    )
                elif authorizer.function_id is not None:
                    key = authorizer.function_id
                else:
                    raise TemplateError(
                        f"authorizer {name} of {api.logical_id} calls a function outside this "
                        f"template; give its handler (e.g. {name}=functions/authorizer:"
                        "app.lambda_handler)"
                    )
                self._authorizers[(api.logical_id, name)] = key
        self.runner = FunctionRunner(functions, roles, local_environment)

    def invoke(self, function_id: str, event: Mapping[str, Any]) -> Any:
        return self.runner.invoke(function_id, event)

    def invoke_authorizer(self, api: Api, authorizer: Authorizer, event: Mapping[str, Any]) -> Any:
        return self.runner.invoke(self._authorizers[(api.logical_id, authorizer.name)], event)

    def unload(self) -> None:
        self.runner.unload()


def parse_function_source(spec: str) -> FunctionSource:
    """Parse ``CODE_DIR:MODULE.FUNCTION`` (e.g. ``functions/authorizer:app.lambda_handler``)."""
    code_dir, separator, handler = spec.rpartition(":")
    if not separator or not code_dir or "." not in handler:
        raise ValueError(f"expected CODE_DIR:MODULE.FUNCTION, got {spec!r}")
    return FunctionSource(code_dir=Path(code_dir).resolve(), handler=handler)
