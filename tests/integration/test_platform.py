"""Delivery of the outbox, retention purges, QR key rotation and the API documentation."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update

from phongdich.accounts.models import LoginFailure, LoginSession, OtpChallenge
from phongdich.app import create_app
from phongdich.config import Settings
from phongdich.db.migrate import upgrade
from phongdich.db.session import make_engine, make_sessionmaker, unit_of_work
from phongdich.kit.clock import utcnow
from phongdich.maintenance import purge_all
from phongdich.notify.adapters import (
    ChannelDown,
    FileAdapter,
    NullAdapter,
    SmtpAdapter,
    make_adapter,
)
from phongdich.notify.models import OutboxMessage
from phongdich.notify.service import Notifier
from phongdich.notify.tasks import (
    CHANNEL_PAUSE,
    MAX_ATTEMPTS,
    OUTAGE_LIMIT,
    RETRY_AFTER,
    deliver_pending,
)
from tests.conftest import (
    BACKENDS,
    Env,
    World,
    empty_database,
    login_official,
    login_phone,
    make_app,
)
from tests.integration.test_checkpoints_api import register
from tests.support.gateway import Gateway
from tests.support.http import Client
from tests.support.smtp import Inbox, free_port, smtp_settings


def test_many_messages_are_queued_in_chunks(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """send_many (a warning to thousands) queues every message with its own id, across the
    chunks PostgreSQL takes them in, pending and due at once."""
    from phongdich.notify import repository

    monkeypatch.setattr(repository, "ADD_MANY_CHUNK", 3)
    rows = [
        {
            "channel": "sms" if n % 2 else "ott",
            "recipient": f"0912{n:06d}",
            "body": f"Cảnh báo {n}",
            "purpose": f"exposure:{n}",
        }
        for n in range(7)
    ]
    with env.session() as s:
        ids = Notifier(s).send_many(rows)
        s.commit()
    assert len(set(ids.values())) == 7
    with env.session() as s:
        stored = {m.id: m for m in s.scalars(select(OutboxMessage))}
    for row in rows:
        message = stored[ids[row["purpose"], row["channel"]]]
        assert (message.recipient, message.body) == (row["recipient"], row["body"])
        assert (message.status, message.attempts, message.last_error) == ("pending", 0, "")
        assert message.next_attempt_at <= utcnow()
    assert deliver_pending(env.factory, NullAdapter()) == 7


def test_outbox_is_delivered_to_a_file(env: Env, tmp_path: Path) -> None:
    with env.session() as s:
        Notifier(s).sms("0912345678", "Xin chào — thông báo thử", purpose="test")
        s.commit()
    path = tmp_path / "outbox.jsonl"
    assert deliver_pending(env.factory, FileAdapter(str(path))) == 1
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["to"] == "0912345678"
    assert record["body"] == "Xin chào — thông báo thử"
    with env.session() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert message.status == "sent"
        assert message.sent_at is not None
    # Nothing is sent twice.
    assert deliver_pending(env.factory, FileAdapter(str(path))) == 0


class Broken:
    def deliver(self, message: OutboxMessage) -> None:
        raise ConnectionError("gateway down")


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_delivery_loops_never_send_a_message_twice(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two server processes each run the delivery loop on one database: every message goes
    out once. Each loop has its own connections, as processes do (not the test's shared
    transaction)."""
    url = empty_database(backend, "two_loops", tmp_path, request)
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    try:
        with unit_of_work(factory) as s:
            Notifier(s).send_many(
                [
                    {"channel": "sms", "recipient": f"09{n:08d}", "body": "x", "purpose": str(n)}
                    for n in range(300)
                ]
            )
        delivered: list[int] = []
        guard = threading.Lock()

        class Slow:
            def deliver(self, message: OutboxMessage) -> None:
                time.sleep(0.001)  # a gateway's answer: the other loop runs meanwhile
                with guard:
                    delivered.append(message.id)

        counts: list[int] = []

        def loop() -> None:
            counts.append(sum(deliver_pending(factory, Slow(), batch=20) for _ in range(5)))

        loops = [threading.Thread(target=loop) for _ in range(2)]
        for t in loops:
            t.start()
        for t in loops:
            t.join()
        assert sorted(delivered) == sorted(set(delivered))  # nobody twice
        assert len(delivered) == sum(counts) == 300
        assert all(counts)  # both loops took their share
        with factory() as s:
            states = set(s.execute(select(OutboxMessage.status, OutboxMessage.attempts)))
        assert states == {("sent", 1)}
    finally:
        engine.dispose()


