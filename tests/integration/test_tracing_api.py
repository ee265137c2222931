"""Tracing through the HTTP API on both databases: a case, its F1 and F2 with evidence,
households, hand-named contacts, jurisdiction, follow-up and bad input."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from phongdich.accounts.models import AuditEvent
from phongdich.kit.clock import VN, utcnow
from phongdich.notify.adapters import NullAdapter, make_adapter
from phongdich.notify.repository import OutboxRepository
from phongdich.notify.tasks import deliver_pending
from phongdich.people.models import HouseholdMember, Person
from phongdich.people.service import PersonService
from phongdich.tracing import service as tracing_service
from phongdich.tracing import tasks as tracing_tasks
from phongdich.tracing.models import Case, Contact, ContactReport, ExposurePlace, TraceExposure
from phongdich.tracing.repository import TracingRepository
from phongdich.tracing.service import TracingService
from phongdich.visits.service import ScanCommand, VisitService
from tests.conftest import Env, World, login_official, make_app
from tests.integration.test_checkpoints_api import venue
from tests.integration.test_visits_api import active_checkpoint
from tests.support.dsn import auto_reply, delivery_report
from tests.support.http import Client
from tests.support.smtp import Inbox, free_port, smtp_settings


def yesterday(hour: int, minute: int = 0) -> datetime:
    day = (utcnow().astimezone(VN) - timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=VN)


def person(env: Env, name: str, unit: str = "00004") -> int:
    with env.session() as s:
        p = PersonService(s, env.settings).register(name, None)
        p.unit_code = unit
        s.commit()
        return p.id


def visit(env: Env, entrance: int, pid: int, start: datetime, end: datetime | None) -> None:
    with env.session() as s:
        visits = VisitService(s, env.settings)
        visits.scan(ScanCommand(str(uuid.uuid4()), entrance, pid, "in", start, "staff_scan"))
        if end is not None:
            visits.scan(ScanCommand(str(uuid.uuid4()), entrance, pid, "out", end, "staff_scan"))
        s.commit()


def scenario(env: Env, make_client: Any) -> dict[str, int]:
    """A supermarket and a restaurant yesterday (Vietnam time):
    - F0 at the supermarket 10:00-11:00;
    - A 10:30-11:30: 30 min together plus the 30-min margin: F1;
    - B 11:25-12:00: only 5 min inside the case's margin, not an F1; but 30 min with C after
      C's exposure: F2 through C;
    - C 10:50-12:00: 40 min with the margin: F1 (lives in Hoàn Kiếm);
    - D at the restaurant at the same time: another place, nobody;
    - A then eats at the restaurant 13:00-14:00 with E 13:10-13:50: E is F2 through A."""
    _owner, market = active_checkpoint(
        env, make_client, name="Siêu thị Ba Đình", type="supermarket", address="Số 1 Kim Mã"
    )
    _owner2, restaurant = active_checkpoint(
        env, make_client, name="Nhà hàng Sen", type="restaurant", address="Số 9 Kim Mã"
    )
    m, r = market["entrances"][0]["id"], restaurant["entrances"][0]["id"]
    ids = {
        "f0": person(env, "Nguyễn Văn Ca"),
        "a": person(env, "Trần Thị An"),
        "b": person(env, "Lê Văn Bình"),
        "c": person(env, "Phạm Thị Cúc", unit="00070"),
        "d": person(env, "Hoàng Văn Dũng"),
        "e": person(env, "Vũ Thị Em"),
    }
    visit(env, m, ids["f0"], yesterday(10), yesterday(11))
    visit(env, m, ids["a"], yesterday(10, 30), yesterday(11, 30))
    visit(env, m, ids["b"], yesterday(11, 25), yesterday(12))
    visit(env, m, ids["c"], yesterday(10, 50), yesterday(12))
    visit(env, r, ids["d"], yesterday(10), yesterday(11))
    visit(env, r, ids["a"], yesterday(13), yesterday(14))
    visit(env, r, ids["e"], yesterday(13, 10), yesterday(13, 50))
    return ids


def with_tracer(
    env: Env, make_client: Any, username: str = "hanoi"
) -> tuple[dict[str, int], Client]:
    """The scenario's people and visits, and an official of ``username`` signed in."""
    ids = scenario(env, make_client)
    tracer = make_client()
    login_official(tracer, username)
    return ids, tracer


def update_person(env: Env, pid: int, **fields: object) -> None:
    """Set registry fields of a person (an address, an ID number) as a clerk would."""
    with env.session() as s:
        person = s.get(Person, pid)
        assert person is not None
        for name, value in fields.items():
            setattr(person, name, value)
        s.commit()


def open_case(tracer: Client, pid: int, **extra: Any) -> Any:
    body = {"person_id": pid, "test_at": yesterday(20).isoformat(), "unit_code": "00004", **extra}
    return tracer.post("/api/v1/tracing/cases", json=body)


def test_a_case_finds_f1_and_f2_with_evidence(env: Env, world: World, make_client: Any) -> None:
    ids = scenario(env, make_client)
    tracer = make_client()
    login_official(tracer, "hanoi")
    r = open_case(tracer, ids["f0"])
    assert r.status_code == 201, r.text
    case = r.json()
    # No symptoms: infectious from two days before the test.
    assert datetime.fromisoformat(case["window_start"]) == yesterday(20) - timedelta(days=2)
    contacts = tracer.get(f"/api/v1/tracing/cases/{case['id']}/contacts").json()
    by_name = {c["person"]: c for c in contacts}
    assert set(by_name) == {"Trần Thị An", "Phạm Thị Cúc", "Vũ Thị Em", "Lê Văn Bình"}
    assert by_name["Lê Văn Bình"]["level"] == 2
    assert by_name["Lê Văn Bình"]["evidence"][0]["via_person_id"] == ids["c"]
    assert by_name["Trần Thị An"]["level"] == 1
    assert by_name["Phạm Thị Cúc"]["level"] == 1
    assert by_name["Vũ Thị Em"]["level"] == 2
    evidence = by_name["Trần Thị An"]["evidence"][0]
    assert evidence["source"] == "visit"
    assert evidence["minutes"] == 60  # 10:30-11:00 together, then the 30-min margin
    assert evidence["checkpoint"] == "Siêu thị Ba Đình"
    assert by_name["Phạm Thị Cúc"]["evidence"][0]["minutes"] == 40  # the 30-min margin counts
    f2 = by_name["Vũ Thị Em"]["evidence"][0]
    assert f2["via_person_id"] == ids["a"]
    assert f2["checkpoint"] == "Nhà hàng Sen"
    # Filters
    only_f2 = tracer.get(f"/api/v1/tracing/cases/{case['id']}/contacts?level=2").json()
    assert sorted(c["person"] for c in only_f2) == ["Lê Văn Bình", "Vũ Thị Em"]
    # F1 only when asked for depth 1.
    shallow = tracer.post(f"/api/v1/tracing/cases/{case['id']}/trace?depth=1").json()
    assert (shallow["f1"], shallow["f2"]) == (2, 0)


