"""Scheduled tracing jobs: the tracing queue (cases of line lists, traced in the background:
every F1 first, then each case's F2), the warnings too large for a request, and the retention
of cases and everything traced from them."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from phongdich.config import Settings
from phongdich.db.session import unit_of_work
from phongdich.kit.clock import utcnow
from phongdich.tracing.models import WarningJob
from phongdich.tracing.repository import TracingRepository
from phongdich.tracing.service import TracingService

# Cases traced per transaction: their F1 together (``trace_many``), a few seconds at 10 M
# visits, so that progress shows and a stopped worker loses little.
QUEUE_CHUNK = 100
# A claim older than this belongs to a worker that stopped: another one takes the cases over.
CLAIM_LEASE = timedelta(minutes=10)


def trace_pending(
    factory: sessionmaker[Session],
    settings: Settings,
    chunk: int = QUEUE_CHUNK,
    budget_seconds: float | None = 50.0,
    progress: Callable[[int], object] | None = None,
) -> dict[str, int]:
    """Trace the cases waiting (entered by a line list, or whose F1 was too large to go
    deeper while a tracer waited): first the F1 of every waiting case, a chunk per
    transaction; then each case's deeper levels (``TRACE_DEPTH``) in steps of
    ``TRACE_STEP_PEOPLE`` people of the level before (``TracingService.trace_deeper_step``),
    one step per transaction. Stops when none is left or ``budget_seconds`` are spent (none:
    when none is left). Cases are claimed in a transaction of their own before each step, so
    that workers sharing the database never trace the same case at once. ``progress`` is told
    how many cases each step finished."""
    started = time.monotonic()
    done = {"cases_traced": 0, "cases_traced_deeper": 0, "deeper_steps": 0}
    for deeper, size in ((False, chunk), (True, 1)):
        while budget_seconds is None or time.monotonic() - started < budget_seconds:
            now = utcnow()
            with unit_of_work(factory) as session:
                repo = TracingRepository(session)
                ids = repo.claim_waiting(now, now - CLAIM_LEASE, size, deeper=deeper)
            if not ids:
                break
            finished = 0
            with unit_of_work(factory) as session:
                service = TracingService(session, settings)
                cases = service.repo.waiting_cases(ids, deeper=deeper)
                if deeper:
                    for case in cases:
                        finished += not service.trace_deeper_step(case)
                        done["deeper_steps"] += 1
                else:
                    service.trace_many(cases)
                    finished = len(cases)
            done["cases_traced_deeper" if deeper else "cases_traced"] += finished
            if progress is not None:
                progress(finished)
    return {k: n for k, n in done.items() if n}


def warn_pending(
    factory: sessionmaker[Session],
    settings: Settings,
    budget_seconds: float | None = 50.0,
    people: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> dict[str, int]:
    """Warn the warning jobs too large for a request (``TracingService.warn_cases``), one step
    of people per transaction (``warn_step``), oldest job first, until none is left or
    ``budget_seconds`` are spent. A job is claimed in a transaction of its own before each
    step, so workers sharing the database never warn the same people twice. ``progress`` is
    told the people each step warned."""
    started = time.monotonic()
    done = {"warning_steps": 0, "warning_jobs_done": 0}
    while budget_seconds is None or time.monotonic() - started < budget_seconds:
        now = utcnow()
        with unit_of_work(factory) as session:
            job_id = TracingRepository(session).claim_warning_job(now, now - CLAIM_LEASE)
        if job_id is None:
            break
        with unit_of_work(factory) as session:
            job = session.get(WarningJob, job_id)
            if job is None or job.done_at is not None:
                continue
            before = job.warned
            service = TracingService(session, settings)
            more = service.warn_step(job, people)
            warned = job.warned - before
        done["warning_steps" if more else "warning_jobs_done"] += 1
        if progress is not None and more:
            progress(warned)
    return {k: n for k, n in done.items() if n}


def purge_job(
    factory: sessionmaker[Session], now: datetime | None = None, retention_days: int = 90
) -> dict[str, int]:
    """Delete cases (with their contacts, named contacts and exposure places) whose infectious
    window ended more than ``retention_days`` ago and which nobody entered or traced since.
    The people stay: they are the registry other records point at."""
    now = now or utcnow()
    with unit_of_work(factory) as session:
        return TracingRepository(session).purge_cases_before(now - timedelta(days=retention_days))
