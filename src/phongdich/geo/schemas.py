from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class UnitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    level_name: str
    parent_code: str | None
    depth: int


class UnitDetail(UnitOut):
    path: list[UnitOut]
    children: list[UnitOut]


class ImportResult(BaseModel):
    rows: int
    created: int
    updated: int
    total_units: int