def test_household_and_hand_named_contacts_and_one_entry_per_person(
    env: Env, world: World, make_client: Any
) -> None:
    ids = scenario(env, make_client)
    with env.session() as s:
        account = PersonService(s, env.settings)
        f0 = s.get(Person, ids["f0"])
        assert f0 is not None
        from phongdich.accounts.models import PhoneAccount

        phone = PhoneAccount(phone="0912999888", full_name="Nguyễn Văn Ca")
        s.add(phone)
        s.flush()
        f0.account_id = phone.id
        s.add(HouseholdMember(account_id=phone.id, person_id=f0.id, relation="self"))
        s.add(HouseholdMember(account_id=phone.id, person_id=ids["e"], relation="child"))
        del account
        s.commit()
    tracer = make_client()
    login_official(tracer, "hanoi")
    case = open_case(tracer, ids["f0"]).json()
    contacts = {
        c["person"]: c for c in tracer.get(f"/api/v1/tracing/cases/{case['id']}/contacts").json()
    }
    # E was F2 through A, but is also in the case's household: F1 wins, both links kept.
    em = contacts["Vũ Thị Em"]
    assert em["level"] == 1
    assert em["source"] == "household"
    assert {e["source"] for e in em["evidence"]} == {"household", "visit"}
    # A tracer names D (met at a family dinner).
    named = tracer.post(
        f"/api/v1/tracing/cases/{case['id']}/contacts",
        json={"person_id": ids["d"], "exposed_at": yesterday(19).isoformat(), "note": "ăn tối"},
    )
    assert named.status_code == 201, named.text
    contacts = {
        c["person"]: c for c in tracer.get(f"/api/v1/tracing/cases/{case['id']}/contacts").json()
    }
    assert contacts["Hoàng Văn Dũng"]["source"] == "manual"
    with env.session() as s:
        rows = s.scalars(select(Contact.person_id).where(Contact.case_id == case["id"])).all()
        assert len(rows) == len(set(rows))  # one entry per person


def test_jurisdiction_pseudonymises_and_audits(env: Env, world: World, make_client: Any) -> None:
    ids = scenario(env, make_client)
    tracer = make_client()
    login_official(tracer, "badinh")
    case = open_case(tracer, ids["f0"]).json()
    contacts = tracer.get(f"/api/v1/tracing/cases/{case['id']}/contacts").json()
    outside = [c for c in contacts if c["unit_code"] == "00070"]
    assert len(outside) == 1
    assert outside[0]["person"].startswith("Ẩn danh ")
    assert outside[0]["person_id"] is None
    assert outside[0]["phone"] is None
    inside = [c for c in contacts if c["unit_code"] == "00004"]
    assert {c["person"] for c in inside} == {"Trần Thị An", "Vũ Thị Em", "Lê Văn Bình"}
    # Handing contacts to the commune station of their address.
    counts = tracer.post(f"/api/v1/tracing/cases/{case['id']}/assign").json()
    assert counts == {"00004": 3, "00070": 1}
    with env.session() as s:
        shown = set(
            s.scalars(
                select(AuditEvent.object_id).where(
                    AuditEvent.detail == f"contacts of case {case['id']}"
                )
            )
        )
    # The pseudonymised person was not shown, so not audited.
    assert shown == {str(ids["a"]), str(ids["e"]), str(ids["b"])}
    # Another province's official cannot open the case.
    far = make_client()
    login_official(far, "hcm")
    assert far.get(f"/api/v1/tracing/cases/{case['id']}/contacts").status_code == 403
    assert open_case(far, ids["f0"]).status_code == 403
    # Follow-up status
    first = inside[0]["id"]
    ok = tracer.patch(f"/api/v1/tracing/contacts/{first}", json={"status": "notified"})
    assert ok.json()["status"] == "notified"
    bad = tracer.patch(f"/api/v1/tracing/contacts/{first}", json={"status": "forgotten"})
    assert bad.status_code == 422
    # Re-tracing keeps the follow-up status.
    tracer.post(f"/api/v1/tracing/cases/{case['id']}/trace")
    again = {c["id"]: c for c in tracer.get(f"/api/v1/tracing/cases/{case['id']}/contacts").json()}
    assert again[first]["status"] == "notified"


def test_bad_cases_store_nothing(env: Env, world: World, make_client: Any) -> None:
    ids = scenario(env, make_client)
    tracer = make_client()
    login_official(tracer, "hanoi")
    now = utcnow()
    bad = [
        {"test_at": (now + timedelta(days=2)).isoformat()},  # a window in the future
        {"onset_at": (now + timedelta(days=900)).isoformat()},  # onset years after the test
        {"onset_at": (now - timedelta(days=400)).isoformat()},
        {"source": "aliens"},
        {"test_at": "2026-01-01T10:00:00"},  # no time zone
    ]
    for extra in bad:
        r = open_case(tracer, ids["f0"], **extra)
        assert r.status_code == 422, (extra, r.text)
        assert r.json()["message"]
    assert open_case(tracer, 999_999).status_code == 422  # unknown person
    with env.session() as s:
        from phongdich.tracing.models import Case

        assert s.scalars(select(Case)).all() == []


