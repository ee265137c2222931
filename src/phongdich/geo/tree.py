"""Validation of an administrative-unit tree — pure, no database.

``validate`` takes the rows being imported and the units already stored and either returns the
rows in parent-first order or raises ``TreeError`` listing every problem found.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from phongdich.kit.text import clean

CODE = re.compile(r"^[0-9A-Za-z_.-]{1,16}$")


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    level_name: str
    parent_code: str | None


class TreeError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems[:20]) + (" …" if len(problems) > 20 else ""))


def parse(text: str, fmt: str) -> list[UnitRow]:
    """Rows from CSV (columns code,name,level_name,parent_code) or JSON (a list of such objects,
    or nested objects with ``children``)."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        missing = {"code", "name", "level_name"} - set(reader.fieldnames or [])
        if missing:
            raise TreeError([f"CSV is missing column(s): {', '.join(sorted(missing))}"])
        return [_row(r, r.get("parent_code")) for r in reader]
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TreeError([f"invalid JSON: {exc}"]) from exc
        rows: list[UnitRow] = []
        _walk(data if isinstance(data, list) else [data], None, rows)
        return rows
    raise TreeError([f"unknown format {fmt!r} (csv or json)"])


def _row(obj: Mapping[str, object], parent: object) -> UnitRow:
    parent_code = clean(str(parent)) if parent not in (None, "") else None
    return UnitRow(
        code=clean(str(obj.get("code") or "")),
        name=clean(str(obj.get("name") or "")),
        level_name=clean(str(obj.get("level_name") or obj.get("level") or "")),
        parent_code=parent_code,
    )


def _walk(items: Iterable[object], parent: str | None, out: list[UnitRow]) -> None:
    for item in items:
        if not isinstance(item, dict):
            raise TreeError(["every JSON unit must be an object"])
        row = _row(item, item.get("parent_code", parent))
        out.append(row)
        children = item.get("children") or []
        if not isinstance(children, list):
            raise TreeError([f"unit {row.code}: children must be a list"])
        _walk(children, row.code, out)


def validate(rows: list[UnitRow], existing_parents: Mapping[str, str | None]) -> list[UnitRow]:
    """Check codes, names, duplicates, unknown parents and cycles; return rows parent-first.

    ``existing_parents`` maps each stored unit code to its parent: imported rows may hang under
    stored units, and re-importing a stored unit replaces its name, level and parent.
    """
    problems: list[str] = []
    seen: dict[str, UnitRow] = {}
    for i, row in enumerate(rows, start=1):
        where = f"row {i} ({row.code or 'no code'})"
        if not CODE.match(row.code):
            problems.append(f"{where}: invalid code")
        if not row.name or len(row.name) > 200:
            problems.append(f"{where}: name must have 1-200 characters")
        if not row.level_name or len(row.level_name) > 50:
            problems.append(f"{where}: level name must have 1-50 characters")
        if row.code in seen:
            problems.append(f"{where}: duplicate code {row.code}")
        seen[row.code] = row
    parent_of: dict[str, str | None] = dict(existing_parents)
    parent_of.update({r.code: r.parent_code for r in seen.values()})
    for row in seen.values():
        if row.parent_code is not None and row.parent_code not in parent_of:
            problems.append(f"unit {row.code}: unknown parent {row.parent_code}")
    if problems:
        raise TreeError(problems)
    depth = depths(parent_of)
    return sorted(seen.values(), key=lambda r: (depth[r.code], r.code))


def depths(parent_of: Mapping[str, str | None]) -> dict[str, int]:
    """Depth of every node (roots are 0); raises ``TreeError`` on a cycle."""
    out: dict[str, int] = {}
    for start in parent_of:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node not in out:
            if node in on_path:
                cycle = [*path[path.index(node) :], node]
                raise TreeError([f"cycle: {' → '.join(cycle)}"])
            on_path.add(node)
            path.append(node)
            node = parent_of[node]
        base = -1 if node is None else out[node]
        for offset, code in enumerate(reversed(path), start=1):
            out[code] = base + offset
    return out


def closure(parent_of: Mapping[str, str | None]) -> list[tuple[str, str, int]]:
    """(ancestor, descendant, distance) for each node and each of its ancestors, itself too."""
    pairs: list[tuple[str, str, int]] = []
    for code in parent_of:
        node: str | None = code
        distance = 0
        while node is not None:
            pairs.append((node, code, distance))
            node = parent_of[node]
            distance += 1
    return pairs
