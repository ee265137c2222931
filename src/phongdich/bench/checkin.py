"""``phongdich bench checkin``: durable staff check-ins per second through the real server.

Migrates a fresh database (a temporary SQLite file in WAL mode, or a throw-away PostgreSQL with
its crash-safe defaults: fsync and synchronous commit on), seeds one owner with a login session,
an active checkpoint with one entrance and many people with a signed health QR pass each (the
``PD1:...`` text a staff scanner reads), then starts
``phongdich serve`` as it is deployed and drives ``POST /api/v1/visits/scans`` with ``wrk``:
one scan per request, a fresh client scan id each, a different person each. In the same run the
same ``wrk`` settings drive a no-op endpoint (no database), for the ratio. A check-in counts as
acknowledged when the server answered 200 with ``"ok": true``; afterwards the database is asked
how many visits were stored.

Then an open-loop generator (a separate Python process: asyncio, raw keep-alive sockets) sends
a fixed 1,000 requests/s and measures each latency from the request's *scheduled* send time, so
a slow server cannot hide its queueing (no coordinated omission). Debian has no ``wrk2``.

Each phase also reports the CPU it took (server, database, load generator, and the rest of the
machine: other work on a shared 2-core machine skews figures), ``--profile DIR`` adds a py-spy
breakdown of the server's GIL time per request, and ``--server-mode`` runs the diagnostics of
``phongdich.bench.server``. The last line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from phongdich.accounts.models import PhoneAccount
from phongdich.accounts.service import AccountService
from phongdich.checkpoints import rules as checkpoint_rules
from phongdich.checkpoints.schemas import CheckpointCreate
from phongdich.checkpoints.service import CheckpointService
from phongdich.config import Settings
from phongdich.db.migrate import upgrade
from phongdich.db.session import make_engine, make_sessionmaker, unit_of_work
from phongdich.geo.service import UnitService
from phongdich.people.service import PersonService, key_ring
from phongdich.visits.models import Scan, Visit

LUA = Path(__file__).with_name("wrk_checkin.lua")
SCANS_PATH = "/api/v1/visits/scans"
NOOP_PATHS = ("/api/v1/noop", "/healthz")  # the first one the server answers with 200
WARMUP_SECONDS = 2
WARMUP_PERSONS = 2_000
HISTORY_VISITS = 100_000  # past visits in the database before the measured runs
SUPERMARKET_STAY = timedelta(hours=2)  # the seeded checkpoint type's automatic check-out


def source_fingerprint() -> str:
    """A short hash of the package's Python sources: which code a result was measured on."""
    import hashlib

    import phongdich

    digest = hashlib.sha256()
    root = Path(phongdich.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def log(message: str) -> None:
    print(f"[bench checkin] {message}", file=sys.stderr, flush=True)


# Seeding ------------------------------------------------------------------------------------
def bench_settings(database_url: str) -> Settings:
    """Production settings (real keys, no in-process jobs that would compete for the cores)."""
    return Settings(
        environment="production",
        database_url=database_url,
        secret_key=secrets.token_urlsafe(48),
        qr_keys={1: secrets.token_urlsafe(32)},
        qr_active_key=1,
        public_base_url="http://127.0.0.1",
        notifier="none",
        deliver_in_process=False,
        schedule_in_process=False,
    )


@dataclass
class Seeded:
    checkpoint_id: int
    entrance_id: int
    owner_id: int
    session_token: str  # the owner's pd_session cookie
    csrf: str  # any value: the pd_csrf cookie and the X-CSRF-Token header must be equal
    person_tokens: list[str]  # one health QR pass (``PD1:...``, green, 24 h) per person

    @property
    def cookie(self) -> str:
        return f"pd_session={self.session_token}; pd_csrf={self.csrf}"

    def headers(self) -> dict[str, str]:
        return {
            "Cookie": self.cookie,
            "X-CSRF-Token": self.csrf,
            "Content-Type": "application/json",
        }

    def scan_body(self, scan_id: str, person_token: str, direction: str = "in") -> bytes:
        scan = {
            "id": scan_id,
            "entrance_id": self.entrance_id,
            "person_token": person_token,
            "direction": direction,
        }
        return json.dumps({"scans": [scan]}, separators=(",", ":")).encode()


def seed(
    settings: Settings, persons: int, batch: int = 5_000, quiet: bool = False, history: int = 0
) -> Seeded:
    """Migrate ``settings.database_url`` and fill it through the services: units, an owner with
    a login session, an active checkpoint with one entrance, ``persons`` people and a health QR
    pass for each (status green, issued now, valid 24 h, signed with ``settings``' health QR
    key, so the server started with the same settings accepts them); then ``history`` past
    visits (see ``seed_history``) and fresh planner statistics.
    """
    url = settings.database_url
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    try:
        with unit_of_work(factory) as s:
            UnitService(s).load_default()
            owner = PhoneAccount(phone="0912000001", full_name="Chủ cơ sở thử tải")
            s.add(owner)
            s.flush()
            cp = CheckpointService(s, settings).register(
                owner,
                CheckpointCreate(
                    name="Siêu thị thử tải",
                    type="supermarket",
                    address="Số 1 Kim Mã",
                    unit_code="00004",
                    entrances=["Cổng chính"],
                ),
            )
            # An official would approve it; the seed sets the status directly.
            cp.status = checkpoint_rules.ACTIVE
            entrance = CheckpointService(s, settings).repo.entrances(cp.id)[0]
            session_token = AccountService(s, settings).start_session("phone", owner.id)
            ids = (cp.id, entrance.id, owner.id)
        tokens: list[str] = []
        person_ids: list[int] = []
        # What a phone shows (``status_of(person).qr``) without assessing each person: one
        # signature per pass. Whole seconds, aware UTC: what a pass can carry.
        ring = key_ring(settings)
        issued = datetime.now(UTC).replace(microsecond=0)
        expires = issued + timedelta(hours=24)
        started = time.monotonic()
        while len(tokens) < persons:
            with unit_of_work(factory) as s:
                people = PersonService(s, settings)
                for i in range(len(tokens), min(persons, len(tokens) + batch)):
                    person = people.register(f"Nguyễn Văn Thử {i}", None)
                    subject = bytes.fromhex(person.qr_subject)
                    tokens.append(ring.issue(subject, "green", issued, expires))
                    person_ids.append(person.id)
            if not quiet:
                elapsed = time.monotonic() - started
                log(f"seeded {len(tokens):,}/{persons:,} people ({elapsed:.1f} s)")
        if history:
            seed_history(factory, ids, person_ids, history, batch, quiet)
        with engine.begin() as conn:  # statistics as a running system has them
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return Seeded(
        checkpoint_id=ids[0],
        entrance_id=ids[1],
        owner_id=ids[2],
        session_token=session_token,
        csrf=secrets.token_urlsafe(24),
        person_tokens=tokens,
    )


def seed_history(
    factory: sessionmaker[Session],
    ids: tuple[int, int, int],
    person_ids: list[int],
    count: int,
    batch: int,
    quiet: bool,
) -> None:
    """``count`` visits of the past 7 days at the checkpoint, each with its scan row: a running
    system's tables are not empty, and their size and statistics shape every query plan (plans
    made while a table was empty stay cached by the database long after it has grown)."""
    import random

    from phongdich.kit.clock import utcnow
    from phongdich.visits.repository import ScanRepository, VisitRow
    from phongdich.visits.rules import OUT_AUTOMATIC, OUT_SCANNED

    checkpoint_id, entrance_id, owner_id = ids
    rng = random.Random(7)
    now = utcnow()
    started = time.monotonic()
    done = 0
    while done < count:
        size = min(batch, count - done)
        visits: list[VisitRow] = []
        for _ in range(size):
            at = now - timedelta(seconds=rng.uniform(3600, 7 * 86400))
            scanned_out = rng.random() < 0.8  # the rest were closed by the automatic check-out
            out = (
                at + timedelta(minutes=rng.uniform(5, 50)) if scanned_out else at + SUPERMARKET_STAY
            )
            visits.append(
                VisitRow(
                    id=None,
                    checkpoint_id=checkpoint_id,
                    entrance_id=entrance_id,
                    person_id=rng.choice(person_ids),
                    check_in_at=at,
                    check_out_at=out,
                    auto_out_at=at + SUPERMARKET_STAY,
                    out_method=OUT_SCANNED if scanned_out else OUT_AUTOMATIC,
                    in_method="staff_scan",
                    recorded_by=owner_id,
                )
            )
        with unit_of_work(factory) as s:
            repo = ScanRepository(s)
            repo.insert_visits(visits, now)
            repo.insert_scans(
                [
                    (
                        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        visit.id,
                        "check_in",
                        visit.check_in_at,
                        visit.check_in_at,
                    )
                    for visit in visits
                ]
            )
        done += size
        if not quiet:
            log(f"seeded {done:,}/{count:,} past visits ({time.monotonic() - started:.1f} s)")


def stored_counts(database_url: str) -> tuple[int, int]:
    """(visits, visit_scans) rows in the database."""
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as s:
            visits = s.scalar(select(func.count()).select_from(Visit)) or 0
            scans = s.scalar(select(func.count()).select_from(Scan)) or 0
    finally:
        engine.dispose()
    return visits, scans


# wrk ------------------------------------------------------------------------------------------
def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed: run `apt-get install -y wrk` (Debian) as root")
    log("installing wrk (apt-get install -y wrk)")
    cmd = ["apt-get", "install", "-y", "-q", "wrk"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(cmd, env=env, capture_output=True, check=False).returncode != 0:  # noqa: S603
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=False)  # noqa: S607
        subprocess.run(cmd, env=env, capture_output=True, check=True)  # noqa: S603
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed: apt-get install -y wrk")
    return found


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, p50/p99 of ``--latency`` and the WRKSTATS line of the Lua script."""
    result: dict[str, Any] = {}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.0+)?%\s+(\S+)\s*$", output, re.M)
        if m:
            result[f"p{pct}_ms"] = round(_ms(m.group(1)), 2)
    m = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if m:
        result["requests_per_s"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    m = re.search(r"^WRKSTATS (.*)$", output, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no WRKSTATS line:\n{output}")
    result["stats"] = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    return result


def run_wrk(
    wrk: str,
    base_url: str,
    seconds: int,
    connections: int,
    threads: int,
    script_args: list[str],
) -> dict[str, Any]:
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        base_url,
        "--",
        *script_args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    parsed = parse_wrk(done.stdout)
    parsed["output"] = done.stdout
    return parsed


def checkin_args(seeded: Seeded, threads: int, token_file: Path) -> list[str]:
    prefix = str(uuid.uuid4())[:18]  # xxxxxxxx-xxxx-4xxx: unique per run
    return [
        "checkin",
        str(threads),
        str(token_file),
        prefix,
        str(seeded.entrance_id),
        seeded.session_token,
        seeded.csrf,
    ]


def noop_args(seeded: Seeded, threads: int, path: str) -> list[str]:
    return ["noop", str(threads), path, seeded.session_token, seeded.csrf]


# Fixed-rate (open-loop) load generator ---------------------------------------------------------
@dataclass
class FixedRateConfig:
    host: str
    port: int
    rate: int
    seconds: float
    connections: int
    cookie: str
    csrf: str
    entrance_id: int
    token_file: str
    token_offset: int

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


def _request_bytes(cfg: FixedRateConfig, token: str) -> bytes:
    scan = {"id": str(uuid.uuid4()), "entrance_id": cfg.entrance_id, "person_token": token}
    scan["direction"] = "in"
    body = json.dumps({"scans": [scan]}, separators=(",", ":")).encode()
    head = (
        f"POST {SCANS_PATH} HTTP/1.1\r\nHost: {cfg.host}:{cfg.port}\r\n"
        f"Cookie: {cfg.cookie}\r\nX-CSRF-Token: {cfg.csrf}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise RuntimeError("response without Content-Length")
    return status, await reader.readexactly(length)


async def fixed_rate(cfg: FixedRateConfig) -> dict[str, Any]:
    """Send ``rate`` scans per second for ``seconds`` on keep-alive connections; each latency
    runs from the time the request was *due*, so queueing behind a slow answer counts."""
    total = int(cfg.rate * cfg.seconds)
    with open(cfg.token_file) as fh:
        tokens = [line.strip() for line in fh if line.strip()]
    tokens = tokens[cfg.token_offset : cfg.token_offset + total]
    if len(tokens) < total:
        raise RuntimeError(f"need {total} person tokens, have {len(tokens)}")
    requests = [_request_bytes(cfg, token) for token in tokens]
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = asyncio.Queue()
    writers: list[asyncio.StreamWriter] = []
    for _ in range(cfg.connections):
        reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
        writers.append(writer)
        idle.put_nowait((reader, writer))
    latencies: list[float] = []
    errors = {"status": 0, "not_ok": 0, "socket": 0}

    async def one(request: bytes, due: float) -> None:
        conn = await idle.get()
        try:
            if conn is None:
                reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
                writers.append(writer)
                conn = (reader, writer)
            reader, writer = conn
            writer.write(request)
            status, body = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, RuntimeError, ValueError):
            errors["socket"] += 1
            if conn is not None:
                conn[1].close()
            idle.put_nowait(None)  # reconnect on next use
            return
        latencies.append(loop.time() - due)
        if status != 200:
            errors["status"] += 1
        elif b'"ok":true' not in body:
            errors["not_ok"] += 1
        idle.put_nowait(conn)

    tasks: set[asyncio.Task[None]] = set()
    start = loop.time() + 0.1
    interval = 1.0 / cfg.rate
    sent = 0
    lag_max = 0.0
    while sent < total:
        now = loop.time()
        due = start + sent * interval
        if due > now:
            await asyncio.sleep(due - now)
            continue
        lag_max = max(lag_max, now - due)
        while sent < total and start + sent * interval <= now:
            task = asyncio.create_task(one(requests[sent], start + sent * interval))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
    send_end = loop.time()
    if tasks:
        await asyncio.wait(set(tasks), timeout=30)
    elapsed = loop.time() - start
    for writer in writers:
        writer.close()
    for writer in writers:
        with suppress(OSError):
            await writer.wait_closed()
    latencies.sort()

    def pct(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 2)

    return {
        "rate": cfg.rate,
        "seconds": cfg.seconds,
        "sent": sent,
        "completed": len(latencies),
        "achieved_per_s": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "send_window_s": round(send_end - start, 3),
        "generator_max_lag_ms": round(lag_max * 1000, 2),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "errors": errors["status"] + errors["not_ok"] + errors["socket"] + (sent - len(latencies)),
        "error_detail": {**errors, "unanswered": sent - len(latencies) - errors["socket"]},
        "load_generator": "python-asyncio open-loop (latency from scheduled send time)",
    }


def run_fixed_rate(cfg: FixedRateConfig) -> dict[str, Any]:
    """The generator in its own process, so that it does not share an interpreter with us."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "phongdich.bench.checkin", "--loadgen", cfg.to_json()],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"fixed-rate generator failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# CPU accounting ---------------------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _machine_busy_ticks() -> int:
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]) - idle


