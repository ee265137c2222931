"""Bluetooth proximity ground truth: people, phones and scans — simulated. Pure, standard library.

Who is where when comes from the tracing simulator (``phongdich.tracing.simulate``: households,
checkpoints of every type and the stays of every person, no outbreak). This module places the
people of each checkpoint and each home at 2D positions over time, gives them phones, lets the
phones advertise and scan through the radio model (``phongdich.proximity.radio``) and scores
what every phone heard with the device's own risk rules (``phongdich.proximity.risk``).

Places (positions in metres, piecewise constant by the minute):

- Homes: a living room and one to three bedrooms side by side (interior walls between them).
  Nights are spent in the household's beds (couples and small children share a bedroom),
  dinner at one table (18:30–19:15), the rest of the time at random spots of the living room or
  one's bedroom, re-drawn every 15 minutes. At home a phone is often not carried: at night it lies
  by the bed, and in the daytime it is on the charger by the bed 30% of the time.
- Offices: desks in team clusters (2 facing rows, 1.4 m side by side, 1.6 m across), short
  trips to the kitchen, lunch in a canteen. Factories: team lines, 1.5 m between stations.
  Schools: classrooms side by side (double desks, 0.6 m between seat mates, 1 m between rows),
  teachers at the front, a recess in the yard. Restaurants and cafés: tables of four, 2–2.2 m
  apart; a party shares tables. Events, pagodas, hospital and bus-station waiting rooms: rows
  of seats. Hospitals also have staff desks where patients are seen at 0.9 m. Markets,
  supermarkets and gyms: people move to a random spot every few minutes (vendors stay at their
  stalls); supermarkets end with a checkout queue, bus stations with a boarding queue, traffic
  posts are a queue. Meeting rooms: one table.
- Travel between places is not simulated (nobody meets anyone on the way), and phones of
  different homes or checkpoints never hear each other. Phones farther apart than
  ``radio_range_m`` (12 m) are not simulated at all (for speed).
- Teams and school classes are rebuilt the way the tracing simulator forms them (it does not
  expose them); hospital staff and market vendors are told from visitors by the length of
  their stays.

Carrying: outside the home a phone is where its owner is, on the table, in the hand, a shirt or
trouser pocket or a bag — shares by context in :class:`ProximityConfig` (seated places, places
where people move, home), re-drawn with probability ``p_carry_change`` at every move; each
position has its loss range in the radio model.

Phones: people without a phone (the tracing simulator's: young children and some elderly
people) and people with Bluetooth off (``p_bluetooth_off``) neither advertise nor scan. Phones
advertise all the time (GAEN: every 200–270 ms) or 15 s on / 15 s off (Bluezone); each scans with
its own period and phase (:class:`DutyCycle`; GAEN by default: 4 s every 4–5 minutes). A scan
records each advertiser heard: the strongest and the median RSSI.

Ground truth: a true close contact is two people within ``close_distance_m`` (2 m) for at least
``close_minutes`` (15) in one UTC day (the day the exposure rules use), cumulated over the day.

Detection: a phone's scans of another phone on one UTC day become one exposure window (as the
other phone's key of that day would if it were published by a confirmed case, infectiousness
standard, i.e. transmission risk 7), scored by :func:`phongdich.proximity.risk.assess` — the
device's code. Phones are identified by their person id instead of by rolling proximity
identifiers: deriving RPIs for every sighting would only slow the simulation, and
``phongdich bench proximity-quality`` checks on a handful of pairs that real GAEN RPIs give the
same result. Scan instances are built from the scans with the same rules as
:func:`phongdich.proximity.risk.windows_from_sightings` (:func:`window_from_scans`).
"""

from __future__ import annotations

import itertools
import math
import random
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from heapq import heappop, heappush
from typing import ClassVar

from phongdich.proximity import risk
from phongdich.proximity.radio import RadioModel, ScanSampler
from phongdich.tracing.simulate import (
    DEFAULT_START,
    ROOM_TYPES,
    STUDENT,
    WORK_PLACES,
    SimConfig,
    Simulation,
    simulate,
)

__all__ = [
    "BLUEZONE",
    "DUTY_CYCLES",
    "GAEN",
    "CloseContact",
    "DutyCycle",
    "PairDay",
    "Phone",
    "ProximityConfig",
    "ProximityRun",
    "Seg",
    "advert_times",
    "adverts_in_scan",
    "explicit_scans",
    "link_rssi",
    "make_phone",
    "run",
    "run_scenario",
    "scan_times",
    "walls_between",
    "window_from_scans",
]

DAY = 1440
UTC_OFFSET = 420  # local minute of the UTC day change (Vietnam is UTC+7)
TRAVEL = 10  # minutes between a stay and home (the tracing simulator's TRAVEL)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class DutyCycle:
    """How phones advertise and scan."""

    name: str
    scan_seconds: tuple[float, float]  # duration of one scan (per phone, uniform)
    scan_period_seconds: tuple[float, float]  # start to start (per phone, uniform)
    advert_interval_ms: tuple[float, float] = (200.0, 270.0)  # per phone, uniform
    advert_on_off_seconds: tuple[float, float] | None = None  # None: advertises all the time
    p_receive: float = 0.7  # a packet is lost to collisions and channel hopping otherwise


GAEN = DutyCycle("gaen", (4.0, 4.0), (240.0, 300.0))
BLUEZONE = DutyCycle("bluezone", (25.0, 35.0), (90.0, 120.0), advert_on_off_seconds=(15.0, 15.0))
DUTY_CYCLES: dict[str, DutyCycle] = {d.name: d for d in (GAEN, BLUEZONE)}


