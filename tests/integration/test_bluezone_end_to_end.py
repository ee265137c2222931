"""Bluezone end to end, on both databases: two phones, one positive test, one explained warning.

1. Yesterday (UTC) two phones spend 20 minutes 1–1.5 m apart (across a café table): phone B
   scans every ~100 s and hears 10 of phone A's advertisements a scan, with an RSSI for that
   distance (the log-distance model of ``phongdich.proximity.radio``: 55 dB attenuation at 1 m,
   path-loss exponent 2, 0–2 dB table loss, 4 dB fading per advertisement). Note: under the
   German thresholds, 20 minutes at 1–2 m is borderline — in 200 random draws of this model
   about 84 % of such encounters scored ≥ 15, at 1–1.5 m 99 %; the seed here is fixed.
2. A's owner tests positive (symptoms began that morning); a health official enters the case
   and issues a verification code through the API.
3. Phone A uploads its keys: code → token → certificate (HMAC of the keys) → publish. Today's key
   is still valid and stays under embargo; time is moved past it when the export job runs.
4. Phone B downloads index.txt and the exports, verifies the signatures, matches, and ends with
   an explained HIGH-risk warning (Vietnamese first, English second).
5. B's owner, signed in, shares the exposure with explicit consent; the case now lists B's
   person as a Bluetooth contact. Without consent nothing is sent.
"""

from __future__ import annotations

import base64
import json
import math
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from phongdich.kit.clock import VN, utcnow
from phongdich.people.models import Person
from phongdich.people.service import PersonService
from phongdich.proximity import tasks
from phongdich.proximity.device import (
    ClientTransport,
    ConsentRequired,
    Device,
    HttpResponse,
)
from phongdich.tracing.models import Contact
from tests.conftest import Env, World, login_official, login_phone

TX_POWER = -5  # both phones advertise the radio model's reference TX power


class Recording:
    """A transport that keeps every request a phone made (to check what left the phone)."""

    def __init__(self, inner: ClientTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str, Any]] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        self.sent.append((method, path, json_body))
        return self.inner.request(method, path, json_body=json_body, headers=headers)


def rssi_at(rng: random.Random, distance_m: float) -> int:
    """RSSI phone B measures from A at ``distance_m`` (calibrated phones, on a table).

    attenuation = 55 + 20·log10(d) + table loss − fading, so RSSI = TX_POWER − attenuation.
    """
    attenuation = 55 + 20 * math.log10(distance_m) + rng.uniform(0, 2) + rng.gauss(0, 4)
    return round(TX_POWER - attenuation)


def meet_for_20_minutes(a: Device, b: Device, start: datetime, seed: int) -> int:
    """B scans every 90-110 s; each scan hears 10 of A's advertisements. Returns sightings."""
    rng = random.Random(seed)
    heard = []
    at = start
    while at < start + timedelta(minutes=20):
        distance = rng.uniform(1.0, 1.5)
        for advert in range(10):
            moment = at + timedelta(seconds=2 * advert)
            rpi, aem = a.advertisement(moment)
            heard.append((rpi, aem, rssi_at(rng, distance), moment))
        at += timedelta(seconds=rng.randrange(90, 111))
    b.record_sightings(heard)
    return len(heard)


