"""Imports every domain's models so that the metadata is complete (Alembic, tests)."""

from phongdich.accounts import models as _accounts
from phongdich.checkpoints import models as _checkpoints
from phongdich.db.base import Base
from phongdich.geo import models as _geo
from phongdich.notify import models as _notify

metadata = Base.metadata

__all__ = ["_accounts", "_checkpoints", "_geo", "_notify", "metadata"]
