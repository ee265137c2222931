"""Bluezone key server: verification (code → token → certificate), publishing diagnosis keys,
signed export batches with their index, retention, and the tracing link (a citizen who shares
a matched exposure, with consent, becomes a Bluetooth contact of the case).

The rules live in the pure modules ``keyserver`` (publish rules, HMAC, ES256 certificates)
and ``exportfile`` (the export format); this service applies them to the database and never
commits: the request or job boundary does.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from phongdich.accounts.models import LoginFailure, Official, PhoneAccount
from phongdich.accounts.service import AccountService, Principal
from phongdich.config import Settings
from phongdich.kit.clock import VN, utcnow
from phongdich.kit.errors import Conflict, Gone, Invalid, NotFound, TooManyRequests
from phongdich.people.service import PersonService
from phongdich.proximity import exportfile, gaen, keyserver
from phongdich.proximity.models import (
    ExportBatch,
    ExportFile,
    VerificationCode,
    VerificationToken,
)
from phongdich.proximity.repository import PendingKey, ProximityRepository
from phongdich.proximity.schemas import PublishIn, SharedExposureIn
from phongdich.tracing import rules
from phongdich.tracing.models import Case, Contact, ContactReport
from phongdich.tracing.repository import TracingRepository
from phongdich.tracing.service import EVIDENCE_LIMIT, TracingService, link_json

# An export period is made only this long after it ended: a key whose transaction was still
# open at the end of the period is then in the database (a later one goes into the next file).
EXPORT_GRACE = timedelta(minutes=1)
# Verification codes (and their tokens) are kept this long, so that a published key still
# leads to its case for as long as the key is kept (14 days) plus the token's day.
CODE_RETENTION_EXTRA = timedelta(days=2)
SHARE_MAX_AGE = timedelta(days=15)

_TEST_TYPE_REPORT = {name: report for report, name in keyserver.TEST_TYPES.items()}


# --- signing keys -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    key: ec.EllipticCurvePrivateKey
    key_id: str
    key_version: str


def export_signing_key(settings: Settings) -> SigningKey:
    """The export signing key: the configured P-256 PEM, or one derived from the secret."""
    key = (
        keyserver.load_p256(settings.proximity_export_key)
        if settings.proximity_export_key
        else keyserver.derive_p256(settings.secret_key, "phongdich-proximity-export-key-1")
    )
    return SigningKey(key, settings.proximity_export_key_id, settings.proximity_export_key_version)


def certificate_key(settings: Settings) -> SigningKey:
    """The verification certificate (ES256 JWT) key; ``kid`` is a digest of its public key."""
    key = (
        keyserver.load_p256(settings.proximity_certificate_key)
        if settings.proximity_certificate_key
        else keyserver.derive_p256(settings.secret_key, "phongdich-proximity-certificate-key-1")
    )
    kid = keyserver.secret_hash("", "kid", keyserver.public_pem(key))[:16]
    return SigningKey(key, kid, "v1")


def export_public_keys(settings: Settings) -> dict[str, ec.EllipticCurvePublicKey]:
    signing = export_signing_key(settings)
    return {signing.key_id: signing.key.public_key()}


# --- the service --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCode:
    code: str  # shown once, never stored
    expires_at: datetime
    report_type: int
    case_id: int


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    test_type: str
    symptom_date: date | None


class ProximityService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.repo = ProximityRepository(session)

    def _hash(self, purpose: str, value: str) -> str:
        return keyserver.secret_hash(self.settings.secret_key, purpose, value)

    # Verification codes (officials) ------------------------------------------------------------
    def issue_code(
        self,
        principal: Principal,
        official: Official,
        case_id: int,
        report_type: int = keyserver.REPORT_CONFIRMED_TEST,
        now: datetime | None = None,
    ) -> IssuedCode:
        """A one-time code for a case in the official's jurisdiction (audited)."""
        if report_type not in keyserver.TEST_TYPES:
            raise Invalid("error.bz_report_type")
        tracing = TracingService(self.session, self.settings)
        case = tracing.case_for(official, case_id)
        now = now or utcnow()
        while True:  # a clash with a live code is 1 in 10^8 per live code: draw again
            code = keyserver.new_code()
            code_hash = self._hash("code", code)
            if self.repo.code_by_hash(code_hash) is None:
                break
        row = VerificationCode(
            code_hash=code_hash,
            case_id=case.id,
            issued_by=official.id,
            report_type=report_type,
            symptom_onset=case.onset_at.astimezone(VN).date() if case.onset_at else None,
            test_date=case.test_at.astimezone(VN).date(),
            created_at=now,
            expires_at=now + keyserver.CODE_TTL,
        )
        self.repo.add(row)
        AccountService(self.session, self.settings).audit(
            principal, "issue_verification_code", "case", case.id, f"code {row.id}"
        )
        return IssuedCode(code, row.expires_at, report_type, case.id)

    # Phone: code → token → certificate ---------------------------------------------------------
    def verify(self, code: str, client: str = "", now: datetime | None = None) -> IssuedToken:
        """Exchange a code for a token (24 h). Wrong codes are counted per client address and
        refused for a while after too many: 8 digits must not be guessable."""
        now = now or utcnow()
        accounts = AccountService(self.session, self.settings)
        subject = f"bz-verify:{client}"[:80]
        window = now - timedelta(seconds=self.settings.otp_window_seconds)
        if accounts.repo.failures_since(subject, window) >= self.settings.login_failures_per_window:
            raise TooManyRequests("error.too_many_requests")
        code = code.strip()
        row = self.repo.code_by_hash(self._hash("code", code)) if keyserver.is_code(code) else None
        if row is None:
            accounts.repo.add(LoginFailure(subject=subject, at=now))
            raise NotFound("error.bz_code_unknown", keep_changes=True)
        if row.used_at is not None:
            raise Conflict("error.bz_code_used")
        if row.expires_at <= now:
            raise Gone("error.bz_code_expired")
        if not self.repo.claim_code(row.id, now):
            raise Conflict("error.bz_code_used")
        token = keyserver.new_token()
        token_row = VerificationToken(
            code_id=row.id,
            token_hash=self._hash("token", token),
            created_at=now,
            expires_at=now + keyserver.TOKEN_TTL,
        )
        self.repo.add(token_row)
        return IssuedToken(
            token,
            token_row.expires_at,
            keyserver.TEST_TYPES[row.report_type],
            row.symptom_onset,
        )

    def certificate(self, token: str, ekeyhmac_b64: str, now: datetime | None = None) -> str:
        """A certificate (ES256 JWT, 15 min) binding the token's case to one set of keys."""
        now = now or utcnow()
        try:
            tekhmac = keyserver.b64decode(ekeyhmac_b64)
        except ValueError:
            tekhmac = b""
        if len(tekhmac) != 32:
            raise Invalid("error.bz_ekeyhmac")
        row = self.repo.token_by_hash(self._hash("token", token.strip()))
        if row is None:
            raise NotFound("error.bz_token_unknown")
        if row.certified_at is not None:
            raise Conflict("error.bz_token_used")
        if row.expires_at <= now:
            raise Gone("error.bz_token_expired")
        code = self.repo.code(row.code_id)
        if code is None:  # purged
            raise Gone("error.bz_token_expired")
        certificate_id = secrets.token_hex(16)
        if not self.repo.claim_token(row.id, now, certificate_id):
            raise Conflict("error.bz_token_used")
        onset = code.symptom_onset or code.test_date
        claims: dict[str, Any] = {
            "iss": keyserver.JWT_ISSUER,
            "aud": keyserver.JWT_AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int((now + keyserver.CERTIFICATE_TTL).timestamp()),
            "jti": certificate_id,
            "reportType": keyserver.TEST_TYPES[code.report_type],
            "symptomOnsetInterval": keyserver.day_interval(onset) if onset else None,
            "tekhmac": keyserver.b64encode(tekhmac),
        }
        signing = certificate_key(self.settings)
        return keyserver.jwt_encode(claims, signing.key, signing.key_id)

    # Publishing --------------------------------------------------------------------------------
    def publish(self, body: PublishIn, now: datetime | None = None) -> int:
        """Store the keys of one certified upload, all or nothing; returns how many."""
        now = now or utcnow()
        keys = _publish_keys(body)
        try:
            hmac_key = keyserver.b64decode(body.hmacKey)
        except ValueError:
            hmac_key = b""
        low, high = keyserver.HMAC_KEY_BYTES
        if not low <= len(hmac_key) <= high:
            raise Invalid("error.bz_hmac_key")
        signing = certificate_key(self.settings)
        try:
            claims = keyserver.jwt_decode(
                body.verificationPayload, {signing.key_id: signing.key.public_key()}, now
            )
        except keyserver.CertificateError as exc:
            if exc.code == "expired":
                raise Gone("error.bz_certificate_expired") from exc
            raise Invalid("error.bz_certificate") from exc
        token = self.repo.token_by_certificate(str(claims.get("jti", "")))
        code = self.repo.code(token.code_id) if token is not None else None
        if token is None or code is None:
            raise Invalid("error.bz_certificate")
        if token.published_at is not None:
            raise Conflict("error.bz_certificate_used")
        expected = str(claims.get("tekhmac", ""))
        actual = keyserver.b64encode(keyserver.ekeyhmac(hmac_key, keys))
        if not hmac.compare_digest(expected.encode(), actual.encode()):
            raise Invalid("error.bz_hmac_mismatch")
        try:
            accepted = keyserver.check_keys(keys, now)
        except keyserver.PublishError as exc:
            raise Invalid(f"error.bz_{exc.code}") from exc
        if self.repo.existing_keys([k.key_data for k in keys]):
            raise Conflict("error.bz_key_exists")
        if not self.repo.claim_certificate(token.id, now):
            raise Conflict("error.bz_certificate_used")
        report_type = _TEST_TYPE_REPORT.get(str(claims.get("reportType")), code.report_type)
        onset = claims.get("symptomOnsetInterval")
        onset_interval = onset if isinstance(onset, int) and not isinstance(onset, bool) else None
        self.repo.insert_keys(
            [
                {
                    "key_data": a.key.key_data,
                    "rolling_start": a.key.rolling_start,
                    "rolling_period": a.key.rolling_period,
                    "transmission_risk": a.key.transmission_risk,
                    "report_type": report_type,
                    "days_since_onset": keyserver.days_since_onset(
                        a.key.rolling_start, onset_interval
                    ),
                    "created_at": now,
                    "visible_after": a.visible_after,
                    "verification_id": code.id,
                }
                for a in accepted
            ]
        )
        return len(accepted)

    # Export batches ----------------------------------------------------------------------------
    def make_due_batches(
        self,
        now: datetime | None = None,
        max_keys_per_file: int = exportfile.MAX_KEYS_PER_FILE,
    ) -> list[ExportBatch]:
        """Make every export period that is due: periods of ``proximity_export_minutes``
        aligned on the clock, each with the keys that became visible (embargo over) and were
        not exported yet, in signed files of at most ``max_keys_per_file`` keys. Empty periods
        are recorded without a file. Returns the batches made."""
        now = now or utcnow()
        period = timedelta(minutes=self.settings.proximity_export_minutes)
        start = self.repo.last_batch_end()
        if start is None:
            first = self.repo.earliest_pending()
            if first is None:
                return []
            start = _floor(first, period)
        oldest = _floor(now - timedelta(days=self.settings.proximity_retention_days), period)
        start = max(start, oldest)
        signing = export_signing_key(self.settings)
        made: list[ExportBatch] = []
        while start + period <= now - EXPORT_GRACE:
            end = start + period
            pending = self.repo.pending_keys(before=end)
            chunks = [
                pending[i : i + max_keys_per_file]
                for i in range(0, len(pending), max(1, max_keys_per_file))
            ]
            batch = ExportBatch(
                start_at=start,
                end_at=end,
                key_count=len(pending),
                file_count=len(chunks),
                created_at=now,
            )
            self.repo.add(batch)
            for number, chunk in enumerate(chunks, start=1):
                self.repo.add(
                    ExportFile(
                        batch_id=batch.id,
                        name=export_name(start, end, number),
                        batch_num=number,
                        batch_size=len(chunks),
                        key_count=len(chunk),
                        data=self._build(chunk, start, end, number, len(chunks), signing),
                        created_at=now,
                    )
                )
            self.repo.assign_batch([k.id for k in pending], batch.id)
            made.append(batch)
            start = end
        return made

    def _build(
        self,
        keys: list[PendingKey],
        start: datetime,
        end: datetime,
        batch_num: int,
        batch_size: int,
        signing: SigningKey,
    ) -> bytes:
        return exportfile.build_export(
            [
                exportfile.ExportKey(
                    key_data=k.key_data,
                    transmission_risk_level=k.transmission_risk,
                    rolling_start_interval_number=k.rolling_start,
                    rolling_period=k.rolling_period,
                    report_type=k.report_type,
                    days_since_onset_of_symptoms=k.days_since_onset,
                )
                for k in keys
            ],
            start_timestamp=int(start.timestamp()),
            end_timestamp=int(end.timestamp()),
            region=self.settings.proximity_region,
            batch_num=batch_num,
            batch_size=batch_size,
            signing_key=signing.key,
            key_id=signing.key_id,
            key_version=signing.key_version,
        )

    def index(self) -> str:
        """index.txt: the names of every export file kept, oldest first, one per line."""
        names = self.repo.export_names()
        return "".join(f"{name}\n" for name in names)

    def export(self, name: str) -> bytes:
        data = self.repo.export_data(name)
        if data is None:
            raise NotFound()
        return data

    def purge(self, now: datetime | None = None) -> dict[str, int]:
        """Retention: keys and export files older than ``proximity_retention_days``."""
        now = now or utcnow()
        keep = timedelta(days=self.settings.proximity_retention_days)
        return self.repo.purge(
            keys_before=now - keep,
            batches_before=now - keep,
            codes_before=now - keep - CODE_RETENTION_EXTRA,
        )

    # The tracing link ----------------------------------------------------------------------------
    def share_exposures(
        self,
        principal: Principal,
        account: PhoneAccount,
        exposures: list[SharedExposureIn],
        consent: bool,
        now: datetime | None = None,
    ) -> tuple[int, int]:
        """Add the signed-in citizen as a Bluetooth contact of each case whose published key
        their phone matched. Only their own figures are stored (date, minutes, weighted
        minutes, attenuation, risk), never the key or anything about the case's phone.
        Returns (recorded now, shared before)."""
        if consent is not True:
            raise Invalid("error.bz_consent")
        now = now or utcnow()
        parsed: list[tuple[bytes, SharedExposureIn]] = []
        for item in exposures:
            try:
                key = keyserver.b64decode(item.key)
            except ValueError:
                key = b""
            if len(key) != gaen.KEY_LENGTH:
                raise Invalid("error.bz_key_format")
            if not now.date() - SHARE_MAX_AGE <= item.date <= now.date():
                raise Invalid("error.bz_exposure_date")
            parsed.append((key, item))
        origins = self.repo.key_origins([k for k, _ in parsed])
        person = PersonService(self.session, self.settings).for_account(account)
        tracing = TracingRepository(self.session)
        cases: dict[int, Case] = {}
        recorded = before = 0
        for key, item in parsed:
            origin = origins.get(key)
            if origin is None or origin.case_id is None:
                raise NotFound("error.bz_key_unknown")
            if origin.rolling_start != item.rollingStartNumber:
                raise Invalid("error.bz_key_unknown")
            first_day = _interval_day(origin.rolling_start)
            last_day = _interval_day(origin.rolling_start + origin.rolling_period - 1)
            if not first_day <= item.date <= last_day:
                raise Invalid("error.bz_exposure_date")
            case = cases.get(origin.case_id) or tracing.case(origin.case_id)
            if case is None:
                raise NotFound("error.bz_key_unknown")
            cases[case.id] = case
            if case.person_id == person.id:
                continue  # one's own keys: nothing to share
            exposed_at = min(datetime.combine(item.date, time(23, 59), tzinfo=UTC), now)
            if any(
                r.person_id == person.id
                and r.source == rules.SOURCE_BLUETOOTH
                and r.exposed_at.astimezone(UTC).date() == item.date
                for r in tracing.reports(case.id)
            ):
                before += 1
                continue
            self._link(tracing, case, person.id, exposed_at, item)
            recorded += 1
        accounts = AccountService(self.session, self.settings)
        for case_id in sorted(cases):
            accounts.audit(principal, "share_exposures", "case", case_id, "bluetooth, consent")
        return recorded, before

    def _link(
        self,
        tracing: TracingRepository,
        case: Case,
        person_id: int,
        exposed_at: datetime,
        item: SharedExposureIn,
    ) -> None:
        """The contact report (kept across re-tracing, its details become the evidence) and
        the contact entry now, with the evidence tracing itself would write."""
        details = {
            "date": item.date.isoformat(),
            "minutes": round(item.minutes, 1),
            "weighted_minutes": round(item.weighted_minutes, 1),
            "min_attenuation": item.min_attenuation,
            "bluetooth_risk": item.risk,
        }
        report = ContactReport(
            case_id=case.id,
            person_id=person_id,
            source=rules.SOURCE_BLUETOOTH,
            exposed_at=exposed_at,
            note="",
            details=json.dumps(details),
        )
        tracing.add_report(report)
        link = rules.ContactLink(
            person_id=person_id,
            level=1,
            source=rules.SOURCE_BLUETOOTH,
            via_person_id=case.person_id,
            risk=rules.SOURCE_RISK[rules.SOURCE_BLUETOOTH],
            last_exposure=exposed_at,
            evidence={"report": report.id, "note": report.note, **details},
        )
        entry = link_json(link)
        contact_id = tracing.contact_ids_of([case.id]).get(case.id, {}).get(person_id)
        now = utcnow()
        if contact_id is None:
            units = tracing.person_units([person_id])
            tracing.insert_contacts(
                [
                    {
                        "case_id": case.id,
                        "person_id": person_id,
                        "level": link.level,
                        "source": link.source,
                        "via_person_id": link.via_person_id,
                        "risk": link.risk,
                        "last_exposure": link.last_exposure,
                        "evidence": json.dumps([entry], ensure_ascii=False),
                        "status": "to_call",
                        "assigned_unit": units.get(person_id),
                        "created_at": now,
                        "updated_at": now,
                    }
                ]
            )
            return
        contact = tracing.contact(contact_id)
        assert contact is not None
        try:
            old = json.loads(contact.evidence or "[]")
        except ValueError:
            old = []
        evidence = [e for e in old if isinstance(e, dict)] if isinstance(old, list) else []
        if _stronger(link, contact):
            contact.level, contact.source = link.level, link.source
            contact.via_person_id, contact.risk = link.via_person_id, link.risk
            contact.last_exposure = link.last_exposure
            evidence = [entry, *evidence]
        else:
            evidence = [*evidence, entry]
        contact.evidence = json.dumps(evidence[:EVIDENCE_LIMIT], ensure_ascii=False)
        contact.updated_at = now


