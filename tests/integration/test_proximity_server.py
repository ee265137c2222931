"""The Bluezone key server through the HTTP API, on SQLite and PostgreSQL: an official's code,
verify → certificate → publish, export batches with index.txt and signed zips, every refused
input (with nothing stored), the embargo, chaff, retention, and the tracing link (a citizen's
shared exposure becomes a Bluetooth contact of the case).

The HMAC and the expected figures are computed here from the specification text
(``/work/shared/reference/proximity.md``), not with the server's own helpers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select, update

from phongdich.accounts.models import AuditEvent
from phongdich.kit.clock import VN, utcnow
from phongdich.people.service import PersonService
from phongdich.proximity import exportfile, gaen, keyserver
from phongdich.proximity.models import (
    ExportBatch,
    ExportFile,
    PublishedKey,
    VerificationCode,
    VerificationToken,
)
from phongdich.proximity.schemas import PublishIn
from phongdich.proximity.service import ProximityService
from phongdich.proximity.tasks import export_job, purge_job
from phongdich.tracing.models import Contact, ContactReport
from tests.conftest import Env, World, login_official, login_phone
from tests.integration.test_tracing_api import open_case, person
from tests.support.http import Client

API = "/api/v1/proximity"


# ---- helpers -------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def day0() -> int:
    """ENIntervalNumber of today's 00:00 UTC."""
    return int(utcnow().timestamp()) // 600 // 144 * 144


def tek(start: int, period: int = 144, risk: int = 6, length: int = 16) -> dict[str, Any]:
    return {
        "key": b64(os.urandom(length)),
        "rollingStartNumber": start,
        "rollingPeriod": period,
        "transmissionRisk": risk,
    }


def ekeyhmac(keys: list[dict[str, Any]], hmac_key: bytes) -> str:
    """The reference cleartext: base64(key).start.period.risk, sorted, joined with commas."""
    clear = ",".join(
        sorted(
            f"{k['key']}.{k['rollingStartNumber']}.{k['rollingPeriod']}.{k['transmissionRisk']}"
            for k in keys
        )
    )
    return b64(hmac.new(hmac_key, clear.encode(), hashlib.sha256).digest())


def counts(env: Env) -> dict[str, int]:
    with env.session() as s:
        return {
            model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
            for model in (
                PublishedKey,
                VerificationCode,
                VerificationToken,
                ExportBatch,
                ExportFile,
                ContactReport,
                Contact,
            )
        }


@dataclass
class Bz:
    env: Env
    tracer: Client
    device: Client
    case_id: int
    f0: int

    def code(self, report_type: int | None = None) -> str:
        body = {"report_type": report_type} if report_type else None
        r = self.tracer.post(f"/api/v1/tracing/cases/{self.case_id}/verification-codes", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["code"])

    def token(self) -> str:
        r = self.device.post(f"{API}/verify", json={"code": self.code()})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def certify(self, keys: list[dict[str, Any]], hmac_key: bytes) -> str:
        r = self.device.post(
            f"{API}/certificate",
            json={"token": self.token(), "ekeyhmac": ekeyhmac(keys, hmac_key)},
        )
        assert r.status_code == 200, r.text
        return str(r.json()["certificate"])

    def publish(
        self,
        keys: list[dict[str, Any]],
        hmac_key: bytes,
        certificate: str | None = None,
        **extra: Any,
    ) -> Any:
        cert = certificate if certificate is not None else self.certify(keys, hmac_key)
        body = {
            "temporaryExposureKeys": keys,
            "hmacKey": b64(hmac_key),
            "verificationPayload": cert,
            "padding": b64(os.urandom(300)),
            **extra,
        }
        return self.device.post(f"{API}/publish", json=body)


@pytest.fixture
def bz(env: Env, world: World, make_client: Any) -> Bz:
    tracer = make_client()
    login_official(tracer, "hanoi")
    f0 = person(env, "Nguyễn Văn Ca")
    r = open_case(tracer, f0)
    assert r.status_code == 201, r.text
    return Bz(env, tracer, make_client(), r.json()["id"], f0)


