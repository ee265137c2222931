"""A Bluetooth LE radio model for phones near each other — pure, standard library only.

It turns "phone A is ``d`` metres from phone B, in a trouser pocket, one wall between them" into
the RSSI values B's scans record, and into the attenuations the Exposure Notification rules see.
Every parameter is a field of :class:`RadioModel`; every random draw takes an explicit
``random.Random`` (or is a pure hash of its inputs), so a seeded run is reproducible.

The model (dB and dBm throughout)::

    PL(d)      = 10 · n · log10(max(d, d_min) / d0)                       log-distance path loss
    RSSI_raw   = P0 + ΔTx(sender) + ΔRx(receiver) − PL(d) − body(sender) − body(receiver)
                 − walls · L_wall + X_shadow + X_fade                              measured
    ΔTx        = (tx_power − TX_ref) + tx_error_model + tx_error_unit       true TX of the phone
    ΔRx        = −rssi_correction + rx_error_model + rx_error_unit      true receiver gain
    attenuation = tx_power(sender) − (RSSI_raw + rssi_correction(receiver))   what the app sees

``tx_power`` (advertised in the encrypted metadata) and ``rssi_correction`` are what the app's
calibration table says about a phone model; ``tx_error`` / ``rx_error`` are how far the model's
real radio is from that table (the app cannot know them) plus a unit-to-unit spread. For two
perfectly calibrated phones the attenuation is ``A0 + PL(d) + losses − X``, with
``A0 = TX_ref − P0``.

Parameter choices (literature, not tuned to any result):

- ``A0 = 55 dB`` at ``d0 = 1 m`` with ``n = 2.0``: the Corona-Warn-App documentation equates
  73 dB with about 8 m in free space (55 + 20·log10(8) ≈ 73). Indoor line-of-sight path-loss
  exponents are reported between 1.6 and 2.2 (Rappaport, *Wireless Communications*, table 4.2).
- ``P0 = −60 dBm``: a raw phone-to-phone RSSI at 1 m in line of sight (the iBeacon "measured
  power" convention is about −59 dBm at 1 m); so ``TX_ref = A0 + P0 = −5 dBm``.
- Log-normal shadowing σ = 5 dB (indoor 2.4 GHz measurements report 4–6 dB); it is a property
  of a geometry, so it is drawn once per pair and position (a hash of both), not per scan.
- Fast fading σ = 4 dB per advertisement (static BLE RSSI varies by 2–6 dB between packets).
- Body, pocket and bag losses per phone by carry position: hand 0–3 dB, on a table 0–2,
  shirt pocket 2–8, trouser pocket 5–12, bag 6–15 (published phone measurements report
  5–15 dB for a body or a bag between the phones).
- An interior wall (brick, common in Vietnam) costs 8 dB at 2.4 GHz (ITU-R P.1238 style
  figures for brick walls lie around 6–10 dB).
- Sensitivity: advertisements fade out around −100 dBm (logistic, 2 dB wide).
- Per-model calibration: a small illustrative table of phone models common in Vietnam in
  2021. Their errors span ±5 dB; one model is missing from the app's table (it uses the average
  values, low calibration confidence) and is off by more. Each phone adds a unit spread of
  σ = 1.5 dB on transmit and on receive.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

__all__ = [
    "CARRY_POSITIONS",
    "PHONE_MODELS",
    "CarryPosition",
    "PhoneModel",
    "RadioModel",
    "ScanSampler",
    "hashed_gauss",
]


@dataclass(frozen=True)
class PhoneModel:
    """A phone model: what the app's calibration table says, and how wrong that is.

    ``tx_power_dbm`` is what the phone advertises (GAEN metadata byte 1) and
    ``rssi_correction_db`` what the app adds to the RSSI this model measures — both from the
    app's table. ``tx_error_db`` (+: the phone really transmits louder than ``tx_power`` implies)
    and ``rx_error_db`` (+: it really hears louder than the correction assumes) are the model's
    true deviations, unknown to the app. A positive total error makes phones look closer.
    """

    name: str
    share: float
    tx_power_dbm: int
    rssi_correction_db: int
    tx_error_db: float
    rx_error_db: float
    calibration_confidence: int = 3  # GAEN: 0 lowest .. 3 high


# Illustrative, not measured: shares roughly like Vietnam's 2021 smartphone market; the app's
# values sit around the reference (TX_ref = -5 dBm); errors span ±5 dB.
PHONE_MODELS: tuple[PhoneModel, ...] = (
    PhoneModel("Samsung Galaxy A", 0.30, -7, 3, 1.5, -2.0),
    PhoneModel("Oppo A", 0.18, -9, 5, -2.5, 1.0),
    PhoneModel("iPhone", 0.16, -5, 0, 0.5, 0.5),
    PhoneModel("Xiaomi Redmi", 0.12, -4, 2, 3.0, -1.5),
    PhoneModel("Vivo Y", 0.08, -8, 4, -1.0, -3.0),
    PhoneModel("Realme C", 0.06, -6, 1, 2.0, 2.5),
    # Not in the app's calibration table: the app uses the table's average, confidence low.
    PhoneModel("Vsmart Joy (uncalibrated)", 0.05, -6, 3, -5.0, -4.0, calibration_confidence=1),
    PhoneModel("Nokia C (uncalibrated)", 0.05, -6, 3, -3.0, 4.5, calibration_confidence=1),
)


@dataclass(frozen=True)
class CarryPosition:
    """Where a phone is carried and the body/pocket/bag loss it adds (dB, uniform in range)."""

    name: str
    loss_db: tuple[float, float]


CARRY_POSITIONS: dict[str, CarryPosition] = {
    c.name: c
    for c in (
        CarryPosition("hand", (0.0, 3.0)),
        CarryPosition("table", (0.0, 2.0)),
        CarryPosition("shirt_pocket", (2.0, 8.0)),
        CarryPosition("trouser_pocket", (5.0, 12.0)),
        CarryPosition("bag", (6.0, 15.0)),
    )
}


@dataclass(frozen=True)
class RadioModel:
    """Every parameter of the radio model (see the module text for the sources)."""

    path_loss_exponent: float = 2.0
    d0_m: float = 1.0
    min_distance_m: float = 0.2  # phones never closer than this (near field)
    reference_attenuation_db: float = 55.0  # A0: calibrated attenuation at d0, line of sight
    reference_rssi_dbm: float = -60.0  # P0: raw RSSI of the reference pair at d0
    shadowing_sigma_db: float = 5.0
    fading_sigma_db: float = 4.0
    unit_sigma_db: float = 1.5  # per phone, on transmit and on receive
    wall_loss_db: float = 8.0
    sensitivity_dbm: float = -100.0
    sensitivity_width_db: float = 2.0
    models: tuple[PhoneModel, ...] = PHONE_MODELS
    carry: dict[str, CarryPosition] = field(default_factory=lambda: dict(CARRY_POSITIONS))

    def __post_init__(self) -> None:
        if self.path_loss_exponent <= 0 or self.d0_m <= 0 or self.min_distance_m <= 0:
            raise ValueError("path-loss exponent and distances must be positive")
        if min(self.shadowing_sigma_db, self.fading_sigma_db, self.unit_sigma_db) < 0:
            raise ValueError("standard deviations must not be negative")
        if self.sensitivity_width_db <= 0:
            raise ValueError("sensitivity width must be positive")
        if not self.models or any(m.share < 0 for m in self.models):
            raise ValueError("phone models need non-negative shares")
        if sum(m.share for m in self.models) <= 0:
            raise ValueError("phone model shares must not all be zero")
        for c in self.carry.values():
            if not 0 <= c.loss_db[0] <= c.loss_db[1]:
                raise ValueError(f"carry loss range of {c.name!r} must be 0 <= low <= high")

    @property
    def reference_tx_dbm(self) -> float:
        """TX_ref = A0 + P0: what a perfectly calibrated reference phone advertises."""
        return self.reference_attenuation_db + self.reference_rssi_dbm

    def path_loss(self, distance_m: float) -> float:
        """10·n·log10(d/d0) in dB, with d clamped below at ``min_distance_m``."""
        d = max(distance_m, self.min_distance_m)
        return 10.0 * self.path_loss_exponent * math.log10(d / self.d0_m)

    def tx_offset(self, model: PhoneModel, unit_error_db: float = 0.0) -> float:
        """ΔTx: the phone's real transmit level relative to the reference."""
        return model.tx_power_dbm - self.reference_tx_dbm + model.tx_error_db + unit_error_db

    def rx_offset(self, model: PhoneModel, unit_error_db: float = 0.0) -> float:
        """ΔRx: the phone's real receive gain relative to the reference."""
        return -model.rssi_correction_db + model.rx_error_db + unit_error_db

    def mean_rssi(
        self,
        distance_m: float,
        *,
        tx_offset: float = 0.0,
        rx_offset: float = 0.0,
        body_loss_db: float = 0.0,
        walls: int = 0,
        shadowing_db: float = 0.0,
    ) -> float:
        """Raw RSSI before per-packet fading (dBm). ``body_loss_db`` is both phones' losses."""
        return (
            self.reference_rssi_dbm
            + tx_offset
            + rx_offset
            - self.path_loss(distance_m)
            - body_loss_db
            - walls * self.wall_loss_db
            + shadowing_db
        )

    def detection_probability(self, rssi_dbm: float) -> float:
        """Chance that one advertisement at this RSSI is decoded (falls off at sensitivity)."""
        z = (rssi_dbm - self.sensitivity_dbm) / self.sensitivity_width_db
        if z > 30:
            return 1.0
        if z < -30:
            return 0.0
        return 1.0 / (1.0 + math.exp(-z))

    def carry_loss(self, rng: random.Random, position: str) -> float:
        """A body/pocket/bag loss for a phone carried at ``position`` (uniform in its range)."""
        lo, hi = self.carry[position].loss_db
        return rng.uniform(lo, hi)

    def pick_model(self, rng: random.Random) -> int:
        """Index of a phone model, drawn by market share."""
        total = sum(m.share for m in self.models)
        x = rng.random() * total
        for i, m in enumerate(self.models):
            x -= m.share
            if x < 0:
                return i
        return len(self.models) - 1

    def shadowing(self, *key: int) -> float:
        """Shadowing (dB) of one geometry: a Gaussian that is a pure function of ``key``."""
        return self.shadowing_sigma_db * hashed_gauss(*key)