@dataclass
class _Snapshot:
    wall: float
    server: int
    db: int
    children: float
    machine: int


def _snapshot(server_pids: list[int], db_pids: list[int]) -> _Snapshot:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return _Snapshot(
        wall=time.monotonic(),
        server=sum(_cpu_ticks(p) for p in server_pids),
        db=sum(_cpu_ticks(p) for p in db_pids),
        children=usage.ru_utime + usage.ru_stime,
        machine=_machine_busy_ticks(),
    )


def cpu_use(before: _Snapshot, after: _Snapshot, requests: int) -> dict[str, Any]:
    """Cores used by the server, the database and the load generator during a phase, what the
    rest of the machine used at the same time, and CPU milliseconds per answered request."""
    wall = after.wall - before.wall
    server = (after.server - before.server) / _TICK
    db = (after.db - before.db) / _TICK
    generator = after.children - before.children
    machine = (after.machine - before.machine) / _TICK
    per = 1000 / requests if requests else 0.0
    return {
        "server_cores": round(server / wall, 2),
        "db_cores": round(db / wall, 2),
        "load_generator_cores": round(generator / wall, 2),
        "others_cores": round(max(0.0, machine - server - db - generator) / wall, 2),
        "server_cpu_ms_per_request": round(server * per, 3),
        "db_cpu_ms_per_request": round(db * per, 3),
        "load_generator_cpu_ms_per_request": round(generator * per, 3),
    }


