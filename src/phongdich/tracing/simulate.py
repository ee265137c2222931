"""Ground truth for contact tracing: a province's people, their stays and an outbreak — simulated.

A pure, deterministic simulator (standard library only). People live in households in communes,
go to work or school on working days and on other outings (preferring their own commune),
and an outbreak spreads between people who are at the same checkpoint at the same time and
within households. The result holds two views of the same days:

- the TRUTH: who was really where and when (``Simulation.stays``), who infected whom
  (``Simulation.infections``) and every true co-presence (``Simulation.true_exposures``);
- what the platform would have RECORDED (``Simulation.visits``): check-ins equal to the true
  arrival, but some visits never scanned, some check-outs forgotten (``check_out`` None, to be
  closed automatically) and some check-ins made by staff for people without a phone.

A later step loads the recorded visits into the database and measures how well tracing
recovers the truth.

Model notes:

- Times are whole minutes of Vietnam time (UTC+7, no daylight saving); stays fall between
  05:00 and 21:30 and never cross midnight. Every datetime handed out is aware UTC.
- Co-presence (``true_exposures``) is checkpoint-wide, as tracing sees it; rooms of events and
  meeting rooms (the entrance) count separately. Transmission is closer than that: at work and
  school people are near their own team or class, elsewhere near a few of the people present.
  A pair's exposure is ``factor * overlap / 15 min`` with ``factor = min(1, K / crowd)``
  (``K`` from ``CLOSE_CONTACTS`` or the work place's team value, ``crowd`` the number of other
  people present during the infectious person's stay), so the chance of infection is
  ``1 - (1 - p) ** exposure``; any overlap can infect, even one shorter than 15 minutes.
- Households transmit once a day (``p_household_transmission_per_day``) over the night at
  home (21:30 to 05:00, when nobody is out).
- ``visits_per_day`` is the range of each person's daily rate of stays, work or school
  included; children under 12 go out on their own less, under 3 only on family outings
  (weekends, a whole household at one restaurant, supermarket, pagoda, café or market).
- A person is infectious from ``infected_at + incubation - infectious_from_days_before_onset``
  (never before ``infected_at``) until ``test_at``; from ``test_at`` on they are isolated: no
  more stays and no more transmission.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

VN_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
DAY = 1440  # minutes
DAY_OPENS, DAY_CLOSES = 6 * 60, 21 * 60 + 30  # local minutes: ordinary outings
TRAVEL = 10  # minutes between two stays of the same person
DEFAULT_START = datetime(2021, 7, 5, tzinfo=VN_TZ)  # a Monday


@dataclass(frozen=True)
class SimConfig:
    people: int = 20_000
    days: int = 16
    seed: int = 2021
    household_sizes: tuple[int, ...] = (1, 2, 3, 4, 4, 5, 6)  # drawn uniformly
    checkpoints_per_1000: float = 5.0
    p_no_scan: float = 0.08  # a visit nobody recorded (the person did not scan)
    p_forget_checkout: float = 0.25  # recorded check-in, no check-out scan (automatic later)
    p_staff_checkin: float = 0.05  # checked in by staff (no phone)
    visits_per_day: tuple[float, float] = (1.0, 3.0)  # range of outings per person per day
    initial_cases: int = 5
    p_venue_transmission_per_15min: float = 0.03  # per close co-presence of 15 minutes
    p_household_transmission_per_day: float = 0.08
    incubation_days: tuple[int, int] = (2, 6)
    infectious_from_days_before_onset: int = 2
    p_symptomatic: float = 0.7
    test_delay_days: tuple[int, int] = (0, 3)  # from onset (or infection + incubation) to test


# type -> (weight, (min stay, max stay) in minutes, default automatic check-out in minutes).
# The weight is the type's share of checkpoints and, for types people visit (not WORK_PLACES
# only), of outings. The automatic check-out matches the platform's default for PLATFORM_TYPES.
CHECKPOINT_TYPES: dict[str, tuple[float, tuple[int, int], int]] = {
    "market": (0.15, (15, 90), 60),
    "supermarket": (0.12, (20, 90), 120),
    "restaurant": (0.14, (30, 100), 120),
    "cafe": (0.09, (30, 150), 120),
    "office": (0.07, (420, 570), 540),  # working hours
    "school": (0.06, (240, 540), 540),
    "factory": (0.04, (480, 660), 540),
    "hospital": (0.05, (30, 180), 180),
    "pagoda": (0.05, (30, 120), 120),  # pagodas and churches
    "event": (0.03, (120, 300), 480),  # meetings, conferences, trainings: rooms are entrances
    "meeting_room": (0.03, (45, 120), 240),  # small rooms: each entrance is a room
    "bus_station": (0.04, (15, 60), 120),
    "traffic_post": (0.05, (2, 8), 5),  # a few minutes
    "gym": (0.08, (45, 100), 180),
}
# The platform's checkpoint type (phongdich.checkpoints.rules.TYPES) for each simulated type.
PLATFORM_TYPES: dict[str, str] = {
    "market": "market",
    "supermarket": "supermarket",
    "restaurant": "restaurant",
    "cafe": "restaurant",
    "office": "office",
    "school": "school",
    "factory": "factory",
    "hospital": "hospital",
    "pagoda": "religious_site",
    "event": "event",
    "meeting_room": "meeting_hall",
    "bus_station": "station",
    "traffic_post": "traffic_post",
    "gym": "other",
}
# Types whose entrances are separate rooms: co-presence needs the same entrance.
ROOM_TYPES = frozenset({"event", "meeting_room"})
# How many of the people present one is, in effect, close to all the time (for transmission, not
# for co-presence); calibrated so that 5 cases grow to some hundreds in 16 days.
CLOSE_CONTACTS: dict[str, float] = {
    "market": 2.0,
    "supermarket": 1.2,
    "restaurant": 2.0,
    "cafe": 1.5,
    "office": 1.0,
    "school": 1.0,
    "factory": 1.0,
    "hospital": 1.2,
    "pagoda": 2.0,
    "event": 3.0,
    "meeting_room": 2.5,
    "bus_station": 1.2,
    "traffic_post": 1.0,
    "gym": 1.5,
}


@dataclass(frozen=True)
class _Work:
    share: float  # of working adults (students go to schools)
    arrive: tuple[int, int]  # local minutes
    stay: tuple[int, int]  # minutes
    weekdays: frozenset[int]  # 0 = Monday
    team: int  # team / class size (0: no team, mixes with visitors)
    close: float  # team members one is, in effect, close to all the time


MON_FRI = frozenset(range(5))
WORK_PLACES: dict[str, _Work] = {
    "office": _Work(0.45, (450, 510), (420, 570), MON_FRI, 12, 0.8),
    "factory": _Work(0.36, (390, 450), (480, 660), frozenset(range(6)), 25, 0.8),
    "hospital": _Work(0.06, (420, 450), (420, 540), frozenset(range(7)), 10, 0.8),
    "school": _Work(0.05, (400, 430), (300, 540), MON_FRI, 0, 0.8),  # teachers join classes
    "market": _Work(0.08, (300, 360), (300, 420), frozenset(range(7)), 0, 0.0),  # vendors
}
STUDENT = _Work(0.0, (400, 440), (240, 540), MON_FRI, 30, 0.8)
WORK_ONLY = frozenset({"office", "school", "factory"})  # nobody goes there on an outing
# Outings by age group: types people go to on their own (work places only as workers).
_OUTING_FACTORS: dict[str, dict[str, float]] = {
    "child": {"meeting_room": 0.0, "event": 0.0, "cafe": 0.3, "gym": 0.3, "bus_station": 0.3},
    "adult": {},
    "elder": {"pagoda": 3.0, "hospital": 3.0, "gym": 0.3, "event": 0.3, "meeting_room": 0.3},
}
FAMILY_TYPES = ("restaurant", "supermarket", "pagoda", "cafe", "market")
P_FAMILY_OUTING = 0.3  # per household and weekend day
P_ABSENT = 0.04  # a working day missed
P_OWN_COMMUNE = 0.8  # an outing in the person's commune
P_NO_PHONE_ELDER = 0.3  # people over 70 without a phone
# Types where staff usually scan the visitor's personal QR code.
STAFF_SCAN_TYPES = frozenset(
    {"hospital", "office", "factory", "school", "event", "traffic_post", "bus_station"}
)
P_STAFF_SCAN = 0.6  # at those types

FAMILY_NAMES = (
    ("Nguyễn", 38.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 3.0),
    ("Huỳnh", 2.0), ("Phan", 4.5), ("Vũ", 2.5), ("Võ", 1.5), ("Đặng", 2.1), ("Bùi", 2.0),
    ("Đỗ", 1.4), ("Hồ", 1.3), ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5), ("Đinh", 0.8),
    ("Trương", 0.8), ("Mai", 0.5), ("Lưu", 0.4),
)  # fmt: skip
MIDDLE_MALE = ("Văn", "Đức", "Minh", "Quốc", "Hữu", "Thành", "Công", "Xuân", "Ngọc", "Quang")
MIDDLE_FEMALE = ("Thị", "Ngọc", "Thu", "Thanh", "Kim", "Phương", "Minh", "Hồng", "Bích", "Mỹ")
GIVEN_MALE = (
    "An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hùng", "Huy", "Khoa", "Khánh", "Long", "Minh",
    "Nam", "Phong", "Phúc", "Quân", "Sơn", "Tài", "Thắng", "Tuấn", "Việt", "Vinh", "Hiếu", "Trung",
)  # fmt: skip
GIVEN_FEMALE = (
    "Anh", "Bích", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Lan", "Linh",
    "Mai", "Ngân", "Nhung", "Oanh", "Phương", "Quỳnh", "Thảo", "Trang", "Tuyết", "Vân", "Yến",
    "Thủy",
)  # fmt: skip
STREETS = (
    "Phố Huế", "Hàng Bài", "Lý Thường Kiệt", "Kim Mã", "Đội Cấn", "Nguyễn Trãi", "Láng Hạ",
    "Giải Phóng", "Trần Duy Hưng", "Hoàng Quốc Việt", "Xuân Thủy", "Minh Khai", "Lê Lợi",
    "Trần Phú", "Hai Bà Trưng", "Quang Trung", "Điện Biên Phủ", "Nguyễn Huệ", "Bạch Đằng",
    "Lạc Long Quân", "Âu Cơ", "Tây Sơn", "Cầu Giấy", "Tôn Đức Thắng",
)  # fmt: skip
CHECKPOINT_NAMES: dict[str, tuple[str, ...]] = {
    "market": ("Chợ {s}", "Chợ đầu mối {s}", "Chợ dân sinh {s}"),
    "supermarket": ("Siêu thị WinMart {s}", "Co.opmart {s}", "Bách hoá Xanh {s}"),
    "restaurant": ("Phở {s}", "Quán cơm {s}", "Bún chả {s}", "Nhà hàng {s}"),
    "cafe": ("Cà phê {s}", "Highlands Coffee {s}", "Trà sữa {s}"),
    "office": ("UBND {s}", "Công ty Cổ phần {s}", "Ngân hàng Agribank {s}", "Cục Thuế {s}"),
    "school": ("Trường Tiểu học {s}", "Trường THCS {s}", "Trường THPT {s}", "Trường Mầm non {s}"),
    "factory": ("Xưởng may {s}", "Nhà máy chế biến {s}", "Công ty TNHH điện tử {s}"),
    "hospital": ("Bệnh viện đa khoa {s}", "Trạm Y tế {s}", "Phòng khám {s}"),
    "pagoda": ("Chùa {s}", "Nhà thờ {s}", "Đình {s}"),
    "event": ("Trung tâm Hội nghị {s}", "Nhà văn hoá {s}"),
    "meeting_room": ("Phòng họp UBND {s}", "Trung tâm đào tạo {s}"),
    "bus_station": ("Bến xe {s}", "Điểm đón xe buýt {s}"),
    "traffic_post": ("Chốt kiểm soát {s}", "Chốt kiểm dịch cửa ngõ {s}"),
    "gym": ("Phòng tập {s}", "CLB thể hình {s}"),
}


@dataclass(frozen=True, slots=True)
class SimPerson:
    id: int
    household: int
    unit_code: str
    has_phone: bool
    birth_year: int
    name: str
    phone: str | None


@dataclass(frozen=True, slots=True)
class SimCheckpoint:
    id: int
    type: str
    unit_code: str
    name: str
    entrances: int  # 1-3; rooms for ROOM_TYPES
    auto_minutes: int


@dataclass(frozen=True, slots=True)
class TrueStay:
    person_id: int
    checkpoint_id: int
    entrance: int
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class RecordedVisit:
    person_id: int
    checkpoint_id: int
    entrance: int
    check_in: datetime
    check_out: datetime | None  # None: nobody scanned out
    method: str  # staff_scan | self | staff


@dataclass(frozen=True, slots=True)
class Infection:
    person_id: int
    infected_at: datetime
    source: str  # seed | venue | household
    infector_id: int | None
    checkpoint_id: int | None
    onset_at: datetime | None  # None: asymptomatic
    test_at: datetime  # positive test; isolated from then on
    infectious_from: datetime


@dataclass(frozen=True, slots=True)
class TrueExposure:
    case_id: int
    contact_id: int
    checkpoint_id: int | None  # None for household
    start: datetime
    end: datetime
    minutes: float
    kind: str  # venue | household
    contact_scanned: bool  # the contact's stay was recorded (False for household)
    case_scanned: bool  # the case's stay was recorded (False for household)


@dataclass
class _Index:
    by_person: dict[int, list[TrueStay]]
    # (checkpoint, room) -> (starts, stays sorted by start, longest stay)
    groups: dict[tuple[int, int], tuple[list[datetime], list[TrueStay], timedelta]]
    recorded: set[tuple[int, int, datetime]]
    household_of: dict[int, int]
    infection_of: dict[int, Infection]
    rooms: frozenset[int]  # checkpoints whose entrances are rooms


@dataclass
class Simulation:
    config: SimConfig
    start: datetime  # aware UTC: midnight in Vietnam of day 0
    people: list[SimPerson]
    checkpoints: list[SimCheckpoint]
    stays: list[TrueStay]  # truth
    visits: list[RecordedVisit]  # as recorded
    infections: list[Infection]  # by infected_at
    households: dict[int, list[int]]
    _index: _Index | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.config.days)

    def _idx(self) -> _Index:
        if self._index is None:
            cp_type = {cp.id: cp.type for cp in self.checkpoints}
            by_person: dict[int, list[TrueStay]] = {}
            lists: dict[tuple[int, int], list[TrueStay]] = {}
            for s in self.stays:
                by_person.setdefault(s.person_id, []).append(s)
                room = s.entrance if cp_type[s.checkpoint_id] in ROOM_TYPES else 0
                lists.setdefault((s.checkpoint_id, room), []).append(s)
            groups = {}
            for key, stays in lists.items():
                stays.sort(key=lambda s: (s.start, s.person_id))
                longest = max(s.end - s.start for s in stays)
                groups[key] = ([s.start for s in stays], stays, longest)
            self._index = _Index(
                by_person=by_person,
                groups=groups,
                recorded={(v.person_id, v.checkpoint_id, v.check_in) for v in self.visits},
                household_of={p: h for h, members in self.households.items() for p in members},
                infection_of={i.person_id: i for i in self.infections},
                rooms=frozenset(cp.id for cp in self.checkpoints if cp.type in ROOM_TYPES),
            )
        return self._index

    def true_exposures(
        self, case_id: int, window: tuple[datetime, datetime], min_minutes: float = 15.0
    ) -> list[TrueExposure]:
        """Every true co-presence of ``case_id`` with another person inside ``window``.

        Venue: the same checkpoint (the same room for ROOM_TYPES) overlapping at least
        ``min_minutes`` inside the window, one exposure per pair of stays, flagged with whether
        each stay was recorded. Household: every other member, over the window (up to the
        case's isolation when the case is infected).
        """
        idx = self._idx()
        w0, w1 = window
        need = timedelta(minutes=min_minutes)
        out: list[TrueExposure] = []
        for s in idx.by_person.get(case_id, []):
            a, b = max(s.start, w0), min(s.end, w1)
            if b - a < need or b <= a:
                continue
            case_scanned = (s.person_id, s.checkpoint_id, s.start) in idx.recorded
            room = s.entrance if s.checkpoint_id in idx.rooms else 0
            starts, stays, longest = idx.groups[(s.checkpoint_id, room)]
            for o in stays[bisect_left(starts, a - longest) : bisect_left(starts, b)]:
                if o.person_id == case_id or o.end <= a:
                    continue
                o_start, o_end = max(a, o.start), min(b, o.end)
                if o_end - o_start < need or o_end <= o_start:
                    continue
                out.append(
                    TrueExposure(
                        case_id=case_id,
                        contact_id=o.person_id,
                        checkpoint_id=s.checkpoint_id,
                        start=o_start,
                        end=o_end,
                        minutes=(o_end - o_start).total_seconds() / 60,
                        kind="venue",
                        contact_scanned=(o.person_id, o.checkpoint_id, o.start) in idx.recorded,
                        case_scanned=case_scanned,
                    )
                )
        household = idx.household_of.get(case_id)
        if household is not None:
            h_end = w1
            infection = idx.infection_of.get(case_id)
            if infection is not None:
                h_end = min(h_end, infection.test_at)
            if h_end > w0:
                for member in self.households[household]:
                    if member != case_id:
                        out.append(
                            TrueExposure(
                                case_id=case_id,
                                contact_id=member,
                                checkpoint_id=None,
                                start=w0,
                                end=h_end,
                                minutes=(h_end - w0).total_seconds() / 60,
                                kind="household",
                                contact_scanned=False,
                                case_scanned=False,
                            )
                        )
        out.sort(key=lambda e: (e.start, e.contact_id, e.checkpoint_id or 0, e.end))
        return out


@dataclass
class _Inf:
    at: float  # minutes since start
    source: str
    infector: int  # person index, -1 for none
    checkpoint: int  # checkpoint index, -1 for none
    onset: float | None
    test: float
    infectious: float


def _cumulative(weights: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


class _Builder:
    """Holds the simulation state as parallel lists of plain numbers (0-based indices)."""

    def __init__(self, config: SimConfig, units: Sequence[str], start: datetime) -> None:
        self.c = config
        self.units = list(units)
        self.start = start
        self.weekday0 = start.astimezone(VN_TZ).weekday()
        seed = config.seed
        self.r_pop = random.Random(f"{seed}:population")
        self.r_day = random.Random(f"{seed}:schedule")
        self.r_rec = random.Random(f"{seed}:record")
        self.r_inf = random.Random(f"{seed}:infection")
        # people
        self.age: list[int] = []
        self.unit: list[int] = []
        self.household: list[int] = []
        self.rate: list[float] = []
        self.work_cp: list[int] = []
        self.work_zone: list[int] = []
        self.phone_ok: list[bool] = []
        self.names: list[str] = []
        self.households: list[list[int]] = []
        # checkpoints
        self.cp_type: list[str] = []
        self.cp_unit: list[int] = []
        self.cp_entrances: list[int] = []
        self.cp_names: list[str] = []
        self.by_type_unit: dict[tuple[str, int], list[int]] = {}
        self.by_type: dict[str, list[int]] = {}
        # stays
        self.s_person: list[int] = []
        self.s_cp: list[int] = []
        self.s_ent: list[int] = []
        self.s_start: list[int] = []
        self.s_end: list[int] = []
        self.s_zone: list[int] = []
        # infections
        self.inf: dict[int, _Inf] = {}

    # ----------------------------------------------------------------- population
    def build_population(self) -> None:
        r = self.r_pop
        c = self.c
        unit_weights = _cumulative([r.uniform(0.5, 1.5) for _ in self.units])
        while len(self.age) < c.people:
            size = min(r.choice(c.household_sizes), c.people - len(self.age))
            unit = bisect_left(unit_weights, r.random() * unit_weights[-1])
            members = self._household_ages(size)
            h = len(self.households)
            ids = []
            family = self._family_name()
            for k, age in enumerate(members):
                i = len(self.age)
                ids.append(i)
                self.age.append(age)
                self.unit.append(min(unit, len(self.units) - 1))
                self.household.append(h)
                lo, hi = c.visits_per_day
                self.rate.append(r.uniform(lo, hi))
                self.work_cp.append(-1)
                self.work_zone.append(-1)
                self.phone_ok.append(not (age < 12 or (age > 70 and r.random() < P_NO_PHONE_ELDER)))
                male = r.random() < 0.5
                # a spouse (second adult member) keeps their own family name
                own = family if not (k == 1 and age >= 18) else self._family_name()
                self.names.append(self._name(own, male))
            self.households.append(ids)

    def _household_ages(self, size: int) -> list[int]:
        r = self.r_pop
        if size == 1:
            return [r.randint(18, 85)]
        if size == 2 and r.random() < 0.3:  # a parent and a child
            head = r.randint(30, 70)
            return [head, r.randint(max(0, head - 45), head - 20)]
        head = r.randint(24, 60)
        ages = [head, max(18, head + r.randint(-5, 5))]
        children = size - 2
        grandparents = 0
        if size >= 5:
            grandparents = min(2, size - 3)
            children = size - 2 - grandparents
        for _ in range(children):
            ages.append(r.randint(0, max(0, min(25, head - 20))))
        for _ in range(grandparents):
            ages.append(min(95, head + r.randint(22, 32)))
        return ages

    def _family_name(self) -> str:
        names, weights = zip(*FAMILY_NAMES, strict=True)
        return self.r_pop.choices(names, weights=weights)[0]

    def _name(self, family: str, male: bool) -> str:
        r = self.r_pop
        if male:
            return f"{family} {r.choice(MIDDLE_MALE)} {r.choice(GIVEN_MALE)}"
        return f"{family} {r.choice(MIDDLE_FEMALE)} {r.choice(GIVEN_FEMALE)}"

    def phones(self) -> list[str | None]:
        r = self.r_pop
        seen: set[str] = set()
        out: list[str | None] = []
        for ok in self.phone_ok:
            if not ok:
                out.append(None)
                continue
            while True:
                phone = f"09{r.randrange(10**8):08d}"
                if phone not in seen:
                    seen.add(phone)
                    out.append(phone)
                    break
        return out

    # ---------------------------------------------------------------- checkpoints
    def build_checkpoints(self) -> None:
        r = self.r_pop
        c = self.c
        types = list(CHECKPOINT_TYPES)
        total_w = sum(w for w, _, _ in CHECKPOINT_TYPES.values())
        wanted = max(len(types), round(c.people / 1000 * c.checkpoints_per_1000))
        counts = {t: max(1, round(wanted * CHECKPOINT_TYPES[t][0] / total_w)) for t in types}
        used: set[str] = set()
        for t in types:
            for _ in range(counts[t]):
                i = len(self.cp_type)
                unit = r.randrange(len(self.units))
                self.cp_type.append(t)
                self.cp_unit.append(unit)
                if t == "traffic_post":
                    entrances = 1
                elif t in ROOM_TYPES:
                    entrances = r.randint(2, 3)
                else:
                    entrances = r.choice((1, 1, 2, 3))
                self.cp_entrances.append(entrances)
                name = r.choice(CHECKPOINT_NAMES[t]).format(s=r.choice(STREETS))
                if name in used:
                    name = f"{name} {i + 1}"
                used.add(name)
                self.cp_names.append(name)
                self.by_type_unit.setdefault((t, unit), []).append(i)
                self.by_type.setdefault(t, []).append(i)

    def pick_checkpoint(self, r: random.Random, t: str, unit: int, p_own: float) -> int:
        local = self.by_type_unit.get((t, unit))
        if local and r.random() < p_own:
            return local[int(r.random() * len(local))]
        anywhere = self.by_type[t]
        return anywhere[int(r.random() * len(anywhere))]

    def assign_work(self) -> None:
        r = self.r_pop
        kinds = list(WORK_PLACES)
        cum = _cumulative([WORK_PLACES[k].share for k in kinds])
        members: dict[int, list[int]] = {}  # checkpoint -> workers and students
        teachers: dict[int, list[int]] = {}
        for i, age in enumerate(self.age):
            if 3 <= age <= 17:
                cp = self.pick_checkpoint(r, "school", self.unit[i], 0.9)
                members.setdefault(cp, []).append(i)
            elif 18 <= age <= 60 and r.random() < 0.8:
                kind = kinds[bisect_left(cum, r.random() * cum[-1])]
                cp = self.pick_checkpoint(r, kind, self.unit[i], 0.4)
                if kind == "school":
                    teachers.setdefault(cp, []).append(i)
                else:
                    members.setdefault(cp, []).append(i)
            else:
                continue
            self.work_cp[i] = cp
        for cp, people in members.items():
            t = self.cp_type[cp]
            team = STUDENT.team if t == "school" else WORK_PLACES[t].team
            if t == "school":  # classes by age
                people.sort(key=lambda i: (self.age[i], i))
            else:
                r.shuffle(people)
            for k, i in enumerate(people):
                self.work_zone[i] = k // team if team else -1
        for cp, people in teachers.items():
            classes = max(1, -(-len(members.get(cp, [])) // STUDENT.team))
            for i in people:
                self.work_zone[i] = r.randrange(classes)

    # ------------------------------------------------------------------ schedules
    def schedule_day(self, d: int) -> tuple[int, int]:
        """Append day ``d``'s stays; return the range of their indices."""
        r = self.r_day
        first = len(self.s_person)
        weekday = (self.weekday0 + d) % 7
        weekend = weekday >= 5
        base = d * DAY
        day_end = base + DAY
        outing_tables = {
            group: self._outing_table(factors) for group, factors in _OUTING_FACTORS.items()
        }
        for members in self.households:
            family: tuple[int, int, int, int] | None = None  # cp, entrance, start, end
            if weekend and len(members) > 1 and r.random() < P_FAMILY_OUTING:
                t = FAMILY_TYPES[int(r.random() * len(FAMILY_TYPES))]
                cp = self.pick_checkpoint(r, t, self.unit[members[0]], P_OWN_COMMUNE)
                lo, hi = CHECKPOINT_TYPES[t][1]
                dur = r.randint(lo, hi)
                s = r.randint(540, 1140 - dur)
                family = (cp, 1 + int(r.random() * self.cp_entrances[cp]), s, s + dur)
            for i in members:
                inf = self.inf.get(i)
                isolated_at = inf.test if inf is not None else math.inf
                if isolated_at <= base + DAY_OPENS - 60:
                    continue
                mine = len(self.s_person)
                self._person_day(i, d, weekday, family, outing_tables, r)
                if isolated_at < day_end:
                    self._isolate(range(mine, len(self.s_person)), isolated_at)
        return first, len(self.s_person)

    def _isolate(self, stays: Iterable[int], at: float) -> None:
        """Cut the stays at ``at`` (the test): the person goes into isolation."""
        for k in stays:
            if self.s_person[k] < 0 or self.s_end[k] <= at:
                continue
            if int(at) <= self.s_start[k]:
                self.s_person[k] = -1  # removed
            else:
                self.s_end[k] = int(at)

    def _outing_table(self, factors: dict[str, float]) -> tuple[list[str], list[float]]:
        types = [t for t in CHECKPOINT_TYPES if t not in WORK_ONLY]
        weights = [CHECKPOINT_TYPES[t][0] * factors.get(t, 1.0) for t in types]
        return types, _cumulative(weights)

    def _person_day(
        self,
        i: int,
        d: int,
        weekday: int,
        family: tuple[int, int, int, int] | None,
        tables: dict[str, tuple[list[str], list[float]]],
        r: random.Random,
    ) -> None:
        age = self.age[i]
        base = d * DAY
        free: list[tuple[int, int]] = [(DAY_OPENS, DAY_CLOSES)]
        todo: list[tuple[int, int, int, int, int]] = []  # cp, entrance, start, end, zone
        rate = self.rate[i]
        n = int(rate) + (1 if r.random() < rate - int(rate) else 0)
        cp = self.work_cp[i]
        if cp >= 0:
            t = self.cp_type[cp]
            work = STUDENT if t == "school" and age < 18 else WORK_PLACES[t]
            if weekday in work.weekdays and r.random() >= P_ABSENT:
                s = r.randint(*work.arrive)
                e = s + r.randint(*work.stay)
                e = min(e, DAY_CLOSES)
                ent = 1 + int(r.random() * self.cp_entrances[cp])
                todo.append((cp, ent, s, e, self.work_zone[i]))
                parts = [(DAY_OPENS, s - TRAVEL), (e + TRAVEL, DAY_CLOSES)]
                free = [(a, b) for a, b in parts if b - a > TRAVEL]
                n -= 1
        if family is not None:
            fcp, fent, fs, fe = family
            if _reserve(free, fs, fe):
                todo.append((fcp, fent, fs, fe, -1))
                n -= 1
        if age < 3:
            n = 0
        elif age < 12:
            n = sum(1 for _ in range(max(0, n)) if r.random() < 0.3)
        group = "child" if age < 18 else "elder" if age >= 65 else "adult"
        types, cum = tables[group]
        for _ in range(max(0, n)):
            t = types[bisect_right(cum, r.random() * cum[-1])]
            lo, hi = CHECKPOINT_TYPES[t][1]
            dur = r.randint(lo, hi)
            cp = self.pick_checkpoint(r, t, self.unit[i], P_OWN_COMMUNE)
            if t == "event":
                s = (480 if (cp + d) % 2 == 0 else 810) - r.randint(0, 20)
            elif t == "meeting_room":
                s = r.randint(8, 16) * 60 + r.randint(-5, 10)
            else:
                s = _place(free, dur, r)
                if s < 0:
                    continue
            if not _reserve(free, s, s + dur):
                continue
            todo.append((cp, 1 + int(r.random() * self.cp_entrances[cp]), s, s + dur, -1))
        todo.sort(key=lambda x: x[2])
        for cp, ent, s, e, zone in todo:
            self.s_person.append(i)
            self.s_cp.append(cp)
            self.s_ent.append(ent)
            self.s_start.append(base + s)
            self.s_end.append(base + e)
            self.s_zone.append(zone)

    # --------------------------------------------------------------- transmission
    def new_infection(
        self, person: int, at: float, source: str, infector: int, checkpoint: int
    ) -> None:
        r = self.r_inf
        c = self.c
        lo, hi = c.incubation_days
        incubation = r.uniform(lo, hi) * DAY
        symptomatic = r.random() < c.p_symptomatic
        onset = at + incubation
        test = onset + r.randint(*c.test_delay_days) * DAY
        # tests are taken in the daytime (local): a night's test waits for the morning
        day, minute = divmod(test, DAY)
        if minute < 7 * 60 or minute > 17 * 60:
            day += 1 if minute > 17 * 60 else 0
            test = day * DAY + 7 * 60 + r.uniform(0, 4 * 60)
        infectious = max(at, onset - c.infectious_from_days_before_onset * DAY)
        self.inf[person] = _Inf(
            at=at,
            source=source,
            infector=infector,
            checkpoint=checkpoint,
            onset=onset if symptomatic else None,
            test=test,
            infectious=infectious,
        )

    def seed_cases(self) -> None:
        r = self.r_inf
        adults = [i for i, a in enumerate(self.age) if a >= 18]
        pool = adults if len(adults) >= self.c.initial_cases else list(range(len(self.age)))
        for i in sorted(r.sample(pool, min(self.c.initial_cases, len(pool)))):
            self.new_infection(i, -r.uniform(0, DAY), "seed", -1, -1)

    def transmit_day(self, d: int, first: int, last: int) -> None:
        day0, day1 = d * DAY, (d + 1) * DAY
        active = sorted(p for p, f in self.inf.items() if f.infectious < day1 and f.test > day0)
        if active:
            self._venues(d, first, last, active)
            self._homes(d)
        # isolation of people infected and tested today (only with very short incubations)
        for k in range(first, last):
            p = self.s_person[k]
            f = self.inf.get(p) if p >= 0 else None
            if f is not None and f.test < self.s_end[k]:
                self._isolate((k,), f.test)

    def _venues(self, d: int, first: int, last: int, active: list[int]) -> None:
        r = self.r_inf
        p15 = self.c.p_venue_transmission_per_15min
        if p15 <= 0:
            return
        log_q = math.log1p(-p15) if p15 < 1 else -math.inf
        # groups: (cp, room, zone) -> stays by start; (cp, room) -> its zones
        groups: dict[tuple[int, int, int], list[int]] = {}
        zones: dict[tuple[int, int], list[int]] = {}
        by_person: dict[int, list[int]] = {}
        for k in range(first, last):
            p = self.s_person[k]
            if p < 0:
                continue
            cp = self.s_cp[k]
            room = self.s_ent[k] if self.cp_type[cp] in ROOM_TYPES else 0
            key = (cp, room, self.s_zone[k])
            if key not in groups:
                groups[key] = []
                zones.setdefault((cp, room), []).append(self.s_zone[k])
            groups[key].append(k)
            by_person.setdefault(p, []).append(k)
        sorted_groups: dict[tuple[int, int, int], tuple[list[int], list[int], int]] = {}
        for key, ks in groups.items():
            ks.sort(key=lambda k: (self.s_start[k], k))
            longest = max(self.s_end[k] - self.s_start[k] for k in ks)
            sorted_groups[key] = ([self.s_start[k] for k in ks], ks, longest)
        sources = active
        while sources:
            events: dict[int, tuple[float, int, int]] = {}  # infectee -> (at, infector, cp)
            for src in sources:
                f = self.inf[src]
                for k in by_person.get(src, ()):
                    a = max(self.s_start[k], f.infectious)
                    b = min(self.s_end[k], f.test)
                    if b <= a:
                        continue
                    self._spread_from(k, a, b, src, sorted_groups, zones, events, log_q, r)
            for p in sorted(events):
                at, infector, cp = events[p]
                self.new_infection(p, at, "venue", infector, cp)
            # people infected today who become infectious before the day ends
            sources = sorted(p for p in events if self.inf[p].infectious < (d + 1) * DAY)

    def _spread_from(
        self,
        k: int,
        a: float,
        b: float,
        src: int,
        groups: dict[tuple[int, int, int], tuple[list[int], list[int], int]],
        zones: dict[tuple[int, int], list[int]],
        events: dict[int, tuple[float, int, int]],
        log_q: float,
        r: random.Random,
    ) -> None:
        cp = self.s_cp[k]
        t = self.cp_type[cp]
        room = self.s_ent[k] if t in ROOM_TYPES else 0
        zone = self.s_zone[k]
        # a team member meets the team and the visitors; a visitor meets everybody
        keys = (
            [(cp, room, zone), (cp, room, -1)]
            if zone >= 0
            else [(cp, room, z) for z in zones[(cp, room)]]
        )
        team: list[tuple[int, float]] = []  # (other stay, overlap)
        mixed: list[tuple[int, float]] = []
        for key in keys:
            if key not in groups:
                continue
            starts, ks, longest = groups[key]
            lo = bisect_left(starts, a - longest)
            hi = bisect_left(starts, b)
            same_team = zone >= 0 and key[2] == zone
            for j in ks[lo:hi]:
                p = self.s_person[j]
                if p == src or self.s_end[j] <= a:
                    continue
                overlap = min(b, self.s_end[j]) - max(a, self.s_start[j])
                if overlap > 0:
                    (team if same_team else mixed).append((j, overlap))
        if not team and not mixed:
            return
        crowd = len(team) + len(mixed)
        work = STUDENT if t == "school" else WORK_PLACES.get(t)
        team_factor = min(1.0, work.close / max(1, len(team))) if work and team else 0.0
        mixed_factor = min(1.0, CLOSE_CONTACTS[t] / crowd)
        for contacts, factor in ((team, team_factor), (mixed, mixed_factor)):
            for j, overlap in contacts:
                p = self.s_person[j]
                if p in self.inf:
                    continue
                chance = -math.expm1(log_q * factor * overlap / 15.0)
                if r.random() >= chance:
                    continue
                at = max(a, self.s_start[j]) + r.random() * overlap
                best = events.get(p)
                if best is None or at < best[0]:
                    events[p] = (at, src, cp)

    def _homes(self, d: int) -> None:
        r = self.r_inf
        p = self.c.p_household_transmission_per_day
        if p <= 0:
            return
        # at home: from the end of the day's outings to the next morning (not past the end)
        night0 = d * DAY + DAY_CLOSES
        night1 = min((d + 1) * DAY + DAY_OPENS - 60, self.c.days * DAY)
        events: dict[int, tuple[float, int]] = {}
        for src in sorted(self.inf):
            f = self.inf[src]
            a, b = max(night0, f.infectious), min(night1, f.test)
            if b <= a:
                continue
            chance = p * (b - a) / (night1 - night0)
            for m in self.households[self.household[src]]:
                if m == src or m in self.inf:
                    continue
                if r.random() < chance:
                    at = a + r.random() * (b - a)
                    best = events.get(m)
                    if best is None or at < best[0]:
                        events[m] = (at, src)
        for m in sorted(events):
            at, src = events[m]
            self.new_infection(m, at, "household", src, -1)


def _place(free: list[tuple[int, int]], dur: int, r: random.Random) -> int:
    """A start for a stay of ``dur`` minutes in one of the free intervals, or -1."""
    fits = [(a, b) for a, b in free if b - a >= dur + 2 * TRAVEL]
    if not fits:
        return -1
    a, b = fits[int(r.random() * len(fits))]
    return r.randint(a + TRAVEL, b - TRAVEL - dur)


def _reserve(free: list[tuple[int, int]], s: int, e: int) -> bool:
    """Take [s, e) and the travel around it out of the free intervals, if it fits in one."""
    for n, (a, b) in enumerate(free):
        if a <= s and e <= b:
            parts = [(a, s - TRAVEL), (e + TRAVEL, b)]
            free[n : n + 1] = [(x, y) for x, y in parts if y - x > TRAVEL]
            return True
    return False


def _day0(start: datetime | None) -> datetime:
    if start is None:
        start = DEFAULT_START
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    local = start.astimezone(VN_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def _check(config: SimConfig, unit_codes: Sequence[str]) -> None:
    if not unit_codes:
        raise ValueError("at least one unit code is needed")
    if config.people < 1 or config.days < 1:
        raise ValueError("people and days must be positive")
    if not config.household_sizes or min(config.household_sizes) < 1:
        raise ValueError("household sizes must be positive")
    lo, hi = config.incubation_days
    if not 0 <= lo <= hi:
        raise ValueError("incubation_days must be (low, high) with 0 <= low <= high")
    lo, hi = config.test_delay_days
    if not 0 <= lo <= hi:
        raise ValueError("test_delay_days must be (low, high) with 0 <= low <= high")
    lo_v, hi_v = config.visits_per_day
    if not 0 <= lo_v <= hi_v:
        raise ValueError("visits_per_day must be (low, high) with 0 <= low <= high")
    for name in ("p_no_scan", "p_forget_checkout", "p_staff_checkin", "p_symptomatic"):
        if not 0 <= getattr(config, name) <= 1:
            raise ValueError(f"{name} must be a probability")


def simulate(
    config: SimConfig, unit_codes: Sequence[str], start: datetime | None = None
) -> Simulation:
    """Simulate ``config.days`` days of ``config.people`` people living in ``unit_codes``.

    ``start`` is any aware time on day 0 (default 2021-07-05, a Monday); the simulation starts
    at that day's midnight in Vietnam. The same config, units and start give the same result.
    """
    _check(config, unit_codes)
    day0 = _day0(start)
    b = _Builder(config, unit_codes, day0)
    b.build_population()
    b.build_checkpoints()
    b.assign_work()
    phones = b.phones()
    b.seed_cases()
    for d in range(config.days):
        first, last = b.schedule_day(d)
        b.transmit_day(d, first, last)

    minute = [day0 + timedelta(minutes=m) for m in range(config.days * DAY + 1)]
    year = day0.astimezone(VN_TZ).year
    people = [
        SimPerson(
            id=i + 1,
            household=b.household[i] + 1,
            unit_code=b.units[b.unit[i]],
            has_phone=b.phone_ok[i],
            birth_year=year - b.age[i],
            name=b.names[i],
            phone=phones[i],
        )
        for i in range(len(b.age))
    ]
    checkpoints = [
        SimCheckpoint(
            id=k + 1,
            type=t,
            unit_code=b.units[b.cp_unit[k]],
            name=b.cp_names[k],
            entrances=b.cp_entrances[k],
            auto_minutes=CHECKPOINT_TYPES[t][2],
        )
        for k, t in enumerate(b.cp_type)
    ]
    stays: list[TrueStay] = []
    visits: list[RecordedVisit] = []
    r = b.r_rec
    c = config
    for k, p in enumerate(b.s_person):
        if p < 0:
            continue
        cp = b.s_cp[k]
        s, e = minute[b.s_start[k]], minute[b.s_end[k]]
        stays.append(TrueStay(p + 1, cp + 1, b.s_ent[k], s, e))
        if r.random() < c.p_no_scan:
            continue
        if not b.phone_ok[p] or r.random() < c.p_staff_checkin:
            method = "staff"
        elif b.cp_type[cp] in STAFF_SCAN_TYPES and r.random() < P_STAFF_SCAN:
            method = "staff_scan"
        else:
            method = "self"
        out = None if r.random() < c.p_forget_checkout else e
        visits.append(RecordedVisit(p + 1, cp + 1, b.s_ent[k], s, out, method))

    def at(m: float) -> datetime:
        return day0 + timedelta(minutes=m)

    infections = [
        Infection(
            person_id=p + 1,
            infected_at=at(f.at),
            source=f.source,
            infector_id=f.infector + 1 if f.infector >= 0 else None,
            checkpoint_id=f.checkpoint + 1 if f.checkpoint >= 0 else None,
            onset_at=at(f.onset) if f.onset is not None else None,
            test_at=at(f.test),
            infectious_from=at(f.infectious),
        )
        for p, f in sorted(b.inf.items(), key=lambda item: (item[1].at, item[0]))
    ]
    households = {h + 1: [i + 1 for i in members] for h, members in enumerate(b.households)}
    return Simulation(
        config=config,
        start=day0,
        people=people,
        checkpoints=checkpoints,
        stays=stays,
        visits=visits,
        infections=infections,
        households=households,
    )


def stats(sim: Simulation) -> dict[str, int | float]:
    """Counts and shares that describe a simulation."""
    n_stays = len(sim.stays)
    n_visits = len(sim.visits)
    end = sim.end
    infections = sim.infections
    person_days = len(sim.people) * sim.config.days
    return {
        "people": len(sim.people),
        "households": len(sim.households),
        "people_without_phone": sum(1 for p in sim.people if not p.has_phone),
        "checkpoints": len(sim.checkpoints),
        "days": sim.config.days,
        "stays": n_stays,
        "stays_per_person_day": round(n_stays / person_days, 3) if person_days else 0.0,
        "recorded_visits": n_visits,
        "share_unscanned": round(1 - n_visits / n_stays, 4) if n_stays else 0.0,
        "share_forgot_checkout": (
            round(sum(1 for v in sim.visits if v.check_out is None) / n_visits, 4)
            if n_visits
            else 0.0
        ),
        "share_staff": (
            round(sum(1 for v in sim.visits if v.method == "staff") / n_visits, 4)
            if n_visits
            else 0.0
        ),
        "share_staff_scan": (
            round(sum(1 for v in sim.visits if v.method == "staff_scan") / n_visits, 4)
            if n_visits
            else 0.0
        ),
        "infections": len(infections),
        "infections_seed": sum(1 for i in infections if i.source == "seed"),
        "infections_venue": sum(1 for i in infections if i.source == "venue"),
        "infections_household": sum(1 for i in infections if i.source == "household"),
        "symptomatic": sum(1 for i in infections if i.onset_at is not None),
        "tested_by_end": sum(1 for i in infections if i.test_at < end),
        "attack_rate": round(len(infections) / len(sim.people), 4) if sim.people else 0.0,
    }
