"""What the REST and HTTP gateways are built from: an API, its router, the functions
and the one :class:`AuthorizerInvoker` of that API, set up the gateway's way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from gatekey_local.authorizers import AuthorizerInvoker
from gatekey_local.http_types import Request, Response
from gatekey_local.lambda_runner import Functions
from gatekey_local.routing import Router
from gatekey_local.sam_model import Api, Authorizer, Route

_T = TypeVar("_T")


class Gateway(Generic[_T]):
    """The request pipeline of one API; subclasses answer :meth:`handle`.

    ``unauthorized_is_an_answer``: whether an authorizer that raises ``Unauthorized``
    refuses the request (REST: 401) or failed (HTTP: 500).
    """

    unauthorized_is_an_answer: ClassVar[bool]

    def __init__(self, api: Api, routes: Sequence[Route], functions: Functions):
        self.api = api
        self._router = Router(api, routes)
        self._functions = functions
        self._authorizers = AuthorizerInvoker(
            api,
            functions,
            self.validate_answer,
            unauthorized_is_an_answer=self.unauthorized_is_an_answer,
        )

    @staticmethod
    def validate_answer(authorizer: Authorizer, answer: Any) -> _T:
        """The authorizer's answer as a result, or MalformedAuthorizerResponse."""
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        raise NotImplementedError
