"""Load a simulated province into the database as the platform would have recorded it.

People, checkpoints with their entrances (rooms for meeting rooms and events) and the recorded
visits go in with bulk inserts. Check-outs nobody scanned are closed the way the platform closes
them: by the person's next check-in elsewhere ("superseded") or by the checkpoint type's
automatic check-out, whichever comes first.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from phongdich.accounts.models import PhoneAccount
from phongdich.checkpoints.models import Checkpoint, Entrance
from phongdich.kit.text import fold
from phongdich.people.models import Person
from phongdich.tracing.repository import SimulationRepository
from phongdich.tracing.simulate import PLATFORM_TYPES, ROOM_TYPES, Simulation
from phongdich.visits.models import Visit
from phongdich.visits.rules import DEFAULT_DURATIONS, OUT_AUTOMATIC, OUT_SCANNED, OUT_SUPERSEDED


@dataclass(frozen=True)
class Loaded:
    person_ids: dict[int, int]  # simulated person id -> database id
    checkpoint_ids: dict[int, int]
    entrance_ids: dict[tuple[int, int], int]  # (simulated checkpoint, entrance) -> database id
    visits: int


def load(
    session: Session, sim: Simulation, progress: Callable[[str, int], None] | None = None
) -> Loaded:
    repo = SimulationRepository(session)
    tick = progress or (lambda _what, _n: None)
    owner = PhoneAccount(phone="0900000000", full_name="Chủ cơ sở mô phỏng")
    session.add(owner)
    session.flush()
    now = sim.start

    first_person = repo.next_id(Person.__table__)  # type: ignore[arg-type]
    person_ids = {p.id: first_person + i for i, p in enumerate(sim.people)}
    repo.insert(
        Person.__table__,  # type: ignore[arg-type]
        [
            {
                "id": person_ids[p.id],
                "full_name": p.name,
                "name_key": fold(p.name),
                "phone": p.phone,
                "birth_year": p.birth_year,
                "unit_code": p.unit_code,
                "qr_subject": secrets.token_hex(8),
                "created_at": now,
                "updated_at": now,
            }
            for p in sim.people
        ],
    )
    tick("people", len(sim.people))

    first_cp = repo.next_id(Checkpoint.__table__)  # type: ignore[arg-type]
    checkpoint_ids = {c.id: first_cp + i for i, c in enumerate(sim.checkpoints)}
    repo.insert(
        Checkpoint.__table__,  # type: ignore[arg-type]
        [
            {
                "id": checkpoint_ids[c.id],
                "code": f"SIM-{c.id:07d}",
                "name": c.name,
                "type": PLATFORM_TYPES[c.type],
                "address": f"Mô phỏng {c.id}",
                "unit_code": c.unit_code,
                "owner_id": owner.id,
                "status": "active",
                "status_reason": "",
                "name_key": fold(c.name),
                "address_key": f"mo phong {c.id}",
                "created_at": now,
                "updated_at": now,
            }
            for c in sim.checkpoints
        ],
    )
    first_entrance = repo.next_id(Entrance.__table__)  # type: ignore[arg-type]
    entrance_ids: dict[tuple[int, int], int] = {}
    entrance_rows: list[dict[str, object]] = []
    for c in sim.checkpoints:
        room = c.type in ROOM_TYPES
        for n in range(c.entrances):
            eid = first_entrance + len(entrance_rows)
            entrance_ids[(c.id, n)] = eid
            entrance_rows.append(
                {
                    "id": eid,
                    "checkpoint_id": checkpoint_ids[c.id],
                    "name": (f"Phòng {n + 1}" if room else f"Cổng {n + 1}"),
                    "kind": "room" if room else "entrance",
                    "is_active": True,
                    "created_at": now,
                }
            )
    repo.insert(Entrance.__table__, entrance_rows)  # type: ignore[arg-type]
    tick("checkpoints", len(sim.checkpoints))

    auto = {c.id: DEFAULT_DURATIONS[PLATFORM_TYPES[c.type]] for c in sim.checkpoints}
    by_person: dict[int, list[int]] = {}
    for n, v in enumerate(sim.visits):
        by_person.setdefault(v.person_id, []).append(n)
    rows = []
    for indexes in by_person.values():
        indexes.sort(key=lambda n: sim.visits[n].check_in)
        for k, n in enumerate(indexes):
            v = sim.visits[n]
            auto_out = v.check_in + auto[v.checkpoint_id]
            out, method = v.check_out, OUT_SCANNED
            if out is None:
                following = sim.visits[indexes[k + 1]].check_in if k + 1 < len(indexes) else None
                if following is not None and following < auto_out:
                    out, method = following, OUT_SUPERSEDED
                else:
                    out, method = auto_out, OUT_AUTOMATIC
            rows.append(
                {
                    "checkpoint_id": checkpoint_ids[v.checkpoint_id],
                    "entrance_id": entrance_ids.get((v.checkpoint_id, v.entrance)),
                    "person_id": person_ids[v.person_id],
                    "check_in_at": v.check_in,
                    "check_out_at": out,
                    "auto_out_at": auto_out,
                    "in_method": "assisted_proxy" if v.method == "staff" else v.method,
                    "out_method": method,
                    "recorded_by": None,
                    "created_at": v.check_in,
                }
            )
    repo.insert(Visit.__table__, rows)  # type: ignore[arg-type]
    tick("visits", len(rows))
    repo.fix_sequences(
        [Person.__table__, Checkpoint.__table__, Entrance.__table__]  # type: ignore[list-item]
    )
    return Loaded(person_ids, checkpoint_ids, entrance_ids, len(rows))
