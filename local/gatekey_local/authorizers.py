"""Lambda authorizers as API Gateway runs them, for REST and HTTP APIs alike.

:class:`AuthorizerInvoker` is the one way both gateways call an authorizer: it builds
the method or route ARN, keeps the result cache of its API (keyed by authorizer name
and identity-source values, for ``ReauthorizeEvery`` seconds), invokes the function
and validates its answer. The gateways differ only in the event they build and in how
they turn a refusal into an HTTP response.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from gatekey_local.iam_policy import wildcard
from gatekey_local.lambda_runner import Functions
from gatekey_local.local_aws import LOCAL_ACCOUNT_ID, LOCAL_API_ID, LOCAL_REGION
from gatekey_local.sam_model import Api, Authorizer

logger = logging.getLogger(__name__)

UNAUTHORIZED_MESSAGE = "Unauthorized"
"""What an authorizer raises to make a REST API answer 401."""

_T = TypeVar("_T")
CacheKey = tuple[str, tuple[str, ...]]


class ResultCache(Generic[_T]):
    """Authorizer answers by (authorizer name, identity-source values), each kept for
    the authorizer's TTL; one cache per API, as on AWS."""

    def __init__(self) -> None:
        self._entries: dict[CacheKey, tuple[float, _T]] = {}
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> _T | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, result = entry
            if time.monotonic() >= expires_at:
                del self._entries[key]
                return None
            return result

    def put(self, key: CacheKey, result: _T, ttl_seconds: int) -> None:
        if ttl_seconds > 0:
            with self._lock:
                self._entries[key] = (time.monotonic() + ttl_seconds, result)


@dataclass(frozen=True)
class PolicyResult:
    """A well-formed IAM policy answer, as cached by API Gateway."""

    principal_id: str
    statements: tuple[Mapping[str, Any], ...]
    context: Mapping[str, Any]


@dataclass(frozen=True)
class SimpleResult:
    """A well-formed simple answer of an HTTP API authorizer."""

    authorized: bool
    context: Mapping[str, Any]


class MalformedAuthorizerResponse(Exception):
    """The authorizer answered with something API Gateway cannot use."""


class AuthorizerFailed(Exception):
    """The authorizer raised or gave an unusable answer (already logged).

    ``unauthorized`` is set when it raised ``Unauthorized`` and the gateway takes that
    as an answer (a REST API's 401) rather than as a failure.
    """

    def __init__(self, *, unauthorized: bool = False):
        super().__init__("unauthorized" if unauthorized else "authorizer failed")
        self.unauthorized = unauthorized


class AuthorizerInvoker(Generic[_T]):
    """The authorizers of one API: ARNs, the result cache, invoke-and-validate.

    ``validate`` turns an answer into a result (raising
    :class:`MalformedAuthorizerResponse`); ``unauthorized_is_an_answer`` makes a raised
    ``Unauthorized`` a refusal instead of a failure (REST APIs).
    """

    def __init__(
        self,
        api: Api,
        functions: Functions,
        validate: Callable[[Authorizer, Any], _T],
        *,
        unauthorized_is_an_answer: bool,
    ):
        self._api = api
        self._functions = functions
        self._validate = validate
        self._unauthorized_is_an_answer = unauthorized_is_an_answer
        self._cache: ResultCache[_T] = ResultCache()

    def resource_arn(self, method: str, path: str) -> str:
        """The ``methodArn`` (REST) or ``routeArn`` (HTTP) of a request."""
        return (
            f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{LOCAL_API_ID}/"
            f"{self._api.stage_name}/{method}/{path.lstrip('/')}"
        )

    def authorize(
        self,
        authorizer: Authorizer,
        identity: tuple[str, ...],
        event: Callable[[], Mapping[str, Any]],
    ) -> tuple[_T, int]:
        """The (cached or fresh) result and the authorizer's latency in ms (0 when
        cached); raises :class:`AuthorizerFailed`. ``event`` is built only on a miss."""
        cache_key = (authorizer.name, identity)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached, 0
        started = time.monotonic()
        try:
            answer = self._functions.invoke_authorizer(self._api, authorizer, event())
        except Exception as exc:
            if self._unauthorized_is_an_answer and str(exc) == UNAUTHORIZED_MESSAGE:
                raise AuthorizerFailed(unauthorized=True) from exc
            logger.exception("authorizer %s failed", authorizer.name)
            raise AuthorizerFailed() from exc
        latency_ms = int((time.monotonic() - started) * 1000)
        try:
            result = self._validate(authorizer, answer)
        except MalformedAuthorizerResponse as exc:
            logger.error("authorizer %s returned an invalid response: %s", authorizer.name, exc)
            raise AuthorizerFailed() from exc
        self._cache.put(cache_key, result, authorizer.ttl_seconds)
        return result, latency_ms


