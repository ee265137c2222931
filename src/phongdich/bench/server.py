"""The real server in a subprocess, started the way it is deployed: ``phongdich serve --host
127.0.0.1 --port P --workers W`` with the settings in ``PHONGDICH_*`` environment variables.

The server runs in a new session (its own process group), so ``kill()`` can SIGKILL the parent
and every worker at once — a crash, not a shutdown — and ``stop()`` shuts it down cleanly.

Two diagnostic modes run the app through ``python -m phongdich.bench.server`` instead. They
were written to measure two flaws of plain ``uvicorn --workers`` (Nagle's ~40 ms wait without
TCP_NODELAY; every keep-alive client on one worker) and are kept for comparisons:
``mode="nodelay"`` (uvicorn's shared socket, with TCP_NODELAY) and ``mode="reuseport"`` (one
process per worker on SO_REUSEPORT sockets). ``phongdich serve`` itself now does the latter
(see ``phongdich/server.py``), so ``mode="deployed"`` includes both fixes.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from phongdich.bench.pg import free_port
from phongdich.config import Settings

HOST = "127.0.0.1"
MODES = ("deployed", "nodelay", "reuseport")


def settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as the ``PHONGDICH_*`` environment variables that reproduce it."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, dict | list):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"PHONGDICH_{name.upper()}"] = text
    return env


def serve_command() -> list[str]:
    """``phongdich`` from this interpreter's environment (the console script, or the module)."""
    script = shutil.which("phongdich", path=str(Path(sys.executable).parent))
    if script:
        return [script]
    return [sys.executable, "-c", "from phongdich.cli import main; main()"]


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of a live process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _processes() -> list[tuple[int, str, int, int]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None:
                found.append((int(entry.name), *stat))
    return found


def get(base_url: str, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """One plain GET (used for health checks); returns (status, body)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class ServerError(RuntimeError):
    pass


class Server:
    """One ``phongdich serve`` process group. Use ``with Server(...) as server:`` or call
    ``start()`` and then ``stop()`` (clean) or ``kill()`` (SIGKILL to the whole group)."""

    def __init__(
        self,
        settings: Settings,
        workers: int = 1,
        port: int | None = None,
        log_path: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        mode: str = "deployed",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.settings = settings
        self.mode = mode
        self.workers = workers
        self.port = port or free_port()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if log_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="phongdich-server-")
            log_path = Path(self._tmp.name) / "server.log"
        self.log_path = log_path
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ServerError("the server is not running")
        return self.proc.pid

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self, timeout: float = 60.0) -> Server:
        if self.proc is not None:
            raise ServerError("already started")
        env = {
            **os.environ,
            **settings_env(self.settings),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        program = [*serve_command(), "serve"]
        if self.mode != "deployed":
            program = [sys.executable, "-m", "phongdich.bench.server", f"--{self.mode}"]
        cmd = [
            *program,
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own command line
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def wait_healthy(self, timeout: float) -> None:
        """Until ``/healthz`` answers 200 (and, with several workers, until they all run)."""
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, _ = get(self.base_url, "/healthz", timeout=2.0)
                if status == 200 and len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"server not healthy after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn's spawned workers, or the server itself
        when it runs with one worker."""
        if self.proc is None:
            return []
        children = [
            pid
            for pid, state, ppid, _pgrp in _processes()
            if ppid == self.proc.pid and state != "Z" and self._is_worker(pid)
        ]
        return children if self.workers > 1 else [self.proc.pid]

    @staticmethod
    def _is_worker(pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"spawn_main" in cmdline and b"resource_tracker" not in cmdline

    def group_alive(self) -> list[int]:
        """Processes of the server's group that still run (not zombies)."""
        if self.proc is None:
            return []
        pgid = self.proc.pid
        return [pid for pid, state, _ppid, pgrp in _processes() if pgrp == pgid and state != "Z"]

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the parent and every worker at the same instant, as a crash would."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._reap(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """A clean shutdown (SIGTERM), then SIGKILL whatever is left after ``timeout``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._reap(timeout)

    def _reap(self, timeout: float) -> None:
        assert self.proc is not None
        try:
            self.proc.wait(timeout)
        finally:
            deadline = time.monotonic() + timeout
            while self.group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.proc = None

    def close(self) -> None:
        """Stop the server if it runs and remove the temporary log directory."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Server:
        if self.proc is None:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _reuse_port_worker(host: str, port: int) -> None:
    """One single-process server on its own SO_REUSEPORT socket (TCP: asyncio sets NODELAY)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        "phongdich.app:create_app",
        factory=True,
        proxy_headers=True,
        http="phongdich.server:NoDelayH11Protocol",
    )
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    """The diagnostic servers of the module's note (``--nodelay`` or ``--reuseport``)."""
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--nodelay", action="store_true")
    group.add_argument("--reuseport", action="store_true")
    args = parser.parse_args()
    if args.nodelay:
        uvicorn.run(
            "phongdich.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=True,
            http="phongdich.server:NoDelayH11Protocol",
        )
        return
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_reuse_port_worker, args=(args.host, args.port))
        for _ in range(args.workers)
    ]
    for proc in procs:
        proc.start()

    def terminate(_signum: int, _frame: object) -> None:
        for proc in procs:
            proc.terminate()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    for proc in procs:
        proc.join()


if __name__ == "__main__":
    main()
