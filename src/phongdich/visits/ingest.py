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

from phongdich.accounts.service import hash_session_token
from phongdich.config import Settings
from phongdich.kit.clock import utcnow
from phongdich.kit.errors import DomainError, Forbidden, Unauthenticated
from phongdich.visits.repository import ScanRepository
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
        linger: float = 0.003,
        linger_until: int = 12,
        threads: int = 1,
    ) -> None:
        # Wait up to ``linger`` seconds for ``linger_until`` requests before recording a batch.
        self.linger, self.linger_until = linger, linger_until
        # The session factory is looked up per batch (tests swap the application's factory).
        self.factory, self.settings, self.max_batch = factory, settings, max_batch
        # With more than one thread, a batch is recorded while the previous one waits for its
        # commit (on PostgreSQL the commit's round trip and fsync, not the CPU, bound one
        # thread). Batches that share a person or a scan id are still recorded in the order
        # they were taken: a later one waits until every earlier one it overlaps has finished.
        self.threads = max(1, threads)
        self._waiting: list[Submission] = []
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # waiting for submissions
        self._order = threading.Condition(self._lock)  # waiting for an earlier batch to finish
        self._stopping = False
        self._workers: list[threading.Thread] = []
        self._taken = 0  # sequence number of the last batch taken
        self._open: dict[int, frozenset[str]] = {}  # batches taken and not finished: their keys
        # The connection each ingest thread keeps between batches (no pool checkout, ping and
        # reset per batch); dropped after any failure and opened again for the next batch.
        self._local = threading.local()

    def start(self) -> None:
        """Start (or restart after ``stop``) the ingest threads; called lazily by ``submit``."""
        with self._lock:
            self._stopping = False
            self._workers = [w for w in self._workers if w.is_alive()]
            while len(self._workers) < self.threads:
                worker = threading.Thread(target=self._run, name="scan-ingest", daemon=True)
                worker.start()
                self._workers.append(worker)

    def stop(self) -> None:
        """Finish what is waiting, then end the threads."""
        with self._lock:
            self._stopping = True
            self._work.notify_all()
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout=10)

    def submit(self, session_token: str, commands: Sequence[ScanCommand]) -> Future[list[Answer]]:
        submission = Submission(session_token, commands)
        with self._lock:
            self._waiting.append(submission)
            self._work.notify()
            running = len(self._workers) == self.threads and not self._stopping
        if not running:
            self.start()
        return submission.future

    def _take(self) -> tuple[int, list[Submission]]:
        """The next batch and its sequence number, once no earlier unfinished batch shares a
        person or a scan id with it."""
        with self._lock:
            while not self._waiting and not self._stopping:
                self._work.wait()
            # Linger briefly for more requests: a larger batch costs the same few queries.
            deadline = time.monotonic() + self.linger
            while (
                not self._stopping
                and len(self._waiting) < self.linger_until
                and (left := deadline - time.monotonic()) > 0
            ):
                self._work.wait(left)
            taken: list[Submission] = []
            size = 0
            while self._waiting and (
                not taken or size + len(self._waiting[0].commands) <= self.max_batch
            ):
                submission = self._waiting.pop(0)
                size += len(submission.commands)
                taken.append(submission)
            if not taken:
                return 0, taken
            self._taken += 1
            seq, keys = self._taken, _keys(taken)
            self._open[seq] = keys
            while any(k < seq and not keys.isdisjoint(v) for k, v in self._open.items()):
                self._order.wait()
            return seq, taken

    def _finished(self, seq: int) -> None:
        with self._lock:
            del self._open[seq]
            self._order.notify_all()

    def _run(self) -> None:
        while True:
            seq, batch = self._take()
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
            finally:
                self._finished(seq)
            for submission, result in zip(batch, answers, strict=True):
                submission.future.set_result(result)

    def record(self, batch: Sequence[Submission]) -> list[list[Answer]]:
        """One transaction for the whole batch; returns each submission's answers."""
        session = self._session()
        try:
            sessions = (
                ScanRepository(session)
                .live_sessions(
                    {hash_session_token(s.session_token) for s in batch if s.session_token},
                    utcnow(),
                )
                .get()
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
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.engine is not bind or conn.closed or conn.invalidated:
            self._drop_connection()
            conn = self._local.conn = bind.connect()
        return maker(bind=conn)

    def _drop_connection(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a broken connection: nothing to keep
                log.warning("closing the ingest connection failed", exc_info=True)


def _keys(batch: Sequence[Submission]) -> frozenset[str]:
    """What a batch's outcome depends on besides read-only checkpoints: its scan ids and the
    people scanned (a QR subject, or a person id when the scan names the person)."""
    keys: set[str] = set()
    for submission in batch:
        for cmd in submission.commands:
            keys.add(cmd.scan_id)
            keys.add(f"s:{cmd.subject}" if cmd.subject else f"p:{cmd.person_id}")
    return frozenset(keys)


def _with_staff(cmd: ScanCommand, account_id: int) -> ScanCommand:
    return replace(cmd, staff_id=account_id)
