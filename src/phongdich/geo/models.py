from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from phongdich.db.base import Base


class AdminUnit(Base):
    __tablename__ = "admin_units"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level_name: Mapped[str] = mapped_column(String(50))
    parent_code: Mapped[str | None] = mapped_column(
        String(16), ForeignKey("admin_units.code", ondelete="RESTRICT"), index=True
    )
    depth: Mapped[int] = mapped_column(Integer, default=0)
    name_key: Mapped[str] = mapped_column(String(200), index=True)


class UnitClosure(Base):
    """Every (ancestor, descendant) pair, the unit itself included: sub-tree queries by index."""

    __tablename__ = "admin_unit_closure"

    ancestor: Mapped[str] = mapped_column(
        String(16), ForeignKey("admin_units.code", ondelete="CASCADE"), primary_key=True
    )
    descendant: Mapped[str] = mapped_column(
        String(16), ForeignKey("admin_units.code", ondelete="CASCADE"), primary_key=True
    )
    distance: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_admin_unit_closure_descendant", "descendant", "ancestor"),)
