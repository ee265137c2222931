"""A few hot endpoints answered ahead of FastAPI's router.

Staff scanners post a check-in per person at the door; at the national peak that is thousands
of requests a second, and FastAPI's routing, dependency and exception layers cost about as
much CPU per request as the check-in itself. ``HotPaths`` sits inside the platform's own
middleware (body size limit, language and CSRF cookie) and hands a request whose method and
path it knows straight to its endpoint function, with the same CSRF check and the same error
handlers as the framework would apply. The endpoints stay registered as ordinary routes too,
for the OpenAPI description (and any request this layer does not take).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from phongdich.kit.errors import DomainError
from phongdich.web.deps import csrf_protect
from phongdich.web.errors import (
    domain_error_handler,
    integrity_error_handler,
    validation_error_handler,
)

Endpoint = Callable[[Request], Awaitable[Response]]


class HotPaths:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self.routes = dict(routes)  # (method, path) -> endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            await csrf_protect(request)
            response = await endpoint(request)
        except DomainError as exc:
            response = domain_error_handler(request, exc)
        except RequestValidationError as exc:
            response = validation_error_handler(request, exc)
        except IntegrityError as exc:
            response = integrity_error_handler(request, exc)
        await response(scope, receive, send)
