"""The ``phongdich`` command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from phongdich.config import get_settings

app = typer.Typer(help="PhongDich — nền tảng phòng, chống dịch.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
units_app = typer.Typer(help="Administrative units.", no_args_is_help=True)
notify_app = typer.Typer(help="Outgoing messages.", no_args_is_help=True)
officials_app = typer.Typer(help="Official accounts.", no_args_is_help=True)
proximity_app = typer.Typer(help="Bluezone key server.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(units_app, name="units")
app.add_typer(notify_app, name="notify")
app.add_typer(officials_app, name="officials")
app.add_typer(proximity_app, name="proximity")


@contextmanager
def _factory() -> Iterator[sessionmaker[Session]]:
    """A session factory for one command; its engine is disposed when the command ends."""
    from phongdich.db.session import make_engine, make_sessionmaker

    settings = get_settings()
    engine = make_engine(settings.database_url, sqlite_cache_mb=settings.sqlite_cache_mb)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(help="server processes; one per core")] = 1,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = True,
) -> None:
    """Run the web server (migrate the database first with ``phongdich db upgrade``)."""
    from phongdich.server import serve as run

    run(host, port, workers, access_log=access_log)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from phongdich.db.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Undo migrations down to REVISION ('base' empties the schema)."""
    from phongdich.db.migrate import downgrade

    downgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@units_app.command("import")
def units_import(file: Path) -> None:
    """Import (or update) a unit tree from CSV or JSON; all or nothing."""
    from phongdich.geo.tasks import import_file
    from phongdich.geo.tree import TreeError

    if not file.exists():
        _fail(f"no such file: {file}")
    try:
        with _factory() as factory:
            result = import_file(factory, file)
    except TreeError as exc:
        typer.secho("import refused, nothing was changed:", fg=typer.colors.RED, err=True)
        for problem in exc.problems[:50]:
            typer.echo(f"  - {problem}", err=True)
        if len(exc.problems) > 50:
            typer.echo(f"  … and {len(exc.problems) - 50} more", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(result.model_dump_json())


@units_app.command("load-default")
def units_load_default() -> None:
    """Load the current official list (34 provinces, 3,321 communes)."""
    from phongdich.geo.tasks import load_default

    with _factory() as factory:
        typer.echo(load_default(factory).model_dump_json())


@officials_app.command("create")
def officials_create(
    username: str,
    role: Annotated[str, typer.Option(help="admin, province, district, commune or health")],
    unit: Annotated[str | None, typer.Option(help="jurisdiction unit code")] = None,
    full_name: str = "",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)] = "",
) -> None:
    """Create an official account."""
    from phongdich.accounts.service import AccountService
    from phongdich.db.session import unit_of_work
    from phongdich.kit.errors import DomainError
    from phongdich.kit.i18n import t

    try:
        with _factory() as factory, unit_of_work(factory) as session:
            official = AccountService(session, get_settings()).create_official(
                username, password, full_name, role, unit
            )
            typer.echo(f"created official {official.username} (id {official.id})")
    except DomainError as exc:
        _fail(t(exc.message_key, "vi", **exc.params))


@notify_app.command("deliver")
def notify_deliver() -> None:
    """Deliver pending outbox messages with the configured adapter."""
    from phongdich.notify.adapters import make_adapter
    from phongdich.notify.tasks import deliver_pending

    s = get_settings()
    with _factory() as factory:
        typer.echo(f"sent {deliver_pending(factory, make_adapter(s))}")


@notify_app.command("status")
def notify_status(
    errors: Annotated[int, typer.Option(help="how many of the latest failures to show")] = 10,
) -> None:
    """The outbox by channel and delivery state, and the latest failures (recipients masked):
    due now, waiting (queued for later), retrying (after a failed attempt), sent (handed to
    the gateway or mail server), delivered (the gateway's receipt), failed."""
    from phongdich.kit.clock import fmt_local
    from phongdich.notify.tasks import OUTBOX_STATES, outbox_status

    with _factory() as factory:
        status = outbox_status(factory, errors)
    states = OUTBOX_STATES
    table: dict[str, dict[str, int]] = {}
    oldest: dict[str, datetime] = {}
    for channel, state, n, first in status.counts:
        table.setdefault(channel, dict.fromkeys(states, 0))[state] = n
        if state in ("due", "retrying") and first is not None:
            oldest[channel] = min(first, oldest.get(channel, first))
    typer.echo(f"{'channel':8} " + " ".join(f"{x:>9}" for x in states) + "  oldest unsent")
    for channel, row in sorted(table.items()):
        cells = " ".join(f"{row[x]:>9,}" for x in states)
        typer.echo(f"{channel:8} {cells}  {fmt_local(oldest.get(channel))}")
    if not table:
        typer.echo("(the outbox is empty)")
    if status.errors:
        typer.echo("latest failures:")
    for mid, channel, to, attempts, state, error in status.errors:
        typer.echo(f"  #{mid} {channel} {to} attempts {attempts} {state}: {error[:200]}")


