"""The people pages (citizens' colour, QR, registry, household and declarations; officials'
declarations, search, person page and duplicates), through the HTML, on both databases."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from phongdich.accounts.models import AuditEvent
from phongdich.kit.clock import VN, utcnow
from phongdich.people.models import Declaration, DuplicateCandidate, HouseholdMember, Person
from phongdich.web.people_pages import router as people_pages_router
from tests.conftest import Env, World, login_official, login_phone
from tests.support.http import Client

HTML = {"accept": "text/html"}
LAN = {
    "full_name": "Nguyễn Thị Lan",
    "birth_date": "2001-03-04",
    "birth_year": "",
    "gender": "female",
    "id_kind": "cccd",
    "id_number": "001301012345",
    "insurance_no": "",
    "address": "12 Kim Mã",
    "unit_code": "00004",
}
KHOI = {
    "full_name": "Nguyễn Minh Khôi",
    "relation": "child",
    "birth_date": "02/05/2019",  # typed by hand on a phone without a date picker
    "gender": "male",
}


@pytest.fixture(autouse=True)
def _people_pages(app: Any) -> None:
    """Until the application includes the router itself."""
    if not any(getattr(r, "path", None) == "/me" for r in app.routes):
        app.include_router(people_pages_router)


def citizen(
    make_client: Any, env: Env, phone: str = "0912345670", name: str = "Nguyễn Thị Lan"
) -> Client:
    c: Client = make_client()
    login_phone(c, env, phone, name)
    return c


def official(make_client: Any, username: str) -> Client:
    c: Client = make_client()
    login_official(c, username)
    return c


def post(c: Client, url: str, form: dict[str, Any]) -> Any:
    return c.post(url, data=form, headers=HTML, follow_redirects=False)


def follow(c: Client, response: Any) -> Any:
    assert response.status_code == 303, response.text
    return c.get(response.headers["location"], headers=HTML)


def new_id(response: Any) -> int:
    match = re.match(r"/me/people/(\d+)", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


def count(env: Env, model: type) -> int:
    with env.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_a_citizen_fills_the_profile_adds_a_child_and_declares_for_it(
    env: Env, world: World, make_client: Any
) -> None:
    c = citizen(make_client, env)
    page = c.get("/me", headers=HTML)
    assert page.status_code == 200
    assert 'data-color="yellow"' in page.text
    assert "Vàng" in page.text
    assert "Vì sao?" in page.text
    assert "Bạn chưa khai báo y tế." in page.text
    assert "<svg" in page.text
    assert "<script" not in page.text
    assert re.search(r'id="qr-expires">\d\d/\d\d/\d{4} \d\d:\d\d<', page.text)
    my_id = int(re.search(r"/me/people/(\d+)/declare", page.text).group(1))  # type: ignore[union-attr]

    # A bad CCCD: the form comes back with the Vietnamese message and what was typed.
    assert c.get("/me/profile", headers=HTML).status_code == 200
    bad = post(c, "/me/profile", {**LAN, "id_number": "00130101234"})
    assert bad.status_code == 422
    assert "Số CCCD phải có 12 chữ số (bạn nhập 11)." in bad.text
    assert 'value="12 Kim Mã"' in bad.text
    with env.session() as s:
        me = s.get(Person, my_id)
        assert me is not None
        assert (me.id_number, me.birth_date, me.address) == (None, None, None)

    saved = follow(c, post(c, "/me/profile", LAN))
    assert "Đã lưu hồ sơ." in saved.text
    profile = c.get("/me/profile", headers=HTML)
    assert 'value="001301012345"' in profile.text
    assert 'name="birth_year" value=""' in profile.text  # the date is known: no clashing year
    assert profile.headers["cache-control"] == "no-store"
    assert "Ba Đình" in profile.text  # the unit code shown with its name

    # A child: a bad CCCD stores nothing; then added, in the household's unit.
    assert c.get("/me/household/new", headers=HTML).status_code == 200
    refused = post(c, "/me/household/new", {**KHOI, "id_kind": "cccd", "id_number": "0012"})
    assert refused.status_code == 422
    assert "Số CCCD phải có 12 chữ số" in refused.text
    assert count(env, HouseholdMember) == 1
    added = post(c, "/me/household/new", KHOI)
    kid = new_id(added)
    page = follow(c, added)
    assert "Đã thêm người vào hộ gia đình." in page.text
    assert f'href="/api/v1/people/{kid}/card.pdf"' in page.text
    with env.session() as s:
        child = s.get(Person, kid)
        assert child is not None
        assert (child.unit_code, child.birth_year) == ("00004", 2019)

    form = c.get(f"/me/people/{kid}/declare?kind=daily", headers=HTML)
    assert form.status_code == 200
    assert "Nguyễn Minh Khôi" in form.text
    assert 'value="fever"' in form.text
    assert "Mất vị giác hoặc khứu giác" in form.text
    sick = {"kind": "daily", "symptoms": ["fever", "cough"], "notes": "Sốt nhẹ buổi tối"}
    page = follow(c, post(c, f"/me/people/{kid}/declare", sick))
    assert "Đã gửi tờ khai." in page.text
    assert 'data-color="yellow"' in page.text
    assert "Vàng" in page.text
    assert "Bạn đã khai báo có triệu chứng: Sốt, Ho." in page.text
    assert "<svg" in page.text
    assert "Sốt nhẹ buổi tối" in page.text  # in the declarations list
    # An unknown symptom is refused, nothing stored.
    before = count(env, Declaration)
    odd = post(c, f"/me/people/{kid}/declare", {"kind": "daily", "symptoms": ["hiccups"]})
    assert odd.status_code == 422
    assert "Triệu chứng không hợp lệ: hiccups." in odd.text
    assert count(env, Declaration) == before

    # A movement declaration for myself; a bad means of transport keeps the form.
    today = utcnow().astimezone(VN).date()
    trip = {
        "kind": "movement",
        "from_unit": "00004",
        "to_unit": "25747",
        "transport": "coach",
        "travel_date": today.strftime("%d/%m/%Y"),
        "vehicle_no": "29b-123.45",
    }
    wrong = post(c, f"/me/people/{my_id}/declare", {**trip, "transport": "rocket"})
    assert wrong.status_code == 422
    assert "Phương tiện di chuyển không hợp lệ." in wrong.text
    assert 'value="29b-123.45"' in wrong.text
    page = follow(c, post(c, f"/me/people/{my_id}/declare", trip))
    assert "29B-123.45" in page.text
    assert "Xe khách" in page.text
    assert "Vàng" in page.text  # a trip is not a health declaration

    # My page lists the household with each colour.
    home = c.get("/me", headers=HTML)
    assert f'href="/me/people/{kid}"' in home.text
    assert "<td>Con</td>" in home.text
    assert home.text.count('class="badge yellow"') == 2


def test_a_citizen_gives_an_email_address_and_a_language_for_warnings(
    env: Env, world: World, make_client: Any
) -> None:
    """The profile takes an optional e-mail address (its domain in lower case) and the
    language of the messages; a malformed address or an unknown language is refused with the
    Vietnamese message and nothing of the form is stored."""
    c = citizen(make_client, env)
    my_id = int(re.search(r"/me/people/(\d+)/declare", c.get("/me", headers=HTML).text).group(1))  # type: ignore[union-attr]
    bad = post(c, "/me/profile", {**LAN, "email": "lan.nguyen@example"})
    assert bad.status_code == 422
    assert "Địa chỉ email không hợp lệ (ví dụ: ten@example.vn)." in bad.text
    assert 'value="lan.nguyen@example"' in bad.text  # what was typed, to correct
    with env.session() as s:
        me = s.get(Person, my_id)
        assert me is not None
        assert (me.email, me.address) == (None, None)
    odd = post(c, "/me/profile", {**LAN, "email": "lan@example.vn", "language": "fr"})
    assert odd.status_code == 422
    assert "Ngôn ngữ không hợp lệ (vi hoặc en)." in odd.text
    form = {**LAN, "email": " Lan.Nguyen@Example.VN ", "language": "en"}
    follow(c, post(c, "/me/profile", form))
    profile = c.get("/me/profile", headers=HTML).text
    assert 'value="Lan.Nguyen@example.vn"' in profile
    assert '<option value="en" selected>English</option>' in profile
    household = c.get("/api/v1/me/household").json()
    mine = [(p["email_masked"], p["language"]) for p in household if p["id"] == my_id]
    assert mine == [("La***@example.vn", "en")]
    follow(c, post(c, "/me/profile", {**LAN, "email": ""}))
    with env.session() as s:
        me = s.get(Person, my_id)
        assert me is not None
        assert me.email is None  # a blank removes it


def test_who_may_open_the_citizen_pages(env: Env, world: World, make_client: Any) -> None:
    lan = citizen(make_client, env)
    kid = new_id(post(lan, "/me/household/new", KHOI))
    anonymous: Client = make_client()
    r = anonymous.get("/me", headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/owner/signin?next=%2Fme"
    r = anonymous.get(f"/me/people/{kid}/declare?kind=daily", follow_redirects=False)
    assert r.headers["location"].startswith("/owner/signin?next=")
    r = post(anonymous, f"/me/people/{kid}/declare", {"kind": "daily"})
    assert r.status_code == 303
    assert count(env, Declaration) == 0
    officer = official(make_client, "badinh")
    assert officer.get("/me", headers=HTML).status_code == 403
    assert officer.get("/me/profile", headers=HTML).status_code == 403
    stranger = citizen(make_client, env, "0987000111", "Trần Văn Hùng")
    refused = stranger.get(f"/me/people/{kid}", headers=HTML)
    assert refused.status_code == 403
    assert "không thuộc hộ gia đình của bạn" in refused.text
    assert post(stranger, f"/me/people/{kid}/declare", {"kind": "daily"}).status_code == 403
    assert count(env, Declaration) == 0
    weekly = lan.get(f"/me/people/{kid}/declare?kind=weekly", headers=HTML)
    assert weekly.status_code == 422
    assert "Loại tờ khai không hợp lệ." in weekly.text


def test_officials_see_counts_and_lines_search_and_merge_a_duplicate(
    env: Env, world: World, make_client: Any
) -> None:
    # The same woman, first added by her mother's household, then registering herself.
    mother = citizen(make_client, env, "0912000222", "Phạm Thị Hoa")
    duplicate = new_id(post(mother, "/me/household/new", {**LAN, "relation": "child"}))
    post(mother, f"/me/people/{duplicate}/declare", {"kind": "daily"})
    lan = citizen(make_client, env)
    follow(lan, post(lan, "/me/profile", {**LAN, "email": "lan.nguyen@example.vn"}))
    assert count(env, DuplicateCandidate) == 1
    with env.session() as s:
        lan_id = s.scalars(select(Person.id).where(Person.phone == "0912345670")).one()
    post(lan, f"/me/people/{lan_id}/declare", {"kind": "daily", "symptoms": ["fever"]})
    hung = citizen(make_client, env, "0987000111", "Trần Văn Hùng")
    hung_form = {**LAN, "full_name": "Trần Văn Hùng", "id_kind": "", "id_number": ""}
    follow(hung, post(hung, "/me/profile", {**hung_form, "gender": "male", "unit_code": "00070"}))
    with env.session() as s:
        hung_id = s.scalars(select(Person.id).where(Person.phone == "0987000111")).one()
    post(hung, f"/me/people/{hung_id}/declare", {"kind": "daily"})

    # The province sees each commune's counts by colour.
    province = official(make_client, "hanoi")
    page = province.get("/officials/declarations", headers=HTML)
    assert page.status_code == 200
    row = re.search(r'<tr data-unit="00004">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    assert re.findall(r'<td class="num">(\d+)</td>', row.group(1)) == ["1", "1", "0", "2"]
    assert '<td class="num" id="total">3</td>' in page.text

    # The commune sees its line list, and the exports with the same filters.
    commune = official(make_client, "badinh")
    page = commune.get("/officials/declarations", headers=HTML)
    assert page.status_code == 200
    assert page.text.count(f'href="/officials/people/{lan_id}"') == 1
    assert f'href="/officials/people/{duplicate}"' in page.text
    assert "Trần Văn Hùng" not in page.text
    csv_link = re.search(r'id="export-csv" href="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert "start=" in csv_link
    assert "end=" in csv_link
    export = commune.get(csv_link.replace("&amp;", "&"))
    assert export.status_code == 200
    assert export.content.decode("utf-8-sig").count("Nguyễn Thị Lan") == 2
    assert 'id="export-xlsx" href="/api/v1/officials/declarations/export.xlsx?' in page.text
    bad_dates = commune.get("/officials/declarations?start=2026-05-01&end=2026-04-01", headers=HTML)
    assert bad_dates.status_code == 422
    assert "Khoảng thời gian không hợp lệ" in bad_dates.text
    assert commune.get("/officials/declarations?unit=00070", headers=HTML).status_code == 403

    # Search, then open the person.
    found = commune.get("/officials/people", params={"q": "nguyen thi lan"}, headers=HTML)
    assert found.status_code == 200
    assert f'href="/officials/people/{lan_id}"' in found.text
    short = commune.get("/officials/people", params={"q": "n"}, headers=HTML)
    assert "Nhập ít nhất 2 ký tự để tìm kiếm." in short.text
    person = commune.get(f"/officials/people/{lan_id}", headers=HTML)
    assert person.status_code == 200
    assert "001301012345" in person.text
    assert "lan.nguyen@example.vn" in person.text
    assert 'data-color="yellow"' in person.text
    assert "Bạn đã khai báo có triệu chứng: Sốt." in person.text
    # Another commune's official cannot open her.
    other = official(make_client, "hoankiem")
    assert other.get(f"/officials/people/{lan_id}", headers=HTML).status_code == 403

    # The flagged pair, merged through the form.
    listed = commune.get("/officials/duplicates", headers=HTML)
    assert listed.status_code == 200
    assert listed.text.count("Gộp vào hồ sơ này") == 2
    assert "Không trùng" in listed.text
    assert "Trùng số giấy tờ" in listed.text
    assert "001301012345" not in listed.text  # masked here
    merge = {"survivor_id": str(lan_id), "duplicate_id": str(duplicate)}
    done = follow(commune, post(commune, "/officials/people/merge", merge))
    assert "Đã gộp hai hồ sơ." in done.text
    assert 'id="none"' in done.text
    with env.session() as s:
        merged = s.get(Person, duplicate)
        assert merged is not None
        assert merged.merged_into == lan_id
        assert s.scalar(select(func.count()).where(Declaration.person_id == lan_id)) == 2
    again = post(commune, "/officials/people/merge", merge)
    assert again.status_code == 409
    assert "Một trong hai hồ sơ đã được gộp trước đó." in again.text
    # The old record's page shows the survivor.
    assert "đã được gộp vào hồ sơ này" in commune.get(f"/officials/people/{duplicate}").text

    with env.session() as s:
        details = set(
            s.scalars(
                select(AuditEvent.detail).where(
                    AuditEvent.object_type == "person", AuditEvent.object_id == str(lan_id)
                )
            )
        )
    assert {"declarations page", "people search", "person page"} <= details


def test_an_official_dismisses_a_pair_that_is_not_the_same_person(
    env: Env, world: World, make_client: Any
) -> None:
    an = {
        "full_name": "Lê Văn An",
        "relation": "child",
        "birth_date": "2015-06-01",
        "gender": "male",
        "id_kind": "cccd",
        "id_number": "001215012345",
        "unit_code": "00004",
    }
    first = citizen(make_client, env, "0912000333", "Lê Thị Mai")
    new_id(post(first, "/me/household/new", an))
    second = citizen(make_client, env, "0912000444", "Lê Văn Bình")
    new_id(post(second, "/me/household/new", an))
    assert count(env, DuplicateCandidate) == 1
    with env.session() as s:
        candidate = s.scalars(select(DuplicateCandidate.id)).one()
    far = official(make_client, "hcm")
    assert "Lê Văn An" not in far.get("/officials/duplicates", headers=HTML).text
    assert post(far, f"/officials/duplicates/{candidate}/dismiss", {}).status_code == 403
    commune = official(make_client, "badinh")
    page = follow(commune, post(commune, f"/officials/duplicates/{candidate}/dismiss", {}))
    assert "Đã đánh dấu là không trùng." in page.text
    assert "Lê Văn An" not in page.text
    with env.session() as s:
        assert s.get(DuplicateCandidate, candidate).resolved == "dismissed"  # type: ignore[union-attr]
