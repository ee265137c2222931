"""The tracers' workbench in Chromium: a day's line list of cases uploaded through the file
picker, a wrong list refused row by row, then the case page waiting for, then showing, its F1;
the F1 warned by SMS and the case's places published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from phongdich.people.models import Person
from phongdich.tracing.models import Case
from phongdich.tracing.tasks import trace_pending
from tests.browser.conftest import LiveServer
from tests.browser.test_checkpoint_flow import sign_in_official
from tests.conftest import World
from tests.integration.test_tracing_api import scenario, yesterday

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("env", ["sqlite"], indirect=True),
]


def test_a_tracer_uploads_a_line_list_and_opens_a_case(
    live_server: LiveServer, world: World, make_client: Any, page: Page, tmp_path: Path
) -> None:
    ids = scenario(live_server.env, make_client)
    with live_server.env.session() as s:
        for key, phone in (("a", "0912000001"), ("c", "0912000003")):
            person = s.get(Person, ids[key])
            assert person is not None
            person.phone = phone
        s.commit()
    sign_in_official(page, live_server, "hanoi")
    day = yesterday(20).strftime("%d/%m/%Y %H:%M")

    # A wrong list: one unknown person. Nothing is entered; the row is named.
    wrong = tmp_path / "sai.csv"
    wrong.write_text(
        f"Họ tên;Mã người;Ngày xét nghiệm\nNguyễn Văn Ca;{ids['f0']};{day}\nAi đó;999999;{day}\n",
        encoding="utf-8-sig",
    )
    page.goto(live_server.url("/officials/tracing"))
    page.get_by_label("Tệp CSV (UTF-8, tối đa 2.000 ca)").set_input_files(wrong)
    page.get_by_role("button", name="Nhập danh sách và truy vết").click()
    expect(page.locator("#error")).to_have_text(
        "1 dòng không hợp lệ; chưa nhập ca bệnh nào. Sửa các dòng này rồi gửi lại cả danh sách."
    )
    expect(page.locator("#line-errors tr[data-row='3']")).to_contain_text(
        "Không tìm thấy người này."
    )
    with live_server.env.session() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0

    # The corrected list: entered and traced at once.
    right = tmp_path / "dung.csv"
    right.write_text(
        f"Họ tên;Mã người;Ngày xét nghiệm\nNguyễn Văn Ca;{ids['f0']};{day}\n", encoding="utf-8-sig"
    )
    page.get_by_role("link", name="Quay lại để gửi lại tệp đã sửa").click()
    page.get_by_label("Tệp CSV (UTF-8, tối đa 2.000 ca)").set_input_files(right)
    page.get_by_role("button", name="Nhập danh sách và truy vết").click()
    expect(page.locator("#entered-summary")).to_contain_text(
        "Đã nhập 1 ca bệnh. F1 của các ca đang được truy vết nền"
    )
    page.locator("#entered tr").nth(1).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nguyễn Văn Ca")
    expect(page.locator("#trace-pending")).to_be_visible()
    # The server's queue worker (off in tests) does this every second.
    done = trace_pending(live_server.env.factory, live_server.env.settings)
    assert done == {"cases_traced": 1, "cases_traced_deeper": 1, "deeper_steps": 1}
    page.get_by_role("link", name="Tải lại trang").click()
    expect(page.locator("#trace-pending")).to_have_count(0)
    expect(page.locator("#contacts")).to_contain_text("Trần Thị An")
    expect(page.locator("#contacts")).to_contain_text("Phạm Thị Cúc")

    # Warn the F1 by SMS: the form keeps SMS ticked; the rows say who was warned.
    page.locator("#warn select[name=level]").select_option("1")
    page.get_by_role("button", name="Gửi cảnh báo").click()
    expect(page.locator("#done")).to_contain_text(
        "Đã xếp hàng gửi cảnh báo cho 2 người tiếp xúc; 0 người không có địa chỉ nhận"
    )
    expect(page.locator("#contacts .warned")).to_have_count(2)
    # Publish the places the case visited.
    page.get_by_role("button", name="Công bố địa điểm ca bệnh đã đến").click()
    expect(page.locator("#done")).to_contain_text("Đã công bố thêm 1 địa điểm")
    expect(page.locator("#published")).to_contain_text("Đã công bố 1 địa điểm")