def export_public_keys(device: Client) -> dict[str, ec.EllipticCurvePublicKey]:
    r = device.get(f"{API}/export-keys")
    assert r.status_code == 200, r.text
    out = {}
    for item in r.json()["keys"]:
        key = serialization.load_pem_public_key(item["public_key_pem"].encode())
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert isinstance(key.curve, ec.SECP256R1)
        out[item["key_id"]] = key
    return out


def index(device: Client) -> list[str]:
    r = device.get(f"{API}/exports/index.txt")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return [line for line in r.text.splitlines() if line]


def read_zip(device: Client, name: str) -> exportfile.ExportFile:
    r = device.get(f"{API}/exports/{name}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    return exportfile.read_export(r.content, export_public_keys(device))


# ---- the full flow ---------------------------------------------------------------------------


def test_code_verify_certificate_publish_export(bz: Bz) -> None:
    d0 = day0()
    keys = [tek(d0 - 144 * i, risk=i % 9) for i in range(1, 6)] + [tek(d0 - 144 * 6, 100)]
    hmac_key = os.urandom(16)

    # The official's code: 8 digits, 1 h, report type 1; audited.
    r = bz.tracer.post(f"/api/v1/tracing/cases/{bz.case_id}/verification-codes")
    assert r.status_code == 201, r.text
    issued = r.json()
    assert len(issued["code"]) == 8
    assert issued["code"].isdigit()
    assert issued["report_type"] == 1
    expires = datetime.fromisoformat(issued["expires_at"])
    assert timedelta(minutes=59) < expires - utcnow() <= timedelta(hours=1)
    with bz.env.session() as s:
        row = s.scalars(select(VerificationCode)).one()
        assert issued["code"] not in row.code_hash  # only a keyed hash is stored
        assert len(row.code_hash) == 64
        audit = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "issue_verification_code")
        ).one()
        assert audit.object_id == str(bz.case_id)

    # The phone: verify (24 h token), certificate (ES256 JWT bound to the keys' HMAC).
    r = bz.device.post(f"{API}/verify", json={"code": issued["code"]})
    assert r.status_code == 200, r.text
    verified = r.json()
    assert verified["test_type"] == "confirmed"
    assert verified["symptom_date"] is None  # the case has no symptom onset
    assert timedelta(hours=23) < datetime.fromisoformat(verified["expires_at"]) - utcnow()
    r = bz.device.post(
        f"{API}/certificate",
        json={"token": verified["token"], "ekeyhmac": ekeyhmac(keys, hmac_key)},
    )
    assert r.status_code == 200, r.text
    cert = r.json()["certificate"]
    header, claims, _sig = cert.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "=="))["alg"] == "ES256"
    claim_set = json.loads(base64.urlsafe_b64decode(claims + "=="))
    assert claim_set["tekhmac"] == ekeyhmac(keys, hmac_key)
    assert claim_set["reportType"] == "confirmed"

    r = bz.publish(keys, hmac_key, cert)
    assert r.status_code == 200, r.text
    assert r.json() == {"insertedExposures": 6}
    assert counts(bz.env)["proximity_published_keys"] == 6

    # Nothing is exported before its period has ended.
    assert export_job(bz.env.factory, bz.env.settings) == {}
    assert index(bz.device) == []

    made = export_job(bz.env.factory, bz.env.settings, utcnow() + timedelta(minutes=20))
    assert made["proximity_keys_exported"] == 6
    names = index(bz.device)
    assert len(names) == 1
    export = read_zip(bz.device, names[0])
    assert export.region == "VN"
    assert (export.batch_num, export.batch_size) == (1, 1)
    assert export.end_timestamp - export.start_timestamp == 15 * 60
    by_key = {k.key_data: k for k in export.keys}
    assert set(by_key) == {base64.b64decode(k["key"]) for k in keys}
    test_day = (utcnow() - timedelta(days=1)).date()  # open_case: yesterday 20:00 Vietnam time
    with bz.env.session() as s:
        test_date = s.scalars(select(VerificationCode.test_date)).first()
    assert test_date is not None
    assert abs((test_date - test_day).days) <= 1
    for sent in keys:
        got = by_key[base64.b64decode(sent["key"])]
        assert got.rolling_start_interval_number == sent["rollingStartNumber"]
        assert got.rolling_period == sent["rollingPeriod"]
        assert got.transmission_risk_level == sent["transmissionRisk"]
        assert got.report_type == 1  # from the certificate
        key_day = date(1970, 1, 1) + timedelta(days=sent["rollingStartNumber"] // 144)
        assert got.days_since_onset_of_symptoms == (key_day - test_date).days
    # A second run makes nothing new; the index keeps listing the file.
    assert export_job(bz.env.factory, bz.env.settings, utcnow() + timedelta(minutes=20)) == {}
    assert index(bz.device) == names
    with bz.env.session() as s:
        assert s.scalar(select(func.count()).where(PublishedKey.batch_id.is_(None))) == 0


def test_export_files_are_split_and_listed_oldest_first(bz: Bz) -> None:
    d0 = day0()
    first = [tek(d0 - 144 * i) for i in (1, 2, 3)]
    assert bz.publish(first, os.urandom(16)).status_code == 200
    with bz.env.session() as s:
        ProximityService(s, bz.env.settings).make_due_batches(
            utcnow() + timedelta(minutes=20), max_keys_per_file=2
        )
        s.commit()
    second = [tek(d0 - 144 * i) for i in (4, 5)]
    assert bz.publish(second, os.urandom(16)).status_code == 200
    with bz.env.session() as s:
        # The keys published after the first export go into the next period that ends.
        made = ProximityService(s, bz.env.settings).make_due_batches(
            utcnow() + timedelta(minutes=40), max_keys_per_file=2
        )
        s.commit()
    assert sum(b.key_count for b in made) == 2
    names = index(bz.device)
    assert len(names) == 3
    exports = [read_zip(bz.device, n) for n in names]
    assert [(e.batch_num, e.batch_size) for e in exports] == [(1, 2), (2, 2), (1, 1)]
    assert [len(e.keys) for e in exports] == [2, 1, 2]
    starts = [e.start_timestamp for e in exports]
    assert starts == sorted(starts)
    assert starts[2] > starts[0]
    assert {k.key_data for e in exports[:2] for k in e.keys} == {
        base64.b64decode(k["key"]) for k in first
    }
    # Names are checked before any database look-up.
    assert bz.device.get(f"{API}/exports/..%2Fsecret.zip").status_code == 404
    assert bz.device.get(f"{API}/exports/1-2-00001.zip").status_code == 404


def test_still_valid_key_is_embargoed_until_expiry_plus_two_hours(bz: Bz) -> None:
    d0 = day0()
    today = tek(d0)  # valid until tomorrow 00:00 UTC
    older = tek(d0 - 144)
    assert bz.publish([today, older], os.urandom(16)).json() == {"insertedExposures": 2}
    export_job(bz.env.factory, bz.env.settings, utcnow() + timedelta(minutes=20))
    exported = {k.key_data for n in index(bz.device) for k in read_zip(bz.device, n).keys}
    assert exported == {base64.b64decode(older["key"])}

    release = gaen.interval_start(d0 + 144) + timedelta(hours=2)
    with bz.env.session() as s:
        visible = s.scalars(
            select(PublishedKey.visible_after).where(
                PublishedKey.key_data == base64.b64decode(today["key"])
            )
        ).one()
    assert visible == release
    # Just before the release the key is still held back…
    export_job(bz.env.factory, bz.env.settings, release + timedelta(minutes=1))
    exported = {k.key_data for n in index(bz.device) for k in read_zip(bz.device, n).keys}
    assert base64.b64decode(today["key"]) not in exported
    # …and it is in the first period after it.
    export_job(bz.env.factory, bz.env.settings, release + timedelta(minutes=20))
    names = index(bz.device)
    last = read_zip(bz.device, names[-1])
    assert [k.key_data for k in last.keys] == [base64.b64decode(today["key"])]
    assert last.start_timestamp >= int(release.timestamp())


# ---- refused inputs: clear errors, nothing stored ----------------------------------------------


def _refused(bz: Bz, response: Any, status: int, key: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"]
    from phongdich.kit.i18n import t

    assert body["message"] == t(key, "vi")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d0: [tek(d0 - 144 - i, 1) for i in range(21)], "error.bz_too_many_keys"),
        (lambda d0: [tek(d0 - 144, 0)], "error.bz_rolling_period"),
        (lambda d0: [tek(d0 - 144, 145)], "error.bz_rolling_period"),
        (lambda d0: [tek(d0 - 144, 10) for _ in range(4)], "error.bz_same_start"),
        (lambda d0: [tek(d0 - 144 * 16)], "error.bz_too_old"),
        (lambda d0: [tek(d0 + 144)], "error.bz_future"),
        (lambda d0: [tek(d0 - 144, length=15)], "error.bz_key_length"),
        (lambda d0: [tek(d0 - 144, risk=9)], "error.bz_transmission_risk"),
        (lambda d0: [tek(d0 - 144, risk=-1)], "error.bz_transmission_risk"),
        (lambda d0: [], "error.bz_no_keys"),
    ],
)
def test_publish_rules_refuse_the_whole_request(bz: Bz, make: Any, message: str) -> None:
    d0 = day0()
    good = tek(d0 - 144 * 2)
    keys = make(d0)
    if message != "error.bz_too_many_keys" and keys:
        keys = [*keys, good]  # a good key next to the bad one is not stored either
    hmac_key = os.urandom(16)
    cert = bz.certify(keys, hmac_key)
    before = counts(bz.env)
    _refused(bz, bz.publish(keys, hmac_key, cert), 422, message)
    assert counts(bz.env) == before
    with bz.env.session() as s:
        assert s.scalars(select(VerificationToken.published_at)).all() == [None]