@dataclass(frozen=True)
class ProximityConfig:
    """The simulated population and its phones (the radio is :class:`RadioModel`)."""

    people: int = 1000
    days: int = 3  # UTC days, each from 07:00 to 07:00 Vietnam time
    seed: int = 2021
    communes: int = 4
    duty: str = "gaen"
    p_bluetooth_off: float = 0.10
    radio_range_m: float = 12.0  # phones farther apart are not simulated (for speed)
    close_distance_m: float = 2.0
    close_minutes: float = 15.0
    home_epoch_minutes: int = 15
    p_phone_on_charger: float = 0.3  # at home, awake: the phone lies by the bed
    p_carry_change: float = 0.25  # per movement epoch
    # carry-position shares by context
    carry_seated: tuple[tuple[str, float], ...] = (
        ("table", 0.35),
        ("hand", 0.15),
        ("shirt_pocket", 0.10),
        ("trouser_pocket", 0.25),
        ("bag", 0.15),
    )
    carry_moving: tuple[tuple[str, float], ...] = (
        ("hand", 0.20),
        ("shirt_pocket", 0.10),
        ("trouser_pocket", 0.40),
        ("bag", 0.30),
    )
    carry_home: tuple[tuple[str, float], ...] = (
        ("hand", 0.40),
        ("table", 0.35),
        ("trouser_pocket", 0.25),
    )

    def __post_init__(self) -> None:
        if self.people < 2 or self.days < 1:
            raise ValueError("at least two people and one day")
        if self.duty not in DUTY_CYCLES:
            raise ValueError(f"duty must be one of {sorted(DUTY_CYCLES)}")
        for name in ("p_bluetooth_off", "p_phone_on_charger", "p_carry_change"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a probability")
        if self.radio_range_m < self.close_distance_m:
            raise ValueError("radio_range_m must be at least close_distance_m")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Phone:
    person: int
    model: int  # index into RadioModel.models
    tx_unit_db: float
    rx_unit_db: float
    scan_phase_s: float
    scan_period_s: float
    scan_seconds: float
    advert_interval_s: float
    advert_phase_s: float


@dataclass(frozen=True, slots=True)
class PairDay:
    """One receiving phone, one advertising phone, one UTC day: what happened and what was seen.

    Kept for every true close contact between two phones and for every pair that some risk
    configuration flagged high. ``high`` maps a configuration name to its verdict.
    """

    day: date
    receiver: int
    sender: int
    true_contact: bool
    close_minutes: float
    in_range_minutes: float
    distance_bucket: str  # time-weighted median distance (over the close time of a contact)
    carry: str  # the carry positions of both phones most of the (close or in-range) time
    place: str  # where they spent most of the (close or in-range) time
    walls: bool  # mostly through a wall
    phone_away: bool  # a phone was not with its owner most of the close time
    model_error_db: float  # sender TX error + receiver RX error (+: looks closer)
    scans: int
    minutes_below_threshold: float  # first configuration's figures
    weighted_minutes: float
    normalized_time: float
    high: dict[str, bool]


@dataclass(frozen=True, slots=True)
class CloseContact:
    """A true close contact (unordered pair, UTC day) and whether both phones took part."""

    day: date
    a: int
    b: int
    minutes: float
    phones: int  # 0, 1 or 2 active phones


@dataclass
class ProximityRun:
    config: ProximityConfig
    radio: RadioModel
    duty: DutyCycle
    risk_configs: dict[str, risk.RiskConfig]
    start: datetime  # aware UTC: local midnight of day 0
    phones: dict[int, Phone]  # active phones by person
    people: int
    people_with_phone: int
    pair_days: list[PairDay]
    close_contacts: list[CloseContact]
    evaluated_pair_days: int  # directed pair-days between active phones with any scan or truth
    intervals: int  # constant-geometry pair intervals simulated
    scans: int  # scan records (a phone hearing another phone in one scan)
    kept_intervals: dict[tuple[int, int, int], list[Interval]] = field(default_factory=dict)

    def day_date(self, day: int) -> date:
        return (self.start + timedelta(minutes=UTC_OFFSET + day * DAY)).date()


# --------------------------------------------------------------------------- exposure windows


def window_from_scans(
    scans: Sequence[tuple[int, int, int]],
    *,
    day: date,
    transmission_risk: int,
    calibration_confidence: int = 3,
    report_type: int = risk.REPORT_CONFIRMED_TEST,
    infectiousness: int = risk.INFECTIOUSNESS_STANDARD,
    config: risk.RiskConfig = risk.GERMAN_PRODUCTION,
) -> risk.ExposureWindow:
    """The exposure window of one key on one day from its scans ``(unix second of the first
    sighting, min attenuation, typical attenuation)``, sorted by time.

    Scan instances follow :func:`risk.windows_from_sightings`: the first scan stands for
    ``scan_interval_seconds``, later ones for the time since the previous scan that heard the
    key, at most ``max_scan_credit_seconds``. Scans must be more than ``scan_merge_seconds``
    apart (every duty cycle here scans at most every 90 s).
    """
    instances = []
    previous: int | None = None
    for at, low, typical in scans:
        if previous is None:
            credit = config.scan_interval_seconds
        else:
            if at - previous < config.scan_merge_seconds:
                raise ValueError("scans closer together than scan_merge_seconds")
            credit = min(at - previous, config.max_scan_credit_seconds)
        previous = at
        instances.append(risk.ScanInstance(low, typical, credit))
    return risk.ExposureWindow(
        date=day,
        report_type=report_type,
        infectiousness=infectiousness,
        calibration_confidence=calibration_confidence,
        scan_instances=tuple(instances),
        transmission_risk=transmission_risk,
    )


# --------------------------------------------------------------------------- links


OUTSIDE = 100  # a room number for corridors, yards and other buildings


def walls_between(room_a: int, room_b: int) -> int:
    """Interior walls between two rooms: rooms 0, 1, 2, ... stand side by side; OUTSIDE areas
    (corridors, yards) are one wall from everything else."""
    if room_a == room_b:
        return 0
    if room_a >= OUTSIDE or room_b >= OUTSIDE:
        return 1
    return abs(room_a - room_b)


def scan_times(phone: Phone, t0: int, t1: int) -> list[float]:
    """Start times (seconds since the simulation start) of ``phone``'s scans in [t0, t1) min."""
    period, phase = phone.scan_period_s, phone.scan_phase_s
    k0 = math.ceil((t0 * 60.0 - phase) / period)
    k1 = math.ceil((t1 * 60.0 - phase) / period)
    return [phase + k * period for k in range(k0, k1)]


def advert_times(duty: DutyCycle, sender: Phone, start: float, seconds: float) -> list[float]:
    """When ``sender`` advertises during [start, start + seconds) (seconds since the start)."""
    interval, phase = sender.advert_interval_s, sender.advert_phase_s
    k = math.ceil((start - phase) / interval)
    out = []
    onoff = duty.advert_on_off_seconds
    while (at := phase + k * interval) < start + seconds:
        if onoff is None or (at - phase) % (onoff[0] + onoff[1]) < onoff[0]:
            out.append(at)
        k += 1
    return out


def adverts_in_scan(duty: DutyCycle, sender: Phone, start: float, seconds: float) -> int:
    """How many advertisements ``sender`` sends during one scan (as :func:`advert_times`)."""
    interval, phase = sender.advert_interval_s, sender.advert_phase_s
    end = start + seconds

    def count(a: float, b: float) -> int:  # events phase + k * interval in [a, b)
        return max(0, math.ceil((b - phase) / interval) - math.ceil((a - phase) / interval))

    onoff = duty.advert_on_off_seconds
    if onoff is None:
        return count(start, end)
    on, off = onoff
    cycle = on + off
    total = 0
    m = math.floor((start - phase) / cycle)
    while phase + m * cycle < end:
        w0 = phase + m * cycle
        a, b = max(start, w0), min(end, w0 + on)
        if b > a:
            total += count(a, b)
        m += 1
    return total


def link_rssi(
    radio: RadioModel, seed: int, receiver: Phone, sender: Phone, rx: Seg, tx: Seg
) -> float:
    """Mean raw RSSI (before fast fading) of ``sender`` at ``receiver`` in this geometry."""
    models = radio.models
    d = math.hypot(rx.px - tx.px, rx.py - tx.py)
    lo, hi = min(rx.person, tx.person), max(rx.person, tx.person)
    first, second = (rx, tx) if rx.person == lo else (tx, rx)
    shadow = radio.shadowing(
        seed,
        lo,
        hi,
        round(first.px * 10),
        round(first.py * 10),
        round(second.px * 10),
        round(second.py * 10),
    )
    return radio.mean_rssi(
        d,
        tx_offset=radio.tx_offset(models[sender.model], sender.tx_unit_db),
        rx_offset=radio.rx_offset(models[receiver.model], receiver.rx_unit_db),
        body_loss_db=rx.loss + tx.loss,
        walls=walls_between(rx.proom, tx.proom),
        shadowing_db=shadow,
    )


def explicit_scans(
    run_: ProximityRun,
    receiver: int,
    sender: int,
    intervals: Sequence[Interval],
    rng: random.Random,
) -> list[list[tuple[int, int]]]:
    """Every decoded advertisement ``(unix second, RSSI)`` of ``sender`` at ``receiver``, one list
    per scan that heard something — the slow path, packet by packet, for checks."""
    rx_phone, tx_phone = run_.phones[receiver], run_.phones[sender]
    radio, duty = run_.radio, run_.duty
    start_unix = int(run_.start.timestamp())
    out = []
    for a, b, t0, t1, _place in intervals:
        rx, tx = (a, b) if a.person == receiver else (b, a)
        if math.hypot(rx.px - tx.px, rx.py - tx.py) > run_.config.radio_range_m:
            continue
        mean = link_rssi(radio, run_.config.seed, rx_phone, tx_phone, rx, tx)
        for ts in scan_times(rx_phone, t0, t1):
            heard = []
            for at in advert_times(duty, tx_phone, ts, rx_phone.scan_seconds):
                if rng.random() >= duty.p_receive:
                    continue
                rssi = mean + rng.gauss(0.0, radio.fading_sigma_db)
                if rng.random() < radio.detection_probability(rssi):
                    heard.append((start_unix + int(at), round(rssi)))
            if heard:
                out.append(heard)
    return out


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True, slots=True)
class Seg:
    """A person's constant state over ``[t0, t1)`` local minutes since the simulation start."""

    t0: int
    t1: int
    person: int
    x: float
    y: float
    room: int
    px: float  # the phone's position (differs from the person's at home)
    py: float
    proom: int
    carry: str
    loss: float  # body/pocket/bag loss of the phone, dB


