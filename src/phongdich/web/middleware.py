"""Per-request language and the CSRF cookie, as a plain ASGI middleware (no extra task or
body buffering per request, unlike Starlette's BaseHTTPMiddleware)."""

from __future__ import annotations

from http.cookies import SimpleCookie

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from phongdich.web import deps


class RequestContext:
    def __init__(self, app: ASGIApp, default_language: str, secure_cookies: bool) -> None:
        self.app = app
        self.default_language = default_language
        self.secure = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        lang = deps.language_of(request, self.default_language)
        had_csrf = deps.CSRF_COOKIE in request.cookies
        csrf = request.cookies.get(deps.CSRF_COOKIE) or deps.new_csrf_token()
        state = scope.setdefault("state", {})
        state.update(lang=lang, csrf=csrf, principal=None, viewer=None)
        set_lang = request.query_params.get("lang") in ("vi", "en")

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start" and (not had_csrf or set_lang):
                headers = MutableHeaders(scope=message)
                if not had_csrf:
                    headers.append("set-cookie", self._cookie(deps.CSRF_COOKIE, csrf, None))
                if set_lang:
                    headers.append("set-cookie", self._cookie(deps.LANG_COOKIE, lang, 31_536_000))
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    def _cookie(self, name: str, value: str, max_age: int | None) -> str:
        cookie: SimpleCookie = SimpleCookie()
        cookie[name] = value
        morsel = cookie[name]
        morsel["path"] = "/"
        morsel["samesite"] = "lax"
        if max_age is not None:
            morsel["max-age"] = max_age
        if self.secure:
            morsel["secure"] = True
        return morsel.OutputString()
