from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from phongdich.db.base import Base, BigId, UTCDateTime
from phongdich.kit.clock import utcnow


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # Not unique: a family may share one phone; people without phones have none.
    phone: Mapped[str | None] = mapped_column(String(15))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    # The phone account that signed in as this person, if any.
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("phone_accounts.id", ondelete="SET NULL")
    )
    # Who registered the person when staff did it on their behalf.
    registered_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("phone_accounts.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_people_phone", "phone"),
        Index("ix_people_account_id", "account_id"),
    )