Interval = tuple[Seg, Seg, int, int, str]  # a (lower id), b, t0, t1, place

Spot = tuple[float, float, int]  # x, y, room

# Carry positions grouped for explanations.
CARRY_GROUP = {
    "hand": "open",
    "table": "open",
    "shirt_pocket": "pocket",
    "trouser_pocket": "pocket",
    "bag": "bag",
}
DISTANCE_BUCKETS = ((1.0, "0-1 m"), (2.0, "1-2 m"), (3.0, "2-3 m"), (5.0, "3-5 m"))
FAR_BUCKET = "5 m+"


def _bucket(d: float) -> int:
    for i, (edge, _) in enumerate(DISTANCE_BUCKETS):
        if d <= edge:
            return i
    return len(DISTANCE_BUCKETS)


def _bucket_name(i: int) -> str:
    return DISTANCE_BUCKETS[i][1] if i < len(DISTANCE_BUCKETS) else FAR_BUCKET


def _choose(r: random.Random, table: Sequence[tuple[str, float]]) -> str:
    x = r.random() * sum(w for _, w in table)
    for name, w in table:
        x -= w
        if x < 0:
            return name
    return table[-1][0]


class _Layout:
    """Seats grouped in clusters (tables, team desks, classes, row chunks) and free areas."""

    def __init__(self) -> None:
        self.seats: list[Spot] = []
        self.clusters: list[list[int]] = []
        self.areas: dict[str, tuple[float, float, float, float, int]] = {}  # x0, y0, x1, y1, room
        self.taken: list[int] = []  # person per seat, -1 free

    def add_cluster(self, spots: Iterable[Spot]) -> int:
        ids = []
        for s in spots:
            ids.append(len(self.seats))
            self.seats.append(s)
            self.taken.append(-1)
        self.clusters.append(ids)
        return len(self.clusters) - 1

    def spot_in(self, r: random.Random, area: str) -> Spot:
        x0, y0, x1, y1, room = self.areas[area]
        return (r.uniform(x0, x1), r.uniform(y0, y1), room)

    def free_in(self, cluster: int) -> list[int]:
        return [s for s in self.clusters[cluster] if self.taken[s] < 0]

    def take(self, seat: int, person: int) -> None:
        self.taken[seat] = person

    def release(self, seats: Iterable[int]) -> None:
        for s in seats:
            self.taken[s] = -1

    def any_free(self, r: random.Random) -> int:
        free = [s for s, p in enumerate(self.taken) if p < 0]
        if not free:  # full: squeeze in next to a random seat
            x, y, room = self.seats[int(r.random() * len(self.seats))]
            self.seats.append((x + 0.5, y + 0.5, room))
            self.taken.append(-1)
            return len(self.seats) - 1
        return free[int(r.random() * len(free))]


