"""A demo province for trying the platform: Hà Nội with officials, owners and checkpoints.

Seeding is idempotent: a database that already has the demo administrator is left alone.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from phongdich.accounts.models import PhoneAccount
from phongdich.accounts.repository import AccountRepository
from phongdich.accounts.service import AccountService, Principal
from phongdich.checkpoints.repository import CheckpointFilter
from phongdich.checkpoints.schemas import CheckpointCreate
from phongdich.checkpoints.service import CheckpointService
from phongdich.config import Settings
from phongdich.db.migrate import upgrade
from phongdich.db.session import unit_of_work
from phongdich.geo.repository import UnitRepository
from phongdich.geo.service import UnitService
from phongdich.kit.clock import utcnow
from phongdich.kit.pagination import PageParams
from phongdich.visits.service import ScanCommand, VisitService

PROVINCE = "01"  # Thành phố Hà Nội
PASSWORD = "phongdich-demo"  # noqa: S105 - demo data only, printed on purpose
OFFICIALS = [
    ("admin", "admin", None, "Quản trị hệ thống"),
    ("hanoi", "province", PROVINCE, "Nguyễn Thị Hà (Sở TT&TT Hà Nội)"),
    ("yte.hanoi", "health", PROVINCE, "Trần Văn Minh (Sở Y tế Hà Nội)"),
    ("badinh", "commune", "00004", "Lê Thu Trang (UBND phường Ba Đình)"),
    ("hoankiem", "commune", "00070", "Phạm Quốc Hùng (UBND phường Hoàn Kiếm)"),
]
OWNERS = [
    ("0912345678", "Nguyễn Văn An"),
    ("0987654321", "Trần Thị Bích"),
    ("0356789012", "Lê Hoàng Nam"),
    ("0708123456", "Phạm Thị Lan"),
    ("0834567890", "Vũ Đức Thắng"),
]
VENUES = [
    ("market", "Chợ {place}", ["Cổng chính", "Cổng phụ"]),
    ("supermarket", "Siêu thị WinMart {place}", ["Cửa vào"]),
    ("school", "Trường THCS {place}", ["Cổng trường", "Hội trường"]),
    ("school", "Trường Tiểu học {place}", ["Cổng trường"]),
    ("hospital", "Trạm Y tế phường {place}", ["Cửa chính"]),
    ("pharmacy", "Nhà thuốc Long Châu {place}", ["Cửa hàng"]),
    ("restaurant", "Phở Thìn {place}", ["Cửa hàng"]),
    ("restaurant", "Cà phê Cộng {place}", ["Tầng 1", "Tầng 2"]),
    ("office", "UBND phường {place}", ["Cổng chính", "Phòng họp tầng 2", "Bộ phận một cửa"]),
    ("office", "Công an phường {place}", ["Cổng chính"]),
    ("lodging", "Khách sạn {place} Star", ["Sảnh lễ tân"]),
    ("lodging", "Nhà trọ số {n} {place}", ["Cổng"]),
    ("station", "Điểm đón xe buýt {place}", ["Nhà chờ"]),
    ("factory", "Xưởng may {place}", ["Cổng bảo vệ", "Nhà ăn"]),
    ("construction", "Công trường nhà ở xã hội {place}", ["Cổng công trường"]),
    ("religious_site", "Chùa {place}", ["Cổng tam quan"]),
    ("residential", "Tổ dân phố số {n} {place}", ["Nhà văn hoá"]),
    ("meeting_hall", "Nhà văn hoá khu dân cư {place}", ["Hội trường"]),
    ("tourist_site", "Khu di tích {place}", ["Cổng bán vé"]),
]
STREETS = [
    "Phố Huế",
    "Hàng Bài",
    "Lý Thường Kiệt",
    "Kim Mã",
    "Đội Cấn",
    "Nguyễn Trãi",
    "Láng Hạ",
    "Giải Phóng",
    "Trần Duy Hưng",
    "Hoàng Quốc Việt",
    "Xuân Thuỷ",
    "Minh Khai",
]


def seed(factory: sessionmaker[Session], settings: Settings, checkpoints: int = 400) -> str:
    upgrade(settings.database_url)
    with unit_of_work(factory) as session:
        if UnitRepository(session).count() == 0:
            UnitService(session).load_default()
    with unit_of_work(factory) as session:
        if AccountRepository(session).official_by_username("admin") is None:
            _seed(session, settings, checkpoints)
    return logins(settings)


def _seed(session: Session, settings: Settings, count: int) -> None:
    rng = random.Random(2021)
    accounts = AccountService(session, settings)
    officials = {
        username: accounts.create_official(username, PASSWORD, name, role, unit)
        for username, role, unit, name in OFFICIALS
    }
    owners = []
    for phone, name in OWNERS:
        owner = PhoneAccount(phone=phone, full_name=name)
        AccountRepository(session).add(owner)
        owners.append(owner)
    communes = [u for u in UnitRepository(session).children(PROVINCE)]
    focus = [u for u in communes if u.code in ("00004", "00070")]
    service = CheckpointService(session, settings)
    made = 0
    with tqdm(total=count, desc="demo checkpoints", unit="cp") as bar:
        while made < count:
            commune = focus[made % 2] if made < 40 else rng.choice(communes)
            vtype, pattern, entrances = rng.choice(VENUES)
            place = commune.name.split(" ", 1)[1]
            name = pattern.format(place=place, n=rng.randint(1, 40))
            address = f"Số {rng.randint(1, 300)} {rng.choice(STREETS)}, {commune.name}, Hà Nội"
            owner = owners[made % len(owners)]
            data = CheckpointCreate(
                name=name,
                type=vtype,
                address=address,
                unit_code=commune.code,
                capacity=rng.choice([None, 50, 100, 200, 500]),
                entrances=entrances,
                latitude=None,
                longitude=None,
            )
            if service.repo.find_duplicate(commune.code, *_keys(name, address)) is not None:
                continue
            cp = service.register(owner, data)
            made += 1
            bar.update(1)
            roll = rng.random()
            official = Principal(kind="official", official=officials["hanoi"])
            if made <= 6:
                continue  # the first few stay "registered" for the commune officials to approve
            if roll < 0.8:
                service.apply(official, cp, "approve", "")
            if 0.8 <= roll < 0.85:
                service.apply(official, cp, "approve", "")
                service.apply(
                    official,
                    cp,
                    "suspend",
                    "Không yêu cầu người ra vào quét mã QR sau 3 lần nhắc nhở",
                )
            elif 0.85 <= roll < 0.87:
                service.apply(
                    official, cp, "reject", "Trùng với điểm đã đăng ký của cơ quan chủ quản"
                )
    # A training session that is on now, and one that has ended.
    now = utcnow()
    for title, start, end in (
        (
            "Hội nghị tập huấn phòng chống dịch quý IV",
            now - timedelta(hours=1),
            now + timedelta(days=2),
        ),
        ("Hội thảo chuyển đổi số y tế cơ sở", now - timedelta(days=3), now + timedelta(minutes=1)),
    ):
        cp = service.register(
            owners[0],
            CheckpointCreate(
                name=title,
                type="event",
                address="Hội trường UBND phường Ba Đình",
                unit_code="00004",
                starts_at=start,
                ends_at=end,
                capacity=120,
                entrances=["Hội trường tầng 3"],
            ),
        )
        service.apply(Principal(kind="official", official=officials["badinh"]), cp, "approve", "")
        if end < now + timedelta(hours=1):
            cp.ends_at = now - timedelta(days=1)  # the seminar is over: its QR has expired
    _seed_visits(session, settings, rng, now)
    _seed_citizens(session, settings)


# A citizen who declares for herself, her son and her mother; the mother was also registered
# at a venue by staff, which the officials see as a duplicate to merge.
CITIZEN = ("0901234567", "Nguyễn Thị Lan")


def _seed_citizens(session: Session, settings: Settings) -> None:
    from phongdich.people.schemas import DeclarationIn, DependantIn, ProfileIn
    from phongdich.people.service import PersonService

    people = PersonService(session, settings)
    account = PhoneAccount(phone=CITIZEN[0], full_name=CITIZEN[1])
    AccountRepository(session).add(account)
    me = people.for_account(account)
    people.update_profile(
        me,
        ProfileIn(
            full_name=CITIZEN[1],
            birth_date=date(1988, 6, 12),
            gender="female",
            id_kind="cccd",
            id_number="001188012345",
            address="Số 12 Kim Mã",
            unit_code="00004",
            email="nguyen.thi.lan@example.vn",
        ),
    )
    people.declare(account, me.id, DeclarationIn(kind="universal"))
    son, _ = people.add_dependant(
        account,
        DependantIn(full_name="Trần Minh Khôi", relation="child", birth_date=date(2017, 9, 1)),
    )
    people.declare(account, son.id, DeclarationIn(kind="daily", symptoms=["fever", "cough"]))
    # The mother was checked in by a market's staff (name, phone, birth year) before the
    # family registered her: same phone + name + birth year, flagged on entry.
    earlier = people.register("Phạm Thị Hoa", "0987001122", 1950)
    earlier.unit_code = "00004"  # the commune the market's staff wrote down
    mother, _ = people.add_dependant(
        account,
        DependantIn(
            full_name="Phạm Thị Hoa",
            relation="parent",
            birth_year=1950,
            phone="0987001122",
            gender="female",
        ),
    )
    people.declare(account, mother.id, DeclarationIn(kind="daily"))


FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc"]
GIVEN = [
    "An",
    "Bình",
    "Chi",
    "Dũng",
    "Giang",
    "Hà",
    "Hạnh",
    "Hùng",
    "Lan",
    "Linh",
    "Mai",
    "Nam",
    "Phương",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Trang",
    "Tuấn",
    "Yến",
]


def _seed_visits(session: Session, settings: Settings, rng: random.Random, now: datetime) -> None:
    """Three hours of visits at the active checkpoints of Phường Ba Đình."""
    visits = VisitService(session, settings)
    accounts = AccountRepository(session)
    active = [
        cp
        for cp in visits.checkpoints.repo.page(
            CheckpointFilter(unit_code="00004", status="active"), PageParams(1, 12)
        ).items
        if cp.ends_at is None
    ]
    for _ in range(80):
        name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        phone = f"09{rng.randint(10_000_000, 99_999_999)}"
        person = visits.people.register(name, phone, rng.randint(1945, 2010))
        cp = rng.choice(active)
        entrance = visits.checkpoints.repo.entrances(cp.id)[0]
        staff = accounts.phone_account(cp.owner_id)
        at = now - timedelta(minutes=rng.randint(5, 180))
        staff_id = staff.id if staff else None
        scan_in = ScanCommand(
            str(uuid.uuid4()), entrance.id, person.id, "in", at, "staff_scan", staff_id
        )
        visits.scan(scan_in)
        if rng.random() < 0.4:
            out = min(now, at + timedelta(minutes=rng.randint(5, 25)))
            visits.scan(
                ScanCommand(
                    str(uuid.uuid4()), entrance.id, person.id, "out", out, "staff_scan", staff_id
                )
            )


def _keys(name: str, address: str) -> tuple[str, str]:
    from phongdich.kit.text import clean, fold

    return fold(clean(name)), fold(clean(address))


def logins(settings: Settings) -> str:
    lines = [
        "",
        "PhongDich demo — Hà Nội",
        f"  Mở / open: {settings.public_base_url}",
        f"  Cán bộ (mật khẩu / password: {PASSWORD}):",
    ]
    lines += [f"    {u:<10} {role:<9} {name}" for u, role, _unit, name in OFFICIALS]
    lines += [
        "  Chủ cơ sở / venue owners: sign in with one of these phones; the SMS code is printed",
        "  in this console:",
    ]
    lines += [f"    {phone}  {name}" for phone, name in OWNERS]
    lines += [f"  Người dân / citizen: {CITIZEN[0]}  {CITIZEN[1]} (/me)"]
    return "\n".join(lines)
