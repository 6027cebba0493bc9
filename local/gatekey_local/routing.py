"""Which route of an API a request reaches, by API Gateway's precedence rules."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from gatekey_local.cloudformation import TemplateError
from gatekey_local.sam_model import (
    DEFAULT_ROUTE,
    Api,
    Authorizer,
    JwtAuthorizer,
    Route,
    effective_authorizer,
    effective_jwt_authorizer,
)


@dataclass(frozen=True)
class CompiledRoute:
    """A route with its authorizer resolved and its path turned into a regex."""

    route: Route
    api: Api
    authorizer: Authorizer | None
    pattern: re.Pattern[str]
    parameter_names: tuple[str, ...]
    specificity: tuple[bool, tuple[int, ...], bool]
    jwt_authorizer: JwtAuthorizer | None = None


def compile_route(route: Route, api: Api) -> CompiledRoute:
    """Turn ``/user/keys/{handle}`` into a regex; literal segments outrank parameters,
    which outrank greedy ``{proxy+}`` ones, and an HTTP API's ``$default`` route comes
    last, as in API Gateway."""
    authorizer = effective_authorizer(route, api)
    jwt_authorizer = effective_jwt_authorizer(route, api)
    if route.path == DEFAULT_ROUTE:
        return CompiledRoute(
            route, api, authorizer, re.compile(".*"), (), (True, (), True), jwt_authorizer
        )
    parts: list[str] = []
    names: list[str] = []
    kinds: list[int] = []
    for segment in filter(None, route.path.split("/")):
        parameter = re.fullmatch(r"\{([^{}+]+)(\+?)\}", segment)
        if parameter is None:
            parts.append(re.escape(segment))
            kinds.append(0)
        else:
            names.append(parameter.group(1))
            greedy = parameter.group(2) == "+"
            parts.append("(.+)" if greedy else "([^/]+)")
            kinds.append(2 if greedy else 1)
    pattern = re.compile("/" + "/".join(parts) + ("/?" if parts else ""))
    return CompiledRoute(
        route=route,
        api=api,
        authorizer=authorizer,
        pattern=pattern,
        parameter_names=tuple(names),
        specificity=(False, tuple(kinds), route.method == "ANY"),
        jwt_authorizer=jwt_authorizer,
    )


class Router:
    """The routes of one API."""

    def __init__(self, api: Api, routes: Sequence[Route]):
        self._routes = [compile_route(route, api) for route in routes]
        _reject_duplicate_routes(self._routes)

    def match(self, method: str, path: str) -> tuple[CompiledRoute, dict[str, str]] | None:
        """The most specific route for ``method`` and ``path``, with its path parameters."""
        candidates = []
        for compiled in self._routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.fullmatch(path)
            if found is not None:
                values = [unquote(value) for value in found.groups()]
                candidates.append(
                    (compiled, dict(zip(compiled.parameter_names, values, strict=True)))
                )
        if not candidates:
            return None
        return min(candidates, key=lambda candidate: candidate[0].specificity)


def _reject_duplicate_routes(routes: Sequence[CompiledRoute]) -> None:
    seen: set[tuple[str, str]] = set()
    for compiled in routes:
        key = (compiled.route.method, compiled.pattern.pattern)
        if key in seen:
            raise TemplateError(
                f"{compiled.route.method} {compiled.route.path} is declared twice on "
                f"{compiled.api.logical_id}"
            )
        seen.add(key)