def test_three_keys_with_one_start_are_accepted(bz: Bz) -> None:
    d0 = day0()
    keys = [tek(d0 - 144, 48), tek(d0 - 144, 48), tek(d0 - 144, 48)]
    assert bz.publish(keys, os.urandom(16)).json() == {"insertedExposures": 3}


def test_certificate_must_match_exactly_these_keys(bz: Bz) -> None:
    d0 = day0()
    keys = [tek(d0 - 144), tek(d0 - 288)]
    hmac_key = os.urandom(16)
    cert = bz.certify(keys, hmac_key)
    before = counts(bz.env)
    # One key left out, one key changed, a different risk, another HMAC key: all refused.
    for attempt, hk in (
        ([keys[0]], hmac_key),
        ([keys[0], tek(d0 - 288)], hmac_key),
        ([keys[0], {**keys[1], "transmissionRisk": 2}], hmac_key),
        (keys, os.urandom(16)),
    ):
        _refused(bz, bz.publish(attempt, hk, cert), 422, "error.bz_hmac_mismatch")
    assert counts(bz.env) == before
    # The genuine request still goes through with the same certificate, once.
    assert bz.publish(keys, hmac_key, cert).json() == {"insertedExposures": 2}
    after = counts(bz.env)
    _refused(bz, bz.publish(keys, hmac_key, cert), 409, "error.bz_certificate_used")
    assert counts(bz.env) == after


