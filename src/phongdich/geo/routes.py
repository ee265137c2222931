"""Administrative units: public reference data (names and codes only)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from phongdich.geo.repository import UnitRepository
from phongdich.geo.schemas import UnitDetail, UnitOut
from phongdich.geo.service import UnitService
from phongdich.kit.text import fold
from phongdich.web.deps import SessionDep

router = APIRouter(prefix="/units", tags=["units"])


@router.get("", response_model=list[UnitOut], summary="Top-level units, or search by name")
def list_units(
    db: SessionDep,
    q: str | None = Query(default=None, max_length=100),
    under: str | None = Query(default=None, max_length=16),
    limit: int = Query(default=50, ge=1, le=500),
) -> list[UnitOut]:
    repo = UnitRepository(db)
    if q:
        if under is not None:
            UnitService(db).require(under)
        return [UnitOut.model_validate(u) for u in repo.search(fold(q), under, limit)]
    return [UnitOut.model_validate(u) for u in repo.children(None)]


@router.get("/{code}", response_model=UnitDetail, summary="A unit with its path and children")
def get_unit(code: str, db: SessionDep) -> UnitDetail:
    service = UnitService(db)
    unit = service.get(code)
    return UnitDetail(
        **UnitOut.model_validate(unit).model_dump(),
        path=[UnitOut.model_validate(u) for u in service.path(code)],
        children=[UnitOut.model_validate(u) for u in service.repo.children(code)],
    )
