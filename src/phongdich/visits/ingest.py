"""Group commit for staff scans: concurrent requests share one transaction and one commit.

Each server process runs one ingest thread. A request hands its parsed scans to it and waits;
the thread takes everything waiting (up to ``max_batch`` scans), checks the sessions, records
the scans with ``VisitService.scan_many``, commits once, and only then answers every request
of the batch. An answer therefore always means "stored": a crash before the commit loses only
scans that were never acknowledged, and clients resend those by id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from phongdich.accounts.repository import AccountRepository
from phongdich.accounts.service import hash_session_token
from phongdich.config import Settings
from phongdich.kit.clock import utcnow
from phongdich.kit.errors import DomainError, Forbidden, Unauthenticated
from phongdich.visits.service import ScanCommand, ScanOutcome, VisitService

log = logging.getLogger(__name__)

# A scan answer: what was recorded, or why it was refused.
Answer = ScanOutcome | DomainError


@dataclass
class Submission:
    session_token: str
    commands: Sequence[ScanCommand]  # staff_id is filled in from the session
    future: Future[list[Answer]] = field(default_factory=Future)


class Ingestor:
    def __init__(
        self,
        factory: Callable[[], sessionmaker[Session]],
        settings: Settings,
        max_batch: int = 2000,
        linger: float = 0.002,
        linger_until: int = 8,
    ) -> None:
        # One thread keeps every scan of a process in order (two measured no faster on 2 cores).
        # Wait up to ``linger`` seconds for ``linger_until`` requests before recording a batch.
        self.linger, self.linger_until = linger, linger_until
        # The session factory is looked up per batch (tests swap the application's factory).
        self.factory, self.settings, self.max_batch = factory, settings, max_batch
        self._waiting: list[Submission] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        # The connection the ingest thread keeps between batches (no pool checkout, ping and
        # reset per batch); dropped after any failure and opened again for the next batch.
        self._conn: Connection | None = None

    def start(self) -> None:
        """Start (or restart after ``stop``) the ingest thread; called lazily by ``submit``."""
        with self._cond:
            self._stopping = False
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="scan-ingest", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Finish what is waiting, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    def submit(self, session_token: str, commands: Sequence[ScanCommand]) -> Future[list[Answer]]:
        submission = Submission(session_token, commands)
        with self._cond:
            self._waiting.append(submission)
            self._cond.notify()
            running = self._thread is not None and not self._stopping
        if not running:
            self.start()
        return submission.future

    def _take(self) -> list[Submission]:
        with self._cond:
            while not self._waiting and not self._stopping:
                self._cond.wait()
            # Linger briefly for more requests: a larger batch costs the same few queries.
            deadline = time.monotonic() + self.linger
            while (
                not self._stopping
                and len(self._waiting) < self.linger_until
                and (left := deadline - time.monotonic()) > 0
            ):
                self._cond.wait(left)
            taken: list[Submission] = []
            size = 0
            while self._waiting and (
                not taken or size + len(self._waiting[0].commands) <= self.max_batch
            ):
                submission = self._waiting.pop(0)
                size += len(submission.commands)
                taken.append(submission)
            return taken

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                self._drop_connection()
                return  # stopping and nothing left
            try:
                answers = self.record(batch)
            except Exception as exc:  # the commit failed: nobody is told "stored"
                log.exception("scan batch failed")
                self._drop_connection()
                for submission in batch:
                    submission.future.set_exception(exc)
                continue
            for submission, result in zip(batch, answers, strict=True):
                submission.future.set_result(result)

    def record(self, batch: Sequence[Submission]) -> list[list[Answer]]:
        """One transaction for the whole batch; returns each submission's answers."""
        session = self._session()
        try:
            sessions = AccountRepository(session).live_sessions(
                {hash_session_token(s.session_token) for s in batch if s.session_token}, utcnow()
            )
            service = VisitService(session, self.settings)
            refused: dict[int, DomainError] = {}
            commands: list[ScanCommand] = []
            owners: list[int] = []
            for n, submission in enumerate(batch):
                kind, account_id = sessions.get(
                    hash_session_token(submission.session_token), ("", 0)
                )
                if kind != "phone":
                    # Officials do not scan visitors; an unknown or expired session signs in.
                    refused[n] = Forbidden("error.not_staff") if kind else Unauthenticated()
                    continue
                for cmd in submission.commands:
                    commands.append(_with_staff(cmd, account_id))
                    owners.append(n)
            outcomes = service.scan_many(commands)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        answers: list[list[Answer]] = [[] for _ in batch]
        for n, error in refused.items():
            answers[n] = [error] * len(batch[n].commands)
        for owner, outcome in zip(owners, outcomes, strict=True):
            answers[owner].append(outcome)
        return answers

    def _session(self) -> Session:
        maker = self.factory()
        bind = maker.kw.get("bind")
        if not isinstance(bind, Engine):  # already bound to a connection (tests)
            return maker()
        conn = self._conn
        if conn is None or conn.engine is not bind or conn.closed or conn.invalidated:
            self._drop_connection()
            conn = self._conn = bind.connect()
        return maker(bind=conn)

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a broken connection: nothing to keep
                log.warning("closing the ingest connection failed", exc_info=True)


def _with_staff(cmd: ScanCommand, account_id: int) -> ScanCommand:
    return replace(cmd, staff_id=account_id)
