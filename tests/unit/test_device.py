"""The device library against an in-process stand-in for the key server's HTTP API.

The stand-in serves real signed exports (``exportfile.build_export``) and records every request,
so the tests can check what a phone sends and what it refuses. The server itself (database,
verification codes, batching) is tested in tests/integration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import random
import zipfile
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from phongdich.proximity import gaen, matching, risk
from phongdich.proximity.device import (
    ConsentRequired,
    Device,
    DeviceError,
    HttpResponse,
    hmac_cleartext,
)
from phongdich.proximity.device_store import DeviceStore
from phongdich.proximity.exportfile import ExportKey, build_export

START = datetime(2021, 7, 20, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Rng:
    """Deterministic bytes for keys (tests only; phones use secrets.token_bytes)."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def __call__(self, n: int) -> bytes:
        return self.random.randbytes(n)


class FakeKeyServer:
    """Serves index.txt, signed exports and export keys; records what phones send."""

    def __init__(self) -> None:
        self.signing_key = ec.generate_private_key(ec.SECP256R1())
        self.exports: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.published: list[dict[str, Any]] = []
        self.shared: list[dict[str, Any]] = []
        self.token_hmac: str | None = None

    def publish_export(self, name: str, keys: list[ExportKey], batch: int = 1) -> None:
        self.exports[name] = build_export(
            keys,
            start_timestamp=int(START.timestamp()),
            end_timestamp=int(START.timestamp()) + 3600,
            region="VN",
            batch_num=batch,
            batch_size=1,
            signing_key=self.signing_key,
            key_id="vn-test",
            key_version="v1",
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        self.requests.append((method, path, json_body))
        prefix = "/api/v1/proximity/"
        assert path.startswith(prefix), path
        route = path[len(prefix) :]
        if method == "GET" and route == "exports/index.txt":
            return HttpResponse(200, "\n".join(self.exports).encode())
        if method == "GET" and route.startswith("exports/"):
            name = route.removeprefix("exports/")  # index lines may carry a folder
            found = [data for line, data in self.exports.items() if line.split("/")[-1] == name]
            return HttpResponse(200, found[0]) if found else _json(404, {})
        if method == "GET" and route == "export-keys":
            pem = (
                self.signing_key.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode()
            )
            return _json(
                200, {"keys": [{"key_id": "vn-test", "key_version": "v1", "public_key_pem": pem}]}
            )
        if route == "verify":
            if json_body["code"] != "12345678":
                return _json(400, {"detail": "bad code"})
            return _json(
                200, {"token": "tok", "test_type": "confirmed", "symptom_date": "2021-07-19"}
            )
        if route == "certificate":
            assert json_body["token"] == "tok"
            self.token_hmac = json_body["ekeyhmac"]
            return _json(200, {"certificate": "cert-for-" + json_body["ekeyhmac"]})
        if route == "publish":
            body = json_body
            if body.get("chaff"):
                return _json(200, {"insertedExposures": 0})
            # the server's check: the HMAC of exactly these keys is the one certified
            cleartext = hmac_cleartext(body["temporaryExposureKeys"])
            digest = hmac.new(base64.b64decode(body["hmacKey"]), cleartext.encode(), hashlib.sha256)
            expected = "cert-for-" + base64.b64encode(digest.digest()).decode()
            if body["verificationPayload"] != expected:
                return _json(400, {"detail": "hmac mismatch"})
            self.published.extend(body["temporaryExposureKeys"])
            return _json(200, {"insertedExposures": len(body["temporaryExposureKeys"])})
        if route == "shared-exposures":
            assert json_body["consent"] is True
            self.shared.extend(json_body["exposures"])
            return _json(201, {"shared": len(json_body["exposures"]), "already_shared": 0})
        return _json(404, {})


def _json(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, json.dumps(body).encode())


def export_keys(keys: list[dict[str, Any]], report_type: int = 1) -> list[ExportKey]:
    return [
        ExportKey(
            key_data=base64.b64decode(k["key"]),
            transmission_risk_level=k["transmissionRisk"],
            rolling_start_interval_number=k["rollingStartNumber"],
            rolling_period=k["rollingPeriod"],
            report_type=report_type,
            days_since_onset_of_symptoms=1,
        )
        for k in keys
    ]


def meet(a: Device, b: Device, start: datetime, minutes: int, rssi: int) -> None:
    """``b`` hears ``a`` once a minute for ``minutes`` minutes."""
    heard = []
    for minute in range(minutes):
        at = start + timedelta(minutes=minute)
        rpi, aem = a.advertisement(at)
        heard.append((rpi, aem, rssi, at))
    b.record_sightings(heard)


def noise(b: Device, rng: random.Random, count: int, day: datetime) -> None:
    b.record_sightings(
        (rng.randbytes(16), rng.randbytes(4), -70, day + timedelta(seconds=rng.randrange(86400)))
        for _ in range(count)
    )


@pytest.fixture
def server() -> FakeKeyServer:
    return FakeKeyServer()


def phone(server: FakeKeyServer, clock: Clock, seed: int, **kwargs: Any) -> Device:
    return Device(transport=server, clock=clock, rng=Rng(seed), **kwargs)


# ---------------------------------------------------------------- key schedule


def test_one_key_a_day_rpi_every_interval_aem_with_own_tx_power() -> None:
    clock = Clock(START)
    device = Device(clock=clock, rng=Rng(1), tx_power=-12, calibration_confidence=2)
    key = device.key_for()
    assert key.rolling_start % 144 == 0
    assert gaen.interval_start(key.rolling_start) == datetime(2021, 7, 20, tzinfo=UTC)
    assert device.key_for(START + timedelta(hours=15)) == key  # same UTC day, same key
    tomorrow = device.key_for(START + timedelta(days=1))
    assert tomorrow.key != key.key
    assert tomorrow.rolling_start == key.rolling_start + 144

    rpi1, aem1 = device.advertisement(START)
    rpi2, _ = device.advertisement(START + timedelta(minutes=9, seconds=59))
    rpi3, _ = device.advertisement(START + timedelta(minutes=10))
    assert rpi1 == rpi2 != rpi3
    interval = gaen.en_interval_number(START)
    assert rpi1 == gaen.rpi(gaen.rpik(key.key), interval)
    meta = gaen.decrypt_metadata(gaen.aemk(key.key), rpi1, aem1)
    assert gaen.parse_metadata(meta) == (1, 0, -12)
    assert (meta[0] >> 2) & 3 == 2
    assert gaen.parse_ad_structure(device.advertising_data(START)) == (rpi1, aem1)


def test_sightings_are_validated_and_kept_14_days(tmp_path: Path) -> None:
    clock = Clock(START)
    path = str(tmp_path / "phone.db")
    device = Device(DeviceStore(path), clock=clock)
    with pytest.raises(ValueError, match="16-byte RPI"):
        device.record_sighting(b"short", bytes(4), -60, START)
    with pytest.raises(ValueError, match="RSSI"):
        device.record_sighting(bytes(16), bytes(4), 40, START)
    with pytest.raises(ValueError, match="aware"):
        device.record_sighting(bytes(16), bytes(4), -60, START.replace(tzinfo=None))
    device.record_sighting(bytes(16), bytes(4), -60, START - timedelta(days=15))
    device.record_sighting(bytes(range(16)), bytes(4), -60, START - timedelta(days=13))
    device.key_for(START - timedelta(days=16))
    device.key_for(START)
    device.store.close()

    reopened = Device(DeviceStore(path), clock=clock)  # the file keeps everything
    assert reopened.store.count_sightings() == 2
    assert reopened.purge() == 2  # the 15-day-old sighting and the 16-day-old key
    assert [s.rpi for s in reopened.store.sightings()] == [bytes(range(16))]
    assert len(reopened.store.own_keys()) == 1


# ---------------------------------------------------------------- checking exposures


def test_two_phones_close_for_20_minutes_give_an_explained_high_risk(
    server: FakeKeyServer,
) -> None:
    clock = Clock(START)
    alice, bob = phone(server, clock, 1), phone(server, clock, 2)
    meet(alice, bob, START, minutes=20, rssi=-60)  # tx -10 -> attenuation 50 dB
    noise(bob, random.Random(5), 500, START - timedelta(days=1))
    # Alice's keys are published (the verification flow is tested below)
    alice_keys = [
        {"key": base64.b64encode(k.key).decode(), "rollingStartNumber": k.rolling_start,
         "rollingPeriod": k.rolling_period, "transmissionRisk": 7}
        for k in alice.store.own_keys()
    ]  # fmt: skip
    other = [ExportKey(bytes([i]) * 16, 7, alice.key_for().rolling_start) for i in range(1, 50)]
    server.publish_export("exports/1.zip", export_keys(alice_keys) + other)

    clock.now = START + timedelta(days=1)
    check = bob.check_exposures()
    assert check.exports_processed == ("exports/1.zip",)
    assert check.exports_rejected == ()
    assert check.keys_checked == 50
    assert check.keys_matched == 1
    assert check.result.level == "high"
    # 20 scans one minute apart; dsos 1 -> HIGH infectiousness, confirmed test: TR 8
    (day,) = check.result.days
    assert day.date == date(2021, 7, 20)
    assert day.minutes_below_threshold == pytest.approx(21.0)  # first scan counts 2 minutes
    assert day.normalized_time == pytest.approx(8 * 0.2 * 21)
    assert day.min_attenuation_db == 50
    note = check.notification
    assert note.level == "high"
    assert note.title_vi == "Bluezone: cảnh báo nguy cơ phơi nhiễm CAO"
    assert "Ngày 20/07/2021" in note.body_vi
    assert "nguy cơ CAO" in note.body_vi
    assert "On 20/07/2021" in note.body_en
    assert "HIGH risk" in note.body_en
    assert "HIGH exposure risk" in note.text("en")

    # The export is remembered: nothing is downloaded again, the risk stays.
    downloads = sum(1 for m, p, _ in server.requests if p.endswith(".zip"))
    again = bob.check_exposures()
    assert again.exports_processed == ()
    assert again.result.level == "high"
    assert sum(1 for m, p, _ in server.requests if p.endswith(".zip")) == downloads


def test_short_or_distant_encounters_stay_below_high(server: FakeKeyServer) -> None:
    clock = Clock(START)
    alice, bob, carol = phone(server, clock, 1), phone(server, clock, 2), phone(server, clock, 3)
    meet(alice, bob, START, minutes=8, rssi=-55)  # close but short
    meet(alice, carol, START, minutes=20, rssi=-70)  # longer but 60 dB: weight 0.5
    keys = [ExportKey(k.key, 7, k.rolling_start, report_type=1) for k in alice.store.own_keys()]
    server.publish_export("a.zip", keys)
    clock.now = START + timedelta(hours=6)
    short = bob.check_exposures()
    assert short.keys_matched == 1
    assert short.result.level == "none"
    assert "ít hơn 10 phút" in short.notification.body_vi
    distant = carol.check_exposures()
    # 21 min x 0.5 = 10.5 weighted; STANDARD infectiousness (no onset) + confirmed = 7
    assert distant.result.level == "low"
    assert distant.result.days[0].normalized_time == pytest.approx(7 * 0.2 * 10.5)


def test_a_tampered_export_is_rejected_and_its_keys_never_used(server: FakeKeyServer) -> None:
    clock = Clock(START)
    alice, bob = phone(server, clock, 1), phone(server, clock, 2)
    meet(alice, bob, START, minutes=30, rssi=-55)
    keys = [ExportKey(k.key, 7, k.rolling_start) for k in alice.store.own_keys()]
    server.publish_export(
        "good.zip", [ExportKey(bytes(16), 7, keys[0].rolling_start_interval_number)]
    )
    server.publish_export("evil.zip", keys)
    # tamper: flip one bit of Alice's key inside export.bin and keep the original signature
    original = zipfile.ZipFile(io.BytesIO(server.exports["evil.zip"]))
    export_bin = bytearray(original.read("export.bin"))
    position = export_bin.find(keys[0].key_data)
    assert position > 0
    export_bin[position] ^= 1
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as tampered:
        tampered.writestr("export.bin", bytes(export_bin))
        tampered.writestr("export.sig", original.read("export.sig"))
    server.exports["evil.zip"] = out.getvalue()
    server.exports["garbage.zip"] = b"not a zip at all"

    check = bob.check_exposures()
    assert check.exports_processed == ("good.zip",)
    assert {name for name, _ in check.exports_rejected} == {"evil.zip", "garbage.zip"}
    assert check.keys_matched == 0
    assert check.result.level == "none"
    assert "evil.zip" not in bob.store.processed_exports()  # retried next time
    assert bob.store.matched_keys() == []


def test_an_export_signed_by_an_unknown_key_is_rejected(server: FakeKeyServer) -> None:
    clock = Clock(START)
    alice, bob = phone(server, clock, 1), phone(server, clock, 2)
    meet(alice, bob, START, minutes=30, rssi=-55)
    keys = [ExportKey(k.key, 7, k.rolling_start) for k in alice.store.own_keys()]
    bob.public_keys()  # pins the real server's key
    server.signing_key = ec.generate_private_key(ec.SECP256R1())  # an impostor signs
    server.publish_export("impostor.zip", keys)
    check = bob.check_exposures()
    assert [name for name, _ in check.exports_rejected] == ["impostor.zip"]
    assert check.result.level == "none"


# ---------------------------------------------------------------- reporting and sharing


def test_report_positive_uploads_14_days_of_keys_bound_to_the_certificate(
    server: FakeKeyServer,
) -> None:
    clock = Clock(START - timedelta(days=20))
    alice = phone(server, clock, 1)
    for day in range(21):
        alice.key_for(START - timedelta(days=20 - day))
    clock.now = START
    with pytest.raises(DeviceError) as refused:
        alice.report_positive("00000000")
    assert refused.value.status == 400
    assert alice.report_positive("12345678") == 15  # today and the 14 days before
    starts = sorted(k["rollingStartNumber"] for k in server.published)
    assert starts[-1] == alice.key_for().rolling_start
    assert starts[0] == alice.key_for().rolling_start - 14 * 144
    # symptom onset 19/07: keys from 17/07 to 24/07 are HIGH infectiousness (8), others 7
    by_day = {gaen.interval_start(k["rollingStartNumber"]).date(): k for k in server.published}
    assert by_day[date(2021, 7, 20)]["transmissionRisk"] == 8
    assert by_day[date(2021, 7, 17)]["transmissionRisk"] == 8
    assert by_day[date(2021, 7, 16)]["transmissionRisk"] == 7
    publish = next(body for m, p, body in server.requests if p.endswith("/publish"))
    assert len(publish["padding"]) > 200
    assert alice.send_chaff() == 200
    assert server.requests[-1][2]["chaff"] is True
    assert server.requests[-1][2]["temporaryExposureKeys"] == []


def test_sharing_needs_consent_and_sends_only_own_matched_exposures(
    server: FakeKeyServer,
) -> None:
    clock = Clock(START)
    alice, bob, stranger = phone(server, clock, 1), phone(server, clock, 2), phone(server, clock, 3)
    meet(alice, bob, START, minutes=25, rssi=-58)
    meet(stranger, bob, START, minutes=25, rssi=-58)  # met, but never tested positive
    keys = [ExportKey(k.key, 7, k.rolling_start) for k in alice.store.own_keys()]
    server.publish_export("1.zip", keys)
    clock.now = START + timedelta(hours=5)
    assert bob.check_exposures().result.level == "high"

    before = len(server.requests)
    with pytest.raises(ConsentRequired):
        bob.share_exposures()
    with pytest.raises(ConsentRequired):
        bob.share_exposures(consent="yes")  # type: ignore[arg-type]
    assert len(server.requests) == before  # nothing left the phone

    assert bob.share_exposures(consent=True) == 1
    (shared,) = server.shared
    assert shared["key"] == base64.b64encode(keys[0].key_data).decode()
    assert shared["date"] == "2021-07-20"
    assert shared["risk"] == "high"
    assert shared["minutes"] == 26
    assert shared["weighted_minutes"] == 26  # all of it below 55 dB: weight 1
    assert shared["min_attenuation"] == 48
    sent = json.dumps(server.requests[-1][2])
    for sighting in bob.store.sightings():  # no RPI the phone heard is in the body
        assert base64.b64encode(sighting.rpi).decode() not in sent
    stranger_key = base64.b64encode(stranger.key_for().key).decode()
    assert stranger_key not in sent


def test_no_transport_means_no_network() -> None:
    device = Device(clock=Clock(START))
    with pytest.raises(DeviceError, match="no transport"):
        device.check_exposures()
    # and with nothing matched the local assessment is "none"
    assert device.assess().level == "none"
    assert device.notification().title_en == "Bluezone: no exposure risk"


def test_device_matching_uses_the_risk_config(server: FakeKeyServer) -> None:
    clock = Clock(START)
    alice = phone(server, clock, 1)
    strict = phone(server, clock, 2, risk_config=risk.RiskConfig(min_close_minutes=30))
    meet(alice, strict, START, minutes=20, rssi=-60)
    server.publish_export(
        "1.zip", [ExportKey(k.key, 7, k.rolling_start) for k in alice.store.own_keys()]
    )
    assert strict.check_exposures().result.level == "none"
    # the same sightings, matched directly, do exist
    observations = [
        matching.Observation(s.rpi, s.aem, s.at, s.rssi) for s in strict.store.sightings()
    ]
    assert len(observations) == 20


def test_default_urllib_transport_against_a_local_http_server(server: FakeKeyServer) -> None:
    """The default transport over real HTTP (a local stdlib server in front of the stand-in)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from phongdich.proximity.device import UrllibTransport

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            response = server.request(method, self.path, json_body=body)
            self.send_response(response.status)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        clock = Clock(START)
        alice = phone(server, clock, 1)
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        bob = Device(transport=UrllibTransport(base), clock=clock, rng=Rng(2))
        meet(alice, bob, START, minutes=20, rssi=-60)
        keys = [ExportKey(k.key, 7, k.rolling_start) for k in alice.store.own_keys()]
        server.publish_export("1626768000-1626771600-00001.zip", keys)
        check = bob.check_exposures()
        assert check.exports_processed == ("1626768000-1626771600-00001.zip",)
        assert check.result.level == "high"  # 21 min at 50 dB, TR 7 (no onset): 7 x 0.2 x 21
        assert check.result.days[0].normalized_time == pytest.approx(29.4)
    finally:
        httpd.shutdown()
        httpd.server_close()
    with pytest.raises(ValueError, match="http"):
        UrllibTransport("ftp://example.org")
    with pytest.raises(DeviceError, match="unreachable"):
        UrllibTransport(base, timeout=2).request("GET", "/api/v1/proximity/exports/index.txt")