# Profiling (py-spy) ------------------------------------------------------------------------------
PROFILE_RATE = 100  # samples per second per process

# Where a sample's time goes: the innermost frame whose file matches, in this order.
_CATEGORIES = (
    ("psycopg", "db driver (psycopg)"),
    ("sqlalchemy/engine/default.py:do_", "db driver (execute/commit)"),
    ("sqlalchemy/", "sqlalchemy (orm + core)"),
    ("pydantic", "pydantic"),
    ("fastapi/", "fastapi"),
    ("starlette/", "starlette"),
    ("uvicorn/", "uvicorn + h11"),
    ("h11/", "uvicorn + h11"),
    ("anyio/", "anyio (threadpool hops)"),
    ("asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"),
    ("logging/", "logging"),
    ("json/", "json"),
    ("phongdich/", "phongdich"),
)


def _category(frame: str) -> str | None:
    # "Class.func (path/file.py:123)" -> "path/file.py:func"
    name, _, where = frame.rpartition(" (")
    key = where.rsplit(":", 1)[0] + ":" + name.rsplit(".", 1)[-1]
    for pattern, category in _CATEGORIES:
        if pattern in key:
            return category
    return None


def ensure_py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found:
        return found
    log("installing py-spy into this environment (pip install py-spy)")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True, capture_output=True
    )
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not found:
        raise SystemExit("py-spy could not be installed")
    return found


