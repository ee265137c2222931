"""People have no public routes of their own yet: visits and declarations use the service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