# --- helpers ------------------------------------------------------------------------------------


def export_name(start: datetime, end: datetime, batch_num: int) -> str:
    return f"{int(start.timestamp())}-{int(end.timestamp())}-{batch_num:05d}.zip"


def _floor(at: datetime, period: timedelta) -> datetime:
    seconds = int(period.total_seconds())
    stamp = int(at.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(stamp, tz=UTC)


def _interval_day(interval: int) -> date:
    return gaen.interval_start(interval).date()


def _publish_keys(body: PublishIn) -> list[keyserver.PublishKey]:
    keys = []
    for item in body.temporaryExposureKeys:
        try:
            key = keyserver.b64decode(item.key)
        except ValueError:
            raise Invalid("error.bz_key_format") from None
        keys.append(
            keyserver.PublishKey(
                key_data=key,
                rolling_start=item.rollingStartNumber,
                rolling_period=item.rollingPeriod,
                transmission_risk=item.transmissionRisk,
            )
        )
    return keys


def _stronger(link: rules.ContactLink, contact: Contact) -> bool:
    """The tracing order: lower level, then higher risk, then later exposure."""
    new = (link.level, -link.risk, -link.last_exposure.timestamp())
    old = (contact.level, -contact.risk, -contact.last_exposure.timestamp())
    return new < old