@notify_app.command("retry")
def notify_retry(
    since: Annotated[
        str, typer.Option(help="failed since (Vietnam time, dd/mm/yyyy HH:MM); default: a day")
    ] = "",
    channel: Annotated[str, typer.Option(help="sms, ott or email; default: all")] = "",
) -> None:
    """Try failed messages again (five attempts anew, from now): after a gateway or mail
    server outage longer than the 48 hours messages wait for it, or a refusal fixed since."""
    from phongdich.kit.clock import parse_local, utcnow
    from phongdich.notify.models import CHANNELS
    from phongdich.notify.tasks import requeue_failed

    if channel and channel not in CHANNELS:
        _fail(f"unknown channel {channel!r}: {', '.join(CHANNELS)}")
    try:
        start = parse_local(since) if since else utcnow() - timedelta(hours=24)
    except ValueError:
        _fail(f"not a time: {since!r} (dd/mm/yyyy HH:MM)")
        return
    with _factory() as factory:
        n = requeue_failed(factory, start, channel or None)
    typer.echo(f"{n} failed messages will be tried again")


@notify_app.command("bounces")
def notify_bounces(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="messages, one per file; none (and no --maildir): one message on standard "
            "input, as a mail server's pipe hands it on",
            show_default=False,
        ),
    ] = None,
    maildir: Annotated[
        Path | None,
        typer.Option(
            help="a Maildir that receives the mail sent to SMTP_FROM: its new messages are "
            "read, then moved to cur/ as seen (run it from cron)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Read messages sent back to SMTP_FROM: a delivery report (bounce) about a warning
    e-mail marks it failed, with the server's answer, and the contact's warning shows it;
    auto-replies and anything else change nothing. For a mail server's pipe alias, e.g.
    ``bounces: "|/srv/phongdich/.venv/bin/phongdich notify bounces"``, or a mailbox."""
    from phongdich.notify.tasks import record_bounces

    paths = list(files or [])
    fresh: list[Path] = []
    if maildir is not None:
        if not (maildir / "new").is_dir() or not (maildir / "cur").is_dir():
            _fail(f"{maildir}: not a Maildir (no new/ and cur/)")
        fresh = sorted(p for p in (maildir / "new").iterdir() if p.is_file())
        paths += fresh
    raws: list[bytes] = []
    for path in paths:
        try:
            raws.append(path.read_bytes())
        except OSError as exc:
            _fail(f"{path}: {exc.strerror or exc}")
    if not files and maildir is None:
        raws.append(sys.stdin.buffer.read())
    with _factory() as factory:
        counts = record_bounces(factory, get_settings().secret_key, raws)
    # Only once the outbox has them: a run that failed leaves them new for the next one.
    for path in fresh:
        path.rename(path.parent.parent / "cur" / f"{path.name.split(':')[0]}:2,S")
    typer.echo(f"failed {counts.failed}, delivered {counts.delivered}, ignored {counts.ignored}")


@proximity_app.command("export")
def proximity_export() -> None:
    """Make the due Bluezone export batches now (what the server does every minute)."""
    from phongdich.proximity.tasks import export_job

    with _factory() as factory:
        typer.echo(json.dumps(export_job(factory, get_settings())))


@app.command()
def purge() -> None:
    """Apply the retention periods now (visits, declarations, cases and contacts, sessions,
    one-time codes, old outbox messages, Bluezone keys)."""
    from phongdich.maintenance import purge_all

    with _factory() as factory:
        typer.echo(json.dumps(purge_all(factory, get_settings())))


@app.command("trace-pending")
def trace_pending() -> None:
    """Trace the cases of line lists still waiting: every F1, then each case's F2; then send
    the warnings too large for a request (the server does both every second unless
    SCHEDULE_IN_PROCESS is off: then run this from cron)."""
    from tqdm import tqdm

    from phongdich.tracing import tasks
    from phongdich.tracing.repository import TracingRepository

    settings = get_settings()
    with _factory() as factory:
        with factory() as session:
            waiting = TracingRepository(session).queue_steps()
        with tqdm(total=waiting, unit="trace", file=sys.stderr) as bar:
            done = tasks.trace_pending(factory, settings, budget_seconds=None, progress=bar.update)
        with tqdm(desc="warnings", unit="person", file=sys.stderr) as bar:
            done |= tasks.warn_pending(factory, settings, budget_seconds=None, progress=bar.update)
    typer.echo(json.dumps({"cases_traced": 0, "cases_traced_deeper": 0, "deeper_steps": 0, **done}))


@app.command()
def posters(
    unit: Annotated[str, typer.Option("--unit", help="unit code: every checkpoint under it")],
    output: Annotated[Path, typer.Option("-o", "--output", help=".zip or .pdf")],
    processes: Annotated[int | None, typer.Option(help="worker processes")] = None,
) -> None:
    """Export the posters of every active checkpoint under a unit (ZIP of PDFs, or one PDF)."""
    from tqdm import tqdm

    from phongdich.checkpoints.posters import render_posters, render_zip
    from phongdich.checkpoints.service import CheckpointService
    from phongdich.kit.errors import DomainError
    from phongdich.kit.i18n import t

    with _factory() as factory, factory() as session:
        service = CheckpointService(session, get_settings())
        try:
            service.units.require(unit)
        except DomainError as exc:
            _fail(t(exc.message_key, "vi", **exc.params))
        total = service.count_printable(unit)
        tmp = output.with_name(output.name + ".part")
        with tqdm(total=total, unit="checkpoint", file=sys.stderr) as bar, tmp.open("wb") as fh:
            if output.suffix.lower() == ".pdf":

                def specs():  # type: ignore[no-untyped-def]
                    for _name, group in service.poster_groups(unit):
                        bar.update(1)
                        yield from group

                pages = render_posters(specs(), fh)
            else:

                def advance(n: int) -> None:
                    bar.update(n)

                pages = render_zip(
                    service.poster_groups(unit),
                    fh,
                    processes=processes,
                    progress=advance,
                )
        tmp.replace(output)
    typer.echo(f"{pages} posters written to {output}")


@app.command()
def demo(
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = False,
    checkpoints: int = 400,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Create (once) a demo province: units, officials, owners and hundreds of checkpoints."""
    from phongdich.demo import seed

    with _factory() as factory:
        logins = seed(factory, get_settings(), checkpoints=checkpoints)
    typer.echo(logins)
    if serve_after:
        serve(host=host, port=port)


@app.command()
def simulate(
    people: int = 20_000,
    days: int = 16,
    seed: int = 2021,
    province: Annotated[
        str, typer.Option(help="the province whose communes people live in")
    ] = "01",
) -> None:
    """Simulate a province (people, households, checkpoints, visits, an outbreak) into the
    configured database, as the platform would have recorded it."""
    from tqdm import tqdm

    from phongdich.db.migrate import upgrade
    from phongdich.db.session import unit_of_work
    from phongdich.geo.repository import UnitRepository
    from phongdich.geo.service import UnitService
    from phongdich.tracing.sim_load import load
    from phongdich.tracing.simulate import SimConfig, stats
    from phongdich.tracing.simulate import simulate as run_simulation

    settings = get_settings()
    upgrade(settings.database_url)
    with _factory() as factory:
        with unit_of_work(factory) as session:
            if UnitRepository(session).count() == 0:
                UnitService(session).load_default()
            communes = [u.code for u in UnitRepository(session).children(province)]
        if not communes:
            _fail(f"no communes under unit {province!r}")
        sim = run_simulation(SimConfig(people=people, days=days, seed=seed), communes[:30])
        bar = tqdm(total=3, desc="loading", unit="table", file=sys.stderr)

        def step(what: str, n: int) -> None:
            bar.update(1)
            bar.set_postfix_str(f"{what} {n:,}")

        with bar, unit_of_work(factory) as session:
            load(session, sim, step)
    typer.echo(json.dumps(stats(sim), ensure_ascii=False))


@app.command()
def bench(
    name: str,
    count: Annotated[
        int | None,
        typer.Option(
            help="posters: 2000; checkpoints: 100000; personal-qr: 20000; trace-quality: people "
            "(20000); match: published keys (100000); trace: as --visits"
        ),
    ] = None,
    visits: Annotated[
        int | None, typer.Option(help="trace: visits of the largest size (10000000)")
    ] = None,
    db: Annotated[str, typer.Option(help="checkin: sqlite or postgresql")] = "sqlite",
    seconds: Annotated[int, typer.Option(help="checkin: seconds per measured run")] = 10,
    connections: Annotated[int, typer.Option(help="checkin: wrk connections")] = 32,
    workers: Annotated[int, typer.Option(help="checkin: server worker processes")] = 2,
    processes: int | None = None,
    database_url: Annotated[
        str | None, typer.Option(help="checkpoints: a database to fill (default: temporary SQLite)")
    ] = None,
    full: Annotated[bool, typer.Option(help="trace: also 100 M visits")] = False,
    checkpoints: Annotated[
        int | None,
        typer.Option(help="trace: this many checkpoints at every size (default: 1 per 100 visits)"),
    ] = None,
    people: Annotated[int, typer.Option(help="proximity-quality: people simulated")] = 1000,
    days: Annotated[int, typer.Option(help="proximity-quality: UTC days simulated")] = 3,
    seed: Annotated[int, typer.Option(help="proximity-quality: random seed")] = 2021,
    duty: Annotated[
        str, typer.Option(help="proximity-quality: scan duty cycle, gaen or bluezone")
    ] = "gaen",
) -> None:
    """Run one benchmark (posters, checkpoints, checkin, personal-qr, trace-quality); the last
    line printed is JSON."""
    result: dict[str, object]
    if name == "posters":
        from phongdich.bench import posters as bench_posters

        result = bench_posters.run(count=count or 2000, processes=processes)
    elif name == "checkpoints":
        from phongdich.bench import checkpoints as bench_checkpoints

        result = bench_checkpoints.run(count=count or 100_000, database_url=database_url)
    elif name == "checkin":
        from phongdich.bench import checkin as bench_checkin

        if db not in ("sqlite", "postgresql"):
            _fail(f"--db must be sqlite or postgresql, not {db!r}")
        result = bench_checkin.run(db=db, seconds=seconds, connections=connections, workers=workers)
    elif name == "personal-qr":
        from phongdich.bench import personal_qr as bench_personal_qr

        result = bench_personal_qr.run(count=count or 20_000)
    elif name == "trace-quality":
        from phongdich.bench import trace_quality as bench_trace_quality

        result = bench_trace_quality.run(people=count or 20_000)
    elif name == "trace":
        from phongdich.bench import trace as bench_trace

        if db not in ("sqlite", "postgresql"):
            _fail(f"--db must be sqlite or postgresql, not {db!r}")
        if checkpoints is not None and checkpoints < 1:
            _fail("--checkpoints must be at least 1")
        result = bench_trace.run(
            db=db, visits=visits or count or 10_000_000, full=full, checkpoints=checkpoints
        )
    elif name == "match":
        from phongdich.bench import match as bench_match

        result = bench_match.run(keys=count or 100_000, processes=processes)
    elif name == "export":
        from phongdich.bench import export as bench_export

        result = bench_export.run(count=count or 100_000)
    elif name == "proximity-quality":
        from phongdich.bench import proximity_quality as bench_proximity_quality

        if duty not in ("gaen", "bluezone"):
            _fail(f"--duty must be gaen or bluezone, not {duty!r}")
        if people < 2 or days < 1:
            _fail("--people must be at least 2 and --days at least 1")
        result = bench_proximity_quality.run(people=people, days=days, seed=seed, duty=duty)
    else:
        known = (
            "posters, checkpoints, checkin, personal-qr, trace-quality, trace, match, export, "
            "proximity-quality"
        )
        _fail(f"unknown benchmark {name!r}; known: {known}")
        return
    print(json.dumps(result, ensure_ascii=False))


def main() -> None:
    app()
