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
        lanes: int = 1,
    ) -> None:
        # ``lanes`` threads could record batches concurrently; one keeps every scan of a
        # process in order (two lanes measured no faster on 2 cores).
        self.lanes = lanes
        # Wait up to ``linger`` seconds for ``linger_until`` requests before recording a batch.
        self.linger, self.linger_until = linger, linger_until
        # The session factory is looked up per batch (tests swap the application's factory).
        self.factory, self.settings, self.max_batch = factory, settings, max_batch
        self._waiting: list[Submission] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start (or restart after ``stop``) the ingest thread; called lazily by ``submit``."""
        with self._cond:
            self._stopping = False
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self.lanes:
                thread = threading.Thread(target=self._run, name="scan-ingest", daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        """Finish what is waiting, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=10)

    def submit(self, session_token: str, commands: Sequence[ScanCommand]) -> Future[list[Answer]]:
        submission = Submission(session_token, commands)
        with self._cond:
            self._waiting.append(submission)
            self._cond.notify()
            running = bool(self._threads) and not self._stopping
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
                return  # stopping and nothing left
            try:
                answers = self.record(batch)
            except Exception as exc:  # the commit failed: nobody is told "stored"
                log.exception("scan batch failed")
                for submission in batch:
                    submission.future.set_exception(exc)
                continue
            for submission, result in zip(batch, answers, strict=True):
                submission.future.set_result(result)

    def record(self, batch: Sequence[Submission]) -> list[list[Answer]]:
        """One transaction for the whole batch; returns each submission's answers."""
        session = self.factory()()
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


def _with_staff(cmd: ScanCommand, account_id: int) -> ScanCommand:
    return replace(cmd, staff_id=account_id)