def _tables(layout: _Layout, n: int, pitch: float, x0: float = 0.0, y0: float = 0.0) -> None:
    """``n`` tables of four on a grid, ``pitch`` metres apart."""
    cols = max(1, math.ceil(math.sqrt(n)))
    for k in range(n):
        cx, cy = x0 + (k % cols) * pitch, y0 + (k // cols) * pitch
        layout.add_cluster(
            (cx + dx, cy + dy, 0)
            for dx, dy in ((-0.35, -0.4), (0.35, -0.4), (-0.35, 0.4), (0.35, 0.4))
        )


def _rows(layout: _Layout, n: int, seat_pitch: float, row_pitch: float, room: int = 0) -> None:
    """Rows of seats in chunks of four (one party per chunk where possible)."""
    per_row = max(8, 4 * math.ceil(math.sqrt(n) / 2))
    rows = max(1, math.ceil(n / per_row))
    for row in range(rows):
        for chunk in range(0, per_row, 4):
            layout.add_cluster(
                ((chunk + i) * seat_pitch + (chunk // 4) * 0.4, row * row_pitch, room)
                for i in range(4)
            )


def _square(area_m2: float) -> float:
    return max(2.0, math.sqrt(area_m2))


# --------------------------------------------------------------------------- the simulation


def make_phone(
    person: int, model: int, duty: DutyCycle, radio: RadioModel, r: random.Random
) -> Phone:
    """A phone of ``model`` with its unit spread, scan period and phases drawn from ``r``."""
    period = r.uniform(*duty.scan_period_seconds)
    return Phone(
        person=person,
        model=model,
        tx_unit_db=r.gauss(0.0, radio.unit_sigma_db),
        rx_unit_db=r.gauss(0.0, radio.unit_sigma_db),
        scan_phase_s=r.uniform(0.0, period),
        scan_period_s=period,
        scan_seconds=r.uniform(*duty.scan_seconds),
        advert_interval_s=r.uniform(*duty.advert_interval_ms) / 1000.0,
        advert_phase_s=r.uniform(0.0, 60.0),
    )


def _make_phones(
    sim: Simulation, config: ProximityConfig, radio: RadioModel
) -> tuple[dict[int, Phone], int]:
    """Active phones by person (people with a phone and Bluetooth on), and how many have one."""
    r = random.Random(f"{config.seed}:phones")
    duty = DUTY_CYCLES[config.duty]
    phones: dict[int, Phone] = {}
    with_phone = 0
    for p in sim.people:
        if not p.has_phone:
            continue
        with_phone += 1
        off = r.random() < config.p_bluetooth_off
        phone = make_phone(p.id, radio.pick_model(r), duty, radio, r)
        if not off:
            phones[p.id] = phone
    return phones, with_phone


class _Engine:
    """Pairs, truth, scans and scores for people whose positions are given as segments."""

    def __init__(
        self,
        config: ProximityConfig,
        radio: RadioModel,
        risk_configs: Mapping[str, risk.RiskConfig],
        keep_day: int | None,
        start: datetime,
        phones: dict[int, Phone],
    ) -> None:
        self.c = config
        self.radio = radio
        self.duty = DUTY_CYCLES[config.duty]
        self.risk_configs = dict(risk_configs)
        self.keep_day = keep_day
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.start = start.astimezone(UTC)
        self.start_unix = int(start.timestamp())
        self.sampler = ScanSampler(radio, f"{config.seed}:sampler", p_receive=self.duty.p_receive)
        self.phones = phones
        models = radio.models
        self.error = {
            i: (
                models[ph.model].tx_error_db + ph.tx_unit_db,
                models[ph.model].rx_error_db + ph.rx_unit_db,
            )
            for i, ph in phones.items()
        }
        # per UTC day: truth and context per unordered pair, scans per directed pair
        self.ctx: dict[int, dict[tuple[int, int], list[float]]] = defaultdict(dict)
        self.places: dict[int, dict[tuple[int, int], dict[str, float]]] = defaultdict(dict)
        self.scan_log: dict[int, dict[tuple[int, int], array[int]]] = defaultdict(dict)
        self.kept: dict[tuple[int, int, int], list[Interval]] = defaultdict(list)
        self.n_intervals = 0
        self.n_scans = 0
        self.rng = random.Random(f"{config.seed}:radio")

    def _result(
        self,
        people: int,
        people_with_phone: int,
        outcomes: list[PairDay],
        contacts: list[CloseContact],
        evaluated: int,
    ) -> ProximityRun:
        return ProximityRun(
            config=self.c,
            radio=self.radio,
            duty=self.duty,
            risk_configs=self.risk_configs,
            start=self.start,
            phones=self.phones,
            people=people,
            people_with_phone=people_with_phone,
            pair_days=outcomes,
            close_contacts=contacts,
            evaluated_pair_days=evaluated,
            intervals=self.n_intervals,
            scans=self.n_scans,
            kept_intervals=dict(self.kept),
        )

    # ------------------------------------------------------------------ sweep
    def _sweep(self, segs: list[Seg], place: str, brute: bool) -> None:
        """Every maximal interval over which two people's states are constant and they are
        within radio range (phones) or close (people)."""
        reach = self.c.radio_range_m
        close = self.c.close_distance_m
        cell = reach
        segs.sort(key=lambda s: (s.t0, s.person))
        ends: list[tuple[int, int]] = []
        active: dict[int, Seg] = {}
        since: dict[int, dict[int, int]] = {}
        grid: dict[tuple[int, int], set[int]] = defaultdict(set)
        i, n = 0, len(segs)
        while i < n or ends:
            never = 1 << 62
            t = min(segs[i].t0 if i < n else never, ends[0][0] if ends else never)
            while ends and ends[0][0] == t:
                _, p = heappop(ends)
                seg = active.pop(p)
                if not brute:
                    grid[(int(seg.x // cell), int(seg.y // cell))].discard(p)
                for q, t_start in since.pop(p).items():
                    del since[q][p]
                    if t > t_start:
                        other = active[q]
                        if p < q:
                            self._interval(seg, other, t_start, t, place)
                        else:
                            self._interval(other, seg, t_start, t, place)
            while i < n and segs[i].t0 == t:
                seg = segs[i]
                i += 1
                p = seg.person
                if p in active:  # overlapping stays of one person: keep the newer state
                    continue
                mine: dict[int, int] = {}
                if brute:
                    candidates: Iterable[int] = list(active)
                else:
                    cx, cy = int(seg.x // cell), int(seg.y // cell)
                    candidates = [
                        q
                        for dx in (-1, 0, 1)
                        for dy in (-1, 0, 1)
                        for q in grid.get((cx + dx, cy + dy), ())
                    ]
                for q in candidates:
                    o = active[q]
                    near = math.hypot(seg.x - o.x, seg.y - o.y) <= close
                    heard = math.hypot(seg.px - o.px, seg.py - o.py) <= reach
                    if near or heard:
                        mine[q] = t
                        since[q][p] = t
                since[p] = mine
                active[p] = seg
                if not brute:
                    grid[(int(seg.x // cell), int(seg.y // cell))].add(p)
                heappush(ends, (seg.t1, p))

    def _interval(self, a: Seg, b: Seg, t0: int, t1: int, place: str) -> None:
        """Truth, context and scans of one constant pair geometry over [t0, t1)."""
        self.n_intervals += 1
        d_person = math.hypot(a.x - b.x, a.y - b.y)
        d_phone = math.hypot(a.px - b.px, a.py - b.py)
        walls = walls_between(a.proom, b.proom)
        in_range = d_phone <= self.c.radio_range_m
        close = d_person <= self.c.close_distance_m
        away = (a.px, a.py) != (a.x, a.y) or (b.px, b.py) != (b.x, b.y)
        combo = "+".join(sorted((CARRY_GROUP[a.carry], CARRY_GROUP[b.carry])))
        bucket = _bucket(d_person)
        # split at UTC day changes
        t = max(t0, UTC_OFFSET)
        while t < t1:
            day = (t - UTC_OFFSET) // DAY
            end = min(t1, UTC_OFFSET + (day + 1) * DAY)
            minutes = end - t
            key = (a.person, b.person)
            ctx = self.ctx[day].get(key)
            if ctx is None:
                ctx = self.ctx[day][key] = [0.0] * 10
                self.places[day][key] = {}
            ctx[2 + bucket] += minutes
            if close:
                ctx[0] += minutes
                if away:
                    ctx[8] += minutes
            if in_range:
                ctx[1] += minutes
                if walls:
                    ctx[7] += minutes
            weight_key = ("c:" if close else "r:") + combo
            places = self.places[day][key]
            places[weight_key] = places.get(weight_key, 0.0) + minutes
            pk = ("c@" if close else "r@") + place
            places[pk] = places.get(pk, 0.0) + minutes
            if in_range:
                self._scans(day, a, b, t, end)
                self._scans(day, b, a, t, end)
            if day == self.keep_day:
                self.kept[(day, a.person, b.person)].append((a, b, t, end, place))
            t = end

    def _scans(self, day: int, rx: Seg, tx: Seg, t0: int, t1: int) -> None:
        """The scans of ``rx``'s phone over [t0, t1) that hear ``tx``'s phone."""
        receiver = self.phones.get(rx.person)
        sender = self.phones.get(tx.person)
        if receiver is None or sender is None:
            return
        times = scan_times(receiver, t0, t1)
        if not times:
            return
        mean = link_rssi(self.radio, self.c.seed, receiver, sender, rx, tx)
        if not self.sampler.audible(mean):
            return
        models = self.radio.models
        tx_power = models[sender.model].tx_power_dbm
        correction = models[receiver.model].rssi_correction_db
        r = self.rng
        log = self.scan_log[day].get((rx.person, tx.person))
        if log is None:
            log = self.scan_log[day][(rx.person, tx.person)] = array("i")
        duty, seconds, start = self.duty, receiver.scan_seconds, self.start_unix
        counts = [adverts_in_scan(duty, sender, ts, seconds) for ts in times]
        for ts, got in zip(times, self.sampler.scans(r, counts, mean), strict=True):
            if got is None:
                continue
            top, median = got
            low = tx_power - (top + correction)
            typical = tx_power - (median + correction)
            log.extend((start + int(ts), low if low > 0 else 0, typical if typical > 0 else 0))
            self.n_scans += 1

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, day: int) -> tuple[list[PairDay], list[CloseContact], int]:
        ctx = self.ctx.pop(day, {})
        places = self.places.pop(day, {})
        scans = self.scan_log.pop(day, {})
        when = (self.start + timedelta(minutes=UTC_OFFSET + day * DAY)).date()
        configs = self.risk_configs
        first = next(iter(configs))
        needs_below = max(c.close_threshold_db for c in configs.values())
        exact_filter = all(c.min_close_minutes > 0 for c in configs.values())
        contacts = []
        directed: set[tuple[int, int]] = set(scans)
        for (a, b), values in ctx.items():
            if values[0] >= self.c.close_minutes:
                n_phones = (a in self.phones) + (b in self.phones)
                contacts.append(CloseContact(when, a, b, values[0], n_phones))
                if n_phones == 2:
                    directed.add((a, b))
                    directed.add((b, a))
        out = []
        for rx, tx in sorted(directed):
            if rx not in self.phones or tx not in self.phones:
                continue
            key = (min(rx, tx), max(rx, tx))
            values = ctx[key]
            true_contact = values[0] >= self.c.close_minutes
            log = scans.get((rx, tx))
            records = (
                sorted((log[i], log[i + 1], log[i + 2]) for i in range(0, len(log), 3))
                if log
                else []
            )
            verdicts: dict[str, bool] = {}
            figures = (0.0, 0.0, 0.0)
            useful = records and (
                not exact_filter or any(typ < needs_below for _, _, typ in records)
            )
            for name, cfg in configs.items():
                high = False
                if useful:
                    trisk = risk.transmission_risk(
                        risk.REPORT_CONFIRMED_TEST, risk.INFECTIOUSNESS_STANDARD, cfg
                    )
                    window = window_from_scans(
                        records,
                        day=when,
                        transmission_risk=trisk,
                        calibration_confidence=self.radio.models[
                            self.phones[tx].model
                        ].calibration_confidence,
                        config=cfg,
                    )
                    result = risk.assess([window], cfg)
                    high = result.level == "high"
                    if name == first and result.days:
                        dr = result.days[0]
                        figures = (
                            dr.minutes_below_threshold + dr.dropped_minutes_below_threshold,
                            dr.weighted_minutes,
                            dr.normalized_time,
                        )
                verdicts[name] = high
            if not true_contact and not any(verdicts.values()):
                continue
            out.append(
                self._pair_day(
                    when, rx, tx, values, places[key], true_contact, len(records), figures, verdicts
                )
            )
        return out, contacts, len(directed)

    def _pair_day(
        self,
        when: date,
        rx: int,
        tx: int,
        values: list[float],
        places: dict[str, float],
        true_contact: bool,
        n_scans: int,
        figures: tuple[float, float, float],
        verdicts: dict[str, bool],
    ) -> PairDay:
        in_range = values[1]
        # time-weighted median distance between the people: over the close time for a true
        # contact, over all the time they were close or in radio range otherwise
        spans = values[2 : 3 + len(DISTANCE_BUCKETS)]
        if true_contact:
            spans = [values[2], values[0] - values[2]]
        bucket, acc, total = len(DISTANCE_BUCKETS), 0.0, sum(spans)
        for i, minutes in enumerate(spans):
            acc += minutes
            if acc >= total / 2:
                bucket = i
                break
        prefix = "c" if true_contact else "r"
        combos = {k[2:]: v for k, v in places.items() if k.startswith(prefix + ":")}
        where = {k[2:]: v for k, v in places.items() if k.startswith(prefix + "@")}
        if not combos:  # a false alarm with no in-range time is impossible; be safe
            combos = {k[2:]: v for k, v in places.items() if ":" in k}
            where = {k[2:]: v for k, v in places.items() if "@" in k}
        tx_err = self.error[tx][0]
        rx_err = self.error[rx][1]
        return PairDay(
            day=when,
            receiver=rx,
            sender=tx,
            true_contact=true_contact,
            close_minutes=values[0],
            in_range_minutes=in_range,
            distance_bucket=_bucket_name(bucket),
            carry=max(sorted(combos), key=lambda k: combos[k]) if combos else "-",
            place=max(sorted(where), key=lambda k: where[k]) if where else "-",
            walls=values[7] > in_range / 2 if in_range else False,
            phone_away=values[8] > values[0] / 2 if values[0] else False,
            model_error_db=round(tx_err + rx_err, 2),
            scans=n_scans,
            minutes_below_threshold=figures[0],
            weighted_minutes=figures[1],
            normalized_time=figures[2],
            high=verdicts,
        )


class _Sim(_Engine):
    """A province from the tracing simulator, its homes and checkpoints, day by day."""

    def __init__(
        self,
        config: ProximityConfig,
        radio: RadioModel,
        risk_configs: Mapping[str, risk.RiskConfig],
        keep_day: int | None,
    ) -> None:
        seed = config.seed
        units = [f"{k:05d}" for k in range(1, config.communes + 1)]
        self.sim: Simulation = simulate(
            SimConfig(people=config.people, days=config.days, seed=seed, initial_cases=0), units
        )
        self.year = self.sim.start.year
        self.age = {p.id: self.year - p.birth_year for p in self.sim.people}
        self.cp_type = {cp.id: cp.type for cp in self.sim.checkpoints}
        phones, self.people_with_phone = _make_phones(self.sim, config, radio)
        super().__init__(config, radio, risk_configs, keep_day, self.sim.start, phones)
        self._stays()
        self._zones(seed)

    def _stays(self) -> None:
        """Stays as local minutes since the start, by local day and place."""
        self.by_day: dict[int, dict[tuple[int, int], list[tuple[int, int, int, int]]]] = (
            defaultdict(lambda: defaultdict(list))
        )
        self.away: dict[int, dict[int, list[tuple[int, int]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.worker_cp: dict[int, set[int]] = defaultdict(set)
        for s in self.sim.stays:
            t0 = int((s.start - self.start).total_seconds()) // 60
            t1 = int((s.end - self.start).total_seconds()) // 60
            if t1 <= t0:
                continue
            d = t0 // DAY
            kind = self.cp_type[s.checkpoint_id]
            room = s.entrance if kind in ROOM_TYPES else 0
            self.by_day[d][(s.checkpoint_id, room)].append((s.person_id, t0, t1, s.entrance))
            self.away[d][s.person_id].append((t0 - TRAVEL, t1 + TRAVEL))
            if kind in ("office", "factory", "school"):
                self.worker_cp[s.checkpoint_id].add(s.person_id)

    def _zones(self, seed: int) -> None:
        """Teams and classes, rebuilt the way the tracing simulator builds them."""
        r = random.Random(f"{seed}:zones")
        self.zone: dict[tuple[int, int], int] = {}  # (checkpoint, person) -> team / class
        for cp in sorted(self.worker_cp):
            people = sorted(self.worker_cp[cp])
            kind = self.cp_type[cp]
            if kind == "school":
                students = sorted(
                    (p for p in people if self.age[p] < 18), key=lambda p: (self.age[p], p)
                )
                for k, p in enumerate(students):
                    self.zone[(cp, p)] = k // STUDENT.team
                for p in people:
                    if self.age[p] >= 18:
                        self.zone[(cp, p)] = -1  # teacher
            else:
                r.shuffle(people)
                team = WORK_PLACES[kind].team
                for k, p in enumerate(people):
                    self.zone[(cp, p)] = k // team

    # ------------------------------------------------------------------ driving
    def run(self, progress: Callable[[int, int], None] | None) -> ProximityRun:
        outcomes: list[PairDay] = []
        contacts: list[CloseContact] = []
        evaluated = 0
        total = self.c.days + 1
        for d in range(total):
            if d < self.c.days:
                for key in sorted(self.by_day[d]):
                    self._venue(d, key)
            self._homes(d, last=d == self.c.days)
            if d >= 1:
                done = self._evaluate(d - 1)
                outcomes.extend(done[0])
                contacts.extend(done[1])
                evaluated += done[2]
            if progress is not None:
                progress(d + 1, total)
        return self._result(
            len(self.sim.people), self.people_with_phone, outcomes, contacts, evaluated
        )

    # ------------------------------------------------------------------ homes
    def _homes(self, d: int, last: bool) -> None:
        """Every household's home over local day ``d`` (only until 07:00 on the extra day)."""
        c = self.c
        base = d * DAY
        day_end = UTC_OFFSET if last else DAY
        for h in sorted(self.sim.households):
            members = self.sim.households[h]
            if len(members) < 2:
                continue
            r = random.Random(f"{c.seed}:home:{h}:{d}")
            beds, charger, table, rooms = self._home_layout(h, members)
            self.rng = random.Random(f"{c.seed}:radio:home:{h}:{d}")
            segs: list[Seg] = []
            for p in members:
                busy = sorted(self.away[d].get(p, [])) if not last else []
                spans, t = [], 0
                for a, b in busy:
                    a, b = max(a - base, 0), min(b - base, day_end)
                    if a > t:
                        spans.append((t, a))
                    t = max(t, b)
                if t < day_end:
                    spans.append((t, day_end))
                bed = 22 * 60 + r.randint(-30, 60)
                wake = 5 * 60 + 30 + r.randint(0, 60)
                for a, b in spans:
                    segs.extend(
                        self._home_person(
                            r, p, base, a, b, wake, bed, beds[p], charger[p], table[p], rooms
                        )
                    )
            self._sweep(segs, "home", brute=True)

    def _home_layout(
        self, h: int, members: list[int]
    ) -> tuple[
        dict[int, Spot], dict[int, Spot], dict[int, Spot], list[tuple[float, float, float, float]]
    ]:
        """Beds, phone chargers and dinner seats of one household, and its rooms."""
        n = len(members)
        bedrooms = 1 if n <= 2 else 2 if n <= 4 else 3
        rooms = [(0.0, 0.0, 5.0, 4.0)]  # living room, room 0
        for k in range(bedrooms):
            rooms.append((5.0 + 3.5 * k, 0.0, 8.5 + 3.5 * k, 3.5))
        ages = {p: self.age[p] for p in members}
        adults = [p for p in members if ages[p] >= 18][:2]
        room_of: dict[int, int] = {}
        for p in members:
            if p in adults or ages[p] < 6:
                room_of[p] = 1
            elif ages[p] >= 60:
                room_of[p] = bedrooms
            elif ages[p] < 18:
                room_of[p] = min(2, bedrooms)
            else:
                room_of[p] = bedrooms
        beds: dict[int, Spot] = {}
        charger: dict[int, Spot] = {}
        for room in range(1, bedrooms + 1):
            sleepers = [p for p in members if room_of[p] == room]
            x0, y0, _, _ = rooms[room]
            for k, p in enumerate(sleepers):
                # two to a bed, 0.6 m apart; beds 1.5 m apart
                x = x0 + 0.8 + (k % 2) * 0.6
                y = y0 + 0.8 + (k // 2) * 1.5
                beds[p] = (x, y, room)
                charger[p] = (x + (-0.4 if k % 2 == 0 else 0.4), y + 0.3, room)
        table: dict[int, Spot] = {}
        for k, p in enumerate(members):
            angle = 2 * math.pi * k / n
            table[p] = (2.5 + 0.7 * math.cos(angle), 2.0 + 0.6 * math.sin(angle), 0)
        return beds, charger, table, rooms

    def _home_person(
        self,
        r: random.Random,
        p: int,
        base: int,
        a: int,
        b: int,
        wake: int,
        bed: int,
        bed_spot: Spot,
        charger: Spot,
        seat: Spot,
        rooms: list[tuple[float, float, float, float]],
    ) -> list[Seg]:
        c = self.c
        cuts = sorted({a, b, *(x for x in (wake, bed, 18 * 60 + 30, 19 * 60 + 15) if a < x < b)})
        out: list[Seg] = []
        for s, e in itertools.pairwise(cuts):
            if s < wake or s >= bed:  # asleep, the phone by the bed
                x, y, room = bed_spot
                cx, cy, croom = charger
                out.append(
                    Seg(
                        base + s,
                        base + e,
                        p,
                        x,
                        y,
                        room,
                        cx,
                        cy,
                        croom,
                        "table",
                        self.radio.carry_loss(r, "table"),
                    )
                )
                continue
            if 18 * 60 + 30 <= s < 19 * 60 + 15:  # dinner
                pieces = [(s, e, seat)]
            else:
                pieces = []
                t = s
                while t < e:
                    nxt = min(e, t + c.home_epoch_minutes)
                    pick = r.random()
                    room = 0 if pick < 0.6 else bed_spot[2]
                    x0, y0, x1, y1 = rooms[room]
                    pieces.append(
                        (
                            t,
                            nxt,
                            (r.uniform(x0 + 0.3, x1 - 0.3), r.uniform(y0 + 0.3, y1 - 0.3), room),
                        )
                    )
                    t = nxt
            for ps, pe, (x, y, room) in pieces:
                if r.random() < c.p_phone_on_charger:
                    cx, cy, croom = charger
                    carry = "table"
                else:
                    carry = _choose(r, c.carry_home)
                    cx, cy, croom = (x + 0.4, y, room) if carry == "table" else (x, y, room)
                out.append(
                    Seg(
                        base + ps,
                        base + pe,
                        p,
                        x,
                        y,
                        room,
                        cx,
                        cy,
                        croom,
                        carry,
                        self.radio.carry_loss(r, carry),
                    )
                )
        return out

    # ------------------------------------------------------------------ venues
    def _venue(self, d: int, key: tuple[int, int]) -> None:
        cp, room = key
        kind = self.cp_type[cp]
        stays = sorted(self.by_day[d][key], key=lambda s: (s[1], s[0]))
        r = random.Random(f"{self.c.seed}:venue:{cp}:{room}:{d}")
        builder = _VenueDay(self, kind, cp, stays, r)
        self.rng = random.Random(f"{self.c.seed}:radio:{cp}:{room}:{d}")
        segs = builder.build()
        self._sweep(segs, kind, brute=False)


class _VenueDay:
    """Positions of everyone at one checkpoint (one room for rooms and events) on one day."""

    EPOCH: ClassVar[dict[str, int]] = {
        "market": 3, "supermarket": 3, "restaurant": 10, "cafe": 10, "office": 15, "school": 45,
        "factory": 30, "hospital": 20, "pagoda": 20, "event": 30, "meeting_room": 30,
        "bus_station": 10, "traffic_post": 1, "gym": 8,
    }  # fmt: skip
    P_MOVE: ClassVar[dict[str, float]] = {
        "restaurant": 0.05, "cafe": 0.05, "office": 0.12, "school": 0.02, "factory": 0.05,
        "hospital": 0.25, "pagoda": 0.15, "event": 0.05, "meeting_room": 0.03, "bus_station": 0.1,
    }  # fmt: skip
    SEATED = frozenset({"restaurant", "cafe", "office", "school", "meeting_room", "event"})

    def __init__(
        self,
        sim: _Sim,
        kind: str,
        cp: int,
        stays: list[tuple[int, int, int, int]],
        r: random.Random,
    ) -> None:
        self.s = sim
        self.kind = kind
        self.cp = cp
        self.stays = stays
        self.r = r
        self.layout = _Layout()
        self.seat_of: dict[int, list[int]] = {}  # stay index -> seats held
        self.carry_table = sim.c.carry_seated if kind in self.SEATED else sim.c.carry_moving

    def peak(self, stays: Sequence[tuple[int, int, int, int]]) -> int:
        events = sorted([(s[1], 1) for s in stays] + [(s[2], -1) for s in stays])
        n = best = 0
        for _, step in events:
            n += step
            best = max(best, n)
        return best

    def build(self) -> list[Seg]:
        k = self.kind
        if k == "traffic_post":
            return self._queue_post()
        getattr(self, f"_layout_{self._family()}")()
        self._assign()
        out: list[Seg] = []
        for i, (p, t0, t1, _) in enumerate(self.stays):
            out.extend(self._person(i, p, t0, t1))
        return out

    def _family(self) -> str:
        return {
            "restaurant": "tables", "cafe": "tables", "office": "desks", "factory": "line",
            "school": "school", "hospital": "hospital", "pagoda": "rows", "event": "rows",
            "meeting_room": "ring", "bus_station": "rows", "market": "market",
            "supermarket": "wander", "gym": "wander",
        }[self.kind]  # fmt: skip

    # ---- layouts
    def _layout_tables(self) -> None:
        n = self.peak(self.stays)
        _tables(
            self.layout, max(2, math.ceil(n / 2.5) + 2), 2.0 if self.kind == "restaurant" else 2.2
        )
        side = _square(len(self.layout.clusters)) * 2.2
        self.layout.areas["move"] = (-3.0, 0.0, -1.0, side, 0)  # counter, toilets

    def _layout_desks(self) -> None:
        teams = 1 + max((self.s.zone.get((self.cp, p), 0) for p, *_ in self.stays), default=0)
        team = WORK_PLACES["office"].team
        cols = max(1, math.ceil(math.sqrt(teams)))
        half = math.ceil(team / 2)
        for z in range(teams):
            x0 = (z % cols) * (half * 1.4 + 3.0)
            y0 = (z // cols) * (1.6 + 3.0)
            self.layout.add_cluster(
                [(x0 + i * 1.4, y0, 0) for i in range(half)]
                + [(x0 + i * 1.4, y0 + 1.6, 0) for i in range(half)]
            )
        self.layout.areas["move"] = (-4.0, 0.0, -1.0, 3.0, 0)  # kitchen, printer
        self._canteen()

    def _layout_line(self) -> None:
        teams = 1 + max((self.s.zone.get((self.cp, p), 0) for p, *_ in self.stays), default=0)
        team = WORK_PLACES["factory"].team
        for z in range(teams):
            self.layout.add_cluster((i * 1.5, z * 4.0, 0) for i in range(team + 2))
        self.layout.areas["move"] = (-6.0, 0.0, -2.0, 4.0 * teams, 0)  # stores, toilets
        self._canteen()

    def _canteen(self) -> None:
        """Canteen tables of four, 2 m apart; each worker keeps one seat for the lunch break,
        team mates next to each other."""
        n = len(self.stays)
        start = len(self.layout.clusters)
        _tables(self.layout, max(2, math.ceil(n / 3.5)), 2.0, x0=-200.0)
        self.canteen = list(range(start, len(self.layout.clusters)))
        seats = [s for c in self.canteen for s in self.layout.clusters[c]]
        order = sorted(
            range(n),
            key=lambda i: (self.s.zone.get((self.cp, self.stays[i][0]), 0), self.r.random()),
        )
        self.canteen_seat = {i: self.layout.seats[seats[k]] for k, i in enumerate(order)}

    def _layout_school(self) -> None:
        classes = 1 + max((self.s.zone.get((self.cp, p), 0) for p, *_ in self.stays), default=0)
        for c in range(classes):
            x0 = c * 8.0
            self.layout.add_cluster(
                (x0 + 1.0 + col * 2.4 + side * 0.6, 2.0 + row * 1.0, c)
                for row in range(6)
                for col in range(3)
                for side in (0, 1)
            )
        self.classes = classes
        n = len(self.stays)
        yard = _square(n * 3.0)
        self.layout.areas["yard"] = (0.0, -60.0 - yard, yard, -60.0, OUTSIDE)
        self.layout.areas["staff"] = (-20.0, 0.0, -14.0, 5.0, OUTSIDE)  # teachers' room
        self.layout.areas["move"] = (0.0, -3.0, classes * 8.0, -1.0, OUTSIDE)  # corridor

    def _layout_hospital(self) -> None:
        staff = [s for s in self.stays if s[2] - s[1] >= 400]
        visitors = [s for s in self.stays if s[2] - s[1] < 400]
        _rows(self.layout, max(8, int(self.peak(visitors) * 1.3)), 0.55, 1.0, room=0)
        self.waiting = len(self.layout.clusters)
        desks = max(1, self.peak(staff))
        start = len(self.layout.clusters)
        for k in range(desks):
            self.layout.add_cluster([(30.0 + (k % 6) * 2.5, (k // 6) * 3.0, 1)])
        self.desks = list(range(start, len(self.layout.clusters)))
        self.layout.areas["move"] = (-3.0, 0.0, -1.0, 6.0, 0)

    def _layout_rows(self) -> None:
        pitch = {"pagoda": (0.8, 1.0), "event": (0.55, 0.9), "bus_station": (0.55, 1.2)}[self.kind]
        n = self.peak(self.stays)
        _rows(self.layout, max(8, int(n * 1.3)), *pitch)
        side = _square(n * 1.5)
        self.layout.areas["move"] = (-side - 2.0, 0.0, -2.0, side, 0)  # foyer, courtyard
        self.layout.areas["queue"] = (-4.0, -6.0, -3.0, -1.0, 0)

    def _layout_ring(self) -> None:
        n = max(4, self.peak(self.stays))
        half = math.ceil(n / 2)
        self.layout.add_cluster(
            [(i * 0.7, 0.0, 0) for i in range(half)] + [(i * 0.7, 1.2, 0) for i in range(half)]
        )
        self.layout.areas["move"] = (-30.0, 0.0, -28.0, 2.0, 0)  # out of the room

    def _layout_market(self) -> None:
        vendors = [s for s in self.stays if s[2] - s[1] >= 300]
        visitors = [s for s in self.stays if s[2] - s[1] < 300]
        stalls = max(4, self.peak(vendors) + 2)
        cols = max(2, math.ceil(math.sqrt(stalls)))
        for k in range(stalls):  # stalls face each other across 2.5 m aisles
            self.layout.add_cluster([((k % cols) * 2.0, (k // cols) * 2.5, 0)])
        side = max(cols * 2.0, _square(self.peak(visitors) * 3.0))
        self.layout.areas["move"] = (0.0, 0.0, side, max(side, (stalls // cols + 1) * 2.5), 0)

    def _layout_wander(self) -> None:
        per = {"supermarket": 5.0, "gym": 6.0}[self.kind]
        side = _square(self.peak(self.stays) * per)
        self.layout.areas["move"] = (0.0, 0.0, side, side, 0)
        self.layout.areas["queue"] = (0.0, -6.0, side, -3.0, 0)

    # ---- seats
    def _assign(self) -> None:
        """Seats by arrival: parties share tables or row chunks, teams their desks."""
        lay = self.layout
        family = self._family()
        if family in ("wander",):
            return
        groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
        for i, (_, t0, t1, ent) in enumerate(self.stays):
            groups[(t0, t1, ent)].append(i)
        leaving: list[tuple[int, int]] = []
        seated: set[int] = set()
        for i, (_p, t0, _t1, _ent) in enumerate(self.stays):
            while leaving and leaving[0][0] <= t0:
                _, j = heappop(leaving)
                lay.release(self.seat_of.get(j, []))
            if i in seated:
                continue
            party = [j for j in groups[(t0, self.stays[i][2], self.stays[i][3])] if j not in seated]
            clusters = self._clusters_for(i, len(party))
            for j in party:
                if self._role(self.stays[j]) == "teacher":
                    continue  # teachers move between classes
                seat = -1
                for cl in clusters:
                    free = lay.free_in(cl)
                    if free:
                        seat = free[int(self.r.random() * len(free))]
                        break
                if seat < 0:
                    if family in ("market", "hospital") and self._role(self.stays[j]) == "visitor":
                        continue  # visitors move around
                    seat = lay.any_free(self.r)
                lay.take(seat, self.stays[j][0])
                self.seat_of[j] = [seat]
                seated.add(j)
                heappush(leaving, (self.stays[j][2], j))

    def _role(self, stay: tuple[int, int, int, int]) -> str:
        p, t0, t1, _ = stay
        if self.kind in ("market", "hospital"):
            return "staff" if t1 - t0 >= (300 if self.kind == "market" else 400) else "visitor"
        if self.kind == "school":
            return "teacher" if self.s.age[p] >= 18 else "student"
        return "worker" if self.kind in ("office", "factory") else "visitor"

    def _clusters_for(self, i: int, party: int) -> list[int]:
        lay, r = self.layout, self.r
        kind = self.kind
        p = self.stays[i][0]
        if kind in ("office", "factory"):
            z = self.s.zone.get((self.cp, p), 0)
            own = [z] if z < len(lay.clusters) else []
            return own + [
                c
                for c in range(len(lay.clusters))
                if c not in own and c not in getattr(self, "canteen", [])
            ]
        if kind == "school":
            z = self.s.zone.get((self.cp, p), -1)
            if z < 0:
                return []  # teachers have no seat
            return [z] if z < self.classes else [int(r.random() * self.classes)]
        if kind == "hospital":
            if self._role(self.stays[i]) == "visitor":
                return list(range(self.waiting))
            return self.desks
        if kind == "market":
            return []
        # tables, row chunks, the meeting table: empty clusters first for a party
        empty = [c for c in range(len(lay.clusters)) if len(lay.free_in(c)) == len(lay.clusters[c])]
        partial = [
            c for c in range(len(lay.clusters)) if 0 < len(lay.free_in(c)) < len(lay.clusters[c])
        ]
        r.shuffle(empty)
        r.shuffle(partial)
        need = math.ceil(party / 4)
        if kind == "meeting_room":
            return list(range(len(lay.clusters)))
        if len(empty) >= need:
            return empty[:need] + partial
        return partial + empty

    # ---- movement
    def _person(self, i: int, p: int, t0: int, t1: int) -> list[Seg]:
        s, r, lay = self.s, self.r, self.layout
        kind = self.kind
        role = self._role(self.stays[i])
        epoch = self.EPOCH[kind]
        if kind == "market" and role == "staff":
            epoch = 30
        seat = lay.seats[self.seat_of[i][0]] if i in self.seat_of else None
        cuts = {t0, t1}
        t = t0 + 1 + int(r.random() * epoch)
        while t < t1:
            cuts.add(t)
            t += epoch
        breaks = self._breaks(t0, t1, role)
        for a, b, _ in breaks:
            cuts.update(x for x in (a, b) if t0 < x < t1)
        tail = self._tail(t0, t1)
        if tail is not None:
            cuts.add(tail[0])
        times = sorted(cuts)
        out: list[Seg] = []
        carry = _choose(r, self.carry_table)
        loss = s.radio.carry_loss(r, carry)
        last: tuple[float, float, int, str] | None = None
        for a, b in itertools.pairwise(times):
            spot = self._where(i, p, a, role, seat, breaks, tail)
            if r.random() < s.c.p_carry_change:
                carry = _choose(r, self.carry_table)
                loss = s.radio.carry_loss(r, carry)
            x, y, room = spot
            state = (x, y, room, carry)
            if last == state and out:
                prev = out[-1]
                out[-1] = Seg(prev.t0, b, p, x, y, room, x, y, room, carry, prev.loss)
                continue
            last = state
            out.append(Seg(a, b, p, x, y, room, x, y, room, carry, loss))
        return out

    def _breaks(self, t0: int, t1: int, role: str) -> list[tuple[int, int, str]]:
        day0 = (t0 // DAY) * DAY
        out = []
        if self.kind == "school" and role == "student":
            out = [(day0 + 570, day0 + 590, "yard"), (day0 + 900, day0 + 915, "yard")]
        elif self.kind in ("office", "factory"):
            a = 705 if self.kind == "office" else 690
            out = [(day0 + a, day0 + a + 45, "canteen")]
        return [(max(a, t0), min(b, t1), w) for a, b, w in out if a < t1 and b > t0]

    def _tail(self, t0: int, t1: int) -> tuple[int, str] | None:
        """A queue at the end of the stay (checkout, boarding)."""
        minutes = {"supermarket": 5, "bus_station": 3}.get(self.kind)
        if minutes is None or t1 - t0 <= minutes + 2:
            return None
        return (t1 - minutes, "queue")

    def _where(
        self,
        i: int,
        p: int,
        t: int,
        role: str,
        seat: Spot | None,
        breaks: list[tuple[int, int, str]],
        tail: tuple[int, str] | None,
    ) -> Spot:
        r, lay, kind = self.r, self.layout, self.kind
        for a, b, what in breaks:
            if a <= t < b:
                if what == "yard":
                    return lay.spot_in(r, "yard")
                return self.canteen_seat[i]
        if tail is not None and t >= tail[0]:
            x0, y0, x1, _, room = lay.areas["queue"]
            lane = (p * 7919) % 4
            return (x0 + min(x1 - x0, 3.0 * lane), y0 + 0.9 * int(r.random() * 5), room)
        if kind == "school" and role == "teacher":
            period = (t - (t // DAY) * DAY) // 45
            c = (p * 31 + period * 17) % (self.classes + 1)
            if c == self.classes:
                return lay.spot_in(r, "staff")
            return (c * 8.0 + 4.0, 0.8, c)
        if kind in ("market", "supermarket", "gym") and (seat is None or role == "visitor"):
            return lay.spot_in(r, "move")
        if kind == "hospital" and role == "visitor" and r.random() < self.P_MOVE["hospital"]:
            x, y, room = lay.seats[lay.clusters[self.desks[int(r.random() * len(self.desks))]][0]]
            return (x + 0.9, y, room)  # seen by a doctor or nurse
        if seat is None:
            return lay.spot_in(r, "move") if "move" in lay.areas else (0.0, 0.0, 0)
        if r.random() < self.P_MOVE.get(kind, 0.0):
            if kind == "office" and r.random() < 0.5:  # at a colleague's desk
                z = self.s.zone.get((self.cp, p), 0)
                desks = lay.clusters[min(z, len(lay.clusters) - 1)]
                x, y, room = lay.seats[desks[int(r.random() * len(desks))]]
                return (x + 0.7, y + 0.3, room)
            return lay.spot_in(r, "move")
        return seat

    def _queue_post(self) -> list[Seg]:
        """A traffic post: one line, 1.8 m between people, moving up every minute."""
        s, r = self.s, self.r
        out: list[Seg] = []
        if not self.stays:
            return out
        first = min(st[1] for st in self.stays)
        last = max(st[2] for st in self.stays)
        carry = {i: _choose(r, s.c.carry_moving) for i in range(len(self.stays))}
        loss = {i: s.radio.carry_loss(r, carry[i]) for i in carry}
        for t in range(first, last):
            present = [i for i, st in enumerate(self.stays) if st[1] <= t < st[2]]
            for rank, i in enumerate(present):
                p = self.stays[i][0]
                y = rank * 1.8
                out.append(Seg(t, t + 1, p, 0.0, y, 0, 0.0, y, 0, carry[i], loss[i]))
        return _merge(out)


def _merge(segs: list[Seg]) -> list[Seg]:
    """Join consecutive one-minute segments of a person that do not change."""
    by_person: dict[int, list[Seg]] = defaultdict(list)
    for seg in sorted(segs, key=lambda s: (s.person, s.t0)):
        run_ = by_person[seg.person]
        if run_ and run_[-1].t1 == seg.t0 and (run_[-1].x, run_[-1].y) == (seg.x, seg.y):
            prev = run_[-1]
            run_[-1] = Seg(
                prev.t0,
                seg.t1,
                seg.person,
                seg.x,
                seg.y,
                seg.room,
                seg.px,
                seg.py,
                seg.proom,
                seg.carry,
                seg.loss,
            )
        else:
            run_.append(seg)
    return [seg for run_ in by_person.values() for seg in run_]


# --------------------------------------------------------------------------- entry point


DEFAULT_RISK_CONFIGS: dict[str, risk.RiskConfig] = {"german_default": risk.GERMAN_PRODUCTION}


def run(
    config: ProximityConfig,
    radio: RadioModel | None = None,
    risk_configs: Mapping[str, risk.RiskConfig] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    keep_intervals_of_day: int | None = None,
) -> ProximityRun:
    """Simulate ``config.days`` UTC days and score every pair of phones with each risk config.

    The first entry of ``risk_configs`` gives the figures kept in :class:`PairDay`.
    ``keep_intervals_of_day`` keeps that UTC day's pair geometries (for re-running a few pairs
    with every advertisement, as the bench's GAEN check does). The same arguments give the same
    result.
    """
    configs = dict(risk_configs or DEFAULT_RISK_CONFIGS)
    if not configs:
        raise ValueError("at least one risk configuration")
    return _Sim(config, radio or RadioModel(), configs, keep_intervals_of_day).run(progress)


def run_scenario(
    segments: Iterable[Seg],
    phones: Mapping[int, Phone],
    *,
    config: ProximityConfig | None = None,
    radio: RadioModel | None = None,
    risk_configs: Mapping[str, risk.RiskConfig] | None = None,
    start: datetime = DEFAULT_START,
    place: str = "scenario",
) -> ProximityRun:
    """Truth and detection for hand-built segments (one place; every pair of people can hear
    each other within range). ``start`` is the local midnight the minutes count from; UTC day 0
    begins at local 07:00. Pair-days are evaluated for every UTC day the segments touch."""
    cfg = config or ProximityConfig()
    configs = dict(risk_configs or DEFAULT_RISK_CONFIGS)
    engine = _Engine(cfg, radio or RadioModel(), configs, None, start, dict(phones))
    segs = list(segments)
    engine._sweep(segs, place, brute=True)
    last = max((s.t1 for s in segs), default=UTC_OFFSET)
    outcomes: list[PairDay] = []
    contacts: list[CloseContact] = []
    evaluated = 0
    for day in range(0, max(1, (last - UTC_OFFSET - 1) // DAY + 1)):
        done = engine._evaluate(day)
        outcomes.extend(done[0])
        contacts.extend(done[1])
        evaluated += done[2]
    people = len({s.person for s in segs})
    return engine._result(people, len(phones), outcomes, contacts, evaluated)
