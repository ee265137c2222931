"""The checkpoint pages end to end in Chromium: an owner registers a venue from a phone, the
commune approves it, the owner prints the QR poster and a citizen's camera lands on the venue."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from phongdich.accounts.models import PhoneAccount
from phongdich.accounts.service import Principal
from phongdich.checkpoints.models import Checkpoint
from phongdich.checkpoints.schemas import CheckpointCreate
from phongdich.checkpoints.service import CheckpointService
from phongdich.geo.repository import UnitRepository
from tests.browser.conftest import LiveServer
from tests.conftest import PASSWORD, Env, World
from tests.support.http import last_code

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("env", ["sqlite"], indirect=True),
]

OWNER_PHONE = "0912345678"
OWNER_NAME = "Nguyễn Văn An"
VENUE = "Nhà hàng Phở Hà Nội"
ADDRESS = "Số 10 phố Quán Thánh"


def sign_in_owner(page: Page, live: LiveServer, phone: str, full_name: str) -> None:
    """Home → phone sign-in → SMS code (read from the outbox) → the owner's page."""
    page.goto(live.url("/"))
    page.get_by_role("link", name="Đăng nhập bằng số điện thoại").click()
    expect(page).to_have_url(live.url("/owner/signin"))
    page.get_by_label("Số điện thoại di động").fill(phone)
    page.get_by_role("button", name="Gửi mã").click()
    expect(page.locator("p.notice")).to_contain_text(f"Đã gửi mã xác thực tới {phone}")
    sent_to = page.locator("input[type=hidden][name=phone]").input_value()
    assert sent_to == phone
    with live.env.session() as session:
        code = last_code(session, sent_to)
    page.get_by_label("Mã xác thực").fill(code)
    page.get_by_label("Họ và tên (lần đầu đăng nhập)").fill(full_name)
    page.get_by_role("button", name="Xác nhận").click()
    expect(page).to_have_url(live.url("/owner"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Điểm kiểm dịch của tôi")
    expect(page.locator("header")).to_contain_text(full_name)


def sign_in_official(page: Page, live: LiveServer, username: str) -> None:
    page.goto(live.url("/login"))
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập", exact=True).click()
    expect(page).to_have_url(live.url("/officials/checkpoints"))


def pick_commune(page: Page, province: str, commune: str) -> None:
    """Choose the province; the page's script then fetches and fills the commune list."""
    page.locator("#province").select_option(province)
    option = page.locator(f"#unit_code option[value='{commune}']")
    expect(option).to_have_count(1)
    page.locator("#unit_code").select_option(commune)


def count_checkpoints(env: Env) -> int:
    with env.session() as session:
        return int(session.scalar(select(func.count()).select_from(Checkpoint)) or 0)


def test_owner_registers_official_approves_poster_scans(
    live_server: LiveServer,
    world: World,
    page: Page,
    new_page: Callable[..., Page],
    tmp_path: Path,
) -> None:
    live = live_server
    sign_in_owner(page, live, OWNER_PHONE, OWNER_NAME)
    expect(page.get_by_text("Bạn chưa có điểm kiểm dịch nào.")).to_be_visible()

    # Register the venue.
    page.get_by_role("link", name="Đăng ký điểm kiểm dịch").click()
    expect(page).to_have_url(live.url("/owner/checkpoints/new"))
    page.get_by_label("Tên cơ sở / sự kiện").fill(VENUE)
    page.locator("#type").select_option("restaurant")
    province = page.locator("#province option[value='01']")
    expect(province).to_have_text("Thành phố Hà Nội")
    pick_commune(page, "01", "00004")
    expect(page.locator("#unit_code option:checked")).to_have_text("Phường Ba Đình")
    page.get_by_label("Địa chỉ (số nhà, đường, thôn/tổ)").fill(ADDRESS)
    page.locator("#entrances").fill("Cổng chính\nPhòng họp tầng 2")
    page.get_by_role("button", name="Đăng ký", exact=True).click()

    expect(page).to_have_url(re.compile(re.escape(live.url("/checkpoints/")) + r"\d+$"))
    detail_url = page.url
    expect(page.get_by_role("heading", level=1)).to_contain_text(VENUE)
    expect(page.locator("h1 .badge")).to_have_text("Chờ duyệt")
    expect(page.locator("#cp-code")).to_have_text(re.compile(r"^KD-[0-9A-Z]{8}$"))
    cp_code = page.locator("#cp-code").inner_text()
    expect(page.locator("main .card").first).to_contain_text("Nhà hàng, quán ăn, cà phê")
    expect(page.locator("main .card").first).to_contain_text(ADDRESS)
    expect(page.locator("main .card").first).to_contain_text("Phường Ba Đình")
    expect(page.get_by_text("Điểm kiểm dịch đang chờ UBND xã/phường phê duyệt.")).to_be_visible()
    expect(page.get_by_role("link", name="Tải áp phích QR (PDF, A4)")).to_have_count(0)
    entrance_cells = page.locator("table").first.locator("tr td:first-child")
    expect(entrance_cells).to_have_text(["Cổng chính", "Phòng họp tầng 2"])
    with live.env.session() as session:
        cp = session.scalars(select(Checkpoint)).one()
        assert (cp.name, cp.type, cp.unit_code, cp.status) == (
            VENUE,
            "restaurant",
            "00004",
            "registered",
        )

    # The commune official approves it from a desktop browser.
    official = new_page(viewport={"width": 1280, "height": 800})
    sign_in_official(official, live, "badinh")
    expect(official.locator("#total")).to_have_text(re.compile(r"^Tổng số: 1(?!\d)"))
    official.get_by_role("link", name=VENUE).click()
    expect(official).to_have_url(detail_url)
    expect(official.locator("h1 .badge")).to_have_text("Chờ duyệt")
    official.get_by_role("button", name="Phê duyệt").click()
    expect(official.locator("h1 .badge")).to_have_text("Đang hoạt động")
    expect(official.get_by_role("button", name="Phê duyệt")).to_have_count(0)

    # Back on the owner's phone: the poster can now be downloaded.
    page.reload()
    expect(page.locator("h1 .badge")).to_have_text("Đang hoạt động")
    qr_link = page.locator("table").first.locator("tr").nth(1).locator("a")
    listed_url = qr_link.get_attribute("href")
    assert listed_url is not None
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Tải áp phích QR (PDF, A4)").click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == f"{cp_code}.pdf"
    pdf_path = tmp_path / download.suggested_filename
    download.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")

    document = pdfium.PdfDocument(pdf_path)
    try:
        assert len(document) == 2  # one poster per entrance
        image = document[0].render(scale=2).to_pil()
    finally:
        document.close()
    barcodes = zxingcpp.read_barcodes(image)
    assert len(barcodes) == 1
    assert barcodes[0].format == zxingcpp.BarcodeFormat.QRCode
    decoded = barcodes[0].text
    assert decoded.startswith(live.url("/c/")), decoded
    assert decoded == listed_url

    # A citizen's phone camera opens the link on a phone that has never been used here:
    # name and phone once, then one tap to check in, and one to check out.
    phone = new_page(java_script_enabled=False)  # the core check-in works without JavaScript
    phone.goto(decoded)
    expect(phone.locator(".scan .muted").first).to_have_text(
        f"Điểm kiểm dịch {cp_code} · Cổng chính"
    )
    phone.fill("#full_name", "Đỗ Thị Hoa")
    phone.fill("#phone", "0912000111")
    phone.click("#check-in")
    expect(phone.locator("#visit-result")).to_have_text(f"Đã khai báo VÀO {VENUE}.")
    expect(phone.locator("#visit-open")).to_contain_text("Bạn đang ở đây từ")
    shot = tmp_path / "scan.png"
    phone.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 0
    assert shot.read_bytes().startswith(b"\x89PNG")
    # Scanning the poster again later: the device remembers the visitor; check out.
    phone.goto(decoded)
    expect(phone.locator("#full_name")).to_have_count(0)
    phone.click("#check-out")
    expect(phone.locator("#visit-result")).to_have_text(f"Đã khai báo RA khỏi {VENUE}.")
    expect(phone.locator("#check-in")).to_be_visible()


def test_bad_input_language_switch_and_wrong_password(
    live_server: LiveServer, world: World, page: Page, new_page: Callable[..., Page]
) -> None:
    live = live_server
    sign_in_owner(page, live, "0987654321", "Trần Thị Bình")
    page.goto(live.url("/owner/checkpoints/new"))
    name = page.get_by_label("Tên cơ sở / sự kiện")
    address = page.get_by_label("Địa chỉ (số nhà, đường, thôn/tổ)")

    # A name of spaces only passes the browser's `required` check but not the server's.
    name.fill("   ")
    pick_commune(page, "01", "00004")
    address.fill(ADDRESS)
    page.get_by_role("button", name="Đăng ký", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Tên phải có từ 1 đến 200 ký tự.")
    expect(page).to_have_url(live.url("/owner/checkpoints/new"))
    expect(address).to_have_value(ADDRESS)
    expect(page.locator("#province")).to_have_value("01")
    expect(page.locator("#unit_code")).to_have_value("00004")
    expect(page.locator("#entrances")).to_have_value("Cổng chính")

    # The browser caps the name at 200 characters; a client that ignores the cap is refused.
    name.fill("Đ" * 300)
    expect(name).to_have_value("Đ" * 200)
    name.evaluate("element => element.removeAttribute('maxlength')")
    name.fill("Đ" * 300)
    expect(name).to_have_value("Đ" * 300)
    page.get_by_role("button", name="Đăng ký", exact=True).click()
    expect(alert).to_have_text("Tên phải có từ 1 đến 200 ký tự.")
    expect(address).to_have_value(ADDRESS)
    expect(name).to_have_value("Đ" * 300)
    assert count_checkpoints(live.env) == 0

    # Officials' sign-in: a wrong password is refused in Vietnamese, the username kept.
    official = new_page(viewport={"width": 1280, "height": 800})
    official.goto(live.url("/login"))
    expect(official.get_by_role("heading", level=1)).to_have_text("Đăng nhập cán bộ")
    official.get_by_label("Tên đăng nhập").fill("badinh")
    official.get_by_label("Mật khẩu").fill("sai-mat-khau")
    official.get_by_role("button", name="Đăng nhập", exact=True).click()
    expect(official.get_by_role("alert")).to_have_text("Tên đăng nhập hoặc mật khẩu không đúng.")
    expect(official.get_by_label("Tên đăng nhập")).to_have_value("badinh")
    expect(official.get_by_label("Mật khẩu")).to_have_value("")

    # The language switch turns the page into English and the choice sticks.
    official.get_by_role("link", name="English").click()
    expect(official).to_have_url(live.url("/login?lang=en"))
    expect(official.get_by_role("heading", level=1)).to_have_text("Official sign-in")
    expect(official.locator("html")).to_have_attribute("lang", "en")
    official.goto(live.url("/login"))
    expect(official.get_by_role("heading", level=1)).to_have_text("Official sign-in")
    official.get_by_label("Username").fill("badinh")
    official.get_by_label("Password").fill("still-wrong")
    official.get_by_role("button", name="Sign in", exact=True).click()
    expect(official.get_by_role("alert")).to_have_text("Wrong username or password.")
    official.get_by_role("link", name="Tiếng Việt").click()
    expect(official.get_by_role("heading", level=1)).to_have_text("Đăng nhập cán bộ")


def _seed_checkpoints(env: Env, world: World) -> dict[str, str]:
    """Three venues in Hà Nội (two in Ba Đình, one in Hoàn Kiếm) and one in HCM City; one of
    the Ba Đình venues is approved. Returns name -> status."""
    with env.session() as session:
        owner = PhoneAccount(phone="0901234567", full_name="Lê Văn Cường")
        session.add(owner)
        session.flush()
        service = CheckpointService(session, env.settings)
        hcm_commune = UnitRepository(session).children("79")[0].code
        venues = [
            ("Chợ Ba Đình", "market", "00004"),
            ("Trường THCS Ba Đình", "school", "00004"),
            ("Nhà thuốc Hoàn Kiếm", "pharmacy", "00070"),
            ("Siêu thị Quận 1", "supermarket", hcm_commune),
        ]
        made = {}
        for name, kind, unit in venues:
            made[name] = service.register(
                owner,
                CheckpointCreate(name=name, type=kind, address=f"Số 1, {name}", unit_code=unit),
            )
        service.apply(
            Principal("official", official=world.badinh), made["Chợ Ba Đình"], "approve", ""
        )
        session.commit()
        return {name: cp.status for name, cp in made.items()}


def test_official_list_counts_and_filters_by_status(
    live_server: LiveServer, world: World, new_page: Callable[..., Page]
) -> None:
    live = live_server
    statuses = _seed_checkpoints(live.env, world)
    assert statuses["Chợ Ba Đình"] == "active"

    page = new_page(viewport={"width": 1280, "height": 800})
    sign_in_official(page, live, "hanoi")
    expect(page.get_by_role("heading", level=1)).to_have_text("Điểm kiểm dịch — Thành phố Hà Nội")
    total = page.locator("#total")
    names = page.locator("table tr td:first-child a")
    expect(total).to_have_text(re.compile(r"^Tổng số: 3(?!\d)"))
    expect(names).to_have_count(3)
    expect(page.get_by_role("link", name="Siêu thị Quận 1")).to_have_count(0)

    status = page.get_by_label("Trạng thái")
    filter_button = page.get_by_role("button", name="Lọc")

    status.select_option("active")
    filter_button.click()
    expect(page).to_have_url(re.compile(r"[?&]status=active(&|$)"))
    expect(total).to_have_text(re.compile(r"^Tổng số: 1(?!\d)"))
    expect(names).to_have_text(["Chợ Ba Đình"])
    expect(page.locator("table .badge")).to_have_text(["Đang hoạt động"])
    expect(status).to_have_value("active")

    status.select_option("registered")
    filter_button.click()
    expect(page).to_have_url(re.compile(r"[?&]status=registered(&|$)"))
    expect(total).to_have_text(re.compile(r"^Tổng số: 2(?!\d)"))
    expect(names).to_have_count(2)
    expect(page.locator("table .badge")).to_have_text(["Chờ duyệt", "Chờ duyệt"])
    expect(page.get_by_role("link", name="Trường THCS Ba Đình")).to_have_count(1)
    expect(page.get_by_role("link", name="Nhà thuốc Hoàn Kiếm")).to_have_count(1)

    # Narrow to Phường Ba Đình as well: only its pending school is left.
    page.get_by_label("Địa bàn").select_option("00004")
    filter_button.click()
    expect(total).to_have_text(re.compile(r"^Tổng số: 1(?!\d)"))
    expect(names).to_have_text(["Trường THCS Ba Đình"])

    status.select_option("suspended")
    page.get_by_label("Địa bàn").select_option("")
    filter_button.click()
    expect(total).to_have_text(re.compile(r"^Tổng số: 0(?!\d)"))
    expect(names).to_have_count(0)