def test_warnings_publication_and_citizens_self_check(
    env: Env, world: World, make_client: Any
) -> None:
    from phongdich.notify.models import OutboxMessage
    from tests.conftest import login_phone

    ids = scenario(env, make_client)
    with env.session() as s:
        for key, phone in (("a", "0912111222"), ("d", "0912333444")):
            p = s.get(Person, ids[key])
            assert p is not None
            p.phone = phone
        s.commit()
    tracer = make_client()
    login_official(tracer, "hanoi")
    case = open_case(tracer, ids["f0"]).json()

    sent = tracer.post(
        f"/api/v1/tracing/cases/{case['id']}/warn", json={"channels": ["sms", "ott"], "level": 1}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["warned"] == 1  # A has a phone; C has none
    assert sent.json()["no_phone"] == 1
    with env.session() as s:
        messages = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "0912111222"))
        by_channel = {m.channel: m.body for m in messages}
    assert set(by_channel) == {"sms", "ott"}
    assert "Siêu thị Ba Đình" in by_channel["ott"]
    assert "Nguyễn Văn Ca" not in by_channel["ott"]  # the case is never named
    assert yesterday(11).strftime("%d/%m/%Y") in by_channel["sms"]
    contacts = {
        c["person"]: c for c in tracer.get(f"/api/v1/tracing/cases/{case['id']}/contacts").json()
    }
    assert contacts["Trần Thị An"]["status"] == "notified"
    assert contacts["Trần Thị An"]["warning"] == "pending"

    class GatewayDown:
        def deliver(self, message: OutboxMessage) -> None:
            raise ConnectionError("SMS gateway down")

    deliver_pending(env.factory, GatewayDown())  # tried once, to be tried again later
    shown = tracer.get(f"/api/v1/tracing/cases/{case['id']}/contacts").json()
    assert {c["person"]: c["warning"] for c in shown}["Trần Thị An"] == "retrying"
    page = tracer.get(f"/officials/tracing/cases/{case['id']}")
    assert "chưa gửi được, sẽ thử lại" in page.text
    # Sent a minute later; the gateway's receipt then says it reached the phone.
    later = utcnow() + timedelta(minutes=1)
    assert deliver_pending(env.factory, NullAdapter(), clock=lambda: later) >= 2  # SMS, OTT
    with env.session() as s:
        warned = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "0912111222"))
        receipts = [(m.id, "delivered", "") for m in warned]
        assert OutboxRepository(s).record_receipts(receipts) == (2, [])
        s.commit()
    shown = tracer.get(f"/api/v1/tracing/cases/{case['id']}/contacts").json()
    assert {c["person"]: c["warning"] for c in shown}["Trần Thị An"] == "delivered"
    page = tracer.get(f"/officials/tracing/cases/{case['id']}")
    assert "đã đến máy người nhận" in page.text
    bad = tracer.post(f"/api/v1/tracing/cases/{case['id']}/warn", json={"channels": ["fax"]})
    assert bad.status_code == 422
    # No channel at all would mark contacts notified with nothing sent: refused.
    none = tracer.post(f"/api/v1/tracing/cases/{case['id']}/warn", json={"channels": []})
    assert none.status_code == 422
    assert "SMS, OTT" in none.json()["message"]

    published = tracer.post(f"/api/v1/tracing/cases/{case['id']}/publish").json()
    assert published == {"published": 1}
    again = tracer.post(f"/api/v1/tracing/cases/{case['id']}/publish").json()
    assert again == {"published": 0}
    public = make_client().get("/api/v1/exposures", params={"unit": "01"}).json()
    assert [p["checkpoint"] for p in public] == ["Siêu thị Ba Đình"]
    assert "Nguyễn Văn Ca" not in str(public)
    assert datetime.fromisoformat(public[0]["end"]) == yesterday(11, 30)  # with the margin

    # A citizen checks their own visits: A was there, D was elsewhere.
    an = make_client()
    login_phone(an, env, "0912111222", "Trần Thị An")
    mine = an.get("/api/v1/me/exposures").json()
    assert mine["exposed"] is True
    assert mine["matches"][0]["minutes"] == 60
    assert "Siêu thị Ba Đình" in mine["matches"][0]["why"]
    dung = make_client()
    login_phone(dung, env, "0912333444", "Hoàng Văn Dũng")
    assert dung.get("/api/v1/me/exposures").json() == {"exposed": False, "matches": []}
    # The same self-check on the citizen's own page, in either language.
    page = an.get("/me", headers={"accept": "text/html"})
    assert page.status_code == 200
    box = page.text.split('id="exposures"', 1)[1].split("</div>", 1)[0]
    assert "Bạn ở Siêu thị Ba Đình từ" in box
    assert "(trùng 60 phút)" in box
    assert "Nguyễn Văn Ca" not in page.text
    english = an.get("/me?lang=en", headers={"accept": "text/html"}).text
    assert "You were at Siêu thị Ba Đình from" in english
    calm = dung.get("/me", headers={"accept": "text/html"}).text
    assert 'id="no-exposure"' in calm
    assert 'id="exposures"' not in calm


def deliver_through_smtp(env: Env, sms_file: Path) -> tuple[Inbox, int]:
    """Deliver the outbox once: e-mail through a real SMTP server (what it received), the
    other channels to ``sms_file``; and how many messages went out."""
    inbox, port = Inbox(), free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        sender = "Trạm y tế <canh-bao@phongdich.example.vn>"
        settings = smtp_settings(env.settings, port, sms_file, sender)
        return inbox, deliver_pending(env.factory, make_adapter(settings))
    finally:
        server.stop()


def test_contacts_are_warned_by_email_delivered_through_smtp(
    env: Env, world: World, make_client: Any, tmp_path: Path
) -> None:
    """E-mail reaches a contact at their own address, the place and day in its subject; a
    contact with an address on none of the channels is counted. The outbox then delivers the
    e-mail through an SMTP server and the SMS through the other adapter."""
    from phongdich.notify.models import OutboxMessage

    ids = scenario(env, make_client)
    update_person(env, ids["a"], phone="0912111222", email="an.tran@example.vn", language="en")
    update_person(env, ids["c"], email="cuc.pham@example.vn")  # no phone
    tracer = make_client()
    login_official(tracer, "hanoi")
    case = open_case(tracer, ids["f0"]).json()
    url = f"/api/v1/tracing/cases/{case['id']}"

    twice = ["sms", "email", "sms"]  # a channel named twice counts once
    sent = tracer.post(f"{url}/warn", json={"channels": twice, "level": 1})
    assert sent.status_code == 200, sent.text
    assert (sent.json()["warned"], sent.json()["no_phone"]) == (2, 0)
    with env.session() as s:
        warnings = select(OutboxMessage).where(OutboxMessage.purpose.startswith("exposure:"))
        messages = list(s.scalars(warnings.order_by(OutboxMessage.id)))
        by_to = {(m.channel, m.recipient): m for m in messages}
        rows = {c.person_id: c for c in s.scalars(select(Contact))}
        assert set(by_to) == {
            ("sms", "0912111222"),
            ("email", "an.tran@example.vn"),
            ("email", "cuc.pham@example.vn"),
        }
        day = yesterday(11).strftime("%d/%m/%Y")
        subject, _, text = by_to["email", "cuc.pham@example.vn"].body.partition("\n\n")
        assert subject == f"Cảnh báo tiếp xúc COVID-19 tại Siêu thị Ba Đình ngày {day}"
        assert "1022" in text
        assert "Nguyễn Văn Ca" not in text  # the case is never named
        # An in English, as her entry asks.
        english = by_to["email", "an.tran@example.vn"].body.partition("\n\n")[0]
        assert english == f"COVID-19 exposure warning: Siêu thị Ba Đình on {day}"
        assert by_to["sms", "0912111222"].body.startswith("PhongDich: you may have been close")
        # A row's delivery state is its person's last message: here the e-mail.
        assert rows[ids["c"]].warning_message_id == by_to["email", "cuc.pham@example.vn"].id
        assert rows[ids["a"]].warning_message_id == by_to["email", "an.tran@example.vn"].id
    shown = {c["person"]: c for c in tracer.get(f"{url}/contacts?level=1").json()}
    assert {shown[n]["status"] for n in ("Trần Thị An", "Phạm Thị Cúc")} == {"notified"}

    # E-mail alone: a household's phone is no e-mail address, and nobody is sent twice.
    update_person(env, ids["c"], email=None)
    again = tracer.post(
        f"{url}/warn", json={"channels": ["email"], "level": 1, "statuses": ["notified"]}
    )
    assert (again.json()["warned"], again.json()["no_phone"]) == (1, 1)
    with env.session() as s:
        assert len(s.scalars(warnings).all()) == 4
        earlier = s.scalar(select(func.count()).select_from(OutboxMessage)) - 4  # sign-in codes

    # Delivery: e-mail through SMTP, the SMS to the gateway file.
    inbox, delivered = deliver_through_smtp(env, tmp_path / "sms.jsonl")
    assert delivered == 4 + earlier
    assert sorted(to[0] for to, _mail in inbox.mail) == [
        "an.tran@example.vn",
        "an.tran@example.vn",
        "cuc.pham@example.vn",
    ]
    assert len(set(inbox.peers)) == 1  # one SMTP session for the run
    mail = next(m for to, m in inbox.mail if to == ["cuc.pham@example.vn"])
    assert mail["Subject"] == subject
    assert mail["From"].addresses[0].addr_spec == "canh-bao@phongdich.example.vn"
    body = mail.get_body()
    assert body is not None
    assert body.get_content().replace("\r\n", "\n").strip() == text.strip()  # CRLF on the wire
    sms = [json.loads(line) for line in (tmp_path / "sms.jsonl").read_text().splitlines()]
    assert [(m["channel"], m["to"]) for m in sms if m["purpose"].startswith("exposure:")] == [
        ("sms", "0912111222")
    ]
    with env.session() as s:
        states = set(s.scalars(select(OutboxMessage.status)))
    assert states == {"sent"}