def evaluate_policy(
    statements: Sequence[Mapping[str, Any]], resource_arn: str
) -> Literal["allow", "explicit_deny", "implicit_deny"]:
    """An explicit Deny wins; otherwise a matching Allow is needed."""
    allowed = False
    for statement in statements:
        actions = _as_list(statement["Action"])
        resources = _as_list(statement["Resource"])
        if not any(
            wildcard(action, fold_case=True).fullmatch("execute-api:Invoke") for action in actions
        ):
            continue
        if not any(
            wildcard(resource, fold_case=False).fullmatch(resource_arn) for resource in resources
        ):
            continue
        if statement["Effect"] == "Deny":
            return "explicit_deny"
        allowed = True
    return "allow" if allowed else "implicit_deny"


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def policy_result(answer: Any, *, string_context: bool) -> PolicyResult:
    """Validate an IAM policy answer as API Gateway does.

    A REST API allows only scalar context values and hands them on as strings
    (``string_context``); an HTTP API (payload 2.0) passes any JSON value through.
    """
    if not isinstance(answer, Mapping):
        raise MalformedAuthorizerResponse("the response is not an object")
    principal_id = answer.get("principalId")
    if not isinstance(principal_id, str | int | float) or isinstance(principal_id, bool):
        raise MalformedAuthorizerResponse("principalId is missing or not a string")
    document = answer.get("policyDocument")
    if not isinstance(document, Mapping):
        raise MalformedAuthorizerResponse("policyDocument is missing")
    raw_statements = document.get("Statement")
    statements = [raw_statements] if isinstance(raw_statements, Mapping) else raw_statements
    if not isinstance(statements, list) or not statements:
        raise MalformedAuthorizerResponse("policyDocument.Statement is missing")
    for statement in statements:
        if not isinstance(statement, Mapping) or statement.get("Effect") not in ("Allow", "Deny"):
            raise MalformedAuthorizerResponse("a statement has no Effect of Allow or Deny")
        for key in ("Action", "Resource"):
            value = statement.get(key)
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
                raise MalformedAuthorizerResponse(f"a statement's {key} is not a string or list")
    raw_context = answer.get("context") or {}
    if not isinstance(raw_context, Mapping):
        raise MalformedAuthorizerResponse("context is not an object")
    context = _string_context(raw_context) if string_context else dict(raw_context)
    return PolicyResult(str(principal_id), tuple(statements), context)


def _string_context(raw_context: Mapping[str, Any]) -> dict[str, str]:
    context: dict[str, str] = {}
    for key, value in raw_context.items():
        if isinstance(value, bool):
            context[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            context[key] = str(value)
        else:
            kind = "null" if value is None else type(value).__name__
            raise MalformedAuthorizerResponse(
                f"context[{key!r}] is {kind}; only strings, numbers and booleans are allowed"
            )
    return context


def simple_result(answer: Any) -> SimpleResult:
    """Validate an HTTP API authorizer's simple answer, ``{isAuthorized, context}``."""
    if not isinstance(answer, Mapping):
        raise MalformedAuthorizerResponse("the response is not an object")
    authorized = answer.get("isAuthorized")
    if not isinstance(authorized, bool):
        raise MalformedAuthorizerResponse("isAuthorized is missing or not a boolean")
    context = answer.get("context") or {}
    if not isinstance(context, Mapping):
        raise MalformedAuthorizerResponse("context is not an object")
    return SimpleResult(authorized, dict(context))
