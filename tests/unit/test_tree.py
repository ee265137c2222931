from __future__ import annotations

import json

import pytest

from phongdich.geo import tree
from phongdich.geo.tree import UnitRow


def rows3() -> list[UnitRow]:
    return [
        UnitRow("C1", "Phường Phúc Xá", "Phường", "D1"),
        UnitRow("P1", "Thành phố Hà Nội", "Thành phố", None),
        UnitRow("D1", "Quận Ba Đình", "Quận", "P1"),
    ]


def test_validate_orders_parents_first() -> None:
    ordered = tree.validate(rows3(), {})
    assert [r.code for r in ordered] == ["P1", "D1", "C1"]


def test_unknown_parent_duplicate_and_bad_fields_are_all_reported() -> None:
    rows = [
        *rows3(),
        UnitRow("C1", "Trùng mã", "Phường", "D1"),
        UnitRow("C9", "Xã X", "Xã", "D9"),
        UnitRow("bad code!", "", "", None),
    ]
    with pytest.raises(tree.TreeError) as err:
        tree.validate(rows, {})
    problems = " | ".join(err.value.problems)
    assert "duplicate code C1" in problems
    assert "invalid code" in problems
    assert "name must have 1-200 characters" in problems
    with pytest.raises(tree.TreeError, match="unknown parent D9"):
        tree.validate([*rows3(), UnitRow("C9", "Xã X", "Xã", "D9")], {})


def test_cycles_are_refused_within_file_and_against_stored_units() -> None:
    rows = [UnitRow("A", "A", "x", "B"), UnitRow("B", "B", "x", "C"), UnitRow("C", "C", "x", "A")]
    with pytest.raises(tree.TreeError, match="cycle"):
        tree.validate(rows, {})
    # Re-parenting a stored province under its own commune.
    with pytest.raises(tree.TreeError, match="cycle"):
        tree.validate([UnitRow("P1", "Hà Nội", "Tỉnh", "C1")], {"P1": None, "D1": "P1", "C1": "D1"})


def test_depths_and_closure() -> None:
    parents = {"P1": None, "D1": "P1", "C1": "D1", "C2": "D1"}
    assert tree.depths(parents) == {"P1": 0, "D1": 1, "C1": 2, "C2": 2}
    pairs = set(tree.closure(parents))
    assert ("P1", "C1", 2) in pairs
    assert ("D1", "C2", 1) in pairs
    assert ("C1", "C1", 0) in pairs
    assert len(pairs) == 4 + 3 + 2  # self pairs + parent pairs + grandparent pairs


def test_parse_csv_and_nested_json() -> None:
    csv_text = "\ufeffcode,name,level_name,parent_code\nP1,Hà Nội,Thành phố,\nD1,Ba Đình,Quận,P1\n"
    parsed = tree.parse(csv_text, "csv")
    assert parsed == [
        UnitRow("P1", "Hà Nội", "Thành phố", None),
        UnitRow("D1", "Ba Đình", "Quận", "P1"),
    ]
    nested = json.dumps(
        [
            {
                "code": "P1",
                "name": "Hà Nội",
                "level": "Thành phố",
                "children": [{"code": "D1", "name": "Ba Đình", "level_name": "Quận"}],
            }
        ]
    )
    assert tree.parse(nested, "json") == parsed
    with pytest.raises(tree.TreeError, match="missing column"):
        tree.parse("code,name\n1,x\n", "csv")
    with pytest.raises(tree.TreeError, match="invalid JSON"):
        tree.parse("{", "json")
    with pytest.raises(tree.TreeError, match="unknown format"):
        tree.parse("", "xlsx")