def test_two_phones_one_positive_test_one_explained_warning(
    env: Env, world: World, make_client: Any
) -> None:
    now = utcnow()
    day = (now - timedelta(days=1)).date()
    contact_start = datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội

    # Two phones, each with its own HTTP client to the server; B's owner signs in (citizen).
    phone_a_http, phone_b_http = make_client(), make_client()
    account_b = login_phone(phone_b_http, env, "0912345678", "Trần Thị Bình")
    a = Device(transport=ClientTransport(phone_a_http), tx_power=TX_POWER, clock=utcnow)
    b_transport = Recording(ClientTransport(phone_b_http))
    b = Device(transport=b_transport, tx_power=TX_POWER, clock=utcnow)

    # 1. Twenty minutes together yesterday, plus other phones B passed that day.
    sightings = meet_for_20_minutes(a, b, contact_start, seed=6)
    assert sightings >= 120
    stranger = Device(tx_power=-7)
    meet_for_20_minutes(stranger, b, contact_start + timedelta(hours=5), seed=7)
    noise = random.Random(8)
    b.record_sightings(
        (noise.randbytes(16), noise.randbytes(4), -80, contact_start + timedelta(minutes=m))
        for m in range(0, 600, 3)
    )

    # 2. A's owner tests positive; the official enters the case and issues a code.
    with env.session() as s:
        person_a = PersonService(s, env.settings).register("Nguyễn Văn An", None)
        person_a.unit_code = "00004"
        s.commit()
        person_a_id = person_a.id
    tracer = make_client()
    login_official(tracer, "hanoi")
    onset = contact_start - timedelta(hours=1)
    case = tracer.post(
        "/api/v1/tracing/cases",
        json={
            "person_id": person_a_id,
            "test_at": (now - timedelta(minutes=30)).isoformat(),
            "onset_at": onset.isoformat(),
            "unit_code": "00004",
        },
    )
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]
    issued = tracer.post(f"/api/v1/tracing/cases/{case_id}/verification-codes", json={})
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"]
    assert len(code) == 8

    # 3. Phone A uploads yesterday's and today's keys through the verification flow.
    assert a.report_positive(code) == 2
    # The code is single-use.
    again = phone_a_http.post("/api/v1/proximity/verify", json={"code": code})
    assert again.status_code >= 400

    # Nothing is exported before its time; then the batch job runs "tomorrow", past the
    # embargo of today's key (expiry + 2 h).
    made = tasks.export_job(env.factory, env.settings, now=now + timedelta(days=1, hours=3))
    assert made["proximity_keys_exported"] == 2
    index = phone_b_http.get("/api/v1/proximity/exports/index.txt")
    assert index.status_code == 200
    assert len(index.text.split()) >= 1

    # 4. Phone B checks: downloads, verifies, matches, scores, explains.
    check = b.check_exposures()
    assert check.exports_rejected == ()
    assert len(check.exports_processed) == len(index.text.split())
    assert check.keys_checked == 2
    assert check.keys_matched == 1  # A's key of yesterday; the stranger never tested positive
    result = check.result
    assert result.level == "high"
    (exposure_day,) = result.days
    assert exposure_day.date == day
    assert exposure_day.high is True
    assert 18 <= exposure_day.minutes_below_threshold <= 24
    assert exposure_day.normalized_time >= 15
    shown = day.strftime("%d/%m/%Y")
    note = check.notification
    assert note.level == "high"
    assert note.title_vi == "Bluezone: cảnh báo nguy cơ phơi nhiễm CAO"
    assert f"Ngày {shown}" in note.body_vi
    assert "nguy cơ CAO" in note.body_vi
    assert f"On {shown}" in note.body_en
    assert "HIGH risk" in note.body_en
    # A second check downloads nothing new and keeps the warning.
    assert b.check_exposures().exports_processed == ()

    # 5. Sharing needs consent; with it, only B's own matched exposure leaves the phone.
    sent_before = len(b_transport.sent)
    with pytest.raises(ConsentRequired):
        b.share_exposures(consent=False)
    assert len(b_transport.sent) == sent_before
    refused = phone_b_http.post(
        "/api/v1/proximity/shared-exposures",
        json={
            "exposures": [e.as_json() for e in b.matched_exposures()],
            "consent": False,
        },
    )
    assert refused.status_code in (400, 422)
    with env.session() as s:
        assert s.scalars(select(Contact).where(Contact.source == "bluetooth")).all() == []

    assert b.share_exposures(consent=True) == 1
    method, path, body = b_transport.sent[-1]
    assert (method, path) == ("POST", "/api/v1/proximity/shared-exposures")
    assert body["consent"] is True
    (shared,) = body["exposures"]
    assert shared["risk"] == "high"
    assert shared["date"] == day.isoformat()
    a_key = a.key_for(contact_start).key
    assert base64.b64decode(shared["key"]) == a_key
    text = json.dumps(body)
    for heard in b.store.sightings():
        assert base64.b64encode(heard.rpi).decode() not in text
    assert base64.b64encode(stranger.key_for(contact_start).key).decode() not in text

    # The contact appears for the case, from Bluetooth, with B's own figures as evidence.
    with env.session() as s:
        person_b = PersonService(s, env.settings).for_account(account_b)
        s.commit()
        contacts = s.scalars(select(Contact).where(Contact.case_id == case_id)).all()
        bluetooth = [c for c in contacts if c.source == "bluetooth"]
        assert [c.person_id for c in bluetooth] == [person_b.id]
        assert s.get(Person, person_b.id) is not None
    listed = tracer.get(f"/api/v1/tracing/cases/{case_id}/contacts")
    assert listed.status_code == 200
    (entry,) = [c for c in listed.json() if c["source"] == "bluetooth"]
    assert entry["level"] == 1
    evidence = entry["evidence"][0]
    assert evidence["bluetooth_risk"] == "high"
    assert evidence["date"] == day.isoformat()
    assert datetime.fromisoformat(entry["last_exposure"]).astimezone(VN).date() >= day
