"""Contacts that need no visit overlap, on both databases: people at the case's address and
people who declared the same trip (movement declarations), next to households and visits."""

from __future__ import annotations

from typing import Any

from phongdich.accounts.models import PhoneAccount
from phongdich.people.models import Person
from phongdich.people.schemas import DeclarationIn
from phongdich.people.service import PersonService
from tests.conftest import Env, World, login_official
from tests.integration.test_tracing_api import open_case, person, update_person, yesterday


def _account(env: Env, phone: str, pid: int) -> int:
    """Give the person a phone account (so they can declare), their own household."""
    with env.session() as s:
        account = PhoneAccount(phone=phone, full_name="x")
        s.add(account)
        s.flush()
        target = s.get(Person, pid)
        assert target is not None
        target.account_id = account.id
        s.flush()
        PersonService(s, env.settings).for_account(account)
        s.commit()
        return account.id


def _travel(env: Env, account_id: int, pid: int, vehicle: str) -> None:
    with env.session() as s:
        account = s.get(PhoneAccount, account_id)
        assert account is not None
        PersonService(s, env.settings).declare(
            account,
            pid,
            DeclarationIn(
                kind="movement",
                from_unit="00004",
                to_unit="00070",
                transport="bus",
                travel_date=yesterday(9).date(),
                vehicle_no=vehicle,
            ),
        )
        s.commit()


def test_same_address_and_same_trip_are_f1(env: Env, world: World, make_client: Any) -> None:
    f0 = person(env, "Nguyễn Văn Ca")
    neighbour = person(env, "Đỗ Thị Hàng Xóm")
    elsewhere = person(env, "Đỗ Văn Khác Phường", unit="00070")  # same text, other commune
    traveller = person(env, "Bùi Văn Đồng Hành")
    other_bus = person(env, "Lý Thị Xe Khác")
    for pid in (f0, neighbour, elsewhere):
        update_person(env, pid, address="Số 12 ngõ 5 Kim Mã")
    accounts = {
        pid: _account(env, f"09120000{n:02d}", pid)
        for n, pid in enumerate((f0, traveller, other_bus))
    }
    # The same bus written two ways (dash, lower case) is the same trip; another bus is not.
    _travel(env, accounts[f0], f0, "29B-123.45")
    _travel(env, accounts[traveller], traveller, "29b12345")
    _travel(env, accounts[other_bus], other_bus, "30A-999.99")
    tracer = make_client()
    login_official(tracer, "hanoi")
    r = open_case(tracer, f0)
    assert r.status_code == 201, r.text
    case = r.json()
    contacts = {
        c["person_id"]: c for c in tracer.get(f"/api/v1/tracing/cases/{case['id']}/contacts").json()
    }
    assert set(contacts) == {neighbour, traveller}
    assert contacts[neighbour]["source"] == "address"
    assert contacts[neighbour]["level"] == 1
    trip = contacts[traveller]
    assert trip["source"] == "declared"
    assert trip["evidence"][0]["vehicle_no"] == "29B12345"
    assert trip["evidence"][0]["transport"] == "bus"
    # The workbench shows the trip and the source in Vietnamese.
    page = tracer.get(f"/officials/tracing/cases/{case['id']}")
    assert page.status_code == 200
    assert "Cùng địa chỉ" in page.text
    assert "Cùng chuyến đi" in page.text
    assert "29B12345" in page.text