def summarize_collapsed(files: list[Path], requests: int, top: int = 30) -> dict[str, Any]:
    """From py-spy's collapsed stacks (``--gil``: only the thread holding the GIL is sampled):
    GIL-holding milliseconds per request by library, and the hottest frames."""
    self_counts: dict[str, int] = {}
    incl_counts: dict[str, int] = {}
    categories: dict[str, int] = {}
    total = 0
    for file in files:
        for line in file.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack:
                continue
            count = int(count_text)
            total += count
            frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
            if not frames:
                continue
            self_counts[frames[-1]] = self_counts.get(frames[-1], 0) + count
            for frame in set(frames):
                incl_counts[frame] = incl_counts.get(frame, 0) + count
            category = next((c for c in map(_category, reversed(frames)) if c is not None), "other")
            categories[category] = categories.get(category, 0) + count

    def ms_per_request(n: int) -> float:
        return round(n / PROFILE_RATE / requests * 1000, 3) if requests else 0.0

    def ranked(counts: dict[str, int]) -> list[tuple[str, float, float]]:
        best = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return [(name, round(100 * n / total, 1), ms_per_request(n)) for name, n in best]

    return {
        "samples": total,
        "requests": requests,
        "gil_ms_per_request": ms_per_request(total),
        "by_library": ranked(categories),
        "self": ranked(self_counts),
        "inclusive": ranked(incl_counts),
    }


