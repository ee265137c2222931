"""Serving PhongDich: one single-process uvicorn per worker, each on its own SO_REUSEPORT
listening socket, with TCP_NODELAY on every connection.

Why not ``uvicorn --workers``: its workers share one socket, which it binds with protocol 0, so
asyncio never sets TCP_NODELAY — responses written in two parts then wait ~40 ms for the
client's delayed ACK — and keep-alive clients that connect together (a shift of scanners, a
load generator) can all land on one worker while the other core idles. With SO_REUSEPORT the
kernel spreads connections over the workers by hash.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


def _nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _nodelay(transport)
        super().connection_made(transport)


def _http_protocol() -> Any:
    """httptools (C parser) when installed, else h11; both with TCP_NODELAY."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return NoDelayH11Protocol

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            _nodelay(transport)
            super().connection_made(transport)

    return NoDelayHttpToolsProtocol


def listen(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_worker(host: str, port: int, reuse_port: bool, access_log: bool) -> None:
    """One server process: the application, on its own listening socket."""
    import gc

    import uvicorn

    # Request handling allocates many short-lived objects; fewer, cheaper collections keep
    # latency tails short (everything loaded at start is frozen out of the collector's scans).
    gc.set_threshold(50_000, 20, 20)

    sock = listen(host, port, reuse_port)
    config = uvicorn.Config(
        "phongdich.app:create_app",
        factory=True,
        proxy_headers=True,
        http=_http_protocol(),
        loop="auto",
        access_log=access_log,
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    gc.freeze()
    server.run(sockets=[sock])


def serve(host: str, port: int, workers: int, access_log: bool = True) -> None:
    """Run ``workers`` server processes (1: in this process) until SIGINT / SIGTERM."""
    if workers <= 1:
        run_worker(host, port, reuse_port=False, access_log=access_log)
        return
    # Bind once here first, so a port in use fails fast with a clear error.
    listen(host, port, reuse_port=True).close()
    ctx = multiprocessing.get_context("spawn")
    procs: list[multiprocessing.process.BaseProcess] = []
    stopping = False

    def start_one() -> multiprocessing.process.BaseProcess:
        proc = ctx.Process(target=run_worker, args=(host, port, True, access_log), daemon=False)
        proc.start()
        return proc

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                import os

                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    procs.extend(start_one() for _ in range(workers))
    print(f"PhongDich: {workers} worker processes on http://{host}:{port}", file=sys.stderr)
    while not stopping:
        time.sleep(0.5)
        for i, proc in enumerate(procs):
            if not proc.is_alive() and not stopping:
                log.warning("worker %s exited with %s; starting another", proc.pid, proc.exitcode)
                procs[i] = start_one()
    for proc in procs:
        proc.join(timeout=20)
