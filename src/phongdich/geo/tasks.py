"""Jobs of the geo domain (run from the CLI)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from phongdich.db.session import unit_of_work
from phongdich.geo import tree
from phongdich.geo.schemas import ImportResult
from phongdich.geo.service import UnitService


def import_file(factory: sessionmaker[Session], path: Path) -> ImportResult:
    fmt = path.suffix.lower().lstrip(".")
    rows = tree.parse(path.read_text(encoding="utf-8"), fmt)
    with unit_of_work(factory) as session:
        return UnitService(session).import_rows(rows)


def load_default(factory: sessionmaker[Session]) -> ImportResult:
    with unit_of_work(factory) as session:
        return UnitService(session).load_default()
