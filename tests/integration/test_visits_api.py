"""Check-in and check-out through the HTTP API and the visitor page, on both databases."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from phongdich.accounts.models import PhoneAccount
from phongdich.kit.clock import utcnow
from phongdich.people import healthqr
from phongdich.people.models import Person
from phongdich.people.schemas import DeclarationIn
from phongdich.people.service import PersonService, key_ring
from phongdich.visits.models import Scan, Visit
from tests.conftest import Env, World, login_official, login_phone
from tests.integration.test_checkpoints_api import register
from tests.support.http import Client


def sid() -> str:
    return str(uuid.uuid4())


def active_checkpoint(
    env: Env, make_client: Any, **overrides: Any
) -> tuple[Client, dict[str, Any]]:
    owner = make_client()
    cp = register(owner, env, **overrides)
    official = make_client()
    login_official(official, "badinh")
    assert official.post(f"/api/v1/checkpoints/{cp['id']}/status/approve").status_code == 200
    return owner, cp


def token_of(cp: dict[str, Any], i: int = 0) -> str:
    return str(cp["entrances"][i]["qr_url"].rsplit("/", 1)[1])


def visits(env: Env) -> list[Visit]:
    with env.session() as s:
        return list(s.scalars(select(Visit).order_by(Visit.id)))


def count(env: Env, model: type) -> int:
    with env.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def person(env: Env, name: str = "Trần Thị Mai", phone: str = "0987654321") -> tuple[int, str]:
    """A registered person and the health QR pass their phone shows (``PD1:...``): someone who
    never declared is yellow."""
    with env.session() as s:
        service = PersonService(s, env.settings)
        p = service.register(name, phone)
        s.commit()
        return p.id, service.status_of(p).qr


def declared_person(env: Env, name: str, phone: str) -> tuple[int, str, str]:
    """A person with a phone account who declared today with nothing to report (green):
    (id, phone pass, printed-card pass)."""
    with env.session() as s:
        account = PhoneAccount(phone=phone, full_name=name)
        s.add(account)
        s.flush()
        service = PersonService(s, env.settings)
        p = service.for_account(account)
        service.declare(account, p.id, DeclarationIn(kind="daily"))
        s.commit()
        return p.id, service.status_of(p).qr, service.card_pass(p)


def subject_of(env: Env, pid: int) -> bytes:
    with env.session() as s:
        p = s.get(Person, pid)
        assert p is not None
        return bytes.fromhex(p.qr_subject)


def whole_seconds(at: datetime) -> datetime:
    return at.replace(microsecond=0)


def test_visitor_checks_in_then_out_and_is_remembered(
    env: Env, world: World, make_client: Any
) -> None:
    _owner, cp = active_checkpoint(env, make_client)
    visitor = make_client()
    body = {"id": sid(), "token": token_of(cp), "full_name": "Lê Văn Tám", "phone": "0356789012"}
    r = visitor.post("/api/v1/visits/self", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "check_in"
    assert r.json()["message"] == "Đã khai báo VÀO Chợ Ba Đình."
    assert "pd_person" in visitor.cookies
    # The cookie is an opaque token: no name, no phone number.
    assert "0356789012" not in visitor.cookies["pd_person"]
    # The same id again: the same answer, nothing new.
    again = visitor.post("/api/v1/visits/self", json=body)
    assert again.json()["replayed"] is True
    assert again.json()["visit_id"] == r.json()["visit_id"]
    # A new scan within the window: no duplicate visit.
    dup = visitor.post("/api/v1/visits/self", json={"id": sid(), "token": token_of(cp)})
    assert dup.json()["action"] == "duplicate"
    out = visitor.post(
        "/api/v1/visits/self", json={"id": sid(), "token": token_of(cp), "direction": "out"}
    )
    assert out.json()["action"] == "check_out"
    [visit] = visits(env)
    assert visit.out_method == "scanned"
    assert visit.in_method == "self"
    assert visit.check_out_at is not None
    assert count(env, Scan) == 3


def test_check_in_elsewhere_closes_the_open_visit(env: Env, world: World, make_client: Any) -> None:
    owner, cp1 = active_checkpoint(env, make_client)
    r = owner.post(
        "/api/v1/checkpoints",
        json={
            "name": "Nhà hàng Sen",
            "type": "restaurant",
            "address": "Số 9 Kim Mã",
            "unit_code": "00004",
        },
    )
    cp2 = r.json()
    official = make_client()
    login_official(official, "badinh")
    official.post(f"/api/v1/checkpoints/{cp2['id']}/status/approve")
    visitor = make_client()
    first = visitor.post(
        "/api/v1/visits/self",
        json={
            "id": sid(),
            "token": token_of(cp1),
            "full_name": "Lê Văn Tám",
            "phone": "0356789012",
        },
    )
    assert first.json()["action"] == "check_in"
    second = visitor.post("/api/v1/visits/self", json={"id": sid(), "token": token_of(cp2)})
    assert second.json()["action"] == "check_in"
    v1, v2 = visits(env)
    assert v1.out_method == "superseded"
    assert v1.check_out_at == v2.check_in_at
    assert v2.check_out_at is None
    # The restaurant's automatic check-out is two hours after check-in.
    assert v2.auto_out_at - v2.check_in_at == timedelta(hours=2)


def test_staff_scan_batch_offline_times_and_idempotency(
    env: Env, world: World, make_client: Any
) -> None:
    owner, cp = active_checkpoint(env, make_client)
    entrance = cp["entrances"][0]["id"]
    pid, ptoken = person(env)
    scanned_at = utcnow() - timedelta(minutes=20)  # queued offline 20 minutes ago
    batch = {
        "scans": [
            {
                "id": sid(),
                "entrance_id": entrance,
                "person_token": ptoken,
                "at": scanned_at.isoformat(),
                "method": "reader",
            },
            {"id": "not-a-uuid", "entrance_id": entrance, "person_token": ptoken},
            {"id": sid(), "entrance_id": entrance, "person_token": "PD1:FORGED"},
            {
                "id": sid(),
                "entrance_id": entrance,
                "person_token": ptoken,
                "at": (utcnow() + timedelta(hours=2)).isoformat(),
            },
            {
                "id": sid(),
                "entrance_id": entrance,
                "person_token": ptoken,
                "at": (utcnow() - timedelta(days=40)).isoformat(),
            },
            {"id": sid(), "entrance_id": entrance, "person_token": ptoken, "direction": "up"},
        ]
    }
    r = owner.post("/api/v1/visits/scans", json=batch)
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["status"] for x in results] == [200, 422, 422, 422, 422, 422]
    assert results[0]["action"] == "check_in"
    assert results[0]["person"] == "Trần T. M."
    assert results[0]["health"] == "yellow"  # the pass's colour: this person never declared
    assert results[1]["message"] == "Mã lượt quét không hợp lệ."
    assert results[2]["message"] == "Mã QR cá nhân không hợp lệ."
    assert results[3]["message"].startswith("Thời điểm quét ở tương lai")
    assert results[4]["message"].startswith("Lượt quét quá cũ")
    assert results[5]["message"] == "Hướng quét phải là vào, ra hoặc tự động."
    [visit] = visits(env)
    assert visit.person_id == pid
    assert abs((visit.check_in_at - scanned_at).total_seconds()) < 1
    assert visit.in_method == "reader"
    # The offline queue resends the whole batch: nothing is stored twice.
    again = owner.post("/api/v1/visits/scans", json={"scans": batch["scans"][:1]}).json()
    assert again["results"][0]["replayed"] is True
    assert len(visits(env)) == 1
    assert count(env, Scan) == 1
    # Staff rescanning later checks the person out.
    later = owner.post(
        "/api/v1/visits/scans",
        json={"scans": [{"id": sid(), "entrance_id": entrance, "person_token": ptoken}]},
    ).json()
    assert later["results"][0]["action"] == "check_out"
    assert visits(env)[0].out_method == "staff"


def test_staff_of_another_venue_and_anonymous_cannot_scan(
    env: Env, world: World, make_client: Any
) -> None:
    _owner, cp = active_checkpoint(env, make_client)
    _pid, ptoken = person(env)
    stranger = make_client()
    login_phone(stranger, env, "0708123456")
    r = stranger.post(
        "/api/v1/visits/scans",
        json={
            "scans": [
                {"id": sid(), "entrance_id": cp["entrances"][0]["id"], "person_token": ptoken}
            ]
        },
    )
    assert r.json()["results"][0]["status"] == 403
    assert r.json()["results"][0]["message"] == "Bạn không phải nhân viên của điểm kiểm dịch này."
    official = make_client()
    login_official(official, "badinh")
    r = official.post(
        "/api/v1/visits/scans",
        json={
            "scans": [
                {"id": sid(), "entrance_id": cp["entrances"][0]["id"], "person_token": ptoken}
            ]
        },
    )
    assert r.json()["results"][0]["status"] == 403
    anon = make_client()
    assert anon.post("/api/v1/visits/scans", json={"scans": []}).status_code == 401
    assert count(env, Visit) == 0
    assert count(env, Scan) == 0


def test_bad_requests_store_nothing(env: Env, world: World, make_client: Any) -> None:
    owner, cp = active_checkpoint(env, make_client)
    visitor = make_client()
    cases: list[tuple[Any, int]] = [
        ({"id": sid(), "token": "forged-token", "full_name": "A", "phone": "0356789012"}, 400),
        ({"id": sid(), "token": token_of(cp)[:-3], "full_name": "A", "phone": "0356789012"}, 400),
        ({"id": "123", "token": token_of(cp), "full_name": "A", "phone": "0356789012"}, 422),
        ({"id": sid(), "token": token_of(cp), "full_name": "", "phone": "0356789012"}, 422),
        ({"id": sid(), "token": token_of(cp), "full_name": "An", "phone": "12345"}, 422),
        (
            {
                "id": sid(),
                "token": token_of(cp),
                "full_name": "An",
                "phone": "0356789012",
                "at": "2021-13-45T99:00:00",
            },
            422,
        ),
        (
            {
                "id": sid(),
                "token": token_of(cp),
                "full_name": "An",
                "phone": "0356789012",
                "direction": "out",
            },
            409,
        ),
    ]
    for body, status in cases:
        r = visitor.post("/api/v1/visits/self", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["message"]
    # Wrong content type and an oversized batch.
    r = visitor.post(
        "/api/v1/visits/self",
        content=b"id=1&token=x",
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "X-CSRF-Token": visitor.cookies.get("pd_csrf", ""),
        },
    )
    assert r.status_code == 422
    big = {"scans": [{"id": sid(), "entrance_id": 1, "person_token": "x"}] * 501}
    r = owner.post("/api/v1/visits/scans", json=big)
    assert r.status_code == 422
    # The staff scan endpoint (answered ahead of the framework's router) applies the same
    # CSRF check and error answers as every other route.
    _pid, ptoken = person(env)
    one = {
        "scans": [{"id": sid(), "entrance_id": cp["entrances"][0]["id"], "person_token": ptoken}]
    }
    r = owner.post("/api/v1/visits/scans", json=one, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    assert r.json()["message"] == "Phiên biểu mẫu đã hết hạn, vui lòng tải lại trang và thử lại."
    r = owner.post(
        "/api/v1/visits/scans",
        content=b"scans=1",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid"
    r = owner.post(
        "/api/v1/visits/scans", content=b'{"scans": [', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    r = owner.post("/api/v1/visits/scans?lang=en", json=one, headers={"X-CSRF-Token": "wrong"})
    assert r.json()["message"] == "The form has expired; reload the page and try again."
    assert count(env, Visit) == 0
    assert count(env, Scan) == 0
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 1  # the scanned one


def test_suspended_and_expired_checkpoints_refuse_scans(
    env: Env, world: World, make_client: Any
) -> None:
    _owner, cp = active_checkpoint(env, make_client)
    official = make_client()
    login_official(official, "badinh")
    official.post(
        f"/api/v1/checkpoints/{cp['id']}/status/suspend", json={"reason": "Không kiểm tra quét mã"}
    )
    visitor = make_client()
    r = visitor.post(
        "/api/v1/visits/self",
        json={"id": sid(), "token": token_of(cp), "full_name": "An", "phone": "0356789012"},
    )
    assert r.status_code == 409
    assert "tạm dừng" in r.json()["message"]
    assert count(env, Visit) == 0


def test_assisted_check_in_by_sms_code_and_by_proxy(
    env: Env, world: World, make_client: Any
) -> None:
    from tests.support.http import last_code

    owner, cp = active_checkpoint(env, make_client)
    entrance = cp["entrances"][0]["id"]
    r = owner.post(
        "/api/v1/visits/assist/code", json={"entrance_id": entrance, "phone": "0834567890"}
    )
    assert r.status_code == 202
    with env.session() as s:
        code = last_code(s, "0834567890")
    r = owner.post(
        "/api/v1/visits/assist/verify",
        json={"id": sid(), "entrance_id": entrance, "phone": "0834567890", "code": "000000"},
    )
    assert r.status_code == 401
    r = owner.post(
        "/api/v1/visits/assist/verify",
        json={
            "id": sid(),
            "entrance_id": entrance,
            "phone": "0834567890",
            "code": code,
            "full_name": "Vũ Đức Thắng",
        },
    )
    assert r.status_code == 200
    assert r.json()["action"] == "check_in"
    r = owner.post(
        "/api/v1/visits/assist/proxy",
        json={
            "id": sid(),
            "entrance_id": entrance,
            "full_name": "Cụ Nguyễn Thị Lành",
            "birth_year": 1938,
        },
    )
    assert r.status_code == 200
    card_url = r.json()["card_url"]
    card = owner.get(card_url)
    assert card.status_code == 200
    assert card.content.startswith(b"%PDF")
    methods = sorted(v.in_method for v in visits(env))
    assert methods == ["assisted_proxy", "assisted_sms"]
    assert all(v.recorded_by is not None for v in visits(env))
    # Another account may not print that person's card.
    other = make_client()
    login_phone(other, env, "0708123456")
    assert other.get(card_url).status_code == 403
    r = owner.post(
        "/api/v1/visits/assist/proxy",
        json={"id": sid(), "entrance_id": entrance, "full_name": "Bé Na", "birth_year": 2099},
    )
    assert r.status_code == 422
    assert r.json()["message"] == "Năm sinh không hợp lệ."


def test_board_and_csv(env: Env, world: World, make_client: Any) -> None:
    owner, cp = active_checkpoint(env, make_client)
    entrance = cp["entrances"][0]["id"]
    tokens = [person(env, f"Khách số {i}", f"09123450{i:02d}")[1] for i in range(3)]
    owner.post(
        "/api/v1/visits/scans",
        json={
            "scans": [{"id": sid(), "entrance_id": entrance, "person_token": tok} for tok in tokens]
        },
    )
    owner.post(
        "/api/v1/visits/scans",
        json={
            "scans": [
                {
                    "id": sid(),
                    "entrance_id": entrance,
                    "person_token": tokens[0],
                    "direction": "out",
                }
            ]
        },
    )
    board = owner.get(f"/api/v1/checkpoints/{cp['id']}/visits").json()
    assert board["occupancy"] == 2
    assert len(board["visits"]) == 3
    assert sum(1 for v in board["visits"] if not v["open"]) == 1
    assert {v["phone"] for v in board["visits"]} == {"0912***000", "0912***001", "0912***002"}
    csv_text = owner.get(f"/api/v1/checkpoints/{cp['id']}/visits.csv").content.decode("utf-8-sig")
    lines = csv_text.strip().splitlines()
    assert lines[0] == "Họ và tên,Số điện thoại,Giờ vào,Giờ ra,Cách ra,Cách vào"
    assert len(lines) == 4
    assert any(
        line.startswith("Khách số 0,0912345000,") and line.endswith(",staff,staff_scan")
        for line in lines
    )
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", lines[1])
    # Officials in the jurisdiction see it (audited); others do not.
    official = make_client()
    login_official(official, "hanoi")
    assert official.get(f"/api/v1/checkpoints/{cp['id']}/visits").status_code == 200
    outsider = make_client()
    login_official(outsider, "hoankiem")
    assert outsider.get(f"/api/v1/checkpoints/{cp['id']}/visits.csv").status_code == 403


def test_visitor_page_works_without_javascript(env: Env, world: World, make_client: Any) -> None:
    _owner, cp = active_checkpoint(env, make_client)
    visitor = make_client()
    url = f"/c/{token_of(cp)}"
    page = visitor.get(url, headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "Khai báo VÀO" in page.text
    assert "<script" not in page.text
    # First load: the HTML and every stylesheet it links, at most 50 KB together.
    css = re.findall(r'href="(/static/[^"]+\.css)"', page.text)
    total = len(page.content) + sum(len(visitor.get(u).content) for u in css)
    assert total <= 50 * 1024, total
    scan_id = re.search(r'name="scan_id" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    form = {
        "csrf_token": visitor.cookies["pd_csrf"],
        "scan_id": scan_id,
        "action": "in",
        "full_name": "Đỗ Thị Hoa",
        "phone": "0912000111",
    }
    r = visitor.post(url, data=form, follow_redirects=False)
    assert r.status_code == 303
    page = visitor.get(r.headers["location"], headers={"accept": "text/html"})
    assert "Đã khai báo VÀO Chợ Ba Đình." in page.text
    assert "Khai báo RA" in page.text
    assert "Đỗ T. H." in page.text
    # Submitting the same form twice (a double tap, a resend) stores one visit.
    visitor.post(url, data=form, follow_redirects=False)
    assert count(env, Visit) == 1
    scan_id = re.search(r'name="scan_id" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = visitor.post(
        url,
        data={"csrf_token": visitor.cookies["pd_csrf"], "scan_id": scan_id, "action": "out"},
        follow_redirects=False,
    )
    page = visitor.get(r.headers["location"], headers={"accept": "text/html"})
    assert "Đã khai báo RA khỏi Chợ Ba Đình." in page.text
    assert visits(env)[0].out_method == "scanned"
    # A bad phone number on first use keeps what was typed and shows the error.
    fresh = make_client()
    page = fresh.get(url, headers={"accept": "text/html"})
    scan_id = re.search(r'name="scan_id" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = fresh.post(
        url,
        data={
            "csrf_token": fresh.cookies["pd_csrf"],
            "scan_id": scan_id,
            "action": "in",
            "full_name": "Ngô Văn Bảy",
            "phone": "123",
        },
        headers={"accept": "text/html"},
    )
    assert r.status_code == 422
    assert "Số điện thoại di động không hợp lệ" in r.text
    assert 'value="Ngô Văn Bảy"' in r.text
    assert count(env, Visit) == 1


def test_assist_and_board_pages(env: Env, world: World, make_client: Any) -> None:
    owner, cp = active_checkpoint(env, make_client)
    html = {"accept": "text/html"}
    page = owner.get(f"/staff/assist/{cp['id']}", headers=html)
    assert page.status_code == 200
    scan_id = re.search(r'name="scan_id" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    form = {
        "csrf_token": owner.cookies["pd_csrf"],
        "scan_id": scan_id,
        "mode": "proxy",
        "entrance_id": str(cp["entrances"][0]["id"]),
        "full_name": "Cụ Phạm Văn Đồng",
        "birth_year": "1940",
    }
    r = owner.post(f"/staff/assist/{cp['id']}", data=form, headers=html)
    assert r.status_code == 200
    assert "Đã khai báo VÀO Chợ Ba Đình." in r.text
    assert "In thẻ QR cá nhân" in r.text
    # The same form resent: one visit.
    owner.post(f"/staff/assist/{cp['id']}", data=form, headers=html)
    assert count(env, Visit) == 1
    bad = dict(form, scan_id=sid(), birth_year="19x0")
    r = owner.post(f"/staff/assist/{cp['id']}", data=bad, headers=html)
    assert r.status_code == 422
    assert "Năm sinh không hợp lệ." in r.text
    board = owner.get(f"/checkpoints/{cp['id']}/visits", headers=html)
    assert board.status_code == 200
    assert "Cụ Phạm Văn Đồng" in board.text
    assert '<span id="occupancy">1</span>' in board.text
    # Someone who is not staff gets no assist page.
    stranger = make_client()
    login_phone(stranger, env, "0708123456")
    assert stranger.get(f"/staff/assist/{cp['id']}", headers=html).status_code == 403


def test_late_offline_check_in_does_not_overlap_later_visits(
    env: Env, world: World, make_client: Any
) -> None:
    owner, cp_a = active_checkpoint(env, make_client)
    r = owner.post(
        "/api/v1/checkpoints",
        json={
            "name": "Nhà thuốc An Khang",
            "type": "pharmacy",
            "address": "Số 3 Kim Mã",
            "unit_code": "00004",
        },
    )
    cp_b = r.json()
    official = make_client()
    login_official(official, "badinh")
    official.post(f"/api/v1/checkpoints/{cp_b['id']}/status/approve")
    _pid, ptoken = person(env)
    now = utcnow()
    # Recorded live at B now; then A's scanner, offline for 10 minutes, syncs its scan.
    owner.post(
        "/api/v1/visits/scans",
        json={
            "scans": [
                {
                    "id": sid(),
                    "entrance_id": cp_b["entrances"][0]["id"],
                    "person_token": ptoken,
                    "at": now.isoformat(),
                }
            ]
        },
    )
    late = owner.post(
        "/api/v1/visits/scans",
        json={
            "scans": [
                {
                    "id": sid(),
                    "entrance_id": cp_a["entrances"][0]["id"],
                    "person_token": ptoken,
                    "at": (now - timedelta(minutes=10)).isoformat(),
                }
            ]
        },
    ).json()["results"][0]
    assert late["action"] == "check_in"
    at_b, at_a = visits(env)
    assert at_a.checkpoint_id == cp_a["id"]
    assert at_a.check_out_at is not None
    assert abs((at_a.check_out_at - at_b.check_in_at).total_seconds()) < 0.001
    assert at_a.out_method == "superseded"
    assert at_b.check_out_at is None


def test_an_offline_batch_replays_in_time_order(env: Env, world: World, make_client: Any) -> None:
    owner, cp = active_checkpoint(env, make_client)
    entrance = cp["entrances"][0]["id"]
    _pid, ptoken = person(env)
    now = utcnow()
    first, dup_id = sid(), sid()
    scans = [
        # Sent out of order: the check-out (t-5) before the check-in (t-40).
        {
            "id": sid(),
            "entrance_id": entrance,
            "person_token": ptoken,
            "direction": "out",
            "at": (now - timedelta(minutes=5)).isoformat(),
        },
        {
            "id": first,
            "entrance_id": entrance,
            "person_token": ptoken,
            "direction": "in",
            "at": (now - timedelta(minutes=40)).isoformat(),
        },
        # The same scan id twice in one batch, and a rescan within the window.
        {
            "id": dup_id,
            "entrance_id": entrance,
            "person_token": ptoken,
            "direction": "auto",
            "at": (now - timedelta(minutes=38)).isoformat(),
        },
        {
            "id": dup_id,
            "entrance_id": entrance,
            "person_token": ptoken,
            "direction": "auto",
            "at": (now - timedelta(minutes=38)).isoformat(),
        },
    ]
    results = owner.post("/api/v1/visits/scans", json={"scans": scans}).json()["results"]
    assert [r["action"] for r in results] == ["check_out", "check_in", "duplicate", "duplicate"]
    assert [r["replayed"] for r in results] == [False, False, False, True]
    [visit] = visits(env)
    assert visit.out_method == "staff"
    assert visit.check_out_at is not None
    assert round((visit.check_out_at - visit.check_in_at).total_seconds()) == 35 * 60
    assert count(env, Scan) == 3


def test_oversized_bodies_are_refused(env: Env, world: World, make_client: Any) -> None:
    owner, _cp = active_checkpoint(env, make_client)
    huge = b'{"scans": [' + b'{"id": "x", "entrance_id": 1, "person_token": "y"},' * 30_000 + b"]}"
    r = owner.post(
        "/api/v1/visits/scans", content=huge, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["message"] == "Dữ liệu gửi lên quá lớn (tối đa 1024 KB)."
    assert count(env, Scan) == 0


def test_expired_event_refuses_scans_and_old_visits_are_purged(
    env: Env, world: World, make_client: Any
) -> None:
    from phongdich.checkpoints.models import Checkpoint
    from phongdich.maintenance import purge_all

    owner, cp = active_checkpoint(
        env,
        make_client,
        type="event",
        name="Hội nghị tổng kết",
        ends_at=(utcnow() + timedelta(hours=3)).isoformat(),
    )
    entrance = cp["entrances"][0]["id"]
    _pid, ptoken = person(env)
    ok = owner.post(
        "/api/v1/visits/scans",
        json={"scans": [{"id": sid(), "entrance_id": entrance, "person_token": ptoken}]},
    ).json()["results"][0]
    assert ok["action"] == "check_in"
    [visit] = visits(env)
    # An event's visits end automatically at the event's end.
    with env.session() as s:
        row = s.get(Checkpoint, cp["id"])
        assert row is not None
        assert visit.auto_out_at == row.ends_at
        row.ends_at = utcnow() - timedelta(minutes=1)
        s.commit()
    late = owner.post(
        "/api/v1/visits/scans",
        json={"scans": [{"id": sid(), "entrance_id": entrance, "person_token": ptoken}]},
    ).json()["results"][0]
    assert late["status"] == 409
    assert "đã hết hạn" in late["message"]
    # Retention: 30 days by default; move the visit back 31 days and purge.
    with env.session() as s:
        old = s.get(Visit, visit.id)
        assert old is not None
        old.check_in_at = utcnow() - timedelta(days=31)
        old.auto_out_at = old.check_in_at + timedelta(hours=3)
        for scan in s.scalars(select(Scan)):
            scan.received_at = utcnow() - timedelta(days=31)
        s.commit()
    removed = purge_all(env.factory, env.settings)
    assert removed["visits"] == 1
    assert removed["visit_scans"] == 1
    assert count(env, Visit) == 0
    assert count(env, Scan) == 0


# The personal health QR at the staff scanner -------------------------------------------------
def scan_one(owner: Client, entrance: int, person_token: str) -> dict[str, Any]:
    r = owner.post(
        "/api/v1/visits/scans",
        json={"scans": [{"id": sid(), "entrance_id": entrance, "person_token": person_token}]},
    )
    assert r.status_code == 200, r.text
    [result] = r.json()["results"]
    return dict(result)


def test_scan_result_carries_the_colour_of_the_pass(
    env: Env, world: World, make_client: Any
) -> None:
    owner, cp = active_checkpoint(env, make_client)
    entrance = cp["entrances"][0]["id"]
    green_id, green_pass, _card = declared_person(env, "Phạm Văn Xanh", "0911222333")
    yellow_id, yellow_pass = person(env)  # never declared
    red_id, _ = person(env, "Đỗ Thị Đỏ", "0922333444")
    now = whole_seconds(utcnow())
    # The colour is the one signed into the pass (the server would say yellow for this person).
    red_pass = key_ring(env.settings).issue(
        subject_of(env, red_id), "red", now, now + timedelta(hours=1)
    )
    assert all(p.startswith(healthqr.PREFIX) for p in (green_pass, yellow_pass, red_pass))
    scans = [
        {"id": sid(), "entrance_id": entrance, "person_token": token}
        for token in (green_pass, yellow_pass, red_pass)
    ]
    results = owner.post("/api/v1/visits/scans", json={"scans": scans}).json()["results"]
    assert [r["status"] for r in results] == [200, 200, 200]
    assert [r["action"] for r in results] == ["check_in"] * 3
    assert [r["health"] for r in results] == ["green", "yellow", "red"]
    assert [r["person"] for r in results] == ["Phạm V. X.", "Trần T. M.", "Đỗ T. Đ."]
    assert sorted(v.person_id for v in visits(env)) == sorted([green_id, yellow_id, red_id])
    assert {v.in_method for v in visits(env)} == {"staff_scan"}
    assert count(env, Scan) == 3


def test_printed_card_gets_the_colour_from_the_server(
    env: Env, world: World, make_client: Any
) -> None:
    owner, cp = active_checkpoint(env, make_client)
    entrance = cp["entrances"][0]["id"]
    declared_id, _phone_pass, declared_card = declared_person(env, "Phạm Văn Xanh", "0911222333")
    undeclared_id, _ = person(env)
    with env.session() as s:
        service = PersonService(s, env.settings)
        undeclared = s.get(Person, undeclared_id)
        assert undeclared is not None
        undeclared_card = service.card_pass(undeclared)
    key = key_ring(env.settings)
    # A card pass carries no colour at all.
    assert key.verify(declared_card, utcnow()).status == "card"
    assert key.verify(undeclared_card, utcnow()).status == "card"
    results = owner.post(
        "/api/v1/visits/scans",
        json={
            "scans": [
                {"id": sid(), "entrance_id": entrance, "person_token": declared_card},
                {"id": sid(), "entrance_id": entrance, "person_token": undeclared_card},
            ]
        },
    ).json()["results"]
    assert [r["status"] for r in results] == [200, 200]
    assert [r["action"] for r in results] == ["check_in", "check_in"]
    # Computed now by the server from each person's declarations.
    assert [r["health"] for r in results] == ["green", "yellow"]
    assert sorted(v.person_id for v in visits(env)) == sorted([declared_id, undeclared_id])
    assert count(env, Scan) == 2


def test_expired_pass_is_refused_and_nothing_stored(
    env: Env, world: World, make_client: Any
) -> None:
    owner, cp = active_checkpoint(env, make_client)
    entrance = cp["entrances"][0]["id"]
    pid, _ = person(env)
    now = whole_seconds(utcnow())
    expired = key_ring(env.settings).issue(
        subject_of(env, pid), "green", now - timedelta(days=2), now - timedelta(days=1)
    )
    result = scan_one(owner, entrance, expired)
    assert result["ok"] is False
    assert result["status"] == 422
    assert result["message"] == "Mã QR sức khỏe đã hết hạn: mở lại ứng dụng để lấy mã mới."
    assert result.get("health") is None
    assert count(env, Visit) == 0
    assert count(env, Scan) == 0


def test_pass_signed_by_another_key_is_refused_and_nothing_stored(
    env: Env, world: World, make_client: Any
) -> None:
    owner, cp = active_checkpoint(env, make_client)
    entrance = cp["entrances"][0]["id"]
    pid, _ = person(env)
    subject = subject_of(env, pid)
    now = whole_seconds(utcnow())
    # The attacker knows the person's subject and signs a green pass under our key id 1...
    attacker = healthqr.KeyRing({1: healthqr.derive_seed("attacker", 1)}, 1)
    forged = attacker.issue(subject, "green", now, now + timedelta(hours=1))
    # ...or under a key id the server does not have.
    other_kid = healthqr.KeyRing({7: healthqr.derive_seed("attacker", 7)}, 7)
    unknown_key = other_kid.issue(subject, "green", now, now + timedelta(hours=1))
    for text in (forged, unknown_key):
        result = scan_one(owner, entrance, text)
        assert result["ok"] is False
        assert result["status"] == 422
        assert result["message"] == "Mã QR cá nhân không hợp lệ."
    assert count(env, Visit) == 0
    assert count(env, Scan) == 0


def test_pass_of_nobody_and_old_tokens_are_refused_and_nothing_stored(
    env: Env, world: World, make_client: Any
) -> None:
    owner, cp = active_checkpoint(env, make_client)
    entrance = cp["entrances"][0]["id"]
    pid, _ = person(env)
    now = whole_seconds(utcnow())
    # Validly signed, but its subject stands for no one.
    nobody = key_ring(env.settings).issue(
        healthqr.new_subject(), "green", now, now + timedelta(hours=1)
    )
    with env.session() as s:
        p = s.get(Person, pid)
        assert p is not None
        # The visitor's device cookie (and the stand-in QR made from it) is no scan credential.
        device = PersonService(s, env.settings).token(p)
    for text in (nobody, "PD:" + device, device):
        result = scan_one(owner, entrance, text)
        assert result["ok"] is False, text
        assert result["status"] == 422
        assert result["message"] == "Mã QR cá nhân không hợp lệ."
    assert count(env, Visit) == 0
    assert count(env, Scan) == 0
