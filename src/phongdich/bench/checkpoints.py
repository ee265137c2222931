"""``phongdich bench checkpoints``: officials' checkpoint lists at scale.

Generates ``count`` checkpoints spread over the communes of three provinces in a fresh database
(a temporary SQLite file unless a URL is given), then times the list queries officials run —
a whole province, one commune, a status filter, an accent-free search and a deep page, each with
its total — against a bare ``ORDER BY id LIMIT 50`` on the same table in the same run.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from tqdm import tqdm

from phongdich.accounts.models import PhoneAccount
from phongdich.checkpoints.models import Checkpoint
from phongdich.checkpoints.repository import CheckpointFilter, CheckpointRepository
from phongdich.db.migrate import upgrade
from phongdich.db.session import make_engine, make_sessionmaker, unit_of_work
from phongdich.geo.repository import UnitRepository
from phongdich.geo.service import UnitService
from phongdich.kit.pagination import PageParams
from phongdich.kit.text import fold

PROVINCES = ("01", "79", "48")  # Hà Nội, Hồ Chí Minh City, Đà Nẵng
NAMES = [
    "Chợ",
    "Trường THCS",
    "Nhà thuốc",
    "Quán cà phê",
    "Nhà hàng",
    "Khách sạn",
    "Siêu thị",
    "Công ty TNHH",
    "Nhà văn hoá",
    "Trạm Y tế",
]


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm the caches once
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def _seed(url: str, count: int) -> str:
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as s:
        if UnitRepository(s).count() == 0:
            UnitService(s).load_default()
        owner = PhoneAccount(phone="0912000000", full_name="Chủ cơ sở thử nghiệm")
        s.add(owner)
        s.flush()
        owner_id = owner.id
        communes = [u.code for p in PROVINCES for u in UnitRepository(s).children(p)]
    rng = random.Random(7)
    statuses = ["active"] * 8 + ["registered", "suspended"]
    batch = 5000
    target = communes[0]
    with tqdm(total=count, desc="checkpoints", unit="cp") as bar:
        for start in range(0, count, batch):
            rows = []
            for i in range(start, min(count, start + batch)):
                unit = communes[i % len(communes)]
                name = f"{rng.choice(NAMES)} số {i}"
                address = f"Số {i % 300} đường {i % 97}"
                rows.append(
                    {
                        "code": f"KD-B{i:07d}",
                        "name": name,
                        "type": "other",
                        "address": address,
                        "unit_code": unit,
                        "owner_id": owner_id,
                        "status": rng.choice(statuses),
                        "status_reason": "",
                        "name_key": fold(name),
                        "address_key": fold(address),
                    }
                )
            with unit_of_work(factory) as s:
                s.execute(insert(Checkpoint), rows)
            bar.update(len(rows))
    if engine.dialect.name == "postgresql":
        # Fresh tables have no planner statistics yet; a running database does.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return target


def run(count: int, database_url: str | None = None, repeat: int = 20) -> dict[str, Any]:
    tmp = None
    if database_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="phongdich-bench-")
        database_url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    try:
        commune = _seed(database_url, count)
        engine = make_engine(database_url)
        session = make_sessionmaker(engine)()
        repo = CheckpointRepository(session)
        first = PageParams(1, 50)

        def bare() -> None:
            session.scalars(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(50)).all()

        def listing(f: CheckpointFilter, page: PageParams = first) -> Callable[[], None]:
            def query() -> None:
                repo.page(f, page)

            return query

        figures = {
            "bare_limit_ms": _median_ms(bare, repeat),
            "province_ms": _median_ms(listing(CheckpointFilter(unit_code="01")), repeat),
            "commune_ms": _median_ms(listing(CheckpointFilter(unit_code=commune)), repeat),
            "province_status_ms": _median_ms(
                listing(CheckpointFilter(unit_code="79", status="suspended")), repeat
            ),
            "province_search_ms": _median_ms(
                listing(CheckpointFilter(unit_code="01", query=fold("Nhà thuốc số 4"))), repeat
            ),
            "province_page_100_ms": _median_ms(
                listing(CheckpointFilter(unit_code="01"), PageParams(100, 50)), repeat
            ),
        }
        total = repo.count(CheckpointFilter())
        session.close()
        engine.dispose()
    finally:
        if tmp is not None:
            tmp.cleanup()
    slowest = max(v for k, v in figures.items() if k != "bare_limit_ms")
    return {
        "bench": "checkpoints",
        "backend": database_url.split(":", 1)[0],
        "checkpoints": total,
        **figures,
        "ratio": round(slowest / figures["bare_limit_ms"], 2),
    }
