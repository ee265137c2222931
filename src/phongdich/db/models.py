"""Imports every domain's models so that the metadata is complete (Alembic, tests)."""

from __future__ import annotations

from collections.abc import Callable

from phongdich.accounts import models as _accounts
from phongdich.checkpoints import models as _checkpoints
from phongdich.db.base import Base
from phongdich.geo import models as _geo
from phongdich.notify import models as _notify
from phongdich.people import models as _people
from phongdich.proximity import models as _proximity
from phongdich.tracing import models as _tracing
from phongdich.visits import models as _visits

metadata = Base.metadata


def include_for(dialect: str) -> Callable[[object, str | None, str, bool, object | None], bool]:
    """Alembic's ``include_object`` for one database: the models' objects created only on other
    databases (``ddl_if(dialect=...)``) are left out of its comparisons."""

    def include(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object | None
    ) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        if reflected or condition is None or condition.dialect is None:
            return True
        wanted = condition.dialect
        return dialect == wanted if isinstance(wanted, str) else dialect in wanted

    return include


__all__ = [
    "_accounts",
    "_checkpoints",
    "_geo",
    "_notify",
    "_people",
    "_proximity",
    "_tracing",
    "_visits",
    "include_for",
    "metadata",
]