def test_an_smtp_session_dropped_while_idle_is_opened_again(env: Env) -> None:
    """The SMTP adapter keeps its session between messages; when the server has dropped it
    meanwhile (a restart, an idle timeout), the next message opens a new one instead of
    failing. A server that is down fails the message, for the outbox to retry."""
    port = free_port()
    adapter = SmtpAdapter("127.0.0.1", port, "PhongDich <khong-tra-loi@phongdich.example.vn>")

    def mail(n: int) -> OutboxMessage:
        body = f"Thư thử số {n}\n\nNội dung thư thử."
        return OutboxMessage(
            id=n, channel="email", recipient="lan@example.vn", body=body, created_at=utcnow()
        )

    first, second = Inbox(), Inbox()
    server = Controller(first, hostname="127.0.0.1", port=port)
    server.start()
    adapter.deliver(mail(1))
    adapter.deliver(mail(2))
    server.stop()  # the session the adapter holds is gone with it
    server = Controller(second, hostname="127.0.0.1", port=port)
    server.start()
    try:
        adapter.deliver(mail(3))
    finally:
        adapter.close()
        server.stop()
    assert [m["Subject"] for _to, m in first.mail] == ["Thư thử số 1", "Thư thử số 2"]
    assert len(set(first.peers)) == 1
    assert [m["Subject"] for _to, m in second.mail] == ["Thư thử số 3"]
    with pytest.raises(ChannelDown):  # nobody listening: the outbox retries later
        adapter.deliver(mail(4))


def test_failed_delivery_is_retried_later_then_given_up(env: Env) -> None:
    """Each failed attempt waits longer before the next (``RETRY_AFTER``); runs in between
    leave the message alone; the fifth failure gives up."""
    with env.session() as s:
        Notifier(s).sms("0912345678", "thử", purpose="test")
        s.commit()
    now = utcnow()

    def state() -> tuple[str, int]:
        with env.session() as s:
            message = s.scalars(select(OutboxMessage)).one()
            return message.status, message.attempts

    def at(moment: datetime) -> Callable[[], datetime]:
        return lambda: moment

    for n, waited in enumerate((timedelta(0), *RETRY_AFTER)):
        now += waited
        assert deliver_pending(env.factory, Broken(), clock=at(now)) == 0
        attempts = state()[1]
        assert attempts == n + 1
        if n < len(RETRY_AFTER):  # a run a second before the next attempt is due tries nothing
            early = now + RETRY_AFTER[n] - timedelta(seconds=1)
            assert deliver_pending(env.factory, Broken(), clock=at(early)) == 0
            assert state() == ("pending", attempts)
    assert attempts == MAX_ATTEMPTS == len(RETRY_AFTER) + 1
    with env.session() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert message.status == "failed"
        assert "gateway down" in message.last_error
    later = now + timedelta(days=1)
    assert deliver_pending(env.factory, Broken(), clock=at(later)) == 0
    assert state() == ("failed", MAX_ATTEMPTS)


class Down:
    """A gateway nobody answers, or one that answers 503: the channel is down."""

    def deliver(self, message: OutboxMessage) -> None:
        raise ChannelDown("gateway unreachable")


