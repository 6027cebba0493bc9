"""One function's execution environment: a process of its own, as Lambda gives each
function, started by ``lambda_runner`` with only that function's environment variables.

The worker runs ``python -m gatekey_local.function_worker FD`` in the function's code
directory (Lambda's ``/var/task``, first on ``sys.path``) and talks to the runner over
the socket ``FD``, one pickled message at a time:

* ``("init", Init)``: import the handler (the cold start, inside the function's role),
  answer ``("ready",)`` or ``("error", ...)``.
* ``("invoke", event_json, log_levels, patches)``: call the handler with a
  :class:`LambdaContext`; answer ``("result", json)`` or ``("error", type, message,
  traceback)``. Events and results cross as JSON, as they do in Lambda, so a handler
  that returns something JSON cannot hold fails here as it fails there.
* Every log record any logger of the worker handles is sent first as ``("log",
  fields, written)``, so the runner's process sees it too (tests capture them there).
  The worker's own handlers still write, as a function's do to CloudWatch (Powertools
  JSON on stdout); ``written`` says whether one did. A record no handler here takes
  is the runner's to print (its ``lastResort``), so it is printed once.

``log_levels`` are the levels the runner's process gives its loggers (so a test that
asks for botocore's DEBUG lines gets the function's too). ``patches`` are module
attributes a test sets in the function (``{(module, attribute): value}``, e.g. a
:class:`FrozenClock`); one no longer listed gets its own value back.

The worker ignores SIGINT: the runner stops it (SIGTERM), so a Ctrl-C prints no
traceback from a function's process. Its stdout and stderr are pipes the runner reads
(``lambda_runner.FunctionOutput``), as Lambda reads a function's into CloudWatch.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gatekey_local.iam_roles import FunctionRole

PatchKey = tuple[str, str]
"""(module, attribute) of a test's patch inside the worker."""


@dataclass
class LambdaContext:
    """The attributes of the Lambda Python runtime's context that handlers and
    Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    identity: None = None
    client_context: None = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Init:
    """What a worker needs to become one function."""

    function_name: str
    handler: str
    memory_mb: int
    timeout_seconds: int
    invoked_function_arn: str
    role: FunctionRole | None


@dataclass(frozen=True)
class FrozenClock:
    """A clock stopped at ``at`` (epoch seconds), for tests to put in a worker in place
    of ``gatekey.clock`` (or of its ``now``)."""

    at: int

    def now(self) -> int:
        return self.at


class RemoteLogRecord(Exception):
    """Stands for the exception of a record logged in a worker: its traceback is the
    record's ``exc_text``."""


def has_handler(logger: logging.Logger, record: logging.LogRecord) -> bool:
    """Whether a handler of ``logger`` or of the ancestors it propagates to takes
    ``record`` (``Logger.callHandlers``'s rule; without one, ``lastResort`` would)."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(record.levelno >= handler.level for handler in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


def portable_record(record: logging.LogRecord) -> dict[str, Any]:
    """The record's fields with its message rendered, its traceback as text, and any
    attribute pickle cannot carry as its repr."""
    fields = dict(record.__dict__)
    try:
        fields["msg"] = record.getMessage()
    except (TypeError, ValueError):
        fields["msg"] = str(record.msg)
    fields["args"] = None
    if record.exc_info:
        fields["exc_text"] = record.exc_text or logging.Formatter().formatException(record.exc_info)
        fields["exc_info"] = True
    for name, value in fields.items():
        try:
            pickle.dumps(value)
        except Exception:
            fields[name] = repr(value)
    return fields


def restored_record(fields: Mapping[str, Any]) -> logging.LogRecord:
    """A record of this process from :func:`portable_record`'s fields."""
    record = logging.makeLogRecord(dict(fields))
    if record.exc_info:
        record.exc_info = (RemoteLogRecord, RemoteLogRecord(record.exc_text), None)
    return record


