"""The notify domain has no public routes yet; officials read the outbox through reports later."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