def test_a_bounced_warning_email_shows_failed_on_the_contact(
    env: Env, world: World, make_client: Any, tmp_path: Path
) -> None:
    """The mail server took the warning; the recipient's server later refused it and the
    report came back to the sender's address. Handed to the platform, it marks that e-mail
    failed, with the server's answer and the address masked, and the contact shows it. A
    report with a forged Message-ID, an auto-reply and a second report change nothing."""
    from phongdich.notify.models import OutboxMessage

    ids = scenario(env, make_client)
    update_person(env, ids["a"], email="an.tran@example.vn")
    update_person(env, ids["c"], email="cuc.pham@example.vn")
    tracer = make_client()
    login_official(tracer, "hanoi")
    case = open_case(tracer, ids["f0"]).json()
    url = f"/api/v1/tracing/cases/{case['id']}"
    sent = tracer.post(f"{url}/warn", json={"channels": ["email"], "level": 1})
    assert sent.json()["warned"] == 2, sent.text
    inbox, _delivered = deliver_through_smtp(env, tmp_path / "sms.jsonl")
    ids_of = {to[0]: str(mail["Message-ID"]).strip() for to, mail in inbox.mail}
    an_id = ids_of["an.tran@example.vn"]
    assert an_id.startswith("<phongdich.")
    assert an_id.endswith("@phongdich.example.vn>")

    def warnings() -> dict[str, str | None]:
        rows = tracer.get(f"{url}/contacts?level=1").json()
        return {c["person"]: c["warning"] for c in rows}

    assert warnings() == {"Trần Thị An": "sent", "Phạm Thị Cúc": "sent"}
    report = delivery_report(an_id)
    headers = {"content-type": "message/rfc822"}
    with Client(make_app(env)) as closed:  # no token set: no such endpoint
        assert closed.post("/api/v1/notify/bounces", content=report).status_code == 404
    with Client(make_app(env, notify_receipt_token="mx-secret")) as mail_service:
        wrong = {**headers, "authorization": "Bearer guess"}
        r = mail_service.post("/api/v1/notify/bounces", content=report, headers=wrong)
        assert r.status_code == 401
        assert warnings()["Trần Thị An"] == "sent"
        auth = {**headers, "authorization": "Bearer mx-secret"}
        forged = an_id.replace("<phongdich.", "<phongdich.1")  # another id, same signature
        for junk in (delivery_report(forged), auto_reply(an_id), b"xin chao"):
            r = mail_service.post("/api/v1/notify/bounces", content=junk, headers=auth)
            assert r.status_code == 200, r.text
            assert r.json() == {"failed": 0, "delivered": 0, "ignored": 1}
        assert warnings()["Trần Thị An"] == "sent"

        r = mail_service.post("/api/v1/notify/bounces", content=report, headers=auth)
        assert r.json() == {"failed": 1, "delivered": 0, "ignored": 0}
        assert warnings() == {"Trần Thị An": "failed", "Phạm Thị Cúc": "sent"}
        with env.session() as s:
            failed = s.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed")).one()
        assert failed.recipient == "an.tran@example.vn"
        assert failed.last_error.startswith("bounce 5.1.1: 550 5.1.1 <an***@example.vn>")
        assert "an.tran" not in failed.last_error
        # The same report again (mail services retry): the same state.
        again = mail_service.post("/api/v1/notify/bounces", content=report, headers=auth)
        assert again.json()["failed"] == 1
        assert warnings()["Trần Thị An"] == "failed"


def household(env: Env, phone: str, holder: int, *members: int) -> None:
    """A phone account held by ``holder`` that declares for ``members``, as the app makes one."""
    from phongdich.accounts.models import PhoneAccount

    with env.session() as s:
        account = PhoneAccount(phone=phone, full_name="")
        s.add(account)
        s.flush()
        s.add(HouseholdMember(account_id=account.id, person_id=holder, relation="self"))
        for member in members:
            s.add(HouseholdMember(account_id=account.id, person_id=member, relation="child"))
        s.commit()


def test_a_child_is_warned_at_the_household_holders_phone_and_email(
    env: Env, world: World, make_client: Any
) -> None:
    """C, with neither phone nor e-mail, is declared by A: C's warnings go to A's phone and
    A's mailbox, each a message of its own; C's own address, once given, wins."""
    from phongdich.notify.models import OutboxMessage

    ids = scenario(env, make_client)
    update_person(env, ids["a"], phone="0912111222", email="an.tran@example.vn")
    household(env, "0912111222", ids["a"], ids["c"])
    tracer = make_client()
    login_official(tracer, "hanoi")
    case = open_case(tracer, ids["f0"]).json()
    url = f"/api/v1/tracing/cases/{case['id']}"
    rows = {c["person"]: c["id"] for c in tracer.get(f"{url}/contacts?level=1").json()}
    a_row, c_row = rows["Trần Thị An"], rows["Phạm Thị Cúc"]
    warnings = select(OutboxMessage).where(OutboxMessage.purpose.startswith("exposure:"))

    def sent() -> set[tuple[str, str, str]]:
        with env.session() as s:
            return {(m.channel, m.recipient, m.purpose) for m in s.scalars(warnings)}

    r = tracer.post(f"{url}/warn", json={"channels": ["sms", "email"], "level": 1})
    assert r.status_code == 200, r.text
    assert (r.json()["warned"], r.json()["no_phone"]) == (2, 0)
    assert sent() == {
        ("sms", "0912111222", f"exposure:{a_row}"),
        ("email", "an.tran@example.vn", f"exposure:{a_row}"),
        ("sms", "0912111222", f"exposure:{c_row}"),
        ("email", "an.tran@example.vn", f"exposure:{c_row}"),
    }

    with env.session() as s:
        sms = s.scalars(warnings.where(OutboxMessage.channel == "sms")).first()
        assert sms is not None
    # Without diacritics, in 7-bit text: at most two SMS parts of 153 characters.
    assert "tai Sieu thi Ba Dinh ngay" in sms.body
    assert all(" " <= ch <= "~" for ch in sms.body)
    assert len(sms.body) <= 2 * 153
    # C's own address wins over the household's; without one, a holder with no e-mail
    # address leaves C unreached by e-mail.
    update_person(env, ids["c"], email="cuc.pham@example.vn")
    again = {"channels": ["email"], "level": 1, "statuses": ["notified"]}
    assert tracer.post(f"{url}/warn", json=again).json()["no_phone"] == 0
    assert ("email", "cuc.pham@example.vn", f"exposure:{c_row}") in sent()
    update_person(env, ids["c"], email=None)
    update_person(env, ids["a"], email=None)
    r = tracer.post(f"{url}/warn", json=again)
    assert (r.json()["warned"], r.json()["no_phone"]) == (0, 2)
    assert len(sent()) == 5