def test_an_outage_of_hours_keeps_the_warnings_until_the_channel_is_back(env: Env) -> None:
    """A message whose channel stays down is not failed on its fifth attempt: it is tried
    again every ``RETRY_AFTER[-1]``; the first message of the channel that goes out takes
    every message the outage held back with it; one whose channel is down for
    ``OUTAGE_LIMIT`` fails then. Refusals keep their waits, and fail after five attempts
    (``test_failed_delivery_is_retried_later_then_given_up``)."""
    queue_sms(env, ["0912345678", "0987654321"], "test")
    start = utcnow()

    def run(moment: datetime, adapter: Any) -> int:
        return deliver_pending(env.factory, adapter, clock=lambda: moment)

    def states() -> list[tuple[str, int, datetime]]:
        with env.session() as s:
            messages = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
            return [(m.status, m.attempts, m.next_attempt_at) for m in messages]

    now = start
    for waited in (timedelta(0), *RETRY_AFTER):  # five attempts, all down
        now += waited
        assert run(now, Down()) == 0
        now += CHANNEL_PAUSE  # the other message, held back while the channel was down
        assert run(now, Down()) == 0
    assert [(st, n) for st, n, _at in states()] == [("pending", MAX_ATTEMPTS - 1)] * 2
    # The fifth attempt was given back: the next comes RETRY_AFTER[-1] after it.
    assert sorted(at for _st, _n, at in states()) == [
        now - CHANNEL_PAUSE + RETRY_AFTER[-1],
        now + RETRY_AFTER[-1],
    ]
    # Hours later, still down: tried every RETRY_AFTER[-1], still pending.
    for _ in range(3):
        now += RETRY_AFTER[-1] + CHANNEL_PAUSE
        assert run(now, Down()) == 0
        assert run(now + CHANNEL_PAUSE, Down()) == 0
    assert {st for st, _n, _at in states()} == {"pending"}
    # The gateway is back: the first message that goes out takes every message the outage
    # held back with it, however long their wait; one that was refused keeps its own.
    back = now + timedelta(minutes=1)  # before either held message is due
    queue_sms(env, ["0900000001"], "refused")
    assert run(back - CHANNEL_PAUSE, Broken()) == 0
    queue_sms(env, ["0900000002"], "fresh")
    assert run(back, NullAdapter()) == 3
    with env.session() as s:
        by_purpose = {m.purpose: m for m in s.scalars(select(OutboxMessage))}
    assert [by_purpose[p].status for p in ("test", "fresh")] == ["sent", "sent"]
    refused = by_purpose["refused"]
    assert (refused.status, refused.attempts) == ("pending", 1)
    assert refused.next_attempt_at == back - CHANNEL_PAUSE + RETRY_AFTER[0]
    assert run(refused.next_attempt_at, NullAdapter()) == 1  # at its own time
    # A message whose channel stays down fails once it is OUTAGE_LIMIT old.
    queue_sms(env, ["0900000003"], "old")
    too_old = start + OUTAGE_LIMIT
    with env.session() as s:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.purpose == "old")
            .values(
                created_at=start,
                attempts=MAX_ATTEMPTS - 1,
                next_attempt_at=too_old - timedelta(seconds=1),
            )
        )
        s.commit()

    def old() -> tuple[str, int, bool, str]:
        with env.session() as s:
            m = s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "old")).one()
            return m.status, m.attempts, m.held, m.last_error

    assert run(too_old - timedelta(seconds=1), Down()) == 0  # one second short: kept
    assert old()[:3] == ("pending", MAX_ATTEMPTS - 1, True)
    assert run(too_old + RETRY_AFTER[-1], Down()) == 0
    status, attempts, held, error = old()
    assert (status, attempts, held) == ("failed", MAX_ATTEMPTS, False)
    assert "gateway unreachable" in error