class _Worker:
    def __init__(self, connection: Connection):
        self._connection = connection
        self._send_lock = threading.Lock()  # a thread the handler starts may log too
        self._handler: Any = None
        self._init: Init | None = None
        self._patched: dict[PatchKey, Any] = {}  # key -> the original value
        self._levels: dict[str, int] = {}  # logger name -> its level before the runner's

    def serve(self) -> None:
        self._forward_log_records()
        while True:
            try:
                message = self._connection.recv()
            except (EOFError, OSError):
                return
            if message[0] == "init":
                self._initialize(message[1])
            elif message[0] == "invoke":
                self._invoke(*message[1:])
            else:
                return

    def _forward_log_records(self) -> None:
        send = self._send
        call_handlers = logging.Logger.callHandlers

        def forwarding(self: logging.Logger, record: logging.LogRecord) -> None:
            send(("log", portable_record(record), has_handler(self, record)))
            call_handlers(self, record)

        logging.Logger.callHandlers = forwarding  # type: ignore[method-assign]
        # A record no handler here takes is the runner's to print (or not), once.
        logging.lastResort = logging.NullHandler()

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self._connection.send(message)

    def _in_role(self) -> Any:
        assert self._init is not None
        if self._init.role is None:
            return nullcontext()
        from gatekey_local import iam_gate

        return iam_gate.invoking(self._init.role)

    def _initialize(self, init: Init) -> None:
        self._init = init
        if init.role is not None:
            from gatekey_local import iam_gate

            iam_gate.install()
        module_name, _, attribute = init.handler.rpartition(".")
        try:
            with self._in_role():
                module = importlib.import_module(module_name)
            handler = getattr(module, attribute, None)
            if not callable(handler):
                raise AttributeError(f"handler {init.handler!r}: no callable {attribute}")
        except Exception as exc:
            self._send_error(exc)
            return
        self._handler = handler
        self._send(("ready",))

    def _invoke(
        self, event_json: str, log_levels: Mapping[str, int], patches: Mapping[PatchKey, Any]
    ) -> None:
        assert self._init is not None and self._handler is not None
        self._set_levels(log_levels)
        self._set_patches(patches)
        init = self._init
        context = LambdaContext(
            function_name=init.function_name,
            memory_limit_in_mb=init.memory_mb,
            invoked_function_arn=init.invoked_function_arn,
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + init.timeout_seconds,
            log_group_name=f"/aws/lambda/{init.function_name}",
        )
        try:
            with self._in_role():
                result = self._handler(json.loads(event_json), context)
            answer = json.dumps(result)
        except Exception as exc:
            self._send_error(exc)
            return
        self._send(("result", answer))

    def _send_error(self, exc: Exception) -> None:
        self._send(
            ("error", type(exc).__name__, str(exc), "".join(traceback.format_exception(exc)))
        )

    def _set_levels(self, levels: Mapping[str, int]) -> None:
        for name in [name for name in self._levels if name not in levels]:
            logging.getLogger(name or None).setLevel(self._levels.pop(name))
        for name, level in levels.items():
            logger = logging.getLogger(name or None)
            self._levels.setdefault(name, logger.level)
            logger.setLevel(level)

    def _set_patches(self, patches: Mapping[PatchKey, Any]) -> None:
        for key in [key for key in self._patched if key not in patches]:
            module, attribute = key
            setattr(importlib.import_module(module), attribute, self._patched.pop(key))
        for key, value in patches.items():
            module_object = importlib.import_module(key[0])
            self._patched.setdefault(key, getattr(module_object, key[1]))
            setattr(module_object, key[1], value)


def main(argv: list[str]) -> int:
    # The runner stops its workers: a Ctrl-C meant for it is not the function's (its
    # process group already keeps the terminal's SIGINT away; this covers a signal sent
    # to the group by other means).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Each line reaches the terminal (or file) as it is written, as Lambda's runtime
    # sends each line to CloudWatch, even when stdout is not a terminal.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)
    descriptor = int(argv[1])
    connection = Connection(socket.socket(fileno=descriptor).detach())
    _Worker(connection).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
