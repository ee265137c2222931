"""The tracers' workbench through the HTML on both databases: a case entered with the form,
the case page with evidence and pseudonyms, follow-up, hand-named contacts, the line list
exports, the graph page and jurisdiction."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from phongdich.accounts.models import AuditEvent, Official
from phongdich.kit.clock import VN, utcnow
from phongdich.notify.models import OutboxMessage
from phongdich.people.models import Person
from phongdich.tracing import tasks as tracing_tasks
from phongdich.tracing.models import Case, Contact, ContactReport, ExposurePlace
from phongdich.tracing.service import TracingService
from phongdich.web.tracing_pages import router as tracing_pages_router
from tests.conftest import Env, World, login_official, login_phone
from tests.integration.test_tracing_api import open_case, scenario, update_person, yesterday
from tests.support.http import Client

HTML = {"accept": "text/html"}
PHONES = {"a": "0912000001", "c": "0912000003"}


@pytest.fixture(autouse=True)
def _tracing_pages(app: Any) -> None:
    """Until the application includes the router itself."""
    if not any(getattr(r, "path", None) == "/officials/tracing" for r in app.routes):
        app.include_router(tracing_pages_router)


def official(make_client: Any, username: str) -> Client:
    c: Client = make_client()
    login_official(c, username)
    return c


def post(c: Client, url: str, form: dict[str, Any]) -> Any:
    return c.post(url, data=form, headers=HTML, follow_redirects=False)


def follow(c: Client, response: Any) -> Any:
    assert response.status_code == 303, response.text
    return c.get(response.headers["location"], headers=HTML)


def world_with_phones(env: Env, make_client: Any) -> dict[str, int]:
    ids = scenario(env, make_client)
    with env.session() as s:
        for key, phone in PHONES.items():
            p = s.get(Person, ids[key])
            assert p is not None
            p.phone = phone
        s.commit()
    return ids


def enter_case(c: Client, pid: int, test_at: str | None = None) -> tuple[int, Any]:
    """The tracer finds the person with the search form, then enters the case."""
    found = c.get("/officials/tracing", params={"q": "Nguyễn Văn Ca"}, headers=HTML)
    assert found.status_code == 200, found.text
    assert f'name="person_id" value="{pid}"' in found.text
    assert found.headers["cache-control"] == "no-store"
    r = post(
        c,
        "/officials/tracing/cases",
        {
            "person_id": str(pid),
            "test_at": test_at or yesterday(20).strftime("%Y-%m-%dT%H:%M"),
            "onset_at": "",
            "source": "community",
            "unit_code": "",
        },
    )
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/officials/tracing/cases/(\d+)\?done=opened", r.headers["location"])
    assert match, r.headers["location"]
    page = follow(c, r)
    assert page.status_code == 200, page.text
    return int(match.group(1)), page


def rows(html: str) -> dict[str, str]:
    """The contact rows of the case page by the name (or pseudonym) they show."""
    out = {}
    for chunk in html.split('<tr id="c')[1:]:
        row = chunk.split("</tr>", 1)[0]
        name = re.search(r'class="name[^"]*"[^>]*>([^<]+)<', row)
        assert name, row
        out[name.group(1).strip()] = row
    return out


def contact_ids(env: Env, case_id: int) -> dict[int, int]:
    with env.session() as s:
        found = s.execute(
            select(Contact.person_id, Contact.id).where(Contact.case_id == case_id)
        ).all()
        return {pid: cid for pid, cid in found}


def test_a_tracer_enters_a_case_and_reads_the_contacts_with_their_evidence(
    env: Env, world: World, make_client: Any
) -> None:
    ids = world_with_phones(env, make_client)
    tracer = official(make_client, "hanoi")
    case_id, page = enter_case(tracer, ids["f0"])
    with env.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        # The picker's value is Vietnam time.
        assert case.test_at == yesterday(20)
        assert case.traced_at is not None
    html = page.text
    assert "Đã nhập ca bệnh và truy vết." in html
    assert "Nguyễn Văn Ca" in html
    start = (yesterday(20) - timedelta(days=2)).astimezone(VN).strftime("%d/%m/%Y %H:%M")
    assert f'<dd id="window">{start} –' in html
    # The case's own visit in the timeline, scanned out (not estimated).
    timeline = html.split('id="timeline"', 1)[1].split("</table>", 1)[0]
    assert "Siêu thị Ba Đình" in timeline
    assert yesterday(10).strftime("%d/%m/%Y 10:00") in timeline
    assert "~" not in timeline
    contacts = rows(html)
    assert set(contacts) == {"Trần Thị An", "Phạm Thị Cúc", "Vũ Thị Em", "Lê Văn Bình"}
    an = contacts["Trần Thị An"]
    assert ">F1<" in an
    assert '<strong class="place">Siêu thị Ba Đình</strong>' in an
    assert '<span class="minutes">60</span>' in an
    assert PHONES["a"] in an
    assert '<span class="minutes">40</span>' in contacts["Phạm Thị Cúc"]
    em = contacts["Vũ Thị Em"]
    assert ">F2<" in em
    assert "Nhà hàng Sen" in em
    assert '<span class="via">Trần Thị An</span>' in em
    assert '<span class="via">Phạm Thị Cúc</span>' in contacts["Lê Văn Bình"]
    counts = html.split('id="counts"', 1)[1].split("</table>", 1)[0]
    assert re.search(r'data-level="1">.*?<td class="num">2</td></tr>', counts)
    # Filters as GET parameters.
    only_f2 = tracer.get(f"/officials/tracing/cases/{case_id}?level=2", headers=HTML)
    assert set(rows(only_f2.text)) == {"Lê Văn Bình", "Vũ Thị Em"}
    visits = tracer.get(f"/officials/tracing/cases/{case_id}?source=household", headers=HTML)
    assert rows(visits.text) == {}
    junk = tracer.get(f"/officials/tracing/cases/{case_id}?level=x&status=nope", headers=HTML)
    assert len(rows(junk.text)) == 4  # unknown filters are ignored
    # The typed form of a time is accepted too; a bad one re-renders the form, nothing stored.
    other, _page = enter_case(tracer, ids["f0"], yesterday(21).strftime("%d/%m/%Y %H:%M"))
    with env.session() as s:
        again = s.get(Case, other)
        assert again is not None
        assert again.test_at == yesterday(21)
    bad = post(
        tracer,
        "/officials/tracing/cases",
        {"person_id": str(ids["f0"]), "test_at": "31/02/2024 10:00", "source": "community"},
    )
    assert bad.status_code == 422
    assert "thời điểm xét nghiệm" in bad.text
    assert f'value="{ids["f0"]}" required checked' in bad.text  # the person stays picked
    future = post(
        tracer,
        "/officials/tracing/cases",
        {
            "person_id": str(ids["f0"]),
            "test_at": (yesterday(20) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            "source": "community",
        },
    )
    assert future.status_code == 422
    assert 'role="alert"' in future.text
    with env.session() as s:
        assert len(s.scalars(select(Case)).all()) == 2
    # Opening a case by its number.
    jump = tracer.get(f"/officials/tracing?case={case_id}", headers=HTML, follow_redirects=False)
    assert jump.headers["location"] == f"/officials/tracing/cases/{case_id}"


def test_commune_official_sees_pseudonyms_and_follows_contacts_up(
    env: Env, world: World, make_client: Any
) -> None:
    ids = world_with_phones(env, make_client)
    tracer = official(make_client, "badinh")
    case_id, page = enter_case(tracer, ids["f0"])
    contacts = rows(page.text)
    hidden = [name for name in contacts if name.startswith("Ẩn danh ")]
    assert len(hidden) == 1
    assert set(contacts) - set(hidden) == {"Trần Thị An", "Vũ Thị Em", "Lê Văn Bình"}
    assert "Phạm Thị Cúc" not in page.text
    assert PHONES["c"] not in page.text
    assert PHONES["a"] in page.text
    # B is F2 through C: the path shows C's pseudonym, never the name.
    assert f'<span class="via">{hidden[0]}</span>' in contacts["Lê Văn Bình"]
    assert f"/officials/people/{ids['c']}" not in page.text
    with env.session() as s:
        shown = set(
            s.scalars(
                select(AuditEvent.object_id).where(AuditEvent.detail == f"case {case_id} page")
            )
        )
    assert shown == {str(ids[k]) for k in ("f0", "a", "b", "e")}
    # Follow-up status through the form, back to the same filters.
    cid = contact_ids(env, case_id)
    r = post(
        tracer,
        f"/officials/tracing/contacts/{cid[ids['a']]}/status",
        {"status": "quarantined", "back": "level=1&next=//evil.example"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == (
        f"/officials/tracing/cases/{case_id}?level=1&done=status#c{cid[ids['a']]}"
    )
    with env.session() as s:
        contact = s.get(Contact, cid[ids["a"]])
        assert contact is not None
        assert contact.status == "quarantined"
    refreshed = follow(tracer, r)
    assert 'value="quarantined" selected' in rows(refreshed.text)["Trần Thị An"]
    bad = post(tracer, f"/officials/tracing/contacts/{cid[ids['a']]}/status", {"status": "gone"})
    assert bad.status_code == 422
    # Tracing again keeps the follow-up; handing to the commune stations.
    follow(tracer, post(tracer, f"/officials/tracing/cases/{case_id}/trace", {}))
    r = post(tracer, f"/officials/tracing/cases/{case_id}/assign", {})
    assert r.headers["location"] == f"/officials/tracing/cases/{case_id}?done=assigned"
    with env.session() as s:
        listed = {c.person_id: c for c in s.scalars(select(Contact))}
        assert listed[ids["a"]].status == "quarantined"
        assert listed[ids["c"]].assigned_unit == "00070"
        assert listed[ids["b"]].assigned_unit == "00004"
    # A contact named by hand (interview), typed as dd/mm/yyyy HH:MM.
    r = post(
        tracer,
        f"/officials/tracing/cases/{case_id}/contacts",
        {
            "person_id": str(ids["d"]),
            "exposed_at": yesterday(19).strftime("%d/%m/%Y %H:%M"),
            "note": "ăn tối cùng gia đình",
        },
    )
    named = rows(follow(tracer, r).text)["Hoàng Văn Dũng"]
    assert "Điều tra viên bổ sung" in named
    assert "ăn tối cùng gia đình" in named
    bad = post(
        tracer,
        f"/officials/tracing/cases/{case_id}/contacts",
        {"person_id": str(ids["e"]), "exposed_at": "hôm qua", "note": "x"},
    )
    assert bad.status_code == 422
    assert "thời điểm tiếp xúc" in bad.text
    assert "hôm qua" in bad.text  # the form keeps what was typed
    with env.session() as s:
        assert len(s.scalars(select(ContactReport)).all()) == 1


def test_line_list_exports(env: Env, world: World, make_client: Any) -> None:
    ids = world_with_phones(env, make_client)
    tracer = official(make_client, "badinh")
    case_id, page = enter_case(tracer, ids["f0"])
    assert f"/officials/tracing/cases/{case_id}/contacts.csv" in page.text
    r = tracer.get(f"/officials/tracing/cases/{case_id}/contacts.csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    text = r.content.decode("utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(text)))
    assert len(lines) == 4
    assert {line["Mã ca bệnh"] for line in lines} == {str(case_id)}
    by_name = {line["Họ tên (hoặc bí danh)"]: line for line in lines}
    assert "Phạm Thị Cúc" not in text
    assert PHONES["c"] not in text
    hidden = [n for n in by_name if n.startswith("Ẩn danh ")]
    assert len(hidden) == 1
    assert by_name[hidden[0]]["Số điện thoại"] == ""
    assert by_name[hidden[0]]["Đơn vị cư trú"] == "00070"
    an = by_name["Trần Thị An"]
    assert an["Số điện thoại"] == PHONES["a"]
    assert (an["Mức"], an["Nguồn"], an["Tình trạng theo dõi"]) == ("F1", "visit", "to_call")
    assert (an["Nơi tiếp xúc"], an["Số phút"]) == ("Siêu thị Ba Đình", "60")
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", an["Tiếp xúc lần cuối"])
    assert by_name["Vũ Thị Em"]["Mức"] == "F2"
    with env.session() as s:
        audited = set(
            s.scalars(
                select(AuditEvent.object_id).where(
                    AuditEvent.detail == f"contacts export csv, case {case_id}"
                )
            )
        )
    assert audited == {str(ids[k]) for k in ("a", "b", "e")}
    # Filters apply to the export too.
    f2 = tracer.get(f"/officials/tracing/cases/{case_id}/contacts.csv?level=2")
    assert len(list(csv.DictReader(io.StringIO(f2.content.decode("utf-8-sig"))))) == 2
    # XLSX: a zip with the sheet.
    x = tracer.get(f"/officials/tracing/cases/{case_id}/contacts.xlsx")
    assert x.status_code == 200
    book = zipfile.ZipFile(io.BytesIO(x.content))
    assert "xl/worksheets/sheet1.xml" in book.namelist()
    assert "Tiếp xúc" in book.read("xl/workbook.xml").decode()
    cells = book.read("xl/worksheets/sheet1.xml").decode()
    strings = (
        book.read("xl/sharedStrings.xml").decode()
        if "xl/sharedStrings.xml" in book.namelist()
        else ""
    )
    assert "Trần Thị An" in cells + strings
    assert "Phạm Thị Cúc" not in cells + strings
    assert tracer.get(f"/officials/tracing/cases/{case_id}/contacts.pdf").status_code == 422


def test_graph_page_and_api(env: Env, world: World, make_client: Any) -> None:
    ids = scenario(env, make_client)
    tracer = official(make_client, "hanoi")
    case_id, _page = enter_case(tracer, ids["f0"])
    page = tracer.get(f"/officials/tracing/cases/{case_id}/graph", headers=HTML)
    assert page.status_code == 200
    assert '<script src="/static/graph.js" defer></script>' in page.text
    assert f'data-src="/api/v1/tracing/cases/{case_id}/graph?limit=300"' in page.text
    assert "F1: 2 · F2: 2" in page.text
    script = tracer.get("/static/graph.js")
    assert script.status_code == 200
    assert len(script.content) < 8 * 1024
    assert tracer.get("/static/tracing.css").status_code == 200
    graph = tracer.get(f"/api/v1/tracing/cases/{case_id}/graph").json()
    assert len(graph["nodes"]) == 5
    assert len(graph["edges"]) == 4
    assert graph["truncated"] is False
    small = tracer.get(f"/api/v1/tracing/cases/{case_id}/graph?limit=1").json()
    assert small["truncated"] is True
    assert small["total_contacts"] == 4
    assert tracer.get(f"/officials/tracing/cases/{case_id}/graph?limit=5000").status_code == 422
    # English (the choice is kept in a cookie: last).
    english = tracer.get(f"/officials/tracing/cases/{case_id}?lang=en", headers=HTML)
    assert "Contact list" in english.text
    assert "Same place" in english.text
    assert "Supermarket / mall" in english.text
    assert (
        "Showing {n} / {m} contacts"
        in tracer.get(f"/officials/tracing/cases/{case_id}/graph", headers=HTML).text
    )
    assert "Enter a confirmed case (F0)" in tracer.get("/officials/tracing", headers=HTML).text


def test_only_officials_of_the_jurisdiction(env: Env, world: World, make_client: Any) -> None:
    ids = scenario(env, make_client)
    tracer = official(make_client, "hanoi")
    case_id, _page = enter_case(tracer, ids["f0"])
    cid = next(iter(contact_ids(env, case_id).values()))
    far = official(make_client, "hcm")
    for url in (
        f"/officials/tracing/cases/{case_id}",
        f"/officials/tracing/cases/{case_id}/graph",
        f"/officials/tracing/cases/{case_id}/contacts.csv",
        f"/officials/tracing/cases/{case_id}/contacts.xlsx",
    ):
        assert far.get(url, headers=HTML).status_code == 403, url
    for url, form in (
        (f"/officials/tracing/cases/{case_id}/trace", {}),
        (f"/officials/tracing/cases/{case_id}/assign", {}),
        (f"/officials/tracing/cases/{case_id}/warn", {"channels": "sms"}),
        (f"/officials/tracing/cases/{case_id}/publish", {}),
        (f"/officials/tracing/contacts/{cid}/status", {"status": "cleared"}),
        (f"/officials/tracing/cases/{case_id}/contacts", {"person_id": str(ids["d"])}),
    ):
        assert post(far, url, form).status_code == 403, url
    refused = post(
        far,
        "/officials/tracing/cases",
        {"person_id": str(ids["f0"]), "test_at": yesterday(20).strftime("%Y-%m-%dT%H:%M")},
    )
    assert refused.status_code == 403
    # The person picked in the form is not shown outside the jurisdiction.
    assert "Nguyễn Văn Ca" not in refused.text
    assert far.get(f"/officials/tracing?person={ids['f0']}", headers=HTML).status_code == 403
    with env.session() as s:
        assert len(s.scalars(select(Case)).all()) == 1
        assert {c.status for c in s.scalars(select(Contact))} == {"to_call"}
    # Citizens are refused; nobody signed in goes to the sign-in page.
    citizen: Client = make_client()
    login_phone(citizen, env, "0912345670", "Nguyễn Thị Lan")
    assert citizen.get("/officials/tracing", headers=HTML).status_code == 403
    anonymous: Client = make_client()
    r = anonymous.get("/officials/tracing", headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/officials/tracing"
    assert anonymous.get(f"/officials/tracing/cases/{case_id}/contacts.csv").status_code == 401


def upload(c: Client, text: str, encoding: str = "utf-8-sig") -> Any:
    files = {"file": ("danh-sach.csv", text.encode(encoding), "text/csv")}
    return c.post("/officials/tracing/line-list", files=files, headers=HTML)


def test_a_csv_line_list_is_entered_and_traced_at_once(
    env: Env, world: World, make_client: Any
) -> None:
    ids = scenario(env, make_client)
    update_person(env, ids["c"], id_number="001190012345")
    c = official(make_client, "hanoi")
    home = c.get("/officials/tracing", headers=HTML)
    assert 'id="line-list-form"' in home.text
    assert 'enctype="multipart/form-data"' in home.text
    template = c.get("/officials/tracing/line-list.csv")
    assert template.content.startswith("\ufeff".encode())
    assert (
        template.text.lstrip("\ufeff").splitlines()[0].startswith("ma_nguoi,cccd,ngay_xet_nghiem")
    )
    day = yesterday(20).strftime("%d/%m/%Y %H:%M")
    # As a spreadsheet saves it: semicolons, headers with diacritics, a name column (ignored),
    # a blank line, a label for the source.
    text = (
        "Họ tên;Mã người;CCCD;Ngày xét nghiệm;Nguồn lây\n"
        f"Nguyễn Văn Ca;{ids['f0']};;{day};\n"
        "\n"
        f"Phạm Thị Cúc;;001190012345;{day};Trong ổ dịch đã biết\n"
    )
    r = upload(c, text)
    assert r.status_code == 200, r.text
    assert "Đã nhập 2 ca bệnh. F1 của các ca đang được truy vết nền" in r.text
    rows = re.findall(
        r'<tr><td class="num">(\d+)</td><td><a href="/officials/tracing/cases/(\d+)">'
        r'#\d+</a></td><td class="num">(\d+)</td></tr>',
        r.text,
    )
    assert [(row, int(pid)) for row, _case, pid in rows] == [("2", ids["f0"]), ("4", ids["c"])]
    case_ids = [int(case) for _row, case, _pid in rows]
    # Waiting: the tracing page counts them, the case page says so.
    home = c.get("/officials/tracing", headers=HTML)
    assert "Đang truy vết nền 2 ca bệnh nhập theo danh sách trong địa bàn." in home.text
    waiting = c.get(f"/officials/tracing/cases/{case_ids[0]}", headers=HTML)
    assert 'id="trace-pending"' in waiting.text
    # The queue's first step (every F1 at once) leaves the F2 waiting.
    with env.session() as s:
        TracingService(s, env.settings).trace_many(
            list(s.scalars(select(Case).where(Case.id.in_(case_ids))))
        )
        s.commit()
    half = c.get(f"/officials/tracing/cases/{case_ids[0]}", headers=HTML)
    assert "Đã truy vết F1. F2 đang được truy vết nền" in half.text
    listed = c.get("/officials/tracing", headers=HTML).text
    assert listed.count("F2 đang chờ") == 2
    done = tracing_tasks.trace_pending(env.factory, env.settings)
    assert done == {"cases_traced_deeper": 2, "deeper_steps": 2}
    page = c.get(f"/officials/tracing/cases/{case_ids[0]}", headers=HTML)
    assert 'id="trace-pending"' not in page.text
    assert "Trần Thị An" in page.text
    assert 'id="untraced"' not in c.get("/officials/tracing", headers=HTML).text
    with env.session() as s:
        cases = {case.person_id: case for case in s.scalars(select(Case))}
        assert set(cases) == {ids["f0"], ids["c"]}
        assert cases[ids["c"]].source == "cluster"
        assert cases[ids["f0"]].test_at == yesterday(20)
        levels = s.scalars(select(Contact.level).where(Contact.case_id == cases[ids["f0"]].id))
        assert sorted(levels) == [1, 1, 2, 2]  # A and C, then B and E
    # The result page's form warns the contacts of the list's cases, once traced: A (the one
    # with a phone, a contact of both cases) gets one message.
    form = r.text.split('id="warn-list"', 1)[1].split("</form>", 1)[0]
    assert "<legend>Cảnh báo người tiếp xúc của các ca trong danh sách này</legend>" in form
    listed_ids = re.findall(r'name="case_ids" value="(\d+)"', form)
    assert sorted(map(int, listed_ids)) == sorted(case_ids)
    update_person(env, ids["a"], phone="0912000001")
    sent = post(c, "/officials/tracing/warn", {"case_ids": listed_ids, "channels": "sms"})
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"].startswith("/officials/tracing?done=warned&n=1&no_phone=")
    with env.session() as s:
        assert [m.recipient for m in _warnings(s)] == ["0912000001"]


def test_a_csv_line_list_with_bad_rows_enters_nothing(
    env: Env, world: World, make_client: Any
) -> None:
    ids = scenario(env, make_client)
    c = official(make_client, "hanoi")
    day = yesterday(20).strftime("%d/%m/%Y %H:%M")
    # Rows the file itself gets wrong are listed first, before anything is looked up.
    r = upload(
        c,
        f"ma_nguoi,cccd,ngay_xet_nghiem\n{ids['f0']},,32/13/2021 10:00\n,,{day}\n{ids['a']},,\n",
    )
    assert r.status_code == 422, r.text
    errors = dict(
        re.findall(r'<tr data-row="(\d+)"><td class="num">\d+</td><td>([^<]*)</td>', r.text)
    )
    assert errors == {
        "2": "Cột “ngay_xet_nghiem”: không đọc được thời gian “32/13/2021 10:00” "
        "(dd/mm/yyyy HH:MM).",
        "4": "Cột “ngay_xet_nghiem” đang trống.",
    }
    assert "2 dòng không hợp lệ; chưa nhập ca bệnh nào." in r.text
    # Then what the registry and the rules refuse: the good row is not entered either.
    r = upload(
        c,
        "ma_nguoi,cccd,ngay_xet_nghiem\n"
        f"{ids['f0']},,{day}\n"
        f",079000000001,{day}\n"
        f"{ids['f0']},,{day}\n",
    )
    assert r.status_code == 422, r.text
    errors = dict(
        re.findall(r'<tr data-row="(\d+)"><td class="num">\d+</td><td>([^<]*)</td>', r.text)
    )
    assert errors == {
        "3": "Không có ai đăng ký với số giấy tờ 079000000001.",
        "4": "Người này đã có trong danh sách (dòng 2).",
    }
    with env.session() as s:
        assert s.scalars(select(Case)).all() == []
    # Not a UTF-8 file, and a file without the needed columns.
    latin = upload(c, f"ma_nguoi,ngay_xet_nghiem\n{ids['f0']},{day}\nLê Văn,x\n", "cp1258")
    assert latin.status_code == 422
    assert "Tệp phải là CSV mã hoá UTF-8" in latin.text
    columns = upload(c, "ho_ten,so_dien_thoai\nNguyễn Văn Ca,0912000000\n")
    assert columns.status_code == 422
    assert "Dòng tiêu đề cần cột ngày xét nghiệm" in columns.text


def test_the_tracing_page_lists_the_cases_of_the_jurisdiction(
    env: Env, world: World, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phongdich.web import tracing_pages

    monkeypatch.setattr(tracing_pages, "CASE_LIST_SIZE", 2)
    ids = scenario(env, make_client)
    c = official(make_client, "hanoi")
    empty = c.get("/officials/tracing", headers=HTML)
    assert "Chưa có ca bệnh nào." in empty.text
    first, _ = enter_case(c, ids["f0"])
    day = yesterday(20).strftime("%d/%m/%Y %H:%M")
    upload(c, f"ma_nguoi,ngay_xet_nghiem\n{ids['a']},{day}\n{ids['b']},{day}\n")
    page = c.get("/officials/tracing", headers=HTML)
    assert 'Ca bệnh trong địa bàn <span class="muted">(3)</span>' in page.text
    rows = re.findall(r'<tr data-case="(\d+)">(.*?)</tr>', page.text, re.S)
    assert len(rows) == 2  # newest first: the two of the line list, waiting
    assert all("Đang chờ" in cells for _id, cells in rows)
    assert "Lê Văn Bình" in rows[0][1]
    assert 'href="/officials/tracing?page=2#cases" rel="next"' in page.text
    second = c.get("/officials/tracing?page=2", headers=HTML)
    [(case_id, cells)] = re.findall(r'<tr data-case="(\d+)">(.*?)</tr>', second.text, re.S)
    assert int(case_id) == first
    assert "Nguyễn Văn Ca" in cells
    assert "Đang chờ" not in cells
    waiting = c.get("/officials/tracing?waiting=1", headers=HTML)
    assert 'Ca bệnh trong địa bàn <span class="muted">(2)</span>' in waiting.text
    assert "Chỉ xem ca đang chờ truy vết" not in waiting.text
    assert "Xem tất cả" in waiting.text


def _warnings(s: Session) -> list[OutboxMessage]:
    """The exposure warnings in the outbox (sign-in codes and checkpoint notices aside)."""
    stmt = select(OutboxMessage).where(OutboxMessage.purpose.startswith("exposure:"))
    return list(s.scalars(stmt))


def test_a_tracer_warns_the_contacts_and_publishes_the_places(
    env: Env, world: World, make_client: Any
) -> None:
    ids = world_with_phones(env, make_client)
    tracer = official(make_client, "hanoi")
    case_id, page = enter_case(tracer, ids["f0"])
    assert 'id="warn"' in page.text
    assert "<legend>Cảnh báo người tiếp xúc</legend>" in page.text
    assert "Chưa công bố địa điểm nào của ca bệnh." in page.text
    # A message needs a channel; a level is F1…F4 or every level.
    refused = post(tracer, f"/officials/tracing/cases/{case_id}/warn", {"level": "1"})
    assert refused.status_code == 422
    assert "Chọn ít nhất một kênh gửi hợp lệ" in refused.text
    bad = post(
        tracer, f"/officials/tracing/cases/{case_id}/warn", {"channels": "sms", "level": "9"}
    )
    assert bad.status_code == 422
    assert "mức tiếp xúc" in bad.text
    with env.session() as s:
        assert _warnings(s) == []
    # F1 by SMS: A and C have phones.
    r = post(tracer, f"/officials/tracing/cases/{case_id}/warn", {"channels": "sms", "level": "1"})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == (
        f"/officials/tracing/cases/{case_id}?done=warned&n=2&no_phone=0"
    )
    warned = follow(tracer, r)
    assert "Đã xếp hàng gửi cảnh báo cho 2 người tiếp xúc; 0 người không có địa chỉ nhận" in (
        warned.text
    )
    shown = rows(warned.text)
    for name in ("Trần Thị An", "Phạm Thị Cúc"):
        assert "Đã cảnh báo" in shown[name]
        assert "đang chờ gửi" in shown[name]
        assert 'value="notified" selected' in shown[name]
    assert "Đã cảnh báo" not in shown["Lê Văn Bình"]
    with env.session() as s:
        messages = _warnings(s)
        assert sorted(m.recipient for m in messages) == sorted(PHONES.values())
        assert {m.channel for m in messages} == {"sms"}
        assert all("Sieu thi Ba Dinh" in m.body for m in messages)  # SMS: 7-bit text
        assert all("Nguyễn Văn Ca" not in m.body for m in messages)
        levels = {c.person_id: (c.level, c.status) for c in s.scalars(select(Contact))}
    assert levels[ids["a"]] == (1, "notified")
    assert levels[ids["b"]] == (2, "to_call")
    # Every level next: the F1 are no longer to call, the F2 have no phone.
    r = post(tracer, f"/officials/tracing/cases/{case_id}/warn", {"channels": ["sms", "ott"]})
    assert r.headers["location"].endswith("?done=warned&n=0&no_phone=2")
    with env.session() as s:
        assert len(_warnings(s)) == 2
    # The places the case visited, published once.
    r = post(tracer, f"/officials/tracing/cases/{case_id}/publish", {})
    assert r.headers["location"] == f"/officials/tracing/cases/{case_id}?done=published&n=1"
    published = follow(tracer, r)
    assert "Đã công bố thêm 1 địa điểm" in published.text
    assert "Đã công bố 1 địa điểm, khung giờ" in published.text
    r = post(tracer, f"/officials/tracing/cases/{case_id}/publish", {})
    assert r.headers["location"].endswith("?done=published&n=0")
    with env.session() as s:
        places = s.scalars(select(ExposurePlace)).all()
        assert [p.case_id for p in places] == [case_id]
    # A figure in the address is shown as a number or not at all.
    odd = tracer.get(
        f"/officials/tracing/cases/{case_id}?done=warned&n=<b>x</b>&no_phone=1234567", headers=HTML
    )
    assert "cho 0 người tiếp xúc; 1.234.567 người" in odd.text


def test_a_commune_station_follows_up_the_contacts_handed_to_it(
    env: Env, world: World, make_client: Any
) -> None:
    """C lives in Hoàn Kiếm; the case is Ba Đình's. Hoàn Kiếm's station sees C on its
    follow-up list (not the case), updates C's status, and nobody else's."""
    ids = world_with_phones(env, make_client)
    tracer = official(make_client, "badinh")
    case_id, _page = enter_case(tracer, ids["f0"])
    follow(tracer, post(tracer, f"/officials/tracing/cases/{case_id}/assign", {}))
    cid = contact_ids(env, case_id)
    station = official(make_client, "hoankiem")
    page = station.get("/officials/tracing/follow-up", headers=HTML)
    assert page.status_code == 200, page.text
    listed = rows(page.text)
    assert set(listed) == {"Phạm Thị Cúc"}
    assert PHONES["c"] in listed["Phạm Thị Cúc"]
    assert "Siêu thị Ba Đình" in listed["Phạm Thị Cúc"]
    assert f"#{case_id}" in listed["Phạm Thị Cúc"]
    assert f'href="/officials/tracing/cases/{case_id}"' not in page.text
    with env.session() as s:
        audited = s.scalars(
            select(AuditEvent.object_id).where(AuditEvent.detail == "follow-up list")
        ).all()
    assert audited == [str(ids["c"])]
    assert station.get(f"/officials/tracing/cases/{case_id}", headers=HTML).status_code == 403
    # The station's follow-up, back to its list with the same filter.
    r = post(
        station,
        f"/officials/tracing/contacts/{cid[ids['c']]}/status",
        {"status": "quarantined", "back": "status=to_call&next=//evil.example", "to": "follow-up"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == (
        f"/officials/tracing/follow-up?status=to_call&done=status#c{cid[ids['c']]}"
    )
    after = follow(station, r)
    assert "Đã cập nhật tình trạng theo dõi." in after.text
    assert 'id="follow-up-empty"' in after.text
    every = station.get("/officials/tracing/follow-up?status=all", headers=HTML)
    assert 'value="quarantined" selected' in rows(every.text)["Phạm Thị Cúc"]
    # Not someone handed to Ba Đình.
    refused = post(
        station, f"/officials/tracing/contacts/{cid[ids['a']]}/status", {"status": "cleared"}
    )
    assert refused.status_code == 403
    api = station.get("/api/v1/tracing/follow-up", params={"status": "quarantined"}).json()
    assert [(c["person"], c["case_id"], c["status"]) for c in api] == [
        ("Phạm Thị Cúc", case_id, "quarantined")
    ]
    assert station.get("/api/v1/tracing/follow-up", params={"status": "gone"}).status_code == 422
    # Ba Đình's list is Ba Đình's people; Hồ Chí Minh City's is empty.
    with env.session() as s:
        ba_dinh = {c.id for c in s.scalars(select(Contact)) if c.assigned_unit == "00004"}
    assert ids["a"] in {pid for pid, c in cid.items() if c in ba_dinh}
    mine = tracer.get("/api/v1/tracing/follow-up", params={"status": "all"})
    assert mine.status_code == 422  # "all" is the page's word; the API leaves status out
    mine = tracer.get("/api/v1/tracing/follow-up").json()
    assert {c["id"] for c in mine} == ba_dinh
    # Whatever plan the database takes (SQLite walks the table by rowid when the matches are
    # dense: a total given, one row a page), and page by page (keyset), the same rows in order.
    with env.session() as s:
        repo = TracingService(s, env.settings).repo
        total = repo.count_handed_to("00004", None)
        assert total == len(ba_dinh) >= 3
        indexed = [c.id for c, _p in repo.handed_to("00004", None, 50)]
        assert indexed == sorted(ba_dinh, reverse=True)
        walked: list[int] = []
        while len(walked) < total:
            before = walked[-1] if walked else None
            page = repo.handed_to("00004", None, 1, 0, before, total)
            assert len(page) == 1
            walked.append(page[0][0].id)
        assert walked == indexed
        assert [c.id for c, _p in repo.handed_to("00004", None, 1, 1, None, total)] == indexed[1:2]
    # A province narrows its list to one commune; a commune cannot look at another.
    hanoi = official(make_client, "hanoi")
    narrowed = hanoi.get("/officials/tracing/follow-up?status=all&unit=00070", headers=HTML)
    assert set(rows(narrowed.text)) == {"Phạm Thị Cúc"}
    assert "/officials/tracing/follow-up.csv?status=all&amp;unit=00070" in narrowed.text
    api = hanoi.get("/api/v1/tracing/follow-up", params={"unit": "00004"}).json()
    assert {c["id"] for c in api} == ba_dinh
    one = hanoi.get("/officials/tracing/follow-up.csv?status=all&unit=00070")
    lines = list(csv.DictReader(io.StringIO(one.content.decode("utf-8-sig"))))
    assert [x["Họ tên (hoặc bí danh)"] for x in lines] == ["Phạm Thị Cúc"]
    assert tracer.get("/officials/tracing/follow-up?unit=00070", headers=HTML).status_code == 403
    assert tracer.get("/officials/tracing/follow-up.csv?unit=00070").status_code == 403
    assert tracer.get("/api/v1/tracing/follow-up", params={"unit": "00070"}).status_code == 403
    far = official(make_client, "hcm")
    assert "(0)" in far.get("/officials/tracing/follow-up?status=all", headers=HTML).text
    assert far.get("/api/v1/tracing/follow-up").json() == []
    # The station's list to call from, as CSV and XLSX, audited.
    assert "/officials/tracing/follow-up.csv?status=all" in every.text
    exported = station.get("/officials/tracing/follow-up.csv?status=all")
    assert exported.status_code == 200, exported.text
    assert "attachment" in exported.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [(x["Họ tên (hoặc bí danh)"], x["Số điện thoại"], x["Mã ca bệnh"]) for x in lines] == [
        ("Phạm Thị Cúc", PHONES["c"], str(case_id))
    ]
    assert lines[0]["Tình trạng theo dõi"] == "quarantined"
    still_to_call = station.get("/officials/tracing/follow-up.csv")
    assert list(csv.DictReader(io.StringIO(still_to_call.content.decode("utf-8-sig")))) == []
    xlsx = station.get("/officials/tracing/follow-up.xlsx?status=all")
    assert xlsx.status_code == 200
    assert zipfile.is_zipfile(io.BytesIO(xlsx.content))
    assert station.get("/officials/tracing/follow-up.pdf").status_code == 422
    with env.session() as s:
        exports = s.scalars(
            select(AuditEvent.object_id).where(AuditEvent.detail == "follow-up export csv")
        ).all()
    # C, exported once by Hà Nội's narrowed list and once by the station's.
    assert exports == [str(ids["c"])] * 2


def test_a_warning_too_large_for_a_request_is_sent_by_the_queue_in_steps(
    env: Env, world: World, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over ``warn_request_rows`` rows the request queues a warning job and sends nothing; the queue
    warns it a step of people per transaction, each person once (C, contact of both cases,
    gets one message on both rows), shows its progress and audits it when done."""
    ids = world_with_phones(env, make_client)
    tracer = official(make_client, "hanoi")
    first, _page = enter_case(tracer, ids["f0"])
    second = open_case(tracer, ids["b"]).json()["id"]
    chosen = {"case_ids": [str(first), str(second)], "channels": "sms", "level": "1"}
    monkeypatch.setattr(env.settings, "warn_request_rows", 2)  # the cases have 3 rows
    r = post(tracer, "/officials/tracing/warn", chosen)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/officials/tracing?done=warn_queued&n=3"
    home = follow(tracer, r).text
    assert "Cảnh báo lớn (3 dòng tiếp xúc) đã được xếp vào hàng đợi" in home
    job_row = home.split('<tr data-job="', 1)[1].split("</tr>", 1)[0]
    assert "Đang gửi" in job_row
    assert "0 / 3" in job_row  # contact rows done so far, of the rows asked
    with env.session() as s:
        assert _warnings(s) == []
        assert {c.status for c in s.scalars(select(Contact))} == {"to_call"}
    # Another official sees no job of this one's.
    assert official(make_client, "hcm").get("/api/v1/tracing/warnings").json() == []

    steps: list[int] = []
    done = tracing_tasks.warn_pending(env.factory, env.settings, people=1, progress=steps.append)
    assert done == {"warning_steps": 2, "warning_jobs_done": 1}  # A, then C
    assert steps == [1, 1]
    assert tracing_tasks.warn_pending(env.factory, env.settings) == {}
    with env.session() as s:
        queued = _warnings(s)
        assert sorted(m.recipient for m in queued) == sorted(PHONES.values())
        rows_of_c = s.scalars(select(Contact).where(Contact.person_id == ids["c"])).all()
        assert sorted(c.case_id for c in rows_of_c) == sorted([first, second])
        assert {c.status for c in rows_of_c} == {"notified"}
        assert len({c.warning_message_id for c in rows_of_c}) == 1
        audited = s.scalars(select(AuditEvent).where(AuditEvent.action == "warn_contacts")).all()
        assert sorted(int(e.object_id) for e in audited) == sorted([first, second])
        hanoi = s.scalar(select(Official.id).where(Official.username == "hanoi"))
        assert {e.actor for e in audited} == {f"official:{hanoi}"}
    jobs = tracer.get("/api/v1/tracing/warnings").json()
    assert len(jobs) == 1
    assert (jobs[0]["rows"], jobs[0]["warned"], jobs[0]["contacts"]) == (3, 2, 3)
    assert jobs[0]["case_ids"] == [first, second]
    assert jobs[0]["done_at"] is not None
    done_row = tracer.get("/officials/tracing", headers=HTML).text.split('<tr data-job="')[1]
    assert "Xong lúc" in done_row
    assert "3 / 3" in done_row.split("</tr>", 1)[0]
    # The API queues the same way.
    api = tracer.post(
        "/api/v1/tracing/warn", json={"case_ids": [first, second], "statuses": ["notified"]}
    ).json()
    assert (api["queued"], api["warned"]) == (3, 0)
    assert tracing_tasks.warn_pending(env.factory, env.settings) == {
        "warning_steps": 1,
        "warning_jobs_done": 1,
    }
    with env.session() as s:
        assert len(_warnings(s)) == 4  # A and C once more, as asked
    # Done jobs go with the retention of the cases they name.
    later = utcnow() + timedelta(days=200)
    purged = tracing_tasks.purge_job(env.factory, now=later, retention_days=90)
    assert (purged["cases"], purged["warning_jobs"]) == (2, 2)
    assert tracer.get("/api/v1/tracing/warnings").json() == []