def test_forged_or_foreign_certificates_are_refused(bz: Bz) -> None:
    keys = [tek(day0() - 144)]
    hmac_key = os.urandom(16)
    cert = bz.certify(keys, hmac_key)
    head, claims, sig = cert.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[5] ^= 1
    tampered = f"{head}.{claims}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
    kid = json.loads(base64.urlsafe_b64decode(head + "=="))["kid"]
    claim_set = json.loads(base64.urlsafe_b64decode(claims + "=="))
    other = keyserver.jwt_encode(claim_set, ec.generate_private_key(ec.SECP256R1()), kid)
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"' + kid.encode() + b'"}')
    unsigned = f"{none_header.rstrip(b'=').decode()}.{claims}."
    before = counts(bz.env)
    for bad in (tampered, other, unsigned, "not-a-jwt", ""):
        _refused(bz, bz.publish(keys, hmac_key, bad), 422, "error.bz_certificate")
    assert counts(bz.env) == before
    _refused(
        bz,
        bz.publish(keys, b"short", cert),  # an HMAC key must be 16..128 bytes
        422,
        "error.bz_hmac_key",
    )
    r = bz.device.post(
        f"{API}/publish",
        json={
            "temporaryExposureKeys": [{**keys[0], "key": "***"}],
            "hmacKey": b64(hmac_key),
            "verificationPayload": cert,
        },
    )
    _refused(bz, r, 422, "error.bz_key_format")
    assert counts(bz.env) == before


