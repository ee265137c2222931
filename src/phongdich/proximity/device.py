"""The Bluezone device library: what a phone does, talking to the key server over HTTP.

A :class:`Device` is one phone:

- **Key schedule** — a fresh Temporary Exposure Key every UTC day (rolling start a multiple of
  144), its RPI rotating every 10-minute interval, and an AEM that carries the phone's own
  transmit power and calibration confidence (:meth:`Device.advertisement`).
- **Sightings** — :meth:`Device.record_sighting` stores what the phone heard (RPI, AEM, RSSI,
  time). Own keys, sightings and matches are kept 14 days (:meth:`Device.purge`).
- **Checking** — :meth:`Device.check_exposures` downloads ``index.txt`` and the exports it has not
  processed yet, verifies each export's signature (a tampered export is rejected and none of its
  keys is used), matches the keys against the sighting log (:mod:`.matching`), remembers the
  matched keys and the processed exports, builds exposure windows and scores them
  (:mod:`.risk`), and returns an explained notification in Vietnamese and English.
- **Reporting** — :meth:`Device.report_positive` uploads the phone's own keys through the
  verification flow: code → token → certificate bound to an HMAC of exactly these keys → publish.
- **Sharing** — :meth:`Device.share_exposures` sends the phone's OWN matched exposures (the
  matched key, the day and the minutes — never an RPI it heard, nor anything about other people
  it met) to the tracers, and only when called with ``consent=True``.

The HTTP side goes through a small :class:`Transport`: :class:`UrllibTransport` against a base
URL by default, :class:`ClientTransport` around any httpx-style client (tests pass the app's test
client).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from phongdich.kit.clock import utcnow
from phongdich.kit.i18n import t
from phongdich.proximity import gaen, matching, risk
from phongdich.proximity.device_store import DeviceStore, MatchedKeyRow, OwnKeyRow
from phongdich.proximity.exportfile import ExportError, ExportKey, read_export

__all__ = [
    "ClientTransport",
    "ConsentRequired",
    "Device",
    "DeviceError",
    "ExposureCheck",
    "HttpResponse",
    "Notification",
    "SharedExposure",
    "Transport",
    "UrllibTransport",
    "hmac_cleartext",
]

RETENTION = timedelta(days=14)
_REPORT_TYPES = {"confirmed": risk.REPORT_CONFIRMED_TEST, "likely": 2}
_PUBLIC_KEYS_SETTING = "export_public_keys"


class DeviceError(Exception):
    """The key server refused a request, or could not be reached."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ConsentRequired(DeviceError):
    """Sharing exposures was asked for without the user's explicit consent."""


# --------------------------------------------------------------------------- transport


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class Transport(Protocol):
    """One HTTP request to the key server; ``path`` starts with ``/``."""

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse: ...


