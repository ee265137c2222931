"""People, households, declarations, the health QR and the officials' views, on both databases."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from phongdich.accounts.models import AuditEvent
from phongdich.kit.clock import VN, utcnow
from phongdich.people import healthqr
from phongdich.people.models import Declaration, DuplicateCandidate, HouseholdMember, Person
from phongdich.people.service import key_ring
from phongdich.visits.models import Visit
from tests.conftest import Env, World, login_official, login_phone
from tests.integration.test_visits_api import active_checkpoint
from tests.support.http import Client

CHILD = {
    "full_name": "Nguyễn Minh Khôi",
    "relation": "child",
    "birth_date": "2019-05-02",
    "gender": "male",
}
HEALTHY = {"kind": "daily", "symptoms": []}


def citizen(
    make_client: Any, env: Env, phone: str = "0912345670", name: str = "Nguyễn Thị Lan"
) -> Client:
    c: Client = make_client()
    login_phone(c, env, phone, name)
    return c


def profile(c: Client, **overrides: Any) -> Any:
    body = {
        "full_name": "Nguyễn Thị Lan",
        "birth_date": "2001-03-04",
        "gender": "female",
        "id_kind": "cccd",
        "id_number": "001301012345",
        "address": "12 Kim Mã",
        "unit_code": "00004",
        **overrides,
    }
    return c.put("/api/v1/me/profile", json=body)


def count(env: Env, model: type) -> int:
    with env.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_citizen_declares_for_self_and_child_and_the_colour_follows(
    env: Env, world: World, make_client: Any
) -> None:
    c = citizen(make_client, env)
    me = c.get("/api/v1/me")
    assert me.status_code == 200, me.text
    # Never declared: yellow, and told why.
    assert me.json()["color"] == "yellow"
    assert [r["code"] for r in me.json()["reasons"]] == ["status.no_declaration"]
    assert me.json()["label"] == "Vàng"
    assert profile(c).status_code == 200
    my_id = me.json()["person_id"]

    r = c.post(f"/api/v1/people/{my_id}/declarations", json=HEALTHY)
    assert r.status_code == 201, r.text
    assert r.json()["assessed"] == "green"
    assert c.get("/api/v1/me").json()["color"] == "green"

    child = c.post("/api/v1/me/household", json=CHILD)
    assert child.status_code == 201, child.text
    kid = child.json()["id"]
    assert child.json()["unit_code"] == "00004"  # the household's unit by default
    sick = {"kind": "daily", "symptoms": ["fever", "cough"]}
    assert c.post(f"/api/v1/people/{kid}/declarations", json=sick).status_code == 201
    status = c.get(f"/api/v1/people/{kid}/status").json()
    assert status["color"] == "yellow"
    assert status["reasons"][0]["code"] == "status.symptoms"
    assert "Sốt" in status["reasons"][0]["message"]
    members = {m["relation"]: m for m in c.get("/api/v1/me/household").json()}
    assert set(members) == {"self", "child"}
    assert members["self"]["id_number_masked"] == "********2345"

    # The QR carries no name and no ID number, and verifies offline with the published keys.
    published = c.get("/api/v1/health-qr/keys").json()["keys"]
    scanner = healthqr.KeyRing.from_published(published)
    qr = status["qr"]
    assert qr.startswith("PD1:")
    assert "Khôi" not in qr
    assert "001301012345" not in qr
    checked = scanner.verify(qr, utcnow())
    assert checked.status == "yellow"
    with env.session() as s:
        subject = s.get(Person, kid).qr_subject  # type: ignore[union-attr]
    assert checked.subject.hex() == subject

    # A correction is a new declaration pointing at the old one; the old one is unchanged.
    first_id = c.get(f"/api/v1/people/{kid}/declarations").json()[0]["id"]
    fixed = c.post(f"/api/v1/people/{kid}/declarations", json={**HEALTHY, "corrects_id": first_id})
    assert fixed.status_code == 201
    assert c.get(f"/api/v1/people/{kid}/status").json()["color"] == "green"
    history = c.get(f"/api/v1/people/{kid}/declarations").json()
    assert [d["assessed"] for d in history] == ["green", "yellow"]
    assert history[0]["corrects_id"] == first_id


def test_a_guard_scanning_the_health_qr_records_the_visit(
    env: Env, world: World, make_client: Any
) -> None:
    owner, cp = active_checkpoint(env, make_client)
    c = citizen(make_client, env)
    my_id = c.get("/api/v1/me").json()["person_id"]
    c.post(f"/api/v1/people/{my_id}/declarations", json=HEALTHY)
    qr = c.get("/api/v1/me").json()["qr"]
    scan = {
        "id": str(uuid.uuid4()),
        "entrance_id": cp["entrances"][0]["id"],
        "person_token": qr,
    }
    r = owner.post("/api/v1/visits/scans", json={"scans": [scan]})
    assert r.status_code == 200, r.text
    result = r.json()["results"][0]
    assert result["ok"] is True
    assert result["action"] == "check_in"
    assert result["health"] == "green"
    assert result["person"] == "Nguyễn T. L."
    with env.session() as s:
        [visit] = s.scalars(select(Visit)).all()
        assert visit.person_id == my_id


def test_movement_declaration_and_bad_input_store_nothing(
    env: Env, world: World, make_client: Any
) -> None:
    c = citizen(make_client, env)
    me = c.get("/api/v1/me").json()["person_id"]
    today = utcnow().astimezone(VN).date()
    move = {
        "kind": "movement",
        "from_unit": "00004",
        "to_unit": "25747",
        "transport": "coach",
        "travel_date": today.isoformat(),
        "vehicle_no": "29b-123.45",
    }
    r = c.post(f"/api/v1/people/{me}/declarations", json=move)
    assert r.status_code == 201, r.text
    assert r.json()["details"]["vehicle_no"] == "29B-123.45"
    assert r.json()["details"]["to_unit"] == "25747"
    before = count(env, Declaration)
    bad_declarations = [
        {**move, "transport": "rocket"},
        {**move, "to_unit": "99999"},
        {**move, "travel_date": (today - timedelta(days=40)).isoformat()},
        {"kind": "movement"},
        {"kind": "weekly"},
        {"kind": "daily", "symptoms": ["hiccups"]},
        {"kind": "daily", "corrects_id": 999999},
    ]
    for body in bad_declarations:
        bad = c.post(f"/api/v1/people/{me}/declarations", json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert bad.json()["message"]
    assert count(env, Declaration) == before

    bad_profiles = [
        ({"id_number": "00130101234"}, "12 chữ số"),  # 11 digits
        ({"id_number": "00130101234X"}, "chữ số"),
        ({"id_number": "999301012345"}, "Mã tỉnh 999"),
        ({"id_number": "001285012345"}, "năm sinh"),  # says 1985, born 2001
        ({"id_number": "001201012345"}, "giới tính"),  # a man's number, she is a woman
        ({"id_kind": "cmnd", "id_number": "12345"}, "9 hoặc 12"),
        ({"id_kind": "passport", "id_number": "??"}, "hộ chiếu"),
        ({"birth_date": (today + timedelta(days=1)).isoformat(), "id_number": None}, "tương lai"),
        ({"birth_date": "1890-01-01", "id_number": None}, "120 năm"),
        ({"insurance_no": "XX123"}, "BHYT"),
        ({"unit_code": "99999"}, ""),
        ({"gender": "robot"}, "Giới tính"),
    ]
    for overrides, words in bad_profiles:
        r = profile(c, **overrides)
        assert r.status_code == 422, (overrides, r.text)
        assert words in r.json()["message"], (overrides, r.json()["message"])
    with env.session() as s:
        person = s.get(Person, me)
        assert person is not None
        assert person.id_number is None

    bad_child = c.post("/api/v1/me/household", json={**CHILD, "phone": "12345"})
    assert bad_child.status_code == 422
    assert c.post("/api/v1/me/household", json={**CHILD, "relation": "boss"}).status_code == 422
    assert count(env, HouseholdMember) == 1  # only "self"


def test_nobody_declares_for_someone_outside_their_household(
    env: Env, world: World, make_client: Any
) -> None:
    lan = citizen(make_client, env)
    kid = lan.post("/api/v1/me/household", json=CHILD).json()["id"]
    other = citizen(make_client, env, "0987000111", "Trần Văn Hùng")
    before = count(env, Declaration)
    r = other.post(f"/api/v1/people/{kid}/declarations", json=HEALTHY)
    assert r.status_code == 403
    assert "hộ gia đình" in r.json()["message"]
    assert other.get(f"/api/v1/people/{kid}/status").status_code == 403
    assert other.get(f"/api/v1/people/{kid}/card.pdf").status_code == 403
    assert count(env, Declaration) == before
    # Officials and anonymous visitors have no household.
    anonymous: Client = make_client()
    assert anonymous.post(f"/api/v1/people/{kid}/declarations", json=HEALTHY).status_code == 401
    card = lan.get(f"/api/v1/people/{kid}/card.pdf")
    assert card.status_code == 200
    assert card.content.startswith(b"%PDF")


def test_duplicates_are_flagged_and_a_merge_moves_every_record(
    env: Env, world: World, make_client: Any
) -> None:
    owner, cp = active_checkpoint(env, make_client)
    # The same woman: registered by her mother's household, then by herself.
    mother = citizen(make_client, env, "0912000222", "Phạm Thị Hoa")
    added = mother.post(
        "/api/v1/me/household",
        json={
            **CHILD,
            "full_name": "Nguyễn Thị Lan",
            "relation": "child",
            "birth_date": "2001-03-04",
            "gender": "female",
            "id_kind": "cccd",
            "id_number": "001301012345",
            "unit_code": "00004",
        },
    )
    assert added.status_code == 201, added.text
    duplicate = added.json()["id"]
    mother.post(f"/api/v1/people/{duplicate}/declarations", json=HEALTHY)
    scan = {
        "id": str(uuid.uuid4()),
        "entrance_id": cp["entrances"][0]["id"],
        "person_token": mother.get(f"/api/v1/people/{duplicate}/status").json()["qr"],
    }
    assert owner.post("/api/v1/visits/scans", json={"scans": [scan]}).json()["results"][0]["ok"]
    old_qr = scan["person_token"]

    lan = citizen(make_client, env)
    assert profile(lan).status_code == 200  # same CCCD: flagged for the officials
    survivor = lan.get("/api/v1/me").json()["person_id"]
    assert count(env, DuplicateCandidate) == 1

    official = make_client()
    login_official(official, "badinh")
    listed = official.get("/api/v1/officials/duplicates").json()
    assert len(listed) == 1
    assert listed[0]["reason"] == "id_number"
    with env.session() as s:
        shown = s.scalars(
            select(AuditEvent.object_id).where(AuditEvent.detail == "duplicates api")
        ).all()
    assert sorted(shown) == sorted([str(survivor), str(duplicate)])
    # An official of another province can neither see nor merge them.
    far = make_client()
    login_official(far, "hcm")
    assert far.get("/api/v1/officials/duplicates").json() == []
    refused = far.post(
        "/api/v1/officials/people/merge",
        json={"survivor_id": survivor, "duplicate_id": duplicate},
    )
    assert refused.status_code == 403

    merged = official.post(
        "/api/v1/officials/people/merge",
        json={"survivor_id": survivor, "duplicate_id": duplicate},
    )
    assert merged.status_code == 200, merged.text
    moved = merged.json()["moved"]
    assert moved["visits.person_id"] == 1
    assert moved["declarations.person_id"] == 1
    assert moved["household_members.person_id"] == 1
    with env.session() as s:
        assert s.scalar(select(func.count()).where(Visit.person_id == duplicate)) == 0
        assert s.scalar(select(func.count()).where(Declaration.person_id == survivor)) == 1
        assert s.get(Person, duplicate).merged_into == survivor  # type: ignore[union-attr]
        actions = s.scalars(select(AuditEvent.action)).all()
        assert "merge_person" in actions
    assert official.get("/api/v1/officials/duplicates").json() == []
    # Her declaration made through her mother now counts for her: green.
    assert lan.get("/api/v1/me").json()["color"] == "green"
    # The mother still declares for her (the household moved with the record).
    assert mother.get(f"/api/v1/people/{survivor}/status").status_code == 200
    # The old QR still resolves, to the surviving person.
    again = {**scan, "id": str(uuid.uuid4()), "person_token": old_qr, "direction": "out"}
    out = owner.post("/api/v1/visits/scans", json={"scans": [again]}).json()["results"][0]
    assert out["ok"] is True
    assert out["action"] == "check_out"
    # Merging again is refused: nothing left to merge.
    twice = official.post(
        "/api/v1/officials/people/merge",
        json={"survivor_id": survivor, "duplicate_id": duplicate},
    )
    assert twice.status_code == 409


def test_officials_see_declarations_of_their_jurisdiction_and_every_read_is_audited(
    env: Env, world: World, make_client: Any
) -> None:
    lan = citizen(make_client, env)
    profile(lan)
    lan_id = lan.get("/api/v1/me").json()["person_id"]
    lan.post(f"/api/v1/people/{lan_id}/declarations", json=HEALTHY)
    lan.post(f"/api/v1/people/{lan_id}/declarations", json={"kind": "daily", "symptoms": ["fever"]})
    hung = citizen(make_client, env, "0987000111", "Trần Văn Hùng")
    profile(hung, full_name="Trần Văn Hùng", id_number=None, unit_code="00070", gender="male")
    hung_id = hung.get("/api/v1/me").json()["person_id"]
    hung.post(f"/api/v1/people/{hung_id}/declarations", json=HEALTHY)

    province = make_client()
    login_official(province, "hanoi")
    summary = province.get("/api/v1/officials/declarations/summary").json()
    assert summary["unit"] == "01"
    assert sum(row["total"] for row in summary["units"].values()) == 3
    assert sum(row["yellow"] for row in summary["units"].values()) == 1

    commune = make_client()
    login_official(commune, "badinh")
    listed = commune.get("/api/v1/officials/declarations").json()
    assert listed["total"] == 2
    assert {i["full_name"] for i in listed["items"]} == {"Nguyễn Thị Lan"}
    # Another commune is outside Ba Đình's jurisdiction.
    assert commune.get("/api/v1/officials/declarations?unit=00070").status_code == 403
    assert commune.get(f"/api/v1/officials/people/{hung_id}").status_code == 403
    found = commune.get("/api/v1/officials/people", params={"q": "nguyen thi"}).json()
    assert [p["id"] for p in found] == [lan_id]
    assert commune.get("/api/v1/officials/people", params={"q": "tran van"}).json() == []
    by_id = commune.get("/api/v1/officials/people", params={"q": "001301012345"}).json()
    assert [p["id_number_masked"] for p in by_id] == ["001301012345"]
    detail = commune.get(f"/api/v1/officials/people/{lan_id}").json()
    assert detail["status"] == "yellow"
    assert len(detail["declarations"]) == 2

    csv_export = commune.get("/api/v1/officials/declarations/export.csv")
    assert csv_export.status_code == 200
    text = csv_export.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Thời gian khai,Loại tờ khai")
    assert text.count("Nguyễn Thị Lan") == 2
    assert "Trần Văn Hùng" not in text
    xlsx = commune.get("/api/v1/officials/declarations/export.xlsx")
    assert xlsx.status_code == 200
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as book:
        strings = book.read("xl/worksheets/sheet1.xml").decode() + "".join(
            book.read(n).decode() for n in book.namelist() if n.endswith("sharedStrings.xml")
        )
    assert "Nguyễn Thị Lan" in strings
    assert commune.get("/api/v1/officials/declarations/export.pdf").status_code == 422

    with env.session() as s:
        events = s.execute(
            select(AuditEvent.action, AuditEvent.object_id, AuditEvent.detail).where(
                AuditEvent.object_type == "person"
            )
        ).all()
    details = {d for _a, pid, d in events if pid == str(lan_id)}
    assert {"declarations api", "people search", "person page"} <= details
    assert {"declarations export csv", "declarations export xlsx"} <= details
    assert all(pid != str(hung_id) for _a, pid, _d in events)


def test_health_qr_keys_rotate_and_old_passes_keep_verifying(env: Env) -> None:
    settings = env.settings
    ring = key_ring(settings)
    now = utcnow().replace(microsecond=0)
    qr = ring.issue(healthqr.new_subject(), "green", now, now + timedelta(hours=1))
    published = ring.public_keys()
    assert [k["kid"] for k in published] == [1]
    rotated = settings.model_copy(
        update={
            "health_qr_keys": {2: "A" * 43},
            "health_qr_active_key": 2,
            "health_qr_public_keys": {1: str(published[0]["public_key"])},
        }
    )
    new_ring = key_ring(rotated)
    assert new_ring.verify(qr, now).key_id == 1  # an old pass still verifies
    fresh = new_ring.issue(healthqr.new_subject(), "red", now, now + timedelta(hours=1))
    assert new_ring.verify(fresh, now).key_id == 2
    assert [k["kid"] for k in new_ring.public_keys()] == [1, 2]


def test_declarations_older_than_the_retention_period_are_purged(
    env: Env, world: World, make_client: Any
) -> None:
    from phongdich.people.tasks import purge_job

    c = citizen(make_client, env)
    me = c.get("/api/v1/me").json()["person_id"]
    old = c.post(f"/api/v1/people/{me}/declarations", json=HEALTHY).json()["id"]
    fix = c.post(f"/api/v1/people/{me}/declarations", json={**HEALTHY, "corrects_id": old})
    with env.session() as s:
        declaration = s.get(Declaration, old)
        assert declaration is not None
        declaration.submitted_at = utcnow() - timedelta(days=61)
        s.commit()
    assert purge_job(env.factory, retention_days=60) == {"declarations": 1}
    with env.session() as s:
        assert s.get(Declaration, old) is None
        kept = s.get(Declaration, fix.json()["id"])
        assert kept is not None
        assert kept.corrects_id is None


def test_an_offline_scan_counts_if_the_pass_was_valid_when_scanned(
    env: Env, world: World, make_client: Any
) -> None:
    owner, cp = active_checkpoint(env, make_client)
    c = citizen(make_client, env)
    me = c.get("/api/v1/me").json()["person_id"]
    with env.session() as s:
        subject = bytes.fromhex(s.get(Person, me).qr_subject)  # type: ignore[union-attr]
    now = utcnow().replace(microsecond=0)
    # A pass that expired an hour ago, scanned two hours ago while the scanner was offline.
    qr = key_ring(env.settings).issue(
        subject, "green", now - timedelta(hours=3), now - timedelta(hours=1)
    )
    entrance = cp["entrances"][0]["id"]
    queued = {
        "id": str(uuid.uuid4()),
        "entrance_id": entrance,
        "person_token": qr,
        "at": (now - timedelta(hours=2)).isoformat(),
    }
    late = {"id": str(uuid.uuid4()), "entrance_id": entrance, "person_token": qr}
    results = owner.post("/api/v1/visits/scans", json={"scans": [queued, late]}).json()["results"]
    assert results[0]["ok"] is True
    assert results[0]["health"] == "green"
    assert results[1]["status"] == 422  # scanned now: the pass has expired
    assert "hết hạn" in results[1]["message"]
    assert count(env, Visit) == 1