def test_code_and_token_replay_and_expiry(bz: Bz) -> None:
    code = bz.code()
    r = bz.device.post(f"{API}/verify", json={"code": code})
    assert r.status_code == 200
    token = r.json()["token"]
    before = counts(bz.env)
    _refused(bz, bz.device.post(f"{API}/verify", json={"code": code}), 409, "error.bz_code_used")
    assert counts(bz.env) == before  # no second token

    hmac_b64 = ekeyhmac([tek(day0() - 144)], os.urandom(16))
    assert (
        bz.device.post(
            f"{API}/certificate", json={"token": token, "ekeyhmac": hmac_b64}
        ).status_code
        == 200
    )
    _refused(
        bz,
        bz.device.post(f"{API}/certificate", json={"token": token, "ekeyhmac": hmac_b64}),
        409,
        "error.bz_token_used",
    )
    _refused(
        bz,
        bz.device.post(f"{API}/certificate", json={"token": "nope", "ekeyhmac": hmac_b64}),
        404,
        "error.bz_token_unknown",
    )
    _refused(
        bz,
        bz.device.post(f"{API}/certificate", json={"token": bz.token(), "ekeyhmac": b64(b"short")}),
        422,
        "error.bz_ekeyhmac",
    )

    # A code issued 61 minutes ago, a token issued 25 hours ago.
    old_code = bz.code()
    old_token = bz.token()
    with bz.env.session() as s:
        past = utcnow() - timedelta(minutes=1)
        hashed = keyserver.secret_hash(bz.env.settings.secret_key, "code", old_code)
        s.execute(
            update(VerificationCode)
            .where(VerificationCode.code_hash == hashed)
            .values(expires_at=past)
        )
        hashed = keyserver.secret_hash(bz.env.settings.secret_key, "token", old_token)
        s.execute(
            update(VerificationToken)
            .where(VerificationToken.token_hash == hashed)
            .values(expires_at=past)
        )
        s.commit()
    before = counts(bz.env)
    _refused(
        bz, bz.device.post(f"{API}/verify", json={"code": old_code}), 410, "error.bz_code_expired"
    )
    _refused(
        bz,
        bz.device.post(f"{API}/certificate", json={"token": old_token, "ekeyhmac": hmac_b64}),
        410,
        "error.bz_token_expired",
    )
    assert counts(bz.env) == before
    with bz.env.session() as s:
        hashed = keyserver.secret_hash(bz.env.settings.secret_key, "code", old_code)
        row = s.scalars(select(VerificationCode).where(VerificationCode.code_hash == hashed)).one()
        assert row.used_at is None

    # Wrong codes: a clear 404, and a client that keeps guessing is stopped.
    _refused(
        bz, bz.device.post(f"{API}/verify", json={"code": "12345"}), 404, "error.bz_code_unknown"
    )
    for _ in range(bz.env.settings.login_failures_per_window):
        bz.device.post(f"{API}/verify", json={"code": "00000000"})
    r = bz.device.post(f"{API}/verify", json={"code": bz.code()})
    assert r.status_code == 429, r.text


def test_expired_certificate_is_refused(bz: Bz) -> None:
    keys = [tek(day0() - 144)]
    hmac_key = os.urandom(16)
    cert = bz.certify(keys, hmac_key)
    body = PublishIn.model_validate(
        {"temporaryExposureKeys": keys, "hmacKey": b64(hmac_key), "verificationPayload": cert}
    )
    from phongdich.kit.errors import Gone

    with bz.env.session() as s:
        service = ProximityService(s, bz.env.settings)
        with pytest.raises(Gone) as caught:
            service.publish(body, now=utcnow() + timedelta(minutes=16))
        assert caught.value.message_key == "error.bz_certificate_expired"
        s.rollback()
    assert counts(bz.env)["proximity_published_keys"] == 0
    assert bz.publish(keys, hmac_key, cert).json() == {"insertedExposures": 1}


