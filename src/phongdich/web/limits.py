"""Request size limit: bodies over ``max_body`` bytes are refused with 413 before they are read
whole (declared by Content-Length or counted as they stream in)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from phongdich.kit.i18n import pick_language, t


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_body: int, default_language: str) -> None:
        self.app, self.max_body, self.default_language = app, max_body, default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._refuse(scope, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        headers: dict[bytes, bytes] = dict(scope.get("headers") or [])
        query = dict(
            pair.split("=", 1)
            for pair in scope.get("query_string", b"").decode().split("&")
            if "=" in pair
        )
        lang = pick_language(
            query.get("lang"),
            None,
            headers.get(b"accept-language", b"").decode("latin-1"),
            self.default_language,
        )
        body: dict[str, Any] = {
            "error": "too_large",
            "message": t("error.too_large", lang, limit=self.max_body // 1024),
        }
        payload = json.dumps(body, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