class UrllibTransport:
    """The default transport: the standard library's ``urllib`` against ``base_url``."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        data = None if json_body is None else json.dumps(json_body).encode()
        all_headers = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - base_url is checked to be http(s)
            self.base_url + path, data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return HttpResponse(response.status, response.read())
        except urllib.error.HTTPError as exc:
            return HttpResponse(exc.code, exc.read())
        except (urllib.error.URLError, OSError) as exc:
            raise DeviceError(f"key server unreachable: {exc}") from exc


class _HttpxLike(Protocol):
    def request(self, method: str, url: str, **kwargs: Any) -> Any: ...


class ClientTransport:
    """Any httpx-style client (``request(method, url, json=, headers=)`` returning an object with
    ``status_code`` and ``content``) — e.g. the FastAPI test client, which keeps cookies."""

    def __init__(self, client: _HttpxLike) -> None:
        self.client = client

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        kwargs: dict[str, Any] = {"headers": dict(headers or {})}
        if json_body is not None:
            kwargs["json"] = json_body
        response = self.client.request(method, path, **kwargs)
        return HttpResponse(int(response.status_code), bytes(response.content))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Notification:
    """What the phone shows: level, title and body in Vietnamese and English."""

    level: str
    title_vi: str
    title_en: str
    body_vi: str
    body_en: str

    def text(self, lang: str = "vi") -> str:
        if lang == "en":
            return f"{self.title_en}\n{self.body_en}"
        return f"{self.title_vi}\n{self.body_vi}"


@dataclass(frozen=True)
class SharedExposure:
    """One matched exposure as the phone would share it (its own data only)."""

    key: bytes
    rolling_start: int
    date: date
    minutes: float
    weighted_minutes: float
    risk: str
    min_attenuation_db: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "key": _b64(self.key),
            "rollingStartNumber": self.rolling_start,
            "date": self.date.isoformat(),
            "minutes": self.minutes,
            "weighted_minutes": self.weighted_minutes,
            "risk": self.risk,
            "min_attenuation": self.min_attenuation_db,
        }


@dataclass(frozen=True)
class ExposureCheck:
    """The outcome of one :meth:`Device.check_exposures`."""

    exports_processed: tuple[str, ...]
    exports_rejected: tuple[tuple[str, str], ...]  # (name, why)
    keys_checked: int
    keys_matched: int
    result: risk.RiskResult
    notification: Notification


# --------------------------------------------------------------------------- helpers


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unix(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    return int(moment.timestamp())


def hmac_cleartext(keys: Iterable[Mapping[str, Any]]) -> str:
    """``base64(key).rollingStartNumber.rollingPeriod.transmissionRisk`` per key, sorted, ``,``."""
    return ",".join(
        sorted(
            f"{k['key']}.{k['rollingStartNumber']}.{k['rollingPeriod']}.{k['transmissionRisk']}"
            for k in keys
        )
    )


def _check(response: HttpResponse, what: str, expected: Sequence[int] = (200, 201)) -> Any:
    if response.status not in expected:
        try:
            body = response.json()
        except ValueError:
            body = response.body[:200].decode("utf-8", "replace")
        raise DeviceError(f"{what} failed: HTTP {response.status}", response.status, body)
    return response.json()


# --------------------------------------------------------------------------- the device


class Device:
    """One phone. Every argument has a working default except the transport for network calls."""

    def __init__(
        self,
        store: DeviceStore | None = None,
        transport: Transport | None = None,
        *,
        tx_power: int = -10,
        calibration_confidence: int = 1,
        rssi_correction: int | None = None,
        risk_config: risk.RiskConfig | None = None,
        public_keys: Mapping[str, ec.EllipticCurvePublicKey] | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: Callable[[int], bytes] = secrets.token_bytes,
        api_prefix: str = "/api/v1",
        processes: int = 1,
    ) -> None:
        self.store = store if store is not None else DeviceStore()
        self.transport = transport
        self.metadata = gaen.metadata(tx_power, calibration_confidence=calibration_confidence)
        config = risk_config if risk_config is not None else risk.RiskConfig()
        if rssi_correction is not None:  # this phone model's correction (calibration table)
            config = replace(config, rssi_correction=rssi_correction)
        self.risk_config = config
        self._public_keys = dict(public_keys) if public_keys is not None else None
        self.clock = clock
        self.rng = rng
        self.api = api_prefix.rstrip("/")
        self.processes = processes
        self._derived: dict[bytes, tuple[bytes, bytes]] = {}

    # ------------------------------------------------------------------ time

    def now(self) -> datetime:
        moment = self.clock()
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("the clock must return timezone-aware datetimes")
        return moment

    def _retention_start(self) -> datetime:
        return self.now() - RETENTION

    # ------------------------------------------------------------------ key schedule

    def key_for(self, at: datetime | None = None) -> OwnKeyRow:
        """The phone's TEK for the UTC day of ``at`` (made and stored on first use)."""
        moment = at if at is not None else self.now()
        interval = gaen.en_interval_number(moment)
        start = interval - interval % gaen.TEK_ROLLING_PERIOD
        row = self.store.own_key(start)
        if row is None:
            tek = gaen.new_tek(moment, self.rng)
            row = OwnKeyRow(tek.key, tek.rolling_start_interval_number, tek.rolling_period)
            self.store.add_own_key(row)
        return row

    def _keys_of(self, tek: bytes) -> tuple[bytes, bytes]:
        derived = self._derived.get(tek)
        if derived is None:
            derived = (matching.derive_rpik(tek), matching.derive_aemk(tek))
            self._derived[tek] = derived
        return derived

    def advertisement(self, at: datetime | None = None) -> tuple[bytes, bytes]:
        """(RPI, AEM) the phone broadcasts during the interval of ``at``."""
        moment = at if at is not None else self.now()
        row = self.key_for(moment)
        rpik, aemk = self._keys_of(row.key)
        rpi = gaen.rpi(rpik, gaen.en_interval_number(moment))
        return rpi, gaen.encrypt_metadata(aemk, rpi, self.metadata)

    def advertising_data(self, at: datetime | None = None) -> bytes:
        """The 31-byte BLE advertising data of the current advertisement."""
        return gaen.ad_structure(*self.advertisement(at))

    # ------------------------------------------------------------------ sightings

    def record_sighting(self, rpi: bytes, aem: bytes, rssi: int, at: datetime) -> None:
        """Store one advertisement heard at ``at`` with signal strength ``rssi`` (dBm)."""
        self.record_sightings([(rpi, aem, rssi, at)])

    def record_sightings(self, sightings: Iterable[tuple[bytes, bytes, int, datetime]]) -> None:
        """Store many sightings at once: (rpi, aem, rssi, aware datetime) tuples."""
        rows = []
        for rpi, aem, rssi, at in sightings:
            if len(rpi) != gaen.RPI_LENGTH or len(aem) != gaen.AEM_LENGTH:
                raise ValueError("a sighting needs a 16-byte RPI and a 4-byte AEM")
            if not -127 <= rssi <= 20:
                raise ValueError(f"implausible RSSI: {rssi}")
            rows.append((bytes(rpi), bytes(aem), _unix(at), int(rssi)))
        self.store.add_sightings(rows)

    def record_advertisement(self, scan_record: bytes, rssi: int, at: datetime) -> None:
        """Store a sighting from raw BLE advertising data (malformed data raises GaenError)."""
        rpi, aem = gaen.parse_ad_structure(scan_record)
        self.record_sighting(rpi, aem, rssi, at)

    def purge(self) -> int:
        """Forget own keys, sightings and matches older than 14 days."""
        start = self._retention_start()
        return self.store.purge(_unix(start), gaen.en_interval_number(start))

    # ------------------------------------------------------------------ HTTP

    def _http(self) -> Transport:
        if self.transport is None:
            raise DeviceError("this device has no transport to the key server")
        return self.transport

    def public_keys(self) -> dict[str, ec.EllipticCurvePublicKey]:
        """The export signing keys: given at construction (pinned), or fetched once and kept."""
        if self._public_keys is not None:
            return self._public_keys
        stored = self.store.get_setting(_PUBLIC_KEYS_SETTING)
        if stored is None:
            body = _check(
                self._http().request("GET", f"{self.api}/proximity/export-keys"), "export keys"
            )
            pems = {item["key_id"]: item["public_key_pem"] for item in body["keys"]}
            self.store.set_setting(_PUBLIC_KEYS_SETTING, json.dumps(pems))
        else:
            pems = json.loads(stored)
        keys = {}
        for key_id, pem in pems.items():
            loaded = serialization.load_pem_public_key(pem.encode())
            if not isinstance(loaded, ec.EllipticCurvePublicKey):
                raise DeviceError(f"export key {key_id} is not an EC key")
            keys[key_id] = loaded
        self._public_keys = keys
        return keys

    def _index(self) -> list[str]:
        response = self._http().request("GET", f"{self.api}/proximity/exports/index.txt")
        if response.status == 404:
            return []
        if response.status != 200:
            raise DeviceError(f"index.txt failed: HTTP {response.status}", response.status)
        text = response.body.decode("utf-8")
        return [line.strip() for line in text.splitlines() if line.strip()]

    # ------------------------------------------------------------------ checking

    def check_exposures(self) -> ExposureCheck:
        """Download and verify new exports, match, remember matches, score and explain."""
        processed = self.store.processed_exports()
        names = [name for name in self._index() if name not in processed]
        done: list[str] = []
        rejected: list[tuple[str, str]] = []
        checked = matched = 0
        if names:
            public_keys = self.public_keys()
            start = self._retention_start()
            oldest_interval = gaen.en_interval_number(start)
            observations = [
                matching.Observation(s.rpi, s.aem, s.at, s.rssi)
                for s in self.store.sightings(_unix(start))
            ]
            with matching.Matcher(observations, processes=self.processes) as matcher:
                for name in names:
                    file_name = name.rsplit("/", 1)[-1]
                    response = self._http().request(
                        "GET", f"{self.api}/proximity/exports/{file_name}"
                    )
                    if response.status != 200:
                        rejected.append((name, f"HTTP {response.status}"))
                        continue
                    try:
                        export = read_export(response.body, public_keys)
                    except ExportError as exc:
                        rejected.append((name, str(exc)))
                        continue
                    keys = [k for k in export.keys if _usable(k, oldest_interval)]
                    checked += len(keys)
                    rows = [
                        MatchedKeyRow(
                            key=found.key.key_data,
                            rolling_start=found.key.rolling_start_interval_number,
                            rolling_period=found.key.rolling_period,
                            transmission_risk=keys[found.key_index].transmission_risk_level,
                            report_type=keys[found.key_index].report_type,
                            days_since_onset=keys[found.key_index].days_since_onset_of_symptoms,
                            export_name=name,
                        )
                        for found in matcher.match(keys)
                    ]
                    matched += self.store.record_export(name, _unix(self.now()), rows)
                    done.append(name)
        result = self.assess()
        return ExposureCheck(
            exports_processed=tuple(done),
            exports_rejected=tuple(rejected),
            keys_checked=checked,
            keys_matched=matched,
            result=result,
            notification=self.notification(result),
        )

    def _windows(self) -> list[tuple[MatchedKeyRow, risk.ExposureWindow]]:
        """Exposure windows of every remembered matched key, within the last 14 days."""
        start = self._retention_start()
        rows = self.store.matched_keys(gaen.en_interval_number(start))
        if not rows:
            return []
        observations = [
            matching.Observation(s.rpi, s.aem, s.at, s.rssi)
            for s in self.store.sightings(_unix(start))
        ]
        published = [
            ExportKey(r.key, r.transmission_risk, r.rolling_start, r.rolling_period) for r in rows
        ]
        windows = []
        for found in matching.match(published, observations):
            row = rows[found.key_index]
            sightings = [
                risk.Sighting(
                    at=s.observation.at,
                    rssi=s.observation.rssi,
                    tx_power=s.tx_power,
                    calibration_confidence=s.calibration_confidence,
                )
                for s in found.sightings
            ]
            for window in risk.windows_from_sightings(
                sightings,
                report_type=row.report_type,
                days_since_onset=row.days_since_onset,
                config=self.risk_config,
            ):
                windows.append((row, window))
        return windows

    def assess(self) -> risk.RiskResult:
        """The risk from every matched key remembered (last 14 days), with its explanation."""
        return risk.assess([window for _row, window in self._windows()], self.risk_config)

    def notification(self, result: risk.RiskResult | None = None) -> Notification:
        """The notification text for ``result`` (the current assessment by default)."""
        result = result if result is not None else self.assess()
        key = f"risk.notify.{result.level}"
        return Notification(
            level=result.level,
            title_vi=t(key, "vi"),
            title_en=t(key, "en"),
            body_vi=result.text("vi"),
            body_en=result.text("en"),
        )

    def matched_exposures(self) -> list[SharedExposure]:
        """The phone's own matched exposures that count (dropped windows are left out)."""
        windows = self._windows()
        result = risk.assess([w for _r, w in windows], self.risk_config)
        high_days = {day.date for day in result.days if day.high}
        exposures = []
        for row, window in windows:
            score = risk.score_window(window, self.risk_config)
            if score.dropped_reason is not None:
                continue
            exposures.append(
                SharedExposure(
                    key=row.key,
                    rolling_start=row.rolling_start,
                    date=window.date,
                    minutes=round(score.minutes_below_threshold, 1),
                    # weighted minutes never exceed the close minutes (weights are at most 1)
                    weighted_minutes=min(
                        round(score.weighted_minutes, 1), round(score.minutes_below_threshold, 1)
                    ),
                    risk="high" if score.high or window.date in high_days else "low",
                    min_attenuation_db=score.min_attenuation_db,
                )
            )
        return exposures

    # ------------------------------------------------------------------ sharing

    def share_exposures(
        self, *, consent: bool = False, headers: Mapping[str, str] | None = None
    ) -> int:
        """Send the phone's own matched exposures to the tracers — only with ``consent=True``.

        The body holds, per counted exposure window, the published key that matched, its day
        and minutes. Never an RPI the phone heard, never a sighting of an unmatched key, never
        anything about whom else the phone met. ``headers`` may carry the citizen's sign-in for
        transports without cookies. Returns the number of exposures sent.
        """
        if consent is not True:
            raise ConsentRequired("sharing exposures needs the user's explicit consent")
        exposures = self.matched_exposures()
        if not exposures:
            return 0
        body = {"exposures": [e.as_json() for e in exposures], "consent": True}
        response = self._http().request(
            "POST", f"{self.api}/proximity/shared-exposures", json_body=body, headers=headers
        )
        _check(response, "sharing exposures", expected=(200, 201))
        return len(exposures)

    # ------------------------------------------------------------------ reporting

    def keys_to_upload(self, symptom_date: date | None, report_type: int) -> list[dict[str, Any]]:
        """Own keys of the last 14 days in the publish format, with their transmission risk."""
        now = self.now()
        self.key_for(now)  # today's key goes too: the server embargoes it until it expires
        rows = self.store.own_keys(gaen.en_interval_number(self._retention_start()))
        current = gaen.en_interval_number(now)
        keys = []
        for row in rows:
            if row.rolling_start > current:
                continue
            day = gaen.interval_start(row.rolling_start).date()
            onset = None if symptom_date is None else (day - symptom_date).days
            if onset is not None and not -14 <= onset <= 14:
                onset = None
            infectiousness = risk.infectiousness_for(onset, self.risk_config)
            level = risk.transmission_risk(report_type, infectiousness, self.risk_config)
            keys.append(
                {
                    "key": _b64(row.key),
                    "rollingStartNumber": row.rolling_start,
                    "rollingPeriod": row.rolling_period,
                    "transmissionRisk": max(0, min(level, 8)),
                }
            )
        return keys

    def report_positive(self, code: str) -> int:
        """Upload this phone's keys with a health official's verification code.

        code → token (``/proximity/verify``) → certificate for HMAC(hmacKey, keys)
        (``/proximity/certificate``) → ``/proximity/publish``. Returns the keys inserted.
        """
        http = self._http()
        verified = _check(
            http.request("POST", f"{self.api}/proximity/verify", json_body={"code": code}),
            "verification",
        )
        symptom = verified.get("symptom_date")
        symptom_date = date.fromisoformat(symptom) if symptom else None
        report_type = _REPORT_TYPES.get(str(verified.get("test_type")), risk.REPORT_CONFIRMED_TEST)
        keys = self.keys_to_upload(symptom_date, report_type)
        hmac_key = self.rng(32)
        digest = hmac.new(hmac_key, hmac_cleartext(keys).encode(), hashlib.sha256).digest()
        certificate = _check(
            http.request(
                "POST",
                f"{self.api}/proximity/certificate",
                json_body={"token": verified["token"], "ekeyhmac": _b64(digest)},
            ),
            "certificate",
        )["certificate"]
        # Pad every upload to about the size of a full one (20 keys) so its size tells nothing.
        padding = _b64(self.rng(16 + 40 * max(0, 20 - len(keys))))
        published = _check(
            http.request(
                "POST",
                f"{self.api}/proximity/publish",
                json_body={
                    "temporaryExposureKeys": keys,
                    "hmacKey": _b64(hmac_key),
                    "verificationPayload": certificate,
                    "padding": padding,
                },
            ),
            "publish",
        )
        return int(published.get("insertedExposures", 0))

    def send_chaff(self) -> int:
        """A decoy publish request (the server answers like a real one and stores nothing)."""
        response = self._http().request(
            "POST",
            f"{self.api}/proximity/publish",
            json_body={
                "temporaryExposureKeys": [],
                "hmacKey": _b64(self.rng(32)),
                "verificationPayload": "",
                "padding": _b64(self.rng(16 + 40 * 20)),
                "chaff": True,
            },
            headers={"X-Chaff": "1"},
        )
        return response.status


def _usable(key: ExportKey, oldest_interval: int) -> bool:
    """A published key worth matching: well-formed and not older than the retention period."""
    try:
        gaen.TemporaryExposureKey(
            key=key.key_data,
            rolling_start_interval_number=key.rolling_start_interval_number,
            rolling_period=key.rolling_period,
            transmission_risk_level=max(0, min(key.transmission_risk_level, 8)),
            report_type=key.report_type,
            days_since_onset=key.days_since_onset_of_symptoms,
        )
    except gaen.GaenError:
        return False
    return key.rolling_start_interval_number + key.rolling_period > oldest_interval