def test_duplicate_key_is_refused(bz: Bz) -> None:
    key = tek(day0() - 144)
    assert bz.publish([key], os.urandom(16)).status_code == 200
    before = counts(bz.env)
    again = [key, tek(day0() - 288)]
    _refused(bz, bz.publish(again, os.urandom(16)), 409, "error.bz_key_exists")
    assert counts(bz.env)["proximity_published_keys"] == before["proximity_published_keys"]


def test_chaff_is_accepted_and_ignored(bz: Bz) -> None:
    keys = [tek(day0() - 144)]
    hmac_key = os.urandom(16)
    cert = bz.certify(keys, hmac_key)
    before = counts(bz.env)
    # A chaff body (anything in it) and a real-looking request marked by the header.
    r = bz.device.post(f"{API}/publish", json={"chaff": True, "padding": "x" * 500})
    assert r.json() == {"insertedExposures": 0}
    r = bz.publish(keys, hmac_key, cert, chaff=True)
    assert r.json() == {"insertedExposures": 0}
    body = {
        "temporaryExposureKeys": keys,
        "hmacKey": b64(hmac_key),
        "verificationPayload": cert,
    }
    r = bz.device.post(f"{API}/publish", json=body, headers={"X-Chaff": "1"})
    assert r.status_code == 200
    assert r.json() == {"insertedExposures": 0}
    assert counts(bz.env) == before
    # The certificate was not consumed by the chaff.
    assert bz.publish(keys, hmac_key, cert).json() == {"insertedExposures": 1}


def test_oversized_requests_are_refused(bz: Bz) -> None:
    keys = [tek(day0() - 144)]
    hmac_key = os.urandom(16)
    cert = bz.certify(keys, hmac_key)
    before = counts(bz.env)
    huge = bz.publish(keys, hmac_key, cert, padding="A" * (bz.env.settings.max_body_bytes + 10))
    assert huge.status_code == 413
    too_much_padding = bz.publish(keys, hmac_key, cert, padding="A" * 100_001)
    assert too_much_padding.status_code == 422
    assert counts(bz.env) == before
    assert bz.publish(keys, hmac_key, cert).json() == {"insertedExposures": 1}


def test_codes_need_the_case_in_jurisdiction(bz: Bz, make_client: Any) -> None:
    outsider = make_client()
    login_official(outsider, "hcm")
    r = outsider.post(f"/api/v1/tracing/cases/{bz.case_id}/verification-codes")
    assert r.status_code == 403
    r = bz.tracer.post("/api/v1/tracing/cases/999999/verification-codes")
    assert r.status_code == 404
    r = bz.tracer.post(
        f"/api/v1/tracing/cases/{bz.case_id}/verification-codes", json={"report_type": 5}
    )
    assert r.status_code == 422
    anonymous = make_client()
    assert (
        anonymous.post(f"/api/v1/tracing/cases/{bz.case_id}/verification-codes").status_code == 401
    )
    assert counts(bz.env)["proximity_verification_codes"] == 0
    # A clinical diagnosis travels as report type 2 ("likely") into the export.
    r = bz.device.post(f"{API}/verify", json={"code": bz.code(report_type=2)})
    assert r.json()["test_type"] == "likely"


# ---- retention ----------------------------------------------------------------------------------


def test_retention_purge_after_fourteen_days(bz: Bz) -> None:
    assert bz.publish([tek(day0() - 144), tek(day0() - 288)], os.urandom(16)).status_code == 200
    export_job(bz.env.factory, bz.env.settings, utcnow() + timedelta(minutes=20))
    kept = counts(bz.env)
    assert kept["proximity_published_keys"] == 2
    assert kept["proximity_export_files"] == 1
    # A day later nothing is due for deletion.
    purge_job(bz.env.factory, bz.env.settings, utcnow() + timedelta(days=1))
    assert counts(bz.env) == kept
    # After the retention period keys, files, batches and codes are gone.
    done = purge_job(bz.env.factory, bz.env.settings, utcnow() + timedelta(days=16))
    assert done["proximity_keys"] == 2
    assert done["proximity_batches"] >= 1
    after = counts(bz.env)
    for table in (
        "proximity_published_keys",
        "proximity_export_files",
        "proximity_export_batches",
        "proximity_verification_codes",
        "proximity_tokens",
    ):
        assert after[table] == 0, table
    assert index(bz.device) == []


