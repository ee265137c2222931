"""All SQL of the Bluezone key server."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from phongdich.proximity.models import (
    ExportBatch,
    ExportFile,
    PublishedKey,
    VerificationCode,
    VerificationToken,
)

_CHUNK = 5_000  # ids per IN list (SQLite's parameter limit is 32,766; PostgreSQL's 65,535)


@dataclass(frozen=True)
class PendingKey:
    """A key waiting for an export (plain values: up to 750,000 of them per file)."""

    id: int
    key_data: bytes
    rolling_start: int
    rolling_period: int
    transmission_risk: int
    report_type: int
    days_since_onset: int | None


@dataclass(frozen=True)
class KeyOrigin:
    """Where a published key came from: its interval and the case of its verification code."""

    key_data: bytes
    rolling_start: int
    rolling_period: int
    case_id: int | None


class ProximityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    # Verification ------------------------------------------------------------------------------
    def code_by_hash(self, code_hash: str) -> VerificationCode | None:
        return self.session.scalars(
            select(VerificationCode).where(VerificationCode.code_hash == code_hash)
        ).one_or_none()

    def claim_code(self, code_id: int, now: datetime) -> bool:
        """Mark a code used, once: False when another request used it first."""
        result = self.session.execute(
            update(VerificationCode)
            .where(VerificationCode.id == code_id, VerificationCode.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def token_by_hash(self, token_hash: str) -> VerificationToken | None:
        return self.session.scalars(
            select(VerificationToken).where(VerificationToken.token_hash == token_hash)
        ).one_or_none()

    def claim_token(self, token_id: int, now: datetime, certificate_id: str) -> bool:
        """Exchange a token for a certificate, once."""
        result = self.session.execute(
            update(VerificationToken)
            .where(VerificationToken.id == token_id, VerificationToken.certified_at.is_(None))
            .values(certified_at=now, certificate_id=certificate_id)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def token_by_certificate(self, certificate_id: str) -> VerificationToken | None:
        return self.session.scalars(
            select(VerificationToken).where(VerificationToken.certificate_id == certificate_id)
        ).one_or_none()

    def claim_certificate(self, token_id: int, now: datetime) -> bool:
        """Publish with a certificate, once."""
        result = self.session.execute(
            update(VerificationToken)
            .where(VerificationToken.id == token_id, VerificationToken.published_at.is_(None))
            .values(published_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def code(self, code_id: int) -> VerificationCode | None:
        return self.session.get(VerificationCode, code_id)

    # Published keys ----------------------------------------------------------------------------
    def existing_keys(self, keys: Collection[bytes]) -> set[bytes]:
        if not keys:
            return set()
        stmt = select(PublishedKey.key_data).where(PublishedKey.key_data.in_(list(keys)))
        return {bytes(k) for k in self.session.scalars(stmt)}

    def insert_keys(self, rows: list[dict[str, object]]) -> None:
        if rows:
            self.session.execute(insert(PublishedKey), rows)

    def key_origins(self, keys: Collection[bytes]) -> dict[bytes, KeyOrigin]:
        """Published keys with the case their verification code was issued for."""
        if not keys:
            return {}
        stmt = (
            select(
                PublishedKey.key_data,
                PublishedKey.rolling_start,
                PublishedKey.rolling_period,
                VerificationCode.case_id,
            )
            .outerjoin(VerificationCode, VerificationCode.id == PublishedKey.verification_id)
            .where(PublishedKey.key_data.in_(list(keys)))
        )
        return {
            bytes(k): KeyOrigin(bytes(k), start, period, case_id)
            for k, start, period, case_id in self.session.execute(stmt)
        }

    def count_keys(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(PublishedKey)) or 0)

    # Export batches ----------------------------------------------------------------------------
    def last_batch_end(self) -> datetime | None:
        end: datetime | None = self.session.scalar(select(func.max(ExportBatch.end_at)))
        return _aware(end)

    def earliest_pending(self) -> datetime | None:
        first: datetime | None = self.session.scalar(
            select(func.min(PublishedKey.visible_after)).where(PublishedKey.batch_id.is_(None))
        )
        return _aware(first)

    def pending_keys(self, before: datetime) -> list[PendingKey]:
        """Keys not exported yet that are visible before ``before`` (a key whose transaction
        committed after the previous export ran is picked up by the next one)."""
        stmt = (
            select(
                PublishedKey.id,
                PublishedKey.key_data,
                PublishedKey.rolling_start,
                PublishedKey.rolling_period,
                PublishedKey.transmission_risk,
                PublishedKey.report_type,
                PublishedKey.days_since_onset,
            )
            .where(PublishedKey.batch_id.is_(None), PublishedKey.visible_after < before)
            .order_by(PublishedKey.id)
        )
        return [
            PendingKey(row[0], bytes(row[1]), row[2], row[3], row[4], row[5], row[6])
            for row in self.session.execute(stmt)
        ]

    def assign_batch(self, key_ids: Sequence[int], batch_id: int) -> None:
        for i in range(0, len(key_ids), _CHUNK):
            self.session.execute(
                update(PublishedKey)
                .where(PublishedKey.id.in_(key_ids[i : i + _CHUNK]))
                .values(batch_id=batch_id)
                .execution_options(synchronize_session=False)
            )

    def export_names(self) -> list[str]:
        """Every export file kept, oldest first."""
        stmt = (
            select(ExportFile.name)
            .join(ExportBatch, ExportBatch.id == ExportFile.batch_id)
            .order_by(ExportBatch.start_at, ExportFile.batch_num)
        )
        return list(self.session.scalars(stmt))

    def export_data(self, name: str) -> bytes | None:
        data = self.session.scalar(select(ExportFile.data).where(ExportFile.name == name))
        return bytes(data) if data is not None else None

    def batches(self) -> Sequence[ExportBatch]:
        return self.session.scalars(select(ExportBatch).order_by(ExportBatch.start_at)).all()

    # Retention ---------------------------------------------------------------------------------
    def purge(
        self, keys_before: datetime, batches_before: datetime, codes_before: datetime
    ) -> dict[str, int]:
        """Delete keys published before ``keys_before``, export batches (and their files) that
        ended before ``batches_before`` and verification codes (and their tokens) created before
        ``codes_before``."""
        keys = self.session.execute(
            delete(PublishedKey)
            .where(PublishedKey.created_at < keys_before)
            .execution_options(synchronize_session=False)
        )
        # Keys of those batches were published before them, so they are already deleted.
        old_batches = select(ExportBatch.id).where(ExportBatch.end_at < batches_before)
        self.session.execute(
            delete(ExportFile)
            .where(ExportFile.batch_id.in_(old_batches))
            .execution_options(synchronize_session=False)
        )
        batches = self.session.execute(
            delete(ExportBatch)
            .where(ExportBatch.end_at < batches_before)
            .execution_options(synchronize_session=False)
        )
        old_codes = select(VerificationCode.id).where(VerificationCode.created_at < codes_before)
        self.session.execute(
            delete(VerificationToken)
            .where(VerificationToken.code_id.in_(old_codes))
            .execution_options(synchronize_session=False)
        )
        self.session.execute(
            update(PublishedKey)
            .where(PublishedKey.verification_id.in_(old_codes))
            .values(verification_id=None)
            .execution_options(synchronize_session=False)
        )
        codes = self.session.execute(
            delete(VerificationCode)
            .where(VerificationCode.created_at < codes_before)
            .execution_options(synchronize_session=False)
        )
        return {
            "proximity_keys": int(getattr(keys, "rowcount", 0) or 0),
            "proximity_batches": int(getattr(batches, "rowcount", 0) or 0),
            "proximity_codes": int(getattr(codes, "rowcount", 0) or 0),
        }


def _aware(value: datetime | None) -> datetime | None:
    """func.max/min bypass the UTCDateTime type on SQLite: make the result UTC-aware."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
