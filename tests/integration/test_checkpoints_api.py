"""Checkpoint registration, review, QR scanning and posters through the HTTP API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from phongdich.accounts.models import AuditEvent
from phongdich.checkpoints.models import Checkpoint, CheckpointMember, Entrance
from phongdich.notify.models import OutboxMessage
from tests.conftest import Env, World, login_official, login_phone
from tests.support.http import Client

OWNER_PHONE = "0912345678"


def venue(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Chợ Ba Đình",
        "type": "market",
        "address": "Số 1 Đội Cấn, phường Ba Đình",
        "unit_code": "00004",
        "capacity": 300,
        "entrances": ["Cổng chính", "Cổng phụ", "Phòng họp tầng 2"],
    }
    body.update(overrides)
    return body


def count(env: Env, model: type) -> int:
    with env.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def register(client: Client, env: Env, **overrides: Any) -> dict[str, Any]:
    login_phone(client, env, OWNER_PHONE, "Nguyễn Văn An")
    r = client.post("/api/v1/checkpoints", json=venue(**overrides))
    assert r.status_code == 201, r.text
    return r.json()


def test_owner_registers_official_approves_and_qr_resolves(
    env: Env, world: World, make_client: Any
) -> None:
    owner = make_client()
    cp = register(owner, env)
    assert cp["status"] == "registered"
    assert cp["status_label"] == "Chờ duyệt"
    assert cp["code"].startswith("KD-")
    assert [e["name"] for e in cp["entrances"]] == ["Cổng chính", "Cổng phụ", "Phòng họp tầng 2"]
    assert [e["kind"] for e in cp["entrances"]] == ["entrance", "entrance", "room"]
    url = cp["entrances"][0]["qr_url"]
    assert url.startswith("http://testserver/c/")
    token = url.rsplit("/", 1)[1]
    # No personal data in the QR: neither the phone number nor the name.
    assert OWNER_PHONE not in url
    assert "Nguy" not in url
    assert len(token) <= 40

    # Before approval a scan says so, and posters cannot be printed.
    r = owner.get(f"/api/v1/scan/{token}")
    assert r.json()["state"] == "pending"
    assert owner.get(f"/api/v1/checkpoints/{cp['id']}/posters.pdf").status_code == 409

    official = make_client()
    login_official(official, "badinh")
    listed = official.get("/api/v1/checkpoints", params={"status": "registered"}).json()
    assert cp["id"] in [c["id"] for c in listed["items"]]
    r = official.post(f"/api/v1/checkpoints/{cp['id']}/status/approve")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"

    r = owner.get(f"/api/v1/scan/{token}")
    assert r.status_code == 200
    assert r.json()["state"] == "ok"
    assert r.json()["message"] == "Bạn đang ở Chợ Ba Đình — Cổng chính."
    page = owner.get(f"/c/{token}", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "Chợ Ba Đình" in page.text

    pdf = owner.get(f"/api/v1/checkpoints/{cp['id']}/posters.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")

    # The owner was told by SMS.
    with env.session() as s:
        bodies = s.scalars(
            select(OutboxMessage.body).where(OutboxMessage.purpose == "checkpoint_status")
        ).all()
    assert any(cp["code"] in b for b in bodies)
    assert all(" " <= ch <= "~" for b in bodies for ch in b)  # 7-bit, no diacritics


def test_suspend_needs_reason_and_scan_explains_it(
    env: Env, world: World, make_client: Any
) -> None:
    owner = make_client()
    cp = register(owner, env)
    official = make_client()
    login_official(official, "badinh")
    official.post(f"/api/v1/checkpoints/{cp['id']}/status/approve")
    r = official.post(f"/api/v1/checkpoints/{cp['id']}/status/suspend", json={"reason": "  "})
    assert r.status_code == 409
    assert r.json()["message"] == "Vui lòng nhập lý do."
    reason = "Không yêu cầu khách quét mã QR"
    r = official.post(f"/api/v1/checkpoints/{cp['id']}/status/suspend", json={"reason": reason})
    assert r.status_code == 200
    assert r.json()["status"] == "suspended"
    token = cp["entrances"][0]["qr_url"].rsplit("/", 1)[1]
    scan = owner.get(f"/api/v1/scan/{token}").json()
    assert scan["state"] == "suspended"
    assert reason in scan["message"]
    # The owner sees why.
    mine = owner.get(f"/api/v1/checkpoints/{cp['id']}").json()
    assert mine["status_reason"] == reason
    assert mine["events"][0]["action"] == "suspend"
    r = official.post(f"/api/v1/checkpoints/{cp['id']}/status/reactivate")
    assert r.json()["status"] == "active"
    assert owner.get(f"/api/v1/scan/{token}").json()["state"] == "ok"


def test_owner_cannot_approve_own_checkpoint(env: Env, world: World, client: Client) -> None:
    cp = register(client, env)
    r = client.post(f"/api/v1/checkpoints/{cp['id']}/status/approve")
    assert r.status_code == 403
    assert r.json()["message"] == "Bạn không có quyền thực hiện thao tác này."


def test_official_outside_jurisdiction_gets_403(env: Env, world: World, make_client: Any) -> None:
    owner = make_client()
    cp = register(owner, env)
    other = make_client()
    login_official(other, "hoankiem")  # a neighbouring ward
    assert other.get(f"/api/v1/checkpoints/{cp['id']}").status_code == 403
    r = other.post(f"/api/v1/checkpoints/{cp['id']}/status/approve")
    assert r.status_code == 403
    assert r.json()["message"] == "Đối tượng này nằm ngoài địa bàn bạn quản lý."
    assert other.get("/api/v1/checkpoints", params={"unit": "00004"}).status_code == 403
    hcm = make_client()
    login_official(hcm, "hcm")
    assert hcm.get(f"/api/v1/checkpoints/{cp['id']}").status_code == 403
    # The province above both wards sees it.
    province = make_client()
    login_official(province, "hanoi")
    assert province.get(f"/api/v1/checkpoints/{cp['id']}").status_code == 200
    # The province official's read of the owner's phone number is in the audit log.
    with env.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.object_id == str(cp["id"]))).all()
    assert [(e.actor, e.action) for e in events] == [(f"official:{world.hanoi.id}", "read_members")]


def test_health_official_reads_but_does_not_decide(
    env: Env, world: World, make_client: Any
) -> None:
    owner = make_client()
    cp = register(owner, env)
    health = make_client()
    login_official(health, "health")
    assert health.get(f"/api/v1/checkpoints/{cp['id']}").status_code == 200
    assert health.post(f"/api/v1/checkpoints/{cp['id']}/status/approve").status_code == 403


def test_bad_input_gives_clear_errors_and_saves_nothing(
    env: Env, world: World, client: Client
) -> None:
    login_phone(client, env, OWNER_PHONE)
    before = (count(env, Checkpoint), count(env, Entrance), count(env, CheckpointMember))
    cases = [
        (venue(unit_code="99999"), 422, "Mã đơn vị hành chính «99999» không tồn tại."),
        (venue(name=""), 422, "Tên phải có từ 1 đến 200 ký tự."),
        (venue(name="   "), 422, "Tên phải có từ 1 đến 200 ký tự."),
        (venue(name="Nhà hàng " + "Phở " * 73), 422, "Tên phải có từ 1 đến 200 ký tự."),
        (venue(address=""), 422, "Địa chỉ phải có từ 1 đến 300 ký tự."),
        (venue(type="casino"), 422, "Loại điểm kiểm dịch «casino» không hợp lệ."),
        (venue(entrances=[]), 422, "Cần từ 1 đến 100 lối vào/phòng, mỗi tên từ 1 đến 120 ký tự."),
        (
            venue(entrances=["Cổng chính", ""]),
            422,
            "Cần từ 1 đến 100 lối vào/phòng, mỗi tên từ 1 đến 120 ký tự.",
        ),
        (venue(latitude=123.0, longitude=105.8), 422, None),
        (venue(capacity=-5), 422, "Sức chứa phải là số nguyên dương."),
        (venue(type="event"), 422, "Sự kiện, hội nghị phải có thời gian kết thúc."),
        (venue(type="event", ends_at="2020-01-01T10:00:00+07:00"), 422, None),
    ]
    for body, status, message in cases:
        r = client.post("/api/v1/checkpoints", json=body)
        assert r.status_code == status, (body, r.text)
        if message:
            assert r.json()["message"] == message
        else:
            assert r.json()["message"]
    assert (count(env, Checkpoint), count(env, Entrance), count(env, CheckpointMember)) == before
    # 300-character name, in English too.
    r = client.post("/api/v1/checkpoints?lang=en", json=venue(name="x" * 300))
    assert r.status_code == 422
    assert r.json()["message"] == "The name must have 1 to 200 characters."


def test_same_venue_twice_points_to_existing(env: Env, world: World, client: Client) -> None:
    first = register(client, env)
    # Same name, address and unit, written with other case and spacing.
    r = client.post(
        "/api/v1/checkpoints",
        json=venue(name="  chợ  BA ĐÌNH ", address="số 1 đội cấn,  phường Ba Đình"),
    )
    assert r.status_code == 409
    body = r.json()
    assert body["existing_id"] == first["id"]
    assert body["existing_code"] == first["code"]
    assert first["code"] in body["message"]
    assert count(env, Checkpoint) == 1
    # The same name in another ward is another venue.
    r = client.post("/api/v1/checkpoints", json=venue(unit_code="00070"))
    assert r.status_code == 201


def test_forged_and_truncated_tokens_are_rejected(env: Env, world: World, make_client: Any) -> None:
    owner = make_client()
    cp = register(owner, env)
    token = cp["entrances"][0]["qr_url"].rsplit("/", 1)[1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_entrance = token[:3] + ("B" if token[3] != "B" else "C") + token[4:]
    for bad in (token[:-4], flipped, other_entrance, "abc", "x" * 200, token + "AAAA"):
        r = owner.get(f"/api/v1/scan/{bad}")
        assert r.status_code in (400, 404), (bad, r.status_code)
        assert "Mã QR không hợp lệ" in r.json()["message"] or r.status_code == 404
        page = owner.get(f"/c/{bad}", headers={"accept": "text/html"})
        assert page.status_code in (400, 404)


def test_expired_event_checkpoint(env: Env, world: World, make_client: Any) -> None:
    from datetime import timedelta

    from phongdich.kit.clock import utcnow

    owner = make_client()
    end = utcnow() + timedelta(hours=2)
    cp = register(owner, env, type="event", name="Hội nghị tập huấn", ends_at=end.isoformat())
    official = make_client()
    login_official(official, "badinh")
    official.post(f"/api/v1/checkpoints/{cp['id']}/status/approve")
    token = cp["entrances"][0]["qr_url"].rsplit("/", 1)[1]
    assert owner.get(f"/api/v1/scan/{token}").json()["state"] == "ok"
    with env.session() as s:
        row = s.get(Checkpoint, cp["id"])
        assert row is not None
        row.ends_at = utcnow() - timedelta(minutes=1)
        s.commit()
    scan = owner.get(f"/api/v1/scan/{token}").json()
    assert scan["state"] == "expired"
    shown = owner.get(f"/api/v1/checkpoints/{cp['id']}").json()
    assert shown["status"] == "active"
    assert shown["display_status"] == "expired"
    assert shown["status_label"] == "Hết hạn"
    assert scan["message"].startswith("Mã QR của sự kiện «Hội nghị tập huấn» đã hết hạn lúc")


def test_list_filters_search_and_pagination(env: Env, world: World, make_client: Any) -> None:
    owner = make_client()
    login_phone(owner, env, OWNER_PHONE)
    for i in range(7):
        r = owner.post(
            "/api/v1/checkpoints", json=venue(name=f"Quán cà phê Phố Cổ {i}", type="restaurant")
        )
        assert r.status_code == 201
    owner.post(
        "/api/v1/checkpoints",
        json=venue(name="Trường Tiểu học Hoàn Kiếm", unit_code="00070", type="school"),
    )
    province = make_client()
    login_official(province, "hanoi")
    page1 = province.get("/api/v1/checkpoints", params={"size": 3}).json()
    assert page1["total"] == 8
    assert page1["pages"] == 3
    assert len(page1["items"]) == 3
    page3 = province.get("/api/v1/checkpoints", params={"size": 3, "page": 3}).json()
    assert len(page3["items"]) == 2
    assert {i["id"] for i in page1["items"]}.isdisjoint({i["id"] for i in page3["items"]})
    # Accent-free search finds Vietnamese names.
    found = province.get("/api/v1/checkpoints", params={"q": "ca phe pho co"}).json()
    assert found["total"] == 7
    schools = province.get("/api/v1/checkpoints", params={"type": "school"}).json()
    assert [i["name"] for i in schools["items"]] == ["Trường Tiểu học Hoàn Kiếm"]
    ward = province.get("/api/v1/checkpoints", params={"unit": "00070"}).json()
    assert ward["total"] == 1
    commune = make_client()
    login_official(commune, "badinh")
    assert commune.get("/api/v1/checkpoints").json()["total"] == 7
    assert province.get("/api/v1/checkpoints", params={"status": "nonsense"}).status_code == 422
    # Unauthenticated.
    anon = make_client()
    assert anon.get("/api/v1/checkpoints").status_code == 401


def test_staff_and_entrances(env: Env, world: World, make_client: Any) -> None:
    owner = make_client()
    cp = register(owner, env)
    r = owner.post(f"/api/v1/checkpoints/{cp['id']}/staff", json={"phone": "+84 987 654 321"})
    assert r.status_code == 201
    assert r.json()["phone"] == "0987654321"
    assert (
        owner.post(
            f"/api/v1/checkpoints/{cp['id']}/staff", json={"phone": "0987654321"}
        ).status_code
        == 409
    )
    r = owner.post(f"/api/v1/checkpoints/{cp['id']}/staff", json={"phone": "12345"})
    assert r.status_code == 422
    assert r.json()["message"].startswith("Số điện thoại di động không hợp lệ")
    r = owner.post(
        f"/api/v1/checkpoints/{cp['id']}/entrances", json={"name": "Hội trường A", "kind": "room"}
    )
    assert r.status_code == 201
    assert r.json()["qr_url"].startswith("http://testserver/c/")
    staff = make_client()
    login_phone(staff, env, "0987654321")
    mine = staff.get("/api/v1/my/checkpoints").json()
    assert [c["id"] for c in mine["items"]] == [cp["id"]]
    # Staff may not add staff.
    assert (
        staff.post(
            f"/api/v1/checkpoints/{cp['id']}/staff", json={"phone": "0356789012"}
        ).status_code
        == 403
    )


def test_csrf_is_required_for_cookie_requests(env: Env, world: World, client: Client) -> None:
    login_official(client, "badinh")
    import httpx2 as httpx

    r = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    assert r.json()["error"] == "csrf"
    raw = httpx.Client(
        transport=client._transport, base_url="http://testserver", cookies=client.cookies
    )
    r = raw.post("/api/v1/checkpoints", json=venue())
    assert r.status_code == 403
