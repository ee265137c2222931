"""A real HTTP gateway for the tests (the standard library's server in a thread): it records
each POST and answers as told."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Gateway:
    """Answers 200, or ``refuse[to]`` for a recipient, or ``down`` for everything."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.clients: list[tuple[str, int]] = []  # each request's client: one per connection
        self.refuse: dict[str, int] = {}
        self.down: int | None = None
        self.close_every: int | None = None  # close the connection after every n-th answer
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length).decode("utf-8"))
                status = gateway.down or gateway.refuse.get(payload.get("to"), 200)
                if status == 200:
                    gateway.received.append((dict(self.headers), payload))
                    gateway.clients.append(self.client_address[:2])
                answer = b'{"ok": true}' if status == 200 else b'{"error": "refused"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                if gateway.close_every and len(gateway.received) % gateway.close_every == 0:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/sms?src=phongdich"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
