"""Delivery of the outbox, retention purges, QR key rotation and the API documentation."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from phongdich.accounts.models import LoginFailure, LoginSession, OtpChallenge
from phongdich.app import create_app
from phongdich.kit.clock import utcnow
from phongdich.maintenance import purge_all
from phongdich.notify.adapters import FileAdapter, SmtpAdapter
from phongdich.notify.models import OutboxMessage
from phongdich.notify.service import Notifier
from phongdich.notify.tasks import MAX_ATTEMPTS, deliver_pending
from tests.conftest import Env, World, login_official, login_phone
from tests.integration.test_checkpoints_api import register
from tests.support.http import Client
from tests.support.smtp import Inbox, free_port


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
    with pytest.raises(ConnectionRefusedError):  # nobody listening: the outbox retries later
        adapter.deliver(mail(4))


def test_failed_delivery_is_retried_then_given_up(env: Env) -> None:
    with env.session() as s:
        Notifier(s).sms("0912345678", "thử", purpose="test")
        s.commit()
    for _ in range(MAX_ATTEMPTS + 2):
        assert deliver_pending(env.factory, Broken()) == 0
    with env.session() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert message.status == "failed"
        assert message.attempts == MAX_ATTEMPTS
        assert "gateway down" in message.last_error


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
