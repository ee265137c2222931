"""The evidence text stored with a contact: orjson writes what ``link_json`` describes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from phongdich.tracing.rules import ContactLink
from phongdich.tracing.service import evidence_json, link_json, links_of_evidence


def link(minutes: int, micro: int = 0) -> ContactLink:
    start = datetime(2026, 12, 1, 2, 30, 0, micro, tzinfo=UTC)
    return ContactLink(
        person_id=7,
        level=1,
        source="visit",
        via_person_id=3,
        risk=0.75,
        last_exposure=start + timedelta(minutes=minutes),
        evidence={
            "checkpoint_id": 11,
            "checkpoint": "Chợ Đồng Xuân — cổng số 2",
            "start": start,
            "end": start + timedelta(minutes=minutes),
            "minutes": float(minutes),
            "rule": "overlap",
            "contact_visit_id": None,
        },
    )


def test_evidence_json_is_the_list_of_link_json_entries() -> None:
    links = [link(20), link(45, micro=123)]
    text = evidence_json(links)
    assert json.loads(text) == [link_json(x) for x in links]
    assert "Chợ Đồng Xuân" in text  # UTF-8, not \\u escapes
    assert '"end":"2026-12-01T03:15:00.000123+00:00"' in text


def test_empty_evidence() -> None:
    assert evidence_json([]) == "[]"


def test_stored_evidence_reads_back_as_the_same_links() -> None:
    links = [link(20), link(45, micro=123)]
    back = links_of_evidence(7, evidence_json(links))
    assert [(x.level, x.source, x.via_person_id, x.risk, x.last_exposure) for x in back] == [
        (x.level, x.source, x.via_person_id, x.risk, x.last_exposure) for x in links
    ]
    # The rest of each entry stays as stored (times as ISO text).
    assert back[1].evidence["checkpoint"] == "Chợ Đồng Xuân — cổng số 2"
    assert back[1].evidence["end"] == "2026-12-01T03:15:00.000123+00:00"


def test_unreadable_evidence_entries_are_left_out() -> None:
    assert links_of_evidence(7, "not json") == []
    assert links_of_evidence(7, '{"level": 1}') == []
    good = json.loads(evidence_json([link(20)]))[0]
    text = json.dumps(["x", {"level": "one"}, {"source": "visit"}, good])
    assert [x.risk for x in links_of_evidence(7, text)] == [0.75]
