"""The staff scanner page in Chromium: a phone camera (Chromium's fake camera playing a Y4M of
a personal QR code) and a keyboard-wedge reader check people in; scans made offline are kept
in the page's queue and recorded with their own time once the network is back."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import func, select

from phongdich.accounts.models import PhoneAccount
from phongdich.accounts.service import AccountService, Principal
from phongdich.checkpoints.schemas import CheckpointCreate
from phongdich.checkpoints.service import CheckpointService
from phongdich.kit.clock import utcnow
from phongdich.people.service import PersonService
from phongdich.visits.models import Scan, Visit
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE_VIEWPORT, TIMEOUT_MS, LiveServer
from tests.browser.fixtures import qr_image, write_y4m
from tests.conftest import Env, World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("env", ["sqlite"], indirect=True),
]

VENUE = "Siêu thị Ba Đình"
NOT_STAFF = "Bạn không phải nhân viên của điểm kiểm dịch này."
CHECKED_IN = f"Đã khai báo VÀO {VENUE}."


@pytest.fixture
def live(live_server: LiveServer) -> LiveServer:
    return live_server


@dataclass
class Venue:
    checkpoint_id: int
    entrance_id: int
    owner_session: str  # the owner's session cookie
    passes: dict[str, str]  # person name -> their health QR pass (``PD1:...``, as shown)


def _account(session: Any, env: Env, phone: str, name: str) -> tuple[PhoneAccount, str]:
    account = PhoneAccount(phone=phone, full_name=name)
    session.add(account)
    session.flush()
    return account, AccountService(session, env.settings).start_session("phone", account.id)


def make_venue(env: Env, world: World, *people: tuple[str, str]) -> Venue:
    """An approved venue of Phường Ba Đình, its owner signed in, and people with a QR each."""
    with env.session() as session:
        owner, cookie = _account(session, env, "0912345678", "Nguyễn Văn An")
        service = CheckpointService(session, env.settings)
        cp = service.register(
            owner,
            CheckpointCreate(
                name=VENUE,
                type="supermarket",
                address="Số 5 Đội Cấn",
                unit_code="00004",
                entrances=["Cổng chính", "Cổng phụ"],
            ),
        )
        service.apply(Principal("official", official=world.badinh), cp, "approve", "")
        entrance = service.repo.entrances(cp.id)[0]
        persons = PersonService(session, env.settings)
        passes = {
            name: persons.status_of(persons.register(name, phone)).qr for name, phone in people
        }
        session.commit()
        return Venue(cp.id, entrance.id, cookie, passes)


def visits_of(env: Env, health_pass: str) -> list[Visit]:
    with env.session() as session:
        person, _scanned = PersonService(session, env.settings).from_pass(health_pass)
        return list(session.scalars(select(Visit).where(Visit.person_id == person.id)))


def count(env: Env, model: type) -> int:
    with env.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def signed_in(context: BrowserContext, live: LiveServer, cookie: str, errors: list[str]) -> Page:
    """A page of ``context`` signed in with the session ``cookie``; script errors go to
    ``errors``."""
    context.add_cookies([{"name": "pd_session", "value": cookie, "url": live.base_url}])
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


def test_camera_checks_in_once(
    live: LiveServer, world: World, browser: Browser, tmp_path: Path
) -> None:
    venue = make_venue(live.env, world, ("Trần Thị Mai", "0987654321"))
    mai = venue.passes["Trần Thị Mai"]
    assert mai.startswith("PD1:")  # base45: all in the QR alphanumeric alphabet
    video = write_y4m(tmp_path / "card.y4m", qr_image(mai))
    camera = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    errors: list[str] = []
    try:
        context = camera.new_context(
            locale="vi-VN", viewport=PHONE_VIEWPORT, timezone_id="Asia/Ho_Chi_Minh"
        )
        context.grant_permissions(["camera"], origin=live.base_url)
        page = signed_in(context, live, venue.owner_session, errors)
        page.goto(live.url(f"/staff/scan/{venue.checkpoint_id}"))
        expect(page.get_by_role("heading", level=1)).to_contain_text(VENUE)
        expect(page.locator("#entrance option")).to_have_text(["Cổng chính", "Cổng phụ"])
        expect(page.get_by_label("Tự động (vào/ra)")).to_be_checked()
        page.get_by_role("button", name="Bật camera").click()
        expect(page.get_by_role("button", name="Tắt camera")).to_be_visible()

        banner = page.locator("#banner")
        expect(page.locator("#banner-message")).to_have_text(CHECKED_IN)
        expect(page.locator("#banner-person")).to_have_text("● VÀNG · Trần T. M.")
        expect(banner).to_have_class(re.compile(r"\bin\b"))
        expect(page.locator("#pending")).to_have_text("Đang chờ gửi: 0")
        visits = visits_of(live.env, mai)
        assert [(v.in_method, v.entrance_id) for v in visits] == [("staff_scan", venue.entrance_id)]

        # The card stays in front of the camera: still one scan, one visit.
        page.wait_for_timeout(4000)
        assert page.evaluate("document.getElementById('video').videoWidth") == 640
        assert len(visits_of(live.env, mai)) == 1
        assert count(live.env, Scan) == 1
        expect(page.locator("#recent li")).to_have_count(1)
        assert errors == []
        context.close()
    finally:
        camera.close()


def test_reader_offline_queue_and_foreign_staff(
    live: LiveServer, world: World, browser: Browser
) -> None:
    venue = make_venue(
        live.env, world, ("Trần Thị Mai", "0987654321"), ("Lê Văn Hùng", "0977123456")
    )
    mai, hung = venue.passes["Trần Thị Mai"], venue.passes["Lê Văn Hùng"]
    context = browser.new_context(
        locale="vi-VN", viewport=PHONE_VIEWPORT, timezone_id="Asia/Ho_Chi_Minh"
    )
    errors: list[str] = []
    try:
        page = signed_in(context, live, venue.owner_session, errors)
        page.goto(live.url(f"/staff/scan/{venue.checkpoint_id}"))
        reader = page.get_by_label("Mã QR (máy quét cầm tay hoặc nhập tay)")
        expect(reader).to_be_focused()

        # A reader types the code and Enter; the input keeps the focus for the next one.
        page.keyboard.type(mai)
        page.keyboard.press("Enter")
        expect(page.locator("#banner-message")).to_have_text(CHECKED_IN)
        expect(page.locator("#banner-person")).to_have_text("● VÀNG · Trần T. M.")
        expect(page.locator("#banner")).to_have_class(re.compile(r"\bin\b"))
        expect(reader).to_be_focused()
        expect(reader).to_have_value("")
        assert [v.in_method for v in visits_of(live.env, mai)] == ["reader"]

        # Offline: the scan waits in the queue (persisted), with the time it was made.
        context.set_offline(True)
        scanned_at = utcnow()
        reader.fill(hung)
        reader.press("Enter")
        expect(page.locator("#pending")).to_have_text("Đang chờ gửi: 1")
        expect(page.locator("#banner-message")).to_have_text(
            "Đã lưu lượt quét — sẽ gửi khi có mạng."
        )
        queued = page.evaluate("JSON.parse(localStorage.getItem('pd.scanQueue.v1'))")
        assert [(q["person_token"], q["direction"], q["method"]) for q in queued] == [
            (hung, "auto", "reader")
        ]
        assert queued[0]["at"].endswith("+07:00")
        assert visits_of(live.env, hung) == []
        page.wait_for_timeout(4000)

        # Back online: the queue is sent and the visit keeps the time of the scan.
        context.set_offline(False)
        synced_from = utcnow()
        page.evaluate("window.dispatchEvent(new Event('online'))")
        expect(page.locator("#pending")).to_have_text("Đang chờ gửi: 0")
        expect(page.locator("#recent li").first).to_contain_text("Lê V. H.")
        visits = visits_of(live.env, hung)
        assert len(visits) == 1
        assert abs(visits[0].check_in_at - scanned_at) <= timedelta(seconds=2)
        assert visits[0].check_in_at < synced_from - timedelta(seconds=2)
        assert page.evaluate("localStorage.getItem('pd.scanQueue.v1')") == "[]"
        assert errors == []
    finally:
        context.close()

    _foreign_staff_is_refused(live, browser, venue, mai)


def _foreign_staff_is_refused(
    live: LiveServer, browser: Browser, venue: Venue, health_pass: str
) -> None:
    """The owner of another venue cannot open this venue's scanner; a scan for this venue's
    entrance from their device (a remembered entrance, a tampered page) is refused."""
    with live.env.session() as session:
        other, cookie = _account(session, live.env, "0903333444", "Phạm Thị Lan")
        own_cp = (
            CheckpointService(session, live.env.settings)
            .register(
                other,
                CheckpointCreate(name="Quán cà phê Lan", address="Số 9 Kim Mã", unit_code="00004"),
            )
            .id
        )
        session.commit()
    visits, scans = count(live.env, Visit), count(live.env, Scan)
    context = browser.new_context(locale="vi-VN", viewport=PHONE_VIEWPORT)
    errors: list[str] = []
    try:
        page = signed_in(context, live, cookie, errors)
        response = page.goto(live.url(f"/staff/scan/{venue.checkpoint_id}"))
        assert response is not None
        assert response.status == 403
        expect(page.locator("p.error")).to_have_text(NOT_STAFF)

        page.goto(live.url(f"/staff/scan/{own_cp}"))
        page.locator("#entrance option").first.evaluate(
            "(option, id) => { option.value = String(id); }", venue.entrance_id
        )
        page.get_by_label("Mã QR (máy quét cầm tay hoặc nhập tay)").fill(health_pass)
        page.keyboard.press("Enter")
        expect(page.locator("#banner-message")).to_have_text(NOT_STAFF)
        expect(page.locator("#banner")).to_have_class(re.compile(r"\berror\b"))
        expect(page.locator("#pending")).to_have_text("Đang chờ gửi: 0")
        assert (count(live.env, Visit), count(live.env, Scan)) == (visits, scans)
        assert errors == []
    finally:
        context.close()