def _profile(
    py_spy: str, pids: list[int], out_dir: Path, load: Callable[[], dict[str, Any]], seconds: int
) -> dict[str, Any]:
    """py-spy record (GIL holder only) on every worker while ``load()`` runs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    files = []
    for pid in pids:
        out = out_dir / f"worker-{pid}.txt"
        files.append(out)
        cmd = [py_spy, "record", "--gil", "--format", "raw", "-r", str(PROFILE_RATE)]
        cmd += ["-d", str(seconds), "-p", str(pid), "-o", str(out)]
        procs.append(
            subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
        )
    log(f"profiling workers {pids} with py-spy --gil during {seconds} s of check-ins")
    loaded = load()
    for proc in procs:
        _, err = proc.communicate(timeout=seconds + 60)
        if proc.returncode != 0:
            log(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
    requests = loaded["stats"]["status200"] + loaded["stats"]["other"]
    summary = summarize_collapsed([f for f in files if f.exists()], requests)
    summary["checkins_per_s_under_profiler"] = round(
        loaded["stats"]["acked"] / (loaded["stats"]["duration_us"] / 1e6), 1
    )
    summary["files"] = [str(f) for f in files]
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return summary


# The benchmark --------------------------------------------------------------------------------
@contextmanager
def database(db: str, workdir: Path) -> Iterator[tuple[str, str, Callable[[], list[int]]]]:
    """(URL, durability note, the database's processes) of a fresh database of the kind."""
    if db == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}", "sqlite WAL, synchronous=NORMAL", list
        return
    from phongdich.bench.pg import PgServer

    log("starting a throw-away PostgreSQL (fsync=on, synchronous_commit=on)")
    with PgServer(durable=True, max_connections=200) as pg:
        pg.create_database("bench")

        def pids() -> list[int]:
            postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
            children = [
                int(e.name)
                for e in Path("/proc").iterdir()
                if e.name.isdigit() and _parent(int(e.name)) == postmaster
            ]
            return [postmaster, *children]

        yield pg.url("bench"), "postgresql fsync=on synchronous_commit=on", pids