class Refusing(Inbox):
    """A mail server that refuses one mailbox for good (550)."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("khong-co"):
            return f"550 5.1.1 <{address}>: No such mailbox"
        if address.startswith("day-hop"):
            return "452 4.2.2 Mailbox full, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_mail_server_outage_does_not_use_up_the_warnings(env: Env, tmp_path: Path) -> None:
    """With the mail server down, one e-mail is tried per run and the others wait (no attempt
    counted), while the SMS go out; once it is back, every e-mail is delivered, none failed. A
    mailbox the server refuses for good fails at once; a domain beyond ASCII goes out in its
    IDNA form; a mailbox name beyond ASCII fails at once on a server without SMTPUTF8 (and
    goes out through one that has it)."""
    port = free_port()
    with env.session() as s:
        notifier = Notifier(s)
        for n in range(150):
            notifier.email(f"nguoi{n}@example.vn", f"Cảnh báo số {n}\n\nNội dung.", "test")
        notifier.sms("0912345678", "Cảnh báo qua SMS", purpose="test")
        s.commit()
    sender = "PhongDich <canh-bao@phongdich.example.vn>"
    settings = smtp_settings(env.settings, port, tmp_path / "sms.jsonl", sender)
    now = utcnow()
    assert deliver_pending(env.factory, make_adapter(settings), clock=lambda: now) == 1  # SMS
    with env.session() as s:
        mail = s.scalars(select(OutboxMessage).where(OutboxMessage.channel == "email")).all()
        assert {m.status for m in mail} == {"pending"}
        assert sorted(m.attempts for m in mail) == [0] * 149 + [1]
        assert all(m.next_attempt_at > now for m in mail)
        tried = next(m for m in mail if m.attempts == 1)
        assert "Connection refused" in tried.last_error
        assert tried.next_attempt_at == now + RETRY_AFTER[0]
    # Still down half a minute later: the next one is tried, the rest wait again.
    now += CHANNEL_PAUSE
    assert deliver_pending(env.factory, make_adapter(settings), clock=lambda: now) == 0

    inbox = Refusing()
    server = Controller(inbox, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    server.start()
    try:
        with env.session() as s:
            notifier = Notifier(s)
            notifier.email("khong-co@example.vn", "Thư bị từ chối\n\n.", "test")
            notifier.email("day-hop@example.vn", "Hộp thư đầy\n\n.", "test")
            notifier.email("lan@thư.vn", "Thư tên miền tiếng Việt\n\n.", "test")
            notifier.email("ngọc@example.vn", "Thư hộp thư tiếng Việt\n\n.", "test")
            s.commit()
        # The 148 that waited, the first one tried and "lan"; with the first that goes out,
        # the second one tried while the server was down, though its wait has not ended.
        now += CHANNEL_PAUSE
        assert deliver_pending(env.factory, make_adapter(settings), clock=lambda: now) == 151
        assert deliver_pending(env.factory, make_adapter(settings), clock=lambda: now) == 0
    finally:
        server.stop()
    delivered = sorted(to[0] for to, _mail in inbox.mail)
    assert len(delivered) == 151
    assert "lan@xn--th-e0a.vn" in delivered
    with env.session() as s:
        by_to = {m.recipient: m for m in s.scalars(select(OutboxMessage))}
    assert {m.status for to, m in by_to.items() if to.startswith("nguoi")} == {"sent"}
    assert max(m.attempts for to, m in by_to.items() if to.startswith("nguoi")) == 2
    refused, unicode_box = by_to["khong-co@example.vn"], by_to["ngọc@example.vn"]
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert "No such mailbox" in refused.last_error
    full = by_to["day-hop@example.vn"]  # refused for now: this message waits, no other
    assert (full.status, full.attempts) == ("pending", 1)
    assert "452" in full.last_error
    assert "day-hop@" not in full.last_error  # the server's answer is kept, not the address
    assert (unicode_box.status, unicode_box.attempts) == ("failed", 1)
    assert "SMTPUTF8" in unicode_box.last_error
    assert by_to["lan@thư.vn"].status == "sent"

    utf8 = Inbox()
    server = Controller(utf8, hostname="127.0.0.1", port=port)  # SMTPUTF8 offered
    server.start()
    try:
        with env.session() as s:
            Notifier(s).email("ngọc.anh@example.vn", "Thư gửi được\n\n.", "test")
            s.commit()
        assert deliver_pending(env.factory, make_adapter(settings), clock=lambda: now) == 1
    finally:
        server.stop()
    assert [to for to, _mail in utf8.mail] == [["ngọc.anh@example.vn"]]


def queue_sms(env: Env, phones: list[str], purpose: str) -> None:
    with env.session() as s:
        for phone in phones:
            Notifier(s).sms(phone, "Cảnh báo", purpose=purpose)
        s.commit()


def test_sms_and_ott_go_through_an_http_gateway(env: Env, tmp_path: Path) -> None:
    """NOTIFIER=http posts each message as JSON to the gateway, with its token and an
    idempotency key, over one kept-alive connection; a recipient the gateway refuses (4xx)
    fails at once; a gateway answering 503 holds the channel's other messages back, no
    attempt counted; a gateway nobody answers is the same outage."""
    with env.session() as s:
        notifier = Notifier(s)
        notifier.sms("0912345678", "PhongDich: canh bao tiep xuc", purpose="exposure:1")
        notifier.send_many(
            [
                {"channel": "ott", "recipient": "0987654321", "body": "Cảnh báo", "purpose": "x"},
                {"channel": "sms", "recipient": "0900000000", "body": "Sai số", "purpose": "y"},
            ]
        )
        s.commit()
    with Gateway() as gateway:
        gateway.refuse["0900000000"] = 400
        settings = env.settings.model_copy(
            update={"notifier": "http", "notify_http_url": gateway.url, "notify_http_token": "t0"}
        )
        assert deliver_pending(env.factory, make_adapter(settings)) == 2
        assert sorted(p["to"] for _h, p in gateway.received) == ["0912345678", "0987654321"]
        headers, payload = next((h, p) for h, p in gateway.received if p["channel"] == "ott")
        assert payload["channel"] == "ott"
        assert payload["body"] == "Cảnh báo"
        assert headers["Authorization"] == "Bearer t0"
        assert headers["Idempotency-Key"] == f"phongdich-{payload['id']}"
        assert len(set(gateway.clients)) == 1  # one connection for the run
        with env.session() as s:
            refused = s.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient == "0900000000")
            ).one()
            assert (refused.status, refused.attempts) == ("failed", 1)
            assert "400" in refused.last_error

        # A gateway that closes its connections now and then (a keep-alive limit).
        gateway.close_every = 2
        queue_sms(env, [f"091300000{n}" for n in range(5)], "k")
        assert deliver_pending(env.factory, make_adapter(settings)) == 5
        assert len(set(gateway.clients[2:])) == 3
        gateway.close_every = None

        gateway.down = 503
        queue_sms(env, [f"091200000{n}" for n in range(3)], "z")
        assert deliver_pending(env.factory, make_adapter(settings)) == 0
        with env.session() as s:
            waiting = s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "z")).all()
        assert sorted(m.attempts for m in waiting) == [0, 0, 1]
        assert {m.status for m in waiting} == {"pending"}
        gateway.down = None
        later = utcnow() + RETRY_AFTER[0]
        assert deliver_pending(env.factory, make_adapter(settings), clock=lambda: later) == 3
    with env.session() as s:
        Notifier(s).sms("0912000009", "Cảnh báo", purpose="z")
        s.commit()
    # The gateway has gone: an outage, not a refusal.
    assert deliver_pending(env.factory, make_adapter(settings)) == 0
    with env.session() as s:
        gone = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "0912000009")).one()
    assert (gone.status, gone.attempts) == ("pending", 1)
    assert "gateway" in gone.last_error


def test_the_gateway_reports_what_reached_the_phone(env: Env) -> None:
    """POST /api/v1/notify/receipts with the gateway's token: a message handed to the
    gateway becomes delivered, or failed with the gateway's error; a message never handed
    over is unknown; a wrong token is refused and an unset one closes the endpoint."""
    with env.session() as s:
        notifier = Notifier(s)
        for n in range(3):
            notifier.sms(f"091200000{n}", "Cảnh báo", purpose=f"r{n}")
        s.commit()
    assert deliver_pending(env.factory, NullAdapter()) == 3
    with env.session() as s:
        Notifier(s).sms("0912000009", "Chưa gửi", purpose="later")
        s.commit()
        ids = {m.purpose: m.id for m in s.scalars(select(OutboxMessage))}
    report = {
        "receipts": [
            {"id": ids["r0"], "status": "delivered"},
            {"id": ids["r1"], "status": "failed", "error": "MSISDN not in service"},
            {"id": ids["later"], "status": "delivered"},
            {"id": 999_999, "status": "delivered"},
        ]
    }
    with Client(make_app(env)) as closed:
        assert closed.post("/api/v1/notify/receipts", json=report).status_code == 404
    with Client(make_app(env, notify_receipt_token="dlr-secret")) as gateway:
        url = "/api/v1/notify/receipts"
        wrong = gateway.post(url, json=report, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert "cổng gửi tin" in wrong.json()["message"]
        bad = gateway.post(
            url,
            json={"receipts": [{"id": 1, "status": "read"}]},
            headers={"Authorization": "Bearer dlr-secret"},
        )
        assert bad.status_code == 422
        r = gateway.post(url, json=report, headers={"Authorization": "Bearer dlr-secret"})
        assert r.status_code == 200, r.text
        assert r.json() == {"updated": 2, "unknown": sorted([ids["later"], 999_999])}
        again = gateway.post(url, json=report, headers={"Authorization": "Bearer dlr-secret"})
        assert again.json()["updated"] == 2  # the same state again
    with env.session() as s:
        states = {m.purpose: (m.status, m.last_error) for m in s.scalars(select(OutboxMessage))}
    assert states["r0"] == ("delivered", "")
    assert states["r1"] == ("failed", "MSISDN not in service")
    assert states["r2"] == ("sent", "")
    assert states["later"] == ("pending", "")


def test_an_http_notifier_needs_its_gateway() -> None:
    with pytest.raises(ValueError, match="NOTIFY_HTTP_URL"):
        Settings(notifier="http")
    with pytest.raises(ValueError, match="NOTIFY_HTTP_URL"):
        Settings(notifier="http", notify_http_url="ftp://gateway.example.vn")


def test_a_message_whose_run_died_on_its_last_attempt_is_failed(env: Env) -> None:
    """A delivery run that dies after claiming leaves the claim's attempt counted; when that
    was the last one, the next run marks the message failed instead of leaving it pending
    for ever."""
    from phongdich.notify.repository import OutboxRepository

    queue_sms(env, ["0912345678"], "z")
    now = utcnow()
    with env.session() as s:
        repo = OutboxRepository(s)
        for _ in range(MAX_ATTEMPTS):  # five claims, no outcome recorded
            assert len(repo.claim(10, MAX_ATTEMPTS, now, timedelta(0))) == 1
        s.commit()
    assert deliver_pending(env.factory, NullAdapter()) == 0
    with env.session() as s:
        message = s.scalars(select(OutboxMessage)).one()
    assert (message.status, message.attempts) == ("failed", MAX_ATTEMPTS)
    assert message.last_error == "delivery run ended without an outcome"


def test_a_failed_request_sends_nothing(env: Env, client: Client) -> None:
    login_phone(client, env, "0912345678")
    with env.session() as s:
        before = s.scalar(select(func.count()).select_from(OutboxMessage))
    # Adding staff writes an SMS, but the request fails on the duplicate: no SMS is left behind.
    cp = client.post(
        "/api/v1/checkpoints",
        json={
            "name": "Nhà thuốc Minh Châu",
            "type": "pharmacy",
            "address": "Số 5 Kim Mã",
            "unit_code": "00004",
        },
    ).json()
    assert (
        client.post(
            f"/api/v1/checkpoints/{cp['id']}/staff", json={"phone": "0987654321"}
        ).status_code
        == 201
    )
    assert (
        client.post(
            f"/api/v1/checkpoints/{cp['id']}/staff", json={"phone": "0987654321"}
        ).status_code
        == 409
    )
    with env.session() as s:
        staff_sms = s.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.purpose == "staff")
        )
        assert staff_sms == 1
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == (before or 0) + 1


def test_retention_purge(env: Env, world: World, client: Client) -> None:
    login_official(client, "badinh")
    now = utcnow()
    old = now - timedelta(days=40)
    with env.session() as s:
        s.add(
            LoginSession(
                id="e" * 64,
                kind="official",
                subject_id=world.badinh.id,
                created_at=old,
                expires_at=old + timedelta(hours=12),
            )
        )
        s.add(OtpChallenge(phone="0912345678", code_hash="x", created_at=old, expires_at=old))
        s.add(LoginFailure(subject="otp:0912345678", at=old))
        s.add(
            OutboxMessage(
                channel="sms", recipient="0912345678", body="cũ", status="sent", created_at=old
            )
        )
        s.add(
            OutboxMessage(
                channel="sms",
                recipient="0912345678",
                body="chưa gửi",
                status="pending",
                created_at=old,
            )
        )
        s.commit()
    removed = purge_all(env.factory, env.settings, now)
    assert removed == {
        "visits_auto_closed": 0,
        "visit_scans": 0,
        "visits": 0,
        "sessions": 1,
        "otp_challenges": 1,
        "login_failures": 1,
        "outbox_messages": 1,
        "declarations": 0,
        "proximity_batches": 0,
        "proximity_codes": 0,
        "proximity_keys": 0,
        "cases": 0,
        "contacts": 0,
        "contact_reports": 0,
        "exposure_places": 0,
    }
    with env.session() as s:
        # The live session and the undelivered message stay.
        assert s.scalar(select(func.count()).select_from(LoginSession)) == 1
        assert s.scalars(select(OutboxMessage.body)).all() == ["chưa gửi"]
    assert client.get("/api/v1/auth/me").status_code == 200


def test_posters_keep_working_after_key_rotation(env: Env, world: World, make_client: Any) -> None:
    env.settings.qr_keys = {1: "khoa-cu-" + "a" * 24, 2: "khoa-moi-" + "b" * 24}
    env.settings.qr_active_key = 1
    owner = make_client()
    cp = register(owner, env)
    official = make_client()
    login_official(official, "badinh")
    official.post(f"/api/v1/checkpoints/{cp['id']}/status/approve")
    old_token = cp["entrances"][0]["qr_url"].rsplit("/", 1)[1]
    # Rotate: new posters use key 2, old posters (key 1) still scan.
    env.settings.qr_active_key = 2
    fresh = owner.get(f"/api/v1/checkpoints/{cp['id']}").json()
    new_token = fresh["entrances"][0]["qr_url"].rsplit("/", 1)[1]
    assert new_token != old_token
    assert owner.get(f"/api/v1/scan/{old_token}").json()["state"] == "ok"
    assert owner.get(f"/api/v1/scan/{new_token}").json()["state"] == "ok"
    # Retiring key 1 retires the old posters.
    env.settings.qr_keys = {2: "khoa-moi-" + "b" * 24}
    assert owner.get(f"/api/v1/scan/{old_token}").status_code == 400
    assert owner.get(f"/api/v1/scan/{new_token}").json()["state"] == "ok"


def test_openapi_documents_the_api(env: Env, client: Client) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/checkpoints",
        "/api/v1/auth/otp/request",
        "/api/v1/units/{code}",
        "/api/v1/scan/{token}",
        "/api/v1/posters.zip",
    ):
        assert path in spec["paths"], path
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_units_api(env: Env, client: Client) -> None:
    hanoi = client.get("/api/v1/units/01").json()
    assert hanoi["name"] == "Thành phố Hà Nội"
    assert len(hanoi["children"]) > 100
    ward = client.get("/api/v1/units/00004").json()
    assert [u["code"] for u in ward["path"]] == ["01", "00004"]
    assert client.get("/api/v1/units").json()[0]["depth"] == 0
    assert len(client.get("/api/v1/units").json()) == 34
    found = client.get("/api/v1/units", params={"q": "ba dinh"}).json()
    assert "00004" in [u["code"] for u in found]
    r = client.get("/api/v1/units/99999")
    assert r.status_code == 404
    assert r.json()["message"] == "Mã đơn vị hành chính «99999» không tồn tại."


def test_pages_render_in_both_languages(env: Env, world: World, client: Client) -> None:
    home = client.get("/", headers={"accept": "text/html"})
    assert "Nền tảng phòng, chống dịch" in home.text
    en = client.get("/?lang=en", headers={"accept": "text/html"})
    assert "Epidemic-prevention platform" in en.text
    # The choice sticks.
    assert "Official sign-in" in client.get("/login").text
    # A page that needs a sign-in sends a browser to the right sign-in page.
    r = client.get("/owner", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/owner/signin"
    r = client.get(
        "/officials/checkpoints", headers={"accept": "text/html"}, follow_redirects=False
    )
    assert r.headers["location"] == "/login?next=/officials/checkpoints"


def test_app_factory_has_no_import_time_state(env: Env) -> None:
    a = create_app(env.settings)
    b = create_app(env.settings)
    assert a.state.engine is not b.state.engine
    a.state.engine.dispose()
    b.state.engine.dispose()


def test_sqlite_connections_take_the_configured_page_cache(env: Env) -> None:
    """``SQLITE_CACHE_MB`` sizes every SQLite connection's page cache (SQLite's own default is
    2 MiB)."""
    if not env.settings.is_sqlite:
        pytest.skip("a SQLite setting")
    app = create_app(env.settings.model_copy(update={"sqlite_cache_mb": 24}))
    try:
        with app.state.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -24 * 1024
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        app.state.engine.dispose()