def test_the_contacts_of_several_cases_are_warned_once_each(
    env: Env, world: World, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C met both the case and B, who is a case too: ticking both cases warns A and C, C once,
    and marks C's two rows with the same message."""
    ids = world_with_phones(env, make_client)
    tracer = official(make_client, "hanoi")
    first, _page = enter_case(tracer, ids["f0"])
    second = open_case(tracer, ids["b"]).json()["id"]
    home = tracer.get("/officials/tracing", headers=HTML)
    assert f'name="case_ids" value="{second}"' in home.text
    assert "<legend>Cảnh báo người tiếp xúc của các ca đã chọn</legend>" in home.text
    # Nothing ticked; a case of another jurisdiction.
    none = post(tracer, "/officials/tracing/warn", {"channels": "sms"})
    assert none.status_code == 422
    assert "Chưa chọn ca bệnh nào" in none.text
    far = official(make_client, "hcm")
    refused = post(far, "/officials/tracing/warn", {"case_ids": [first]})
    assert refused.status_code == 403
    assert "Nguyễn Văn Ca" not in refused.text
    with env.session() as s:
        assert _warnings(s) == []
    chosen = {"case_ids": [str(first), str(second)], "channels": "sms", "level": "1"}
    r = post(tracer, "/officials/tracing/warn", chosen)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/officials/tracing?done=warned&n=2&no_phone=0"
    assert "Đã xếp hàng gửi cảnh báo cho 2 người tiếp xúc" in follow(tracer, r).text
    with env.session() as s:
        queued = _warnings(s)
        assert sorted(m.recipient for m in queued) == sorted(PHONES.values())
        # Queued in bulk, each as the outbox expects a new message.
        assert {(m.status, m.attempts, m.last_error) for m in queued} == {("pending", 0, "")}
        assert all(m.created_at is not None and m.sent_at is None for m in queued)
        rows_of_c = s.scalars(select(Contact).where(Contact.person_id == ids["c"])).all()
        assert sorted(c.case_id for c in rows_of_c) == sorted([first, second])
        assert {c.status for c in rows_of_c} == {"notified"}
        assert len({c.warning_message_id for c in rows_of_c}) == 1
    # Again through the API: everybody was warned already.
    again = tracer.post(
        "/api/v1/tracing/warn", json={"case_ids": [first, second, first], "level": 1}
    )
    assert again.status_code == 200, again.text
    assert again.json() == {"cases": 2, "warned": 0, "contacts": 0, "no_phone": 0, "skipped": 3}
    assert tracer.post("/api/v1/tracing/warn", json={"case_ids": []}).status_code == 422
