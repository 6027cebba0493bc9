"""The Lambda side of the local run: handlers imported on first use (a cold start),
called with a Lambda context, one invocation at a time per function, each inside its
execution role (``iam_gate``)."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekey_local import iam_gate
from gatekey_local.cloudformation import TemplateError
from gatekey_local.iam_roles import FunctionRole
from gatekey_local.local_aws import LOCAL_ACCOUNT_ID, LOCAL_REGION
from gatekey_local.sam_model import Api, Authorizer, FunctionSource, Template

Handler = Callable[[Any, Any], Any]


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
class LocalFunction:
    """A handler to call: where its code lives and the limits Lambda would give it."""

    name: str
    source: FunctionSource
    memory_mb: int
    timeout_seconds: int


class FunctionTimeout(Exception):
    """The handler ran past its Timeout; Lambda would have stopped it."""


class FunctionRunner:
    """Imports each handler on first use (a cold start) and calls it with a context.

    Every function's module is named ``app``; each is imported under a unique module
    name with its own directory on ``sys.path`` only while it is being imported. Like
    one Lambda container, a function handles one invocation at a time (its module-level
    state, such as a Powertools resolver's current event, is not thread-safe); different
    functions run concurrently.
    """

    _import_lock = threading.Lock()

    def __init__(
        self,
        functions: Mapping[str, LocalFunction],
        roles: Mapping[str, FunctionRole] | None = None,
    ):
        self._functions = functions
        self._roles = roles or {}
        self._invocation_locks = {key: threading.Lock() for key in functions}
        self._handlers: dict[str, Handler] = {}
        self._module_names: list[str] = []
        self._instance = uuid.uuid4().hex[:8]

    def invoke(self, function_key: str, event: Mapping[str, Any]) -> Any:
        function = self._functions[function_key]
        with iam_gate.invoking(self._roles.get(function_key)):
            return self._invoke(function_key, function, event)

    def _invoke(self, function_key: str, function: LocalFunction, event: Mapping[str, Any]) -> Any:
        handler = self._handler(function_key, function)
        context = LambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory_mb,
            invoked_function_arn=(
                f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{function.name}"
            ),
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + function.timeout_seconds,
            log_group_name=f"/aws/lambda/{function.name}",
        )
        with self._invocation_locks[function_key]:
            result = handler(event, context)
        if time.monotonic() > context.deadline:
            raise FunctionTimeout(
                f"{function.name} ran longer than its {function.timeout_seconds} s Timeout"
            )
        return result

    def unload(self) -> None:
        for module_name in self._module_names:
            sys.modules.pop(module_name, None)
        self._module_names.clear()
        self._handlers.clear()

    def _handler(self, function_key: str, function: LocalFunction) -> Handler:
        with self._import_lock:
            if function_key not in self._handlers:
                self._handlers[function_key] = self._import(function_key, function.source)
            return self._handlers[function_key]

    def _import(self, function_key: str, source: FunctionSource) -> Handler:
        module_path, _, attribute = source.handler.rpartition(".")
        file = source.code_dir / (module_path.replace(".", "/") + ".py")
        if not module_path or not file.is_file():
            raise FileNotFoundError(f"handler {source.handler!r}: no module at {file}")
        module_name = f"_gatekey_local_{self._instance}_{function_key}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        code_dir = str(source.code_dir)
        sys.path.insert(0, code_dir)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        finally:
            sys.path.remove(code_dir)
        self._module_names.append(module_name)
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise AttributeError(f"handler {source.handler!r}: {file} has no callable {attribute}")
        return handler  # type: ignore[no-any-return]


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
    ):
        functions = {
            logical_id: LocalFunction(
                name=logical_id,
                source=function.source,
                memory_mb=function.memory_mb,
                timeout_seconds=function.timeout_seconds,
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
        self._runner = FunctionRunner(functions, roles)

    def invoke(self, function_id: str, event: Mapping[str, Any]) -> Any:
        return self._runner.invoke(function_id, event)

    def invoke_authorizer(self, api: Api, authorizer: Authorizer, event: Mapping[str, Any]) -> Any:
        return self._runner.invoke(self._authorizers[(api.logical_id, authorizer.name)], event)

    def unload(self) -> None:
        self._runner.unload()


def parse_function_source(spec: str) -> FunctionSource:
    """Parse ``CODE_DIR:MODULE.FUNCTION`` (e.g. ``functions/authorizer:app.lambda_handler``)."""
    code_dir, separator, handler = spec.rpartition(":")
    if not separator or not code_dir or "." not in handler:
        raise ValueError(f"expected CODE_DIR:MODULE.FUNCTION, got {spec!r}")
    return FunctionSource(code_dir=Path(code_dir).resolve(), handler=handler)