def test_warnings_and_the_scan_page_name_the_configured_hotline(
    env: Env, world: World, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A province whose hotline is not 1022 sets ``hotline``: the SMS, OTT and e-mail
    warnings and the check-in page's help name it instead, in either language."""
    from phongdich.notify.models import OutboxMessage

    monkeypatch.setattr(env.settings, "hotline", "1900 9095")
    ids = scenario(env, make_client)
    update_person(env, ids["a"], phone="0912111222", email="an.tran@example.vn")
    update_person(env, ids["c"], phone="0912333444", language="en")
    tracer = make_client()
    login_official(tracer, "hanoi")
    case = open_case(tracer, ids["f0"]).json()
    channels = {"channels": ["sms", "ott", "email"], "level": 1}
    r = tracer.post(f"/api/v1/tracing/cases/{case['id']}/warn", json=channels)
    assert r.status_code == 200, r.text
    warnings = select(OutboxMessage).where(OutboxMessage.purpose.startswith("exposure:"))
    with env.session() as s:
        bodies = {(m.channel, m.recipient): m.body for m in s.scalars(warnings)}
    assert set(bodies) == {
        ("sms", "0912111222"),
        ("ott", "0912111222"),
        ("email", "an.tran@example.vn"),
        ("sms", "0912333444"),
        ("ott", "0912333444"),
    }
    for body in bodies.values():
        assert "1900 9095" in body
        assert "1022" not in body
        assert "{hotline}" not in body
    assert "hoac so 1900 9095." in bodies["sms", "0912111222"]
    assert "or the 1900 9095 hotline" in bodies["ott", "0912333444"]

    # A poster that cannot be read sends the visitor to the staff or the hotline.
    visitor = make_client()
    page = visitor.get("/c/khong-phai-ma-qr", headers={"accept": "text/html"})
    assert page.status_code == 400
    assert "hoặc đường dây nóng 1900 9095." in page.text
    english = visitor.get("/c/khong-phai-ma-qr?lang=en", headers={"accept": "text/html"})
    assert "or call the 1900 9095 hotline." in english.text


def test_a_meeting_room_counts_only_people_in_that_room(
    env: Env, world: World, make_client: Any
) -> None:
    _owner, cp = active_checkpoint(env, make_client)  # gates and "Phòng họp tầng 2" (a room)
    gate, room = cp["entrances"][0]["id"], cp["entrances"][2]["id"]
    assert cp["entrances"][2]["kind"] == "room"
    f0, same_room, at_gate = (
        person(env, "Nguyễn Văn Ca"),
        person(env, "Đỗ Thị Hạnh"),
        person(env, "Bùi Văn Long"),
    )
    visit(env, room, f0, yesterday(9), yesterday(9, 40))
    visit(env, room, same_room, yesterday(9, 10), yesterday(9, 18))  # 8 min in a small room
    visit(env, gate, at_gate, yesterday(9), yesterday(9, 40))  # the same time, another space
    tracer = make_client()
    login_official(tracer, "hanoi")
    case = open_case(tracer, f0).json()
    contacts = tracer.get(f"/api/v1/tracing/cases/{case['id']}/contacts").json()
    assert [c["person"] for c in contacts] == ["Đỗ Thị Hạnh"]
    assert contacts[0]["evidence"][0]["rule"] == "type:meeting_room"


def test_a_level_too_large_is_left_untraced_and_the_case_says_so(
    env: Env, world: World, make_client: Any, monkeypatch: Any
) -> None:
    """A trace goes a level deeper only from at most ``trace_level_limit`` people: beyond it
    the level is not traced (nothing of it stored) and the case, API and page, says which
    level and why; a later trace within the limit clears it."""
    ids = scenario(env, make_client)
    tracer = make_client()
    login_official(tracer, "hanoi")
    case = open_case(tracer, ids["f0"]).json()
    url = f"/api/v1/tracing/cases/{case['id']}"
    assert tracer.post(f"{url}/trace?depth=2").json()["stopped_level"] is None

    monkeypatch.setattr(env.settings, "trace_level_limit", 1)  # the case has two F1
    shallow = tracer.post(f"{url}/trace?depth=1").json()
    assert (shallow["f1"], shallow["stopped_level"]) == (2, None)  # nothing deeper was asked
    stopped = tracer.post(f"{url}/trace?depth=2").json()
    assert (stopped["f1"], stopped["f2"]) == (2, 0)
    assert (stopped["stopped_level"], stopped["stopped_people"]) == (2, 2)
    assert tracer.get(f"{url}/contacts?level=2").json() == []
    shown = tracer.get(url).json()
    assert (shown["trace_stopped_level"], shown["trace_stopped_people"]) == (2, 2)
    page = tracer.get(f"/officials/tracing/cases/{case['id']}")
    assert page.status_code == 200
    assert 'id="trace-stopped"' in page.text
    assert "Chưa truy vết F2: F1 có 2 người, nhiều hơn giới hạn 1 người mỗi cấp." in page.text

    monkeypatch.setattr(env.settings, "trace_level_limit", 20_000)
    again = tracer.post(f"{url}/trace?depth=2").json()
    assert (again["f1"], again["f2"], again["stopped_level"]) == (2, 2, None)
    assert tracer.get(url).json()["trace_stopped_level"] is None
    page = tracer.get(f"/officials/tracing/cases/{case['id']}")
    assert 'id="trace-stopped"' not in page.text
    # Large numbers read the Vietnamese way.
    with env.session() as s:
        row = s.get(Case, case["id"])
        assert row is not None
        row.trace_stopped_level, row.trace_stopped_people = 3, 297_091
        s.commit()
    page = tracer.get(f"/officials/tracing/cases/{case['id']}")
    assert "Chưa truy vết F3: F2 có 297.091 người, nhiều hơn giới hạn 20.000 người" in page.text


def test_a_large_f1_answers_at_once_and_the_queue_traces_its_f2(
    env: Env, world: World, make_client: Any, monkeypatch: Any
) -> None:
    """A tracer waiting on a trace gets the F2 at once only from at most ``trace_at_once``
    F1: from more, the F1 is stored and shown, and the tracing queue adds the F2."""
    ids = scenario(env, make_client)
    tracer = make_client()
    login_official(tracer, "hanoi")
    monkeypatch.setattr(env.settings, "trace_at_once", 1)  # the case has two F1
    case = open_case(tracer, ids["f0"]).json()
    url = f"/api/v1/tracing/cases/{case['id']}"
    assert case["trace_deeper_pending"] is True
    listed = tracer.get(f"{url}/contacts").json()
    assert sorted((c["person"], c["level"]) for c in listed) == [
        ("Phạm Thị Cúc", 1),
        ("Trần Thị An", 1),
    ]
    page = tracer.get(f"/officials/tracing/cases/{case['id']}")
    assert 'id="trace-pending"' in page.text
    assert "F2 đang được truy vết nền" in page.text
    # Tracing again while waiting says the same and still leaves F2 to the queue.
    again = tracer.post(f"{url}/trace").json()
    assert (again["f1"], again["f2"], again["deferred_level"]) == (2, 0, 2)

    assert tracing_tasks.trace_pending(env.factory, env.settings) == {
        "cases_traced_deeper": 1,
        "deeper_steps": 1,
    }
    shown = tracer.get(url).json()
    assert shown["trace_deeper_pending"] is False
    levels = sorted((c["person"], c["level"]) for c in tracer.get(f"{url}/contacts").json())
    assert levels == [("Lê Văn Bình", 2), ("Phạm Thị Cúc", 1), ("Trần Thị An", 1), ("Vũ Thị Em", 2)]
    assert 'id="trace-pending"' not in tracer.get(f"/officials/tracing/cases/{case['id']}").text

    # Within the limit everything is traced at once, as before.
    monkeypatch.setattr(env.settings, "trace_at_once", 2)
    done = tracer.post(f"{url}/trace").json()
    assert (done["f1"], done["f2"], done["deferred_level"]) == (2, 2, None)
    assert tracing_tasks.trace_pending(env.factory, env.settings) == {}


def contact_snapshot(env: Env, case_id: int) -> list[tuple[Any, ...]]:
    """What a trace stored for a case: each contact's link and evidence."""
    with env.session() as s:
        rows = s.execute(
            select(
                Contact.person_id,
                Contact.level,
                Contact.source,
                Contact.via_person_id,
                Contact.risk,
                Contact.last_exposure,
                Contact.evidence,
            )
            .where(Contact.case_id == case_id)
            .order_by(Contact.person_id)
        )
        return [tuple(row) for row in rows]


def deeper_step(env: Env, case_id: int) -> bool:
    """One step of the tracing queue on a case, in its own transaction."""
    with env.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        more = TracingService(s, env.settings).trace_deeper_step(case)
        s.commit()
        return more


def test_the_queue_traces_a_large_f2_in_steps_that_store_what_one_trace_stores(
    env: Env, world: World, make_client: Any, monkeypatch: Any
) -> None:
    """A level too large for one transaction is traced by the queue in steps: steps that
    find the exposures of ``trace_step_people`` F1 each, then steps that store the contacts of
    the people of ``STORE_STEP_ROWS`` exposures each, every person's exposures ranked
    together. A person found through two F1 of different steps keeps the stronger link and
    the evidence of both, strongest first: the rows equal one trace's."""
    ids = scenario(env, make_client)
    owner, cafe1 = active_checkpoint(env, make_client, name="Quán cà phê Lá", type="restaurant")
    cafe2 = owner.post(
        "/api/v1/checkpoints", json=venue(name="Quán cà phê Mây", type="restaurant")
    ).json()
    approver = make_client()
    login_official(approver, "badinh")
    approved = approver.post(f"/api/v1/checkpoints/{cafe2['id']}/status/approve")
    assert approved.status_code == 200, approved.text
    c1, c2 = cafe1["entrances"][0]["id"], cafe2["entrances"][0]["id"]
    g, h = person(env, "Đinh Văn Giang"), person(env, "Mai Thị Hoa")
    visit(env, c1, ids["a"], yesterday(14, 30), yesterday(15, 30))  # A (F1), after exposure
    visit(env, c2, ids["c"], yesterday(16), yesterday(17))  # C (F1), after exposure
    visit(env, c1, g, yesterday(14, 30), yesterday(14, 50))  # 20 min with A
    visit(env, c2, g, yesterday(16), yesterday(17))  # 60 min with C: the stronger
    visit(env, c1, h, yesterday(14, 30), yesterday(15, 30))  # 60 min with A: the stronger
    visit(env, c2, h, yesterday(16), yesterday(16, 20))  # 20 min with C
    assert ids["a"] < ids["c"]  # A's contacts are stored first
    tracer = make_client()
    login_official(tracer, "hanoi")
    monkeypatch.setattr(env.settings, "trace_at_once", 0)
    monkeypatch.setattr(env.settings, "trace_step_people", 1)
    case = open_case(tracer, ids["f0"]).json()
    url = f"/api/v1/tracing/cases/{case['id']}"
    assert case["trace_deeper_pending"] is True

    def level2() -> dict[str, str]:
        listed = tracer.get(f"{url}/contacts?level=2").json()
        return {c["person"]: c["evidence"][0]["checkpoint"] for c in listed}

    assert level2() == {}
    assert tracer.get(url).json()["trace_deeper_level"] is None  # no step has run yet
    monkeypatch.setattr(tracing_service, "STORE_STEP_ROWS", 3)
    assert deeper_step(env, case["id"]) is True  # A's exposures found and staged
    assert level2() == {}
    shown = tracer.get(url).json()
    assert shown["trace_deeper_pending"] is True
    progress = (shown["trace_deeper_level"], shown["trace_deeper_done"], shown["trace_deeper_of"])
    assert progress == (2, 1, 2)  # how far the steps got: F2, 1 of 2 F1 done
    assert shown["trace_deeper_stored"] is None  # still finding
    page = tracer.get(f"/officials/tracing/cases/{case['id']}").text
    assert "Đã xét 1 trên 2 người F1.</span>" in page
    assert deeper_step(env, case["id"]) is True  # C's
    assert deeper_step(env, case["id"]) is True  # no F1 left: the contacts next
    progress_text = tracer.get(f"/officials/tracing/cases/{case['id']}").text
    assert "Đã xét 2 trên 2 người F1. Đang lưu danh sách F2: đã lưu 0 người." in progress_text
    assert level2() == {}
    assert deeper_step(env, case["id"]) is True  # Bình, Em, Giang: four exposures
    assert tracer.get(url).json()["trace_deeper_stored"] == 3
    progress_text = tracer.get(f"/officials/tracing/cases/{case['id']}?lang=en").text
    assert "2 of 2 F1 people done. Storing the F2 list: 3 people so far." in progress_text
    assert level2() == {
        "Lê Văn Bình": "Siêu thị Ba Đình",
        "Vũ Thị Em": "Nhà hàng Sen",
        "Đinh Văn Giang": "Quán cà phê Mây",  # C's link, the stronger, though A's came first
    }
    assert deeper_step(env, case["id"]) is False  # Hoa: done
    assert level2()["Mai Thị Hoa"] == "Quán cà phê Lá"
    shown = tracer.get(url).json()
    assert (shown["trace_deeper_pending"], shown["trace_deeper_level"]) == (False, None)
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(TraceExposure)) == 0
    stepped = contact_snapshot(env, case["id"])
    giang = {c["person"]: c for c in tracer.get(f"{url}/contacts").json()}["Đinh Văn Giang"]
    assert [e["checkpoint"] for e in giang["evidence"]] == ["Quán cà phê Mây", "Quán cà phê Lá"]
    assert [e["via_person_id"] for e in giang["evidence"]] == [ids["c"], ids["a"]]

    # One trace of the whole case stores the same rows.
    monkeypatch.setattr(env.settings, "trace_at_once", 10)
    whole = tracer.post(f"{url}/trace").json()
    assert (whole["f1"], whole["f2"], whole["deferred_level"]) == (2, 4, None)
    assert contact_snapshot(env, case["id"]) == stepped

    # A tracer tracing again between steps starts the steps over from the new trace.
    monkeypatch.setattr(env.settings, "trace_at_once", 0)
    assert tracer.post(f"{url}/trace").json()["deferred_level"] == 2
    assert deeper_step(env, case["id"]) is True
    assert tracer.post(f"{url}/trace").json()["deferred_level"] == 2
    assert level2() == {}  # the F2 of the earlier trace went with it
    with env.session() as s:  # and what its steps had found
        assert s.scalar(select(func.count()).select_from(TraceExposure)) == 0
    done = tracing_tasks.trace_pending(env.factory, env.settings)
    assert done == {"cases_traced_deeper": 1, "deeper_steps": 5}
    assert contact_snapshot(env, case["id"]) == stepped

    # By default both databases go ``STEP_PEOPLE`` people a step; a setting larger than the
    # level before stores the level in one.
    monkeypatch.setattr(env.settings, "trace_step_people", 0)
    monkeypatch.setattr(tracing_service, "STEP_PEOPLE", 1)
    assert tracer.post(f"{url}/trace").json()["deferred_level"] == 2
    done = tracing_tasks.trace_pending(env.factory, env.settings)
    assert done == {"cases_traced_deeper": 1, "deeper_steps": 5}
    assert contact_snapshot(env, case["id"]) == stepped
    monkeypatch.setattr(env.settings, "trace_step_people", 3)
    assert tracer.post(f"{url}/trace").json()["deferred_level"] == 2
    done = tracing_tasks.trace_pending(env.factory, env.settings)
    assert done == {"cases_traced_deeper": 1, "deeper_steps": 1}
    assert contact_snapshot(env, case["id"]) == stepped

    # A level too large stops the steps, and the case says so.
    with env.session() as s:
        row = s.get(Case, case["id"])
        assert row is not None
        row.trace_deeper, row.trace_next_level, row.trace_after_person_id = True, None, 0
        s.commit()
    monkeypatch.setattr(env.settings, "trace_level_limit", 1)
    assert deeper_step(env, case["id"]) is False
    shown = tracer.get(url).json()
    assert (shown["trace_stopped_level"], shown["trace_stopped_people"]) == (2, 2)
    assert shown["trace_deeper_pending"] is False