def _parent(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(raw[raw.rindex(")") + 2 :].split()[1])


def run(
    db: str = "sqlite",
    seconds: int = 10,
    connections: int = 32,
    workers: int = 2,
    threads: int = 1,
    persons: int | None = None,
    rate: int = 1000,
    fixed_connections: int = 64,
    profile: Path | None = None,
    server_mode: str = "deployed",
) -> dict[str, Any]:
    wrk = ensure_wrk()
    load_before = os.getloadavg()[0]
    source = source_fingerprint()
    py_spy = ensure_py_spy() if profile is not None else None
    # Enough people that no measured scan hits a person twice (a rescan is a cheap duplicate).
    # One person per check-in of the measured run, beyond the no-op rate (no rescans).
    persons = persons or max(20_000, 12_000 * seconds)
    fixed_total = rate * seconds
    profile_persons = persons if profile is not None else 0
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pd-bench-")))
        url, durability, db_pids = stack.enter_context(database(db, workdir))
        settings = bench_settings(url)
        total_people = WARMUP_PERSONS + persons + fixed_total + profile_persons
        log(f"seeding {db}: {total_people:,} people")
        seeded = seed(settings, total_people, history=HISTORY_VISITS)
        slices: dict[str, Path] = {}
        offset = 0
        for name, size in (
            ("warmup", WARMUP_PERSONS),
            ("measured", persons),
            ("fixed", fixed_total),
            ("profile", profile_persons),
        ):
            slices[name] = workdir / f"tokens-{name}.txt"
            slices[name].write_text("\n".join(seeded.person_tokens[offset : offset + size]) + "\n")
            offset += size

        from phongdich.bench.server import Server, get

        how = "" if server_mode == "deployed" else f" (diagnostic mode: {server_mode})"
        log(f"starting phongdich serve --workers {workers}{how}")
        server = stack.enter_context(
            Server(settings, workers=workers, log_path=workdir / "log", mode=server_mode)
        )
        noop_path = next(p for p in NOOP_PATHS if get(server.base_url, p)[0] == 200)
        log(f"server up at {server.base_url}; no-op endpoint: {noop_path}")

        def wrk_run(args: list[str], secs: int) -> dict[str, Any]:
            return run_wrk(wrk, server.base_url, secs, connections, threads, args)

        def snap() -> _Snapshot:
            return _snapshot(server.group_alive(), db_pids())

        log(f"warm-up: {WARMUP_SECONDS} s no-op, {WARMUP_SECONDS} s check-ins")
        wrk_run(noop_args(seeded, threads, noop_path), WARMUP_SECONDS)
        wrk_run(checkin_args(seeded, threads, slices["warmup"]), WARMUP_SECONDS)

        log(f"no-op: {seconds} s, {connections} connections")
        before = snap()
        noop = wrk_run(noop_args(seeded, threads, noop_path), seconds)
        noop_cpu = cpu_use(before, snap(), noop["stats"]["requests"])
        log(f"no-op: {noop['requests_per_s']:.0f} req/s, p50 {noop['p50_ms']} ms")

        before_visits, before_scans = stored_counts(url)
        log(f"check-ins: {seconds} s, {connections} connections")
        before = snap()
        checkin = wrk_run(checkin_args(seeded, threads, slices["measured"]), seconds)
        checkin_cpu = cpu_use(before, snap(), checkin["stats"]["requests"])
        after_visits, after_scans = stored_counts(url)
        stats = checkin["stats"]
        acknowledged = stats["acked"]
        # Only answers that recorded a new check-in count (a rescan of a person already in
        # is acknowledged as a duplicate and stores nothing).
        checkins_per_s = stats["checkins"] / (stats["duration_us"] / 1e6)
        stored_visits = after_visits - before_visits
        log(
            f"check-ins: {checkins_per_s:.0f}/s acknowledged, {stored_visits} visits stored, "
            f"p50 {checkin['p50_ms']} ms, p99 {checkin['p99_ms']} ms"
        )
        if stats["acked"] > persons:
            log("warning: more scans than people, some were duplicates: raise --persons")

        log(f"fixed rate: {rate}/s for {seconds} s, {fixed_connections} connections")
        host, port = server.base_url.removeprefix("http://").split(":")
        before = snap()
        fixed = run_fixed_rate(
            FixedRateConfig(
                host=host,
                port=int(port),
                rate=rate,
                seconds=seconds,
                connections=fixed_connections,
                cookie=seeded.cookie,
                csrf=seeded.csrf,
                entrance_id=seeded.entrance_id,
                token_file=str(slices["fixed"]),
                token_offset=0,
            )
        )
        fixed["cpu"] = cpu_use(before, snap(), fixed["completed"])
        log(f"fixed rate: p50 {fixed['p50_ms']} ms, p99 {fixed['p99_ms']} ms")
        log(f"fixed rate: errors {fixed['errors']} {fixed['error_detail']}")

        profile_summary = None
        if profile is not None and py_spy is not None:
            profile_summary = _profile(
                py_spy,
                server.worker_pids(),
                profile,
                lambda: wrk_run(checkin_args(seeded, threads, slices["profile"]), seconds),
                seconds,
            )
        server_errors = server.log_tail(10**9).count("Traceback (most recent call last)")
        server.close()

    noop_per_s = noop["requests_per_s"]
    result: dict[str, Any] = {
        "bench": "checkin",
        "db": db,
        "workers": workers,
        "connections": connections,
        "seconds": seconds,
        "checkins_per_s": round(checkins_per_s, 1),
        "acknowledged": acknowledged,
        "checkins_recorded": stats["checkins"],
        "stored_visits": stored_visits,
        "stored_scans": after_scans - before_scans,
        "p50_ms": checkin["p50_ms"],
        "p99_ms": checkin["p99_ms"],
        "http_200": stats["status200"],
        "non_2xx": checkin["non_2xx"],
        "socket_errors": checkin["socket_errors"],
        "noop_path": noop_path,
        "noop_per_s": round(noop_per_s, 1),
        "noop_p50_ms": noop["p50_ms"],
        "noop_p99_ms": noop["p99_ms"],
        "ratio": round(checkins_per_s / noop_per_s, 3) if noop_per_s else None,
        "fixed_rate": fixed,
        "load_generator": "wrk",
        "wrk_threads": threads,
        "cpu": {"checkin": checkin_cpu, "noop": noop_cpu},
        "server_tracebacks": server_errors,
        "durability": durability,
        "persons": persons,
        "server": "phongdich serve"
        if server_mode == "deployed"
        else f"python -m phongdich.bench.server --{server_mode} (diagnostic)",
        "loadavg_1m_before": round(load_before, 2),
        "source_sha256_12": source,
    }
    if profile_summary is not None:
        result["profile"] = profile_summary
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="phongdich bench checkin", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--persons", type=int, default=None)
    parser.add_argument("--rate", type=int, default=1000, help="fixed-rate requests/s")
    parser.add_argument(
        "--fixed-connections", type=int, default=64, help="fixed-rate keep-alive connections"
    )
    parser.add_argument("--profile", type=Path, default=None, help="py-spy output directory")
    parser.add_argument(
        "--server-mode",
        choices=("deployed", "nodelay", "reuseport"),
        default="deployed",
        help="deployed: phongdich serve; nodelay, reuseport: diagnostics (phongdich.bench.server)",
    )
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loadgen:
        cfg = FixedRateConfig(**json.loads(args.loadgen))
        print(json.dumps(asyncio.run(fixed_rate(cfg))))
        return
    result = run(
        db=args.db,
        seconds=args.seconds,
        connections=args.connections,
        workers=args.workers,
        threads=args.threads,
        persons=args.persons,
        rate=args.rate,
        fixed_connections=args.fixed_connections,
        profile=args.profile,
        server_mode=args.server_mode,
    )
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
