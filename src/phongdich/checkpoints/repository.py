from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from phongdich.accounts.models import PhoneAccount
from phongdich.checkpoints.models import Checkpoint, CheckpointEvent, CheckpointMember, Entrance
from phongdich.geo.repository import UnitRepository, subtree_codes
from phongdich.kit.pagination import Page, PageParams


@dataclass(frozen=True)
class CheckpointFilter:
    unit_code: str | None = None  # this unit and everything under it
    status: str | None = None
    type: str | None = None
    query: str | None = None  # folded (accent-free) text searched in name, address and code
    owner_id: int | None = None


class CheckpointRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, obj: object) -> None:
        self.session.add(obj)
        self.session.flush()

    def get(self, checkpoint_id: int) -> Checkpoint | None:
        return self.session.get(Checkpoint, checkpoint_id)

    def get_by_code(self, code: str) -> Checkpoint | None:
        return self.session.scalar(select(Checkpoint).where(Checkpoint.code == code))

    def code_exists(self, code: str) -> bool:
        return self.session.scalar(select(Checkpoint.id).where(Checkpoint.code == code)) is not None

    def find_duplicate(self, unit_code: str, name_key: str, address_key: str) -> Checkpoint | None:
        return self.session.scalar(
            select(Checkpoint).where(
                Checkpoint.unit_code == unit_code,
                Checkpoint.name_key == name_key,
                Checkpoint.address_key == address_key,
            )
        )

    def entrance(self, entrance_id: int) -> Entrance | None:
        return self.session.get(Entrance, entrance_id)

    def entrances(self, checkpoint_id: int) -> Sequence[Entrance]:
        stmt = select(Entrance).where(Entrance.checkpoint_id == checkpoint_id).order_by(Entrance.id)
        return self.session.scalars(stmt).all()

    def members(self, checkpoint_id: int) -> Sequence[tuple[CheckpointMember, PhoneAccount]]:
        stmt = (
            select(CheckpointMember, PhoneAccount)
            .join(PhoneAccount, PhoneAccount.id == CheckpointMember.account_id)
            .where(CheckpointMember.checkpoint_id == checkpoint_id)
            .order_by(CheckpointMember.role.desc(), PhoneAccount.phone)
        )
        return [(m, a) for m, a in self.session.execute(stmt)]

    def member(self, checkpoint_id: int, account_id: int) -> CheckpointMember | None:
        return self.session.get(CheckpointMember, (checkpoint_id, account_id))

    def events(self, checkpoint_id: int) -> Sequence[CheckpointEvent]:
        stmt = (
            select(CheckpointEvent)
            .where(CheckpointEvent.checkpoint_id == checkpoint_id)
            .order_by(CheckpointEvent.id.desc())
        )
        return self.session.scalars(stmt).all()

    def unit_names(self, codes: set[str]) -> dict[str, str]:
        return UnitRepository(self.session).names(codes)

    def _filtered(self, f: CheckpointFilter) -> Select[Checkpoint]:
        stmt = select(Checkpoint)
        if f.unit_code is not None:
            stmt = stmt.where(Checkpoint.unit_code.in_(subtree_codes(f.unit_code)))
        if f.status:
            stmt = stmt.where(Checkpoint.status == f.status)
        if f.type:
            stmt = stmt.where(Checkpoint.type == f.type)
        if f.owner_id is not None:
            stmt = stmt.where(
                Checkpoint.id.in_(
                    select(CheckpointMember.checkpoint_id).where(
                        CheckpointMember.account_id == f.owner_id
                    )
                )
            )
        if f.query:
            q = f.query
            stmt = stmt.where(
                Checkpoint.name_key.contains(q, autoescape=True)
                | Checkpoint.address_key.contains(q, autoescape=True)
                | (Checkpoint.code == q.upper())
            )
        return stmt

    def count(self, f: CheckpointFilter) -> int:
        stmt = self._filtered(f).with_only_columns(func.count(Checkpoint.id))
        return self.session.scalar(stmt) or 0

    def page(self, f: CheckpointFilter, page: PageParams) -> Page[Checkpoint]:
        stmt = self._filtered(f)
        total = self.count(f)
        items = self.session.scalars(
            stmt.order_by(Checkpoint.id.desc()).offset(page.offset).limit(page.size)
        ).all()
        return Page(items=list(items), total=total, page=page.page, size=page.size)

    def iter_with_entrances(
        self, f: CheckpointFilter, batch: int = 500
    ) -> Iterator[tuple[Checkpoint, list[Entrance]]]:
        """Every matching checkpoint with its active entrances, streamed in id order by batches."""
        last_id = 0
        base = self._filtered(f)
        while True:
            cps = self.session.scalars(
                base.where(Checkpoint.id > last_id).order_by(Checkpoint.id).limit(batch)
            ).all()
            if not cps:
                return
            ids = [c.id for c in cps]
            by_cp: dict[int, list[Entrance]] = {i: [] for i in ids}
            for e in self.session.scalars(
                select(Entrance)
                .where(Entrance.checkpoint_id.in_(ids), Entrance.is_active.is_(True))
                .order_by(Entrance.id)
            ):
                by_cp[e.checkpoint_id].append(e)
            for c in cps:
                yield c, by_cp[c.id]
            last_id = ids[-1]