# ---- the tracing link -------------------------------------------------------------------------


def _exposure(key: dict[str, Any], **extra: Any) -> dict[str, Any]:
    day = date(1970, 1, 1) + timedelta(days=key["rollingStartNumber"] // 144)
    return {
        "key": key["key"],
        "rollingStartNumber": key["rollingStartNumber"],
        "date": day.isoformat(),
        "minutes": 25,
        "weighted_minutes": 18.5,
        "risk": "high",
        "min_attenuation": 52,
        **extra,
    }


def test_shared_exposure_adds_a_bluetooth_contact(bz: Bz, make_client: Any) -> None:
    key = tek(day0() - 144)
    assert bz.publish([key, tek(day0() - 288)], os.urandom(16)).status_code == 200
    citizen = make_client()
    account = login_phone(citizen, bz.env, "0912345678", "Trần Thị Bích")
    with bz.env.session() as s:  # she lives in Ba Đình: the Hà Nội tracer sees her name
        PersonService(s, bz.env.settings).for_account(account).unit_code = "00004"
        s.commit()
    url = f"{API}/shared-exposures"

    before = counts(bz.env)
    for body, status in (
        ({"exposures": [_exposure(key)], "consent": False}, 422),
        ({"exposures": [_exposure(key)]}, 422),
        ({"exposures": [_exposure(tek(day0() - 144))], "consent": True}, 404),
        ({"exposures": [_exposure(key, date="2020-01-01")], "consent": True}, 422),
        (
            {
                "exposures": [
                    _exposure(key, date=(utcnow() + timedelta(days=1)).date().isoformat())
                ],
                "consent": True,
            },
            422,
        ),
        ({"exposures": [_exposure(key, weighted_minutes=-1)], "consent": True}, 422),
        ({"exposures": [_exposure(key, minutes=1441)], "consent": True}, 422),
        ({"exposures": [_exposure(key, rollingStartNumber=1)], "consent": True}, 422),
        ({"exposures": [], "consent": True}, 422),
    ):
        r = citizen.post(url, json=body)
        assert r.status_code == status, (body, r.text)
    assert (
        make_client().post(url, json={"exposures": [_exposure(key)], "consent": True}).status_code
        == 401
    )
    assert (
        bz.tracer.post(url, json={"exposures": [_exposure(key)], "consent": True}).status_code
        == 403
    )
    assert counts(bz.env) == before

    r = citizen.post(url, json={"exposures": [_exposure(key)], "consent": True})
    assert r.status_code == 201, r.text
    assert r.json() == {"shared": 1, "already_shared": 0}
    again = citizen.post(url, json={"exposures": [_exposure(key)], "consent": True})
    assert again.json() == {"shared": 0, "already_shared": 1}

    def bluetooth_contact() -> dict[str, Any]:
        contacts = bz.tracer.get(f"/api/v1/tracing/cases/{bz.case_id}/contacts").json()
        found = [c for c in contacts if c["source"] == "bluetooth"]
        assert len(found) == 1, contacts
        return dict(found[0])

    contact = bluetooth_contact()
    assert contact["person"] == "Trần Thị Bích"
    assert contact["level"] == 1
    evidence = contact["evidence"][0]
    assert evidence["source"] == "bluetooth"
    assert evidence["date"] == _exposure(key)["date"]
    assert evidence["minutes"] == 25
    assert evidence["weighted_minutes"] == 18.5
    assert evidence["min_attenuation"] == 52
    assert evidence["bluetooth_risk"] == "high"
    # Nothing about the case's phone is kept with the contact: not even the key that matched.
    with bz.env.session() as s:
        stored = " ".join(s.scalars(select(ContactReport.details)).all())
        stored += " ".join(s.scalars(select(Contact.evidence)).all())
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "share_exposures")).all()
    assert key["key"] not in stored
    assert key["key"].rstrip("=") not in stored
    assert len(audit) == 2
    assert all(a.actor.startswith("phone:") for a in audit)

    # Re-tracing the case keeps the contact and its Bluetooth evidence.
    assert bz.tracer.post(f"/api/v1/tracing/cases/{bz.case_id}/trace").status_code == 200
    retraced = bluetooth_contact()
    assert retraced["evidence"][0]["weighted_minutes"] == 18.5
    assert retraced["evidence"][0]["date"] == evidence["date"]

    # The workbench shows it with its source label and figures.
    page = bz.tracer.get(f"/officials/tracing/cases/{bz.case_id}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "Bluetooth (Bluezone)" in page.text
    assert "18.5" in page.text
    assert "52 dB" in page.text
    shown_day = date.fromisoformat(evidence["date"]).strftime("%d/%m/%Y")
    assert shown_day in page.text
    only_bt = bz.tracer.get(
        f"/officials/tracing/cases/{bz.case_id}?source=bluetooth", headers={"Accept": "text/html"}
    )
    assert "Trần Thị Bích" in only_bt.text


def test_case_page_issues_a_code_shown_once(bz: Bz) -> None:
    page = bz.tracer.get(f"/officials/tracing/cases/{bz.case_id}", headers={"Accept": "text/html"})
    assert 'id="issue-code"' in page.text
    assert 'id="bz-digits"' not in page.text
    r = bz.tracer.post(
        f"/officials/tracing/cases/{bz.case_id}/verification-code",
        data={"csrf_token": bz.tracer.cookies.get("pd_csrf", "")},
        headers={"Accept": "text/html"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    import re

    shown = re.search(r'id="bz-digits">(\d{4}) (\d{4})<', r.text)
    assert shown, r.text
    code = shown.group(1) + shown.group(2)
    expires = re.search(r'id="bz-expires">(\d\d/\d\d/\d{4} \d\d:\d\d)<', r.text)
    assert expires
    local = datetime.strptime(expires.group(1), "%d/%m/%Y %H:%M").replace(tzinfo=VN)
    assert timedelta(minutes=58) < local - utcnow() <= timedelta(hours=1)
    verified = bz.device.post(f"{API}/verify", json={"code": code})
    assert verified.status_code == 200, verified.text
    # Reloading the case page does not show it again.
    again = bz.tracer.get(f"/officials/tracing/cases/{bz.case_id}", headers={"Accept": "text/html"})
    assert code[:4] + " " + code[4:] not in again.text


def test_export_keys_endpoint_and_signing_key_derivation(bz: Bz) -> None:
    keys = export_public_keys(bz.device)
    assert list(keys) == [bz.env.settings.proximity_export_key_id]
    body = bz.device.get(f"{API}/export-keys").json()
    assert body["signature_algorithm"] == "1.2.840.10045.4.3.2"
    assert body["keys"][0]["key_version"] == "v1"
    # Derived from the secret: the same on every server process, different for another secret.
    from phongdich.proximity.service import export_signing_key

    derived = export_signing_key(bz.env.settings).key.public_key()
    assert derived.public_numbers() == keys[body["keys"][0]["key_id"]].public_numbers()
    other = bz.env.settings.model_copy(update={"secret_key": "another-" + "y" * 32})
    assert export_signing_key(other).key.public_key().public_numbers() != derived.public_numbers()
    # A configured P-256 key is used as given.
    chosen = ec.generate_private_key(ec.SECP256R1())
    pem = chosen.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    configured = bz.env.settings.model_copy(update={"proximity_export_key": pem})
    loaded = export_signing_key(configured).key
    assert loaded.private_numbers().private_value == chosen.private_numbers().private_value
    p384 = (
        ec.generate_private_key(ec.SECP384R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ValueError, match="P-256"):
        export_signing_key(bz.env.settings.model_copy(update={"proximity_export_key": p384}))
