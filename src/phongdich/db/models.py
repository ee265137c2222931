"""Imports every domain's models so that the metadata is complete (Alembic, tests)."""

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

__all__ = [
    "_accounts",
    "_checkpoints",
    "_geo",
    "_notify",
    "_people",
    "_proximity",
    "_tracing",
    "_visits",
    "metadata",
]