def test_cases_past_the_retention_period_are_purged_with_what_was_traced_from_them(
    env: Env, world: World, make_client: Any
) -> None:
    ids, tracer = with_tracer(env, make_client)
    old = open_case(tracer, ids["f0"]).json()
    named = tracer.post(
        f"/api/v1/tracing/cases/{old['id']}/contacts",
        json={"person_id": ids["d"], "exposed_at": yesterday(19).isoformat(), "note": "ăn tối"},
    )
    assert named.status_code == 201, named.text
    assert tracer.post(f"/api/v1/tracing/cases/{old['id']}/publish").json() == {"published": 1}
    recent = open_case(tracer, ids["a"]).json()
    with env.session() as s:
        old_contacts = s.scalar(
            select(func.count()).select_from(Contact).where(Contact.case_id == old["id"])
        )
        recent_contacts = s.scalar(
            select(func.count()).select_from(Contact).where(Contact.case_id == recent["id"])
        )
    assert old_contacts == 5  # A, C (F1), D (named), B and E (F2)
    assert recent_contacts

    def age(**days: int) -> None:
        with env.session() as s:
            case = s.get(Case, old["id"])
            assert case is not None
            for column, n in days.items():
                setattr(case, column, utcnow() - timedelta(days=n))
            s.commit()

    # The window ended long ago, but a tracer traced the case again yesterday: it stays.
    age(window_end=100, created_at=100, traced_at=1)
    nothing = {"cases": 0, "contacts": 0, "contact_reports": 0, "exposure_places": 0}
    assert tracing_tasks.purge_job(env.factory, retention_days=90) == nothing
    age(traced_at=91)
    assert tracing_tasks.purge_job(env.factory, retention_days=90) == {
        "cases": 1,
        "contacts": old_contacts,
        "contact_reports": 1,
        "exposure_places": 1,
    }
    assert tracer.get(f"/api/v1/tracing/cases/{old['id']}").status_code == 404
    assert tracer.get(f"/api/v1/tracing/cases/{recent['id']}").status_code == 200
    kept = tracer.get(f"/api/v1/tracing/cases/{recent['id']}/contacts").json()
    assert len(kept) == recent_contacts
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(ContactReport)) == 0
        assert s.scalar(select(func.count()).select_from(ExposurePlace)) == 0
        # The people stay: the registry is not the tracing data.
        assert s.get(Person, ids["f0"]) is not None
        assert s.get(Person, ids["d"]) is not None
    assert tracing_tasks.purge_job(env.factory, retention_days=90) == nothing


