"""The application factory. Nothing happens at import time: ``create_app(settings)`` builds the
engine, the session factory, the routers and the delivery loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from phongdich.config import Settings, get_settings
from phongdich.db.session import make_engine, make_sessionmaker
from phongdich.kit.errors import DomainError
from phongdich.kit.i18n import t
from phongdich.kit.periodic import Periodic
from phongdich.maintenance import purge_all
from phongdich.notify.adapters import make_adapter
from phongdich.notify.tasks import deliver_pending
from phongdich.proximity import tasks as proximity_tasks
from phongdich.tracing import tasks as tracing_tasks
from phongdich.visits.ingest import Ingestor
from phongdich.web.hotpath import HotPaths
from phongdich.web.limits import BodySizeLimit
from phongdich.web.middleware import RequestContext

STATIC = Path(__file__).parent / "web" / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url, sqlite_cache_mb=settings.sqlite_cache_mb)
    factory = make_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workers: list[Periodic] = []
        if settings.deliver_in_process:
            adapter = make_adapter(settings)
            workers.append(
                Periodic("outbox delivery", lambda: deliver_pending(factory, adapter), 1.0)
            )
        if settings.schedule_in_process:
            workers.append(
                Periodic("retention purge", lambda: purge_all(factory, settings), 3600.0)
            )
            workers.append(
                Periodic(
                    "tracing queue", lambda: tracing_tasks.trace_pending(factory, settings), 1.0
                )
            )
            workers.append(
                Periodic(
                    "warning queue", lambda: tracing_tasks.warn_pending(factory, settings), 1.0
                )
            )
            workers.append(
                Periodic(
                    "bluezone export",
                    lambda: proximity_tasks.export_job(factory, settings),
                    proximity_tasks.EXPORT_CHECK_SECONDS,
                )
            )
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            for worker in workers:
                worker.stop()
            app.state.ingestor.stop()
            engine.dispose()

    app = FastAPI(
        title="PhongDich API",
        version="0.1.0",
        description="Nền tảng phòng, chống dịch — điểm kiểm dịch, khai báo y tế, truy vết.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = factory
    # Group commit of staff scans; it reads app.state.sessionmaker at every batch.
    threads = settings.scan_ingest_threads or (2 if engine.dialect.name == "postgresql" else 1)
    app.state.ingestor = Ingestor(
        lambda: app.state.sessionmaker,
        settings,
        linger=settings.scan_batch_linger_ms / 1000,
        linger_until=settings.scan_batch_target,
        threads=threads,
    )

    # Innermost of the platform's middleware: the check-in endpoint skips FastAPI's router.
    from phongdich.visits.routes import staff_scans

    app.add_middleware(HotPaths, routes={("POST", "/api/v1/visits/scans"): staff_scans})
    app.add_middleware(
        RequestContext,
        default_language=settings.default_language,
        secure_cookies=settings.secure_cookies,
    )

    from sqlalchemy.exc import IntegrityError

    from phongdich.web.errors import (
        domain_error_handler,
        integrity_error_handler,
        validation_error_handler,
    )

    app.add_exception_handler(DomainError, domain_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(IntegrityError, integrity_error_handler)  # type: ignore[arg-type]

    from phongdich.accounts.routes import router as accounts_router
    from phongdich.checkpoints.routes import router as checkpoints_router
    from phongdich.geo.routes import router as geo_router
    from phongdich.notify.routes import router as notify_router
    from phongdich.people.routes import router as people_router
    from phongdich.proximity.routes import device_router as proximity_device_router
    from phongdich.proximity.routes import router as proximity_router
    from phongdich.tracing.routes import public_router as exposures_router
    from phongdich.tracing.routes import router as tracing_router
    from phongdich.visits.routes import board_router as visit_board_router
    from phongdich.visits.routes import router as visits_router
    from phongdich.web.pages import router as pages_router
    from phongdich.web.people_pages import router as people_pages_router
    from phongdich.web.scanner import router as scanner_router
    from phongdich.web.tracing_pages import router as tracing_pages_router

    app.include_router(accounts_router, prefix="/api/v1")
    app.include_router(geo_router, prefix="/api/v1")
    app.include_router(checkpoints_router, prefix="/api/v1")
    app.include_router(visits_router, prefix="/api/v1")
    app.include_router(people_router, prefix="/api/v1")
    app.include_router(proximity_device_router, prefix="/api/v1")
    app.include_router(proximity_router, prefix="/api/v1")
    app.include_router(tracing_router, prefix="/api/v1")
    app.include_router(exposures_router, prefix="/api/v1")
    app.include_router(visit_board_router, prefix="/api/v1")
    app.include_router(notify_router, prefix="/api/v1")
    app.include_router(pages_router)
    app.include_router(people_pages_router)
    app.include_router(tracing_pages_router)
    app.include_router(scanner_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        BodySizeLimit, max_body=settings.max_body_bytes, default_language=settings.default_language
    )

    @app.get("/api/v1/noop", tags=["health"], summary="Does nothing: the baseline of benchmarks")
    async def noop() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "message": t("status.active", "vi")})

    return app