_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def hashed_gauss(*key: int) -> float:
    """A standard normal value that depends only on the integers in ``key`` (Box–Muller).

    Used for quantities that belong to a geometry rather than to a moment (shadowing): the same
    two people at the same two spots get the same value, whenever and in whatever order asked.
    (``hash`` of a tuple of ints does not depend on PYTHONHASHSEED.)
    """
    a = _splitmix64(hash(key) & _MASK64)
    u1 = ((a >> 11) + 1) / (2.0**53 + 1)  # (0, 1)
    u2 = (_splitmix64(a) >> 11) / 2.0**53
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


class ScanSampler:
    """What one scan records from one advertiser: the strongest and the median RSSI.

    A scan overlaps ``n`` advertisements; each is received with probability ``p_receive``
    (collisions, channel hopping) and decoded with :meth:`RadioModel.detection_probability`;
    each received one has its own fast fading. The exposure rules only use the minimum and the
    median attenuation of a scan, i.e. the maximum and the upper median of the RSSIs, so this
    class draws those two order statistics directly from pre-drawn tables (``table_size`` exact
    draws of the pair for each ``k``) instead of ``k`` values per scan — the same distribution,
    much faster. :meth:`adverts` draws every advertisement for the runs that need them.
    """

    def __init__(
        self, radio: RadioModel, seed: int | str, *, p_receive: float, table_size: int = 2048
    ) -> None:
        if not 0 < p_receive <= 1:
            raise ValueError("p_receive must be in (0, 1]")
        self.radio = radio
        self.p_receive = p_receive
        self.table_size = table_size
        self._seed = seed
        self._fades: dict[int, list[tuple[float, float]]] = {}
        self._binomial: dict[tuple[int, int], list[float]] = {}

    def _fade_table(self, k: int) -> list[tuple[float, float]]:
        """``table_size`` draws of (max, upper median) of ``k`` fadings N(0, sigma).

        Drawn exactly from order statistics instead of sorting ``k`` values: with uniforms
        U(1) <= ... <= U(k), the upper median U(j), j = k // 2 + 1, is Beta(j, k - j + 1); given
        it, the k - j values above it are uniform on (U(j), 1), so their maximum is
        U(j) + (1 - U(j)) * V ** (1 / (k - j)). The normal quantile maps both to fadings.
        """
        table = self._fades.get(k)
        if table is None:
            r = random.Random(f"{self._seed}:fades:{k}")
            quantile = NormalDist(0.0, max(self.radio.fading_sigma_db, 1e-12)).inv_cdf
            flat = self.radio.fading_sigma_db == 0
            j = k // 2 + 1
            top_u = 1.0 - 2.0**-53
            table = []
            for _ in range(self.table_size):
                if flat:
                    table.append((0.0, 0.0))
                    continue
                u_median = min(max(r.betavariate(j, k - j + 1), 2.0**-53), top_u)
                u_max = u_median
                if k > j:
                    u_max = u_median + (1.0 - u_median) * r.random() ** (1.0 / (k - j))
                u_max = min(max(u_max, u_median), top_u)
                table.append((quantile(u_max), quantile(u_median)))
            self._fades[k] = table
        return table

    def _binomial_cdf(self, n: int, q: int) -> list[float]:
        """CDF of Binomial(n, q / 256)."""
        cdf = self._binomial.get((n, q))
        if cdf is None:
            p = q / 256
            cdf, total = [], 0.0
            for k in range(n + 1):
                total += math.comb(n, k) * p**k * (1 - p) ** (n - k)
                cdf.append(total)
            self._binomial[(n, q)] = cdf
        return cdf

    def audible(self, mean_rssi: float) -> bool:
        """False when no packet at this mean RSSI can be decoded (:meth:`scans` gives None)."""
        return round(self.p_receive * self.radio.detection_probability(mean_rssi) * 256) > 0

    def scans(
        self, rng: random.Random, adverts: Sequence[int], mean_rssi: float
    ) -> list[tuple[int, int] | None]:
        """For scans overlapping ``adverts[i]`` advertisements of one advertiser at one mean RSSI:
        (max RSSI, upper-median RSSI) as integers, or None when nothing was decoded.

        Each advertisement is decoded with probability ``p_receive`` times the detection
        probability at the mean RSSI (quantised to 1/256); the fast fading of the decoded ones
        comes from the pre-drawn tables.
        """
        p = self.p_receive * self.radio.detection_probability(mean_rssi)
        q = round(p * 256)
        if q <= 0:
            return [None] * len(adverts)
        size = self.table_size
        out: list[tuple[int, int] | None] = []
        for n in adverts:
            if n <= 0:
                out.append(None)
                continue
            cdf = self._binomial_cdf(n, q)
            k = min(bisect_right(cdf, rng.random() * cdf[-1]), n)
            if k == 0:
                out.append(None)
                continue
            table = self._fades.get(k) or self._fade_table(k)
            top, median = table[int(rng.random() * size)]
            out.append((round(mean_rssi + top), round(mean_rssi + median)))
        return out

    def adverts(self, rng: random.Random, n_adverts: int, mean_rssi: float) -> list[int]:
        """Every decoded advertisement's RSSI (integer dBm), in the order received."""
        out = []
        for _ in range(n_adverts):
            if rng.random() >= self.p_receive:
                continue
            rssi = mean_rssi + rng.gauss(0.0, self.radio.fading_sigma_db)
            if rng.random() < self.radio.detection_probability(rssi):
                out.append(round(rssi))
        return out