def test_a_line_list_of_cases_is_entered_and_traced_at_once(
    env: Env, world: World, make_client: Any
) -> None:
    ids, tracer = with_tracer(env, make_client)
    update_person(env, ids["c"], id_number="001190012345")
    test_at = yesterday(20).isoformat()
    r = tracer.post(
        "/api/v1/tracing/cases/batch",
        json={
            "cases": [
                {"person_id": ids["f0"], "test_at": test_at},
                {"id_number": "001190012345", "test_at": test_at, "source": "cluster"},
            ]
        },
    )
    assert r.status_code == 201, r.text
    rows = r.json()["cases"]
    assert [(x["row"], x["person_id"]) for x in rows] == [(1, ids["f0"]), (2, ids["c"])]
    # Entered, waiting for the tracing queue: every F1 first, then each case's F2.
    for x in rows:
        assert tracer.get(f"/api/v1/tracing/cases/{x['case_id']}").json()["traced_at"] is None
    steps: list[int] = []
    done = tracing_tasks.trace_pending(env.factory, env.settings, progress=steps.append)
    assert done == {"cases_traced": 2, "cases_traced_deeper": 2, "deeper_steps": 2}
    assert steps == [2, 1, 1]
    assert tracing_tasks.trace_pending(env.factory, env.settings) == {}
    found = []
    for x in rows:
        assert tracer.get(f"/api/v1/tracing/cases/{x['case_id']}").json()["traced_at"]
        contacts = tracer.get(f"/api/v1/tracing/cases/{x['case_id']}/contacts").json()
        found.append(sorted((c["person"], c["level"]) for c in contacts))
        # Tracing the case alone finds the same people at the same levels.
        tracer.post(f"/api/v1/tracing/cases/{x['case_id']}/trace")
        again = tracer.get(f"/api/v1/tracing/cases/{x['case_id']}/contacts").json()
        assert sorted((c["person"], c["level"]) for c in again) == found[-1]
    # F0's F1 (A and C) and F2 (B through C, E through A) as in the single-case test. C's F1
    # is A and B (F0 left 10 min after C came: under the 15-min minimum); E is F2 through A.
    assert found == [
        [("Lê Văn Bình", 2), ("Phạm Thị Cúc", 1), ("Trần Thị An", 1), ("Vũ Thị Em", 2)],
        [("Lê Văn Bình", 1), ("Trần Thị An", 1), ("Vũ Thị Em", 2)],
    ]
    second = tracer.get(f"/api/v1/tracing/cases/{rows[1]['case_id']}").json()
    assert second["source"] == "cluster"
    assert second["unit_code"] == "00070"  # where she lives
    with env.session() as s:
        opened = s.scalars(
            select(AuditEvent.object_id).where(AuditEvent.action == "open_case")
        ).all()
    assert sorted(opened) == sorted([str(ids["f0"]), str(ids["c"])])


