"""Administrative-unit rules: importing trees and answering jurisdiction questions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from phongdich.geo import tree
from phongdich.geo.models import AdminUnit
from phongdich.geo.repository import UnitRepository
from phongdich.geo.schemas import ImportResult
from phongdich.kit.errors import Invalid, NotFound
from phongdich.kit.text import fold


class UnitService:
    def __init__(self, session: Session) -> None:
        self.repo = UnitRepository(session)

    def get(self, code: str) -> AdminUnit:
        unit = self.repo.get(code)
        if unit is None:
            raise NotFound("error.unknown_unit", code=code)
        return unit

    def require(self, code: str) -> AdminUnit:
        """Like ``get`` but for input validation: an unknown code is bad input (422)."""
        unit = self.repo.get(code.strip()) if code else None
        if unit is None:
            raise Invalid("error.unknown_unit", code=code)
        return unit

    def path(self, code: str) -> Sequence[AdminUnit]:
        return self.repo.ancestors(code)

    def import_rows(self, rows: list[tree.UnitRow]) -> ImportResult:
        """Validate the whole file, then upsert it and rebuild the closure; all or nothing."""
        if not rows:
            raise tree.TreeError(["the file contains no units"])
        stored = self.repo.parent_map()
        ordered = tree.validate(rows, stored)
        merged = dict(stored)
        merged.update({r.code: r.parent_code for r in ordered})
        depth = tree.depths(merged)
        created, updated = self.repo.upsert(
            {
                "code": r.code,
                "name": r.name,
                "level_name": r.level_name,
                "parent_code": r.parent_code,
                "depth": depth[r.code],
                "name_key": fold(r.name),
            }
            for r in ordered
        )
        # Depths of stored descendants change when a unit is re-parented.
        self.repo.upsert({"code": code, "depth": d} for code, d in depth.items() if code in stored)
        self.repo.replace_closure(tree.closure(merged))
        return ImportResult(
            rows=len(rows), created=created, updated=updated, total_units=len(merged)
        )

    def load_default(self) -> ImportResult:
        """The current official list (34 provinces, 3,321 communes) from ``vietnam-provinces``."""
        from vietnam_provinces import Province, Ward

        rows: list[tree.UnitRow] = []
        for p in Province.iter_all():
            rows.append(tree.UnitRow(f"{p.code.value:02d}", p.name, _level(p.division_type), None))
        for w in Ward.iter_all():
            rows.append(
                tree.UnitRow(
                    f"{w.code.value:05d}",
                    w.name,
                    _level(w.division_type),
                    f"{w.province_code.value:02d}",
                )
            )
        return self.import_rows(rows)


def _level(division_type: object) -> str:
    value = str(getattr(division_type, "value", division_type))
    return value[:1].upper() + value[1:]