def test_a_line_list_with_bad_rows_enters_nothing(env: Env, world: World, make_client: Any) -> None:
    ids, tracer = with_tracer(env, make_client, "badinh")  # commune 00004: C lives in 00070
    test_at = yesterday(20).isoformat()
    future = (utcnow() + timedelta(days=2)).isoformat()
    r = tracer.post(
        "/api/v1/tracing/cases/batch",
        json={
            "cases": [
                {"person_id": ids["f0"], "test_at": test_at},
                {"person_id": 999_999, "test_at": test_at},
                {"id_number": "079000000001", "test_at": test_at},
                {"person_id": ids["a"], "test_at": future},
                {"person_id": ids["f0"], "test_at": test_at},
                {"test_at": test_at},
                {"person_id": ids["c"], "test_at": test_at},
                {"person_id": ids["b"], "test_at": test_at},
            ]
        },
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["message"].startswith("6 dòng không hợp lệ; chưa nhập ca bệnh nào.")
    assert [(x["row"], x["message"]) for x in body["rows"]] == [
        (2, "Không tìm thấy người này."),
        (3, "Không có ai đăng ký với số giấy tờ 079000000001."),
        (4, "Ngày xét nghiệm không thể ở tương lai."),
        (5, "Người này đã có trong danh sách (dòng 1)."),
        (6, "Cần mã người dân hoặc số CCCD/CMND/hộ chiếu."),
        (7, body["rows"][5]["message"]),
    ]
    assert body["rows"][5]["error"] == "forbidden"
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0
        assert s.scalar(select(func.count()).select_from(Contact)) == 0
        assert not s.scalars(select(AuditEvent).where(AuditEvent.action == "open_case")).all()
    empty = tracer.post("/api/v1/tracing/cases/batch", json={"cases": []})
    assert empty.status_code == 422
    assert empty.json()["message"] == "Danh sách không có ca bệnh nào."
    many = [{"person_id": ids["f0"], "test_at": test_at}] * 2_001
    big = tracer.post("/api/v1/tracing/cases/batch", json={"cases": many})
    assert big.status_code == 422
    assert big.json()["message"] == "Mỗi lần nhập tối đa 2000 ca bệnh; hãy chia danh sách."


def test_the_tracing_queue_claims_each_case_once_and_takes_over_stale_claims(
    env: Env, world: World, make_client: Any
) -> None:
    ids, tracer = with_tracer(env, make_client)
    test_at = yesterday(20).isoformat()
    listed = tracer.post(
        "/api/v1/tracing/cases/batch",
        json={"cases": [{"person_id": ids[k], "test_at": test_at} for k in ("f0", "a", "c")]},
    ).json()["cases"]
    first, second, third = (x["case_id"] for x in listed)
    traced = open_case(tracer, ids["e"]).json()["id"]  # entered alone: traced at once
    now = utcnow()
    with env.session() as s:
        repo = TracingRepository(s)
        assert repo.claim_waiting(now, now - timedelta(minutes=10), 2) == [first, second]
        s.commit()
        # Claimed cases are not claimed again while the claim is fresh...
        assert repo.claim_waiting(now, now - timedelta(minutes=10), 5) == [third]
        s.commit()
        assert repo.claim_waiting(now, now - timedelta(minutes=10), 5) == []
        # ...and a worker that stopped loses them after the lease; a traced case never comes.
        later = now + timedelta(minutes=11)
        assert repo.claim_waiting(later, later - timedelta(minutes=10), 5) == [
            first,
            second,
            third,
        ]
        assert traced not in repo.waiting_cases([first, traced])
        s.commit()
    # The officials see how many of their jurisdiction's cases wait.
    with env.session() as s:
        hanoi = TracingService(s, env.settings)
        assert hanoi.count_waiting(world.hanoi) == 3
        assert hanoi.count_waiting(world.badinh) == 2  # C's case is Hoàn Kiếm's
        assert hanoi.count_waiting(world.hcm) == 0
    # Claims older than the lease are traced by the next run, a chunk per transaction.
    progress: list[int] = []
    done = tracing_tasks.trace_pending(env.factory, env.settings, chunk=2, progress=progress.append)
    assert done == {}  # all three claimed a minute ago by the "stopped" worker above
    with env.session() as s:
        for case in s.scalars(select(Case).where(Case.id.in_([first, second, third]))):
            case.trace_claimed_at = utcnow() - timedelta(minutes=11)
        s.commit()
    done = tracing_tasks.trace_pending(env.factory, env.settings, chunk=2, progress=progress.append)
    assert done == {"cases_traced": 3, "cases_traced_deeper": 3, "deeper_steps": 3}
    assert progress == [2, 1, 1, 1, 1]
    with env.session() as s:
        assert TracingService(s, env.settings).count_waiting(world.hanoi) == 0


def test_the_cases_of_a_jurisdiction_are_listed_newest_first_and_audited(
    env: Env, world: World, make_client: Any
) -> None:
    ids, tracer = with_tracer(env, make_client)
    f0 = open_case(tracer, ids["f0"]).json()["id"]
    a = open_case(tracer, ids["a"]).json()["id"]
    c = tracer.post(  # Phạm Thị Cúc lives in Hoàn Kiếm: the case is that commune's
        "/api/v1/tracing/cases/batch",
        json={"cases": [{"person_id": ids["c"], "test_at": yesterday(20).isoformat()}]},
    ).json()["cases"][0]["case_id"]

    def listed(client: Client, query: str = "") -> list[int]:
        r = client.get(f"/api/v1/tracing/cases{query}")
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()]

    assert listed(tracer) == [c, a, f0]
    assert listed(tracer, "?waiting=true") == [c]
    assert listed(tracer, "?limit=2&page=2") == [f0]
    assert tracer.get("/api/v1/tracing/cases?limit=0").status_code == 422
    first = tracer.get("/api/v1/tracing/cases").json()[0]
    assert (first["person"], first["unit_code"], first["traced_at"]) == (
        "Phạm Thị Cúc",
        "00070",
        None,
    )
    for username, expected in (("badinh", [a, f0]), ("hoankiem", [c]), ("hcm", [])):
        other = make_client()
        login_official(other, username)
        assert listed(other) == expected, username
    with env.session() as s:
        shown = s.scalars(
            select(AuditEvent.object_id).where(
                AuditEvent.detail == "case list", AuditEvent.actor == f"official:{world.hcm.id}"
            )
        ).all()
        assert shown == []
        by_hanoi = s.scalars(
            select(AuditEvent.object_id).where(
                AuditEvent.detail == "case list", AuditEvent.actor == f"official:{world.hanoi.id}"
            )
        ).all()
    assert set(by_hanoi) == {str(ids["f0"]), str(ids["a"]), str(ids["c"])}
