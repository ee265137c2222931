"""The phongdich command against a fresh database on each backend: unit imports, demo, posters."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from sqlalchemy import func, select
from typer.testing import CliRunner

from phongdich.checkpoints.models import Checkpoint
from phongdich.checkpoints.service import CheckpointService
from phongdich.cli import app
from phongdich.config import Settings, get_settings
from phongdich.db.migrate import upgrade
from phongdich.db.session import make_engine, make_sessionmaker
from phongdich.geo.models import AdminUnit, UnitClosure
from phongdich.geo.repository import UnitRepository, subtree_codes
from tests.conftest import empty_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    url = empty_database(request.param, "cli", tmp_path, request)
    upgrade(url)
    monkeypatch.setenv("PHONGDICH_DATABASE_URL", url)
    monkeypatch.setenv("PHONGDICH_PUBLIC_BASE_URL", "https://phongdich.example.vn")
    monkeypatch.setenv("PHONGDICH_NOTIFIER", "none")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        units = s.scalar(select(func.count()).select_from(AdminUnit)) or 0
        pairs = s.scalar(select(func.count()).select_from(UnitClosure)) or 0
    engine.dispose()
    return units, pairs


def three_level_csv(
    path: Path, provinces: int = 63, districts: int = 11, communes: int = 15
) -> int:
    """A tree shaped like 2021's: 63 provinces, ~700 districts, ~10,400 communes."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["code", "name", "level_name", "parent_code"])
        n = 0
        for p in range(1, provinces + 1):
            w.writerow([f"{p:02d}", f"Tỉnh Thử Nghiệm {p}", "Tỉnh", ""])
            for d in range(districts):
                dcode = f"{p:02d}{d:03d}"
                w.writerow([dcode, f"Huyện Đông Hưng {p}-{d}", "Huyện", f"{p:02d}"])
                for c in range(communes):
                    w.writerow([f"{dcode}{c:03d}", f"Xã Thượng Điền {p}-{d}-{c}", "Xã", dcode])
                    n += 1
    return n


def test_import_three_level_tree_is_idempotent(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "units-2021.csv"
    communes = three_level_csv(path)
    code, out = run("units", "import", str(path))
    assert code == 0, out
    result = json.loads(out.strip().splitlines()[-1])
    total = 63 + 63 * 11 + communes
    assert result == {"rows": total, "created": total, "updated": 0, "total_units": total}
    assert counts(db_url) == (total, 63 + 2 * 63 * 11 + 3 * communes)
    code, out = run("units", "import", str(path))
    assert code == 0
    assert json.loads(out.strip().splitlines()[-1])["created"] == 0
    assert json.loads(out.strip().splitlines()[-1])["updated"] == 0
    assert counts(db_url)[0] == total
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        repo = UnitRepository(s)
        assert repo.is_within("05003007", "05")
        assert repo.is_within("05003007", "05003")
        assert not repo.is_within("05003007", "06")
        assert [u.code for u in repo.ancestors("05003007")] == ["05", "05003", "05003007"]
        below = s.scalars(subtree_codes("05003")).all()
        assert len(below) == 1 + 15
    engine.dispose()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "code,name,level_name,parent_code\n01,Hà Nội,Thành phố,\n001,Ba Đình,Quận,99\n",
            "unknown parent 99",
        ),
        (
            "code,name,level_name,parent_code\n01,Hà Nội,Thành phố,\n01,Hà Nội 2,Thành phố,\n",
            "duplicate code 01",
        ),
        ("code,name,level_name,parent_code\nA,A,Tỉnh,B\nB,B,Huyện,A\n", "cycle"),
        ("code,name,level_name,parent_code\n01,,Thành phố,\n", "name must have"),
        ("code,name\n01,Hà Nội\n", "missing column"),
    ],
)
def test_bad_unit_files_import_nothing(
    db_url: str, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    code, out = run("units", "import", str(path))
    assert code == 1
    assert "import refused, nothing was changed" in out
    assert message in out
    assert counts(db_url) == (0, 0)


def test_json_import_and_missing_file(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "tree.json"
    path.write_text(
        json.dumps(
            [
                {
                    "code": "79",
                    "name": "Thành phố Hồ Chí Minh",
                    "level_name": "Thành phố",
                    "children": [
                        {"code": "26734", "name": "Phường Sài Gòn", "level_name": "Phường"}
                    ],
                }
            ]
        ),
        encoding="utf-8",
    )
    code, out = run("units", "import", str(path))
    assert code == 0, out
    assert counts(db_url) == (2, 3)
    code, out = run("units", "import", str(tmp_path / "nope.csv"))
    assert code == 1
    assert "no such file" in out


def test_demo_then_poster_export_decodes(db_url: str, tmp_path: Path) -> None:
    code, out = run("demo", "--checkpoints", "30")
    assert code == 0, out
    assert "phongdich-demo" in out
    assert "badinh" in out
    # Seeding twice changes nothing.
    code, _ = run("demo", "--checkpoints", "30")
    assert code == 0
    out_zip = tmp_path / "ba-dinh.zip"
    code, out = run("posters", "--unit", "00004", "-o", str(out_zip), "--processes", "2")
    assert code == 0, out
    settings = Settings(database_url=db_url, public_base_url="https://phongdich.example.vn")
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        expected = {
            c.code
            for c in s.scalars(
                select(Checkpoint).where(
                    Checkpoint.unit_code == "00004", Checkpoint.status == "active"
                )
            )
        }
        service = CheckpointService(s, settings)
        decoded = 0
        with zipfile.ZipFile(out_zip) as zf:
            assert {n.removesuffix(".pdf") for n in zf.namelist()} == expected
            for name in zf.namelist():
                doc = pdfium.PdfDocument(io.BytesIO(zf.read(name)))
                for page in doc:
                    image = page.render(scale=1.0).to_pil()
                    [barcode] = zxingcpp.read_barcodes(image)
                    assert barcode.text.startswith("https://phongdich.example.vn/c/")
                    scan = service.resolve_token(barcode.text.rsplit("/", 1)[1])
                    assert scan.checkpoint.code == name.removesuffix(".pdf")
                    assert scan.state in ("ok", "expired")
                    decoded += 1
                doc.close()
    engine.dispose()
    assert decoded >= len(expected) >= 1
    assert f"{decoded} posters written" in out
    # One multi-page PDF instead of a ZIP.
    out_pdf = tmp_path / "ba-dinh.pdf"
    code, out = run("posters", "--unit", "00004", "-o", str(out_pdf))
    assert code == 0
    assert len(pdfium.PdfDocument(out_pdf)) == decoded
    code, out = run("posters", "--unit", "99999", "-o", str(tmp_path / "x.zip"))
    assert code == 1
    assert "99999" in out


def test_trace_pending_traces_the_line_listed_cases_from_cron(db_url: str) -> None:
    from datetime import timedelta

    from phongdich.accounts.repository import AccountRepository
    from phongdich.accounts.service import Principal
    from phongdich.kit.clock import utcnow
    from phongdich.people.models import Person
    from phongdich.tracing.line_list import CaseEntry
    from phongdich.tracing.models import Case
    from phongdich.tracing.service import TracingService

    code, out = run("demo", "--checkpoints", "30")
    assert code == 0, out
    code, out = run("trace-pending")
    assert code == 0, out
    # The progress bar goes to stderr, which the runner mixes in: the JSON ends the output.
    assert json.loads(out[out.rindex("{") :]) == {
        "cases_traced": 0,
        "cases_traced_deeper": 0,
        "deeper_steps": 0,
    }
    settings = Settings(database_url=db_url)
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        official = AccountRepository(s).official_by_username("hanoi")
        assert official is not None
        taken = select(Case.person_id)
        people = s.scalars(
            select(Person.id)
            .where(Person.unit_code.is_not(None), Person.id.not_in(taken))
            .order_by(Person.id)
            .limit(3)
        ).all()
        at = utcnow() - timedelta(hours=1)
        entries = [(i, CaseEntry(test_at=at, person_id=p)) for i, p in enumerate(people, 1)]
        cases = TracingService(s, settings).open_cases(
            Principal(kind="official", official=official), official, entries
        )
        ids = [c.id for c in cases]
        s.commit()
    code, out = run("trace-pending")
    assert code == 0, out
    assert json.loads(out[out.rindex("{") :]) == {
        "cases_traced": 3,
        "cases_traced_deeper": 3,
        "deeper_steps": 3,
    }
    assert "6/6" in out
    with factory() as s:
        traced = s.execute(select(Case.traced_at, Case.trace_deeper).where(Case.id.in_(ids))).all()
        assert len(traced) == 3
        assert all(at is not None and not deeper for at, deeper in traced)
    engine.dispose()


def test_the_trace_bench_takes_its_size_from_visits(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench trace --visits N`` (``--count`` too) sets the largest size measured."""
    from phongdich.bench import trace as bench_trace

    calls: list[dict[str, object]] = []

    def fake_run(**kwargs: object) -> dict[str, object]:
        calls.append(kwargs)
        return {"bench": "trace"}

    monkeypatch.setattr(bench_trace, "run", fake_run)
    for args, visits in (([], 10_000_000), (["--visits", "3000000"], 3_000_000)):
        code, output = run("bench", "trace", "--db", "postgresql", *args)
        assert code == 0, output
        assert json.loads(output.strip().splitlines()[-1]) == {"bench": "trace"}
        assert calls[-1] == {
            "db": "postgresql",
            "visits": visits,
            "full": False,
            "checkpoints": None,
        }


def test_the_trace_bench_refuses_a_layout_without_checkpoints() -> None:
    """Refused before any database is made or any data generated."""
    code, output = run("bench", "trace", "--checkpoints", "0", "--count", "1000")
    assert code != 0
    assert "--checkpoints must be at least 1" in output
    code, output = run("bench", "trace", "--db", "mysql")
    assert code != 0
    assert "--db must be sqlite or postgresql" in output


def test_an_operator_sees_the_outbox_and_tries_failed_messages_again(db_url: str) -> None:
    """``notify status`` counts messages by channel and state and lists the latest failures
    with recipients masked; ``notify retry`` puts failed messages back, by time and channel;
    ``notify deliver`` then sends them."""
    from datetime import timedelta

    from phongdich.kit.clock import VN, utcnow
    from phongdich.notify.models import OutboxMessage

    now = utcnow()
    rows = [
        # (channel, recipient, status, attempts, created, next attempt, last error)
        ("sms", "0912345678", "failed", 5, now - timedelta(days=2), now, "0912345678 blocked"),
        ("sms", "0987654321", "failed", 5, now - timedelta(hours=3), now, "gateway down"),
        ("email", "lan.pham@example.vn", "failed", 1, now, now, "550 <lan.pham@example.vn>"),
        ("email", "an.tran@example.vn", "pending", 2, now, now + timedelta(minutes=5), "busy"),
        ("ott", "0911222333", "pending", 0, now, now, ""),
        ("ott", "0911222444", "sent", 1, now, now, ""),
    ]
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        for channel, to, status, attempts, created, due, error in rows:
            s.add(
                OutboxMessage(
                    channel=channel,
                    recipient=to,
                    body="Cảnh báo",
                    status=status,
                    attempts=attempts,
                    created_at=created,
                    next_attempt_at=due,
                    last_error=error,
                )
            )
        s.commit()

    code, out = run("notify", "status")
    assert code == 0, out
    lines = {line.split()[0]: line.split()[1:7] for line in out.splitlines()[1:4]}
    # due, waiting, retrying, sent, delivered, failed
    assert lines == {
        "email": ["0", "0", "1", "0", "0", "1"],
        "ott": ["1", "0", "0", "1", "0", "0"],
        "sms": ["0", "0", "0", "0", "0", "2"],
    }
    assert "la***@example.vn" in out
    assert "550 <la***@example.vn>" in out  # errors quoting the recipient are masked too
    assert "0912***678 blocked" in out
    assert "0912***678" in out
    assert "0912345678" not in out
    assert "lan.pham" not in out

    assert run("notify", "retry", "--channel", "fax")[0] == 1
    assert run("notify", "retry", "--since", "hôm qua")[0] == 1
    code, out = run("notify", "retry", "--channel", "sms")  # the last day's
    assert (code, out.split()[0]) == (0, "1")
    since = (now - timedelta(days=3)).astimezone(VN).strftime("%d/%m/%Y %H:%M")
    code, out = run("notify", "retry", "--since", since)
    assert (code, out.split()[0]) == (0, "2")  # the older SMS and the e-mail
    with make_sessionmaker(engine)() as s:
        states = {m.recipient: (m.status, m.attempts) for m in s.scalars(select(OutboxMessage))}
    assert states["0912345678"] == states["lan.pham@example.vn"] == ("pending", 0)

    code, out = run("notify", "deliver")
    assert (code, out.strip()) == (0, "sent 4")  # the three put back, the OTT due
    with make_sessionmaker(engine)() as s:
        still = s.scalars(select(OutboxMessage).where(OutboxMessage.status != "sent")).all()
    assert [m.recipient for m in still] == ["an.tran@example.vn"]  # due in 5 minutes
    engine.dispose()


def test_a_mail_servers_pipe_hands_bounces_to_notify_bounces(db_url: str, tmp_path: Path) -> None:
    """``notify bounces`` reads one message on standard input (a mail server's pipe alias) or
    files: a report about a sent warning e-mail marks it failed; anything else is ignored and
    the command still succeeds, so that the mail server does not bounce the bounce."""
    from phongdich.kit.clock import utcnow
    from phongdich.notify.bounces import bounce_key, message_id_header
    from phongdich.notify.models import OutboxMessage
    from tests.support.dsn import auto_reply, delivery_report

    engine = make_engine(db_url)
    now = utcnow()
    with make_sessionmaker(engine)() as s:
        mails = [
            OutboxMessage(
                channel="email",
                recipient=to,
                body="Cảnh báo\n\nNội dung",
                status="sent",
                attempts=1,
                created_at=now,
                sent_at=now,
            )
            for to in ("an.tran@example.vn", "cuc.pham@example.vn")
        ]
        s.add_all(mails)
        s.commit()
        key = bounce_key(get_settings().secret_key)
        headers = [
            message_id_header(key, m.id, int(m.created_at.timestamp()), "phongdich.example.vn")
            for m in mails
        ]

    piped = CliRunner().invoke(app, ["notify", "bounces"], input=delivery_report(headers[0]))
    assert (piped.exit_code, piped.output.strip()) == (0, "failed 1, delivered 0, ignored 0")
    other = tmp_path / "2.eml"
    unknown = 'X-Postfix; unknown user: "cuc.pham"'  # the mailbox name alone, masked too
    other.write_bytes(delivery_report(headers[1], returned="message", diagnostic=unknown))
    away = tmp_path / "away.eml"
    away.write_bytes(auto_reply(headers[1]))
    code, out = run("notify", "bounces", str(other), str(away))
    assert (code, out.strip()) == (0, "failed 1, delivered 0, ignored 1")
    with make_sessionmaker(engine)() as s:
        states = {m.recipient: m.status for m in s.scalars(select(OutboxMessage))}
    assert states == {"an.tran@example.vn": "failed", "cuc.pham@example.vn": "failed"}
    with make_sessionmaker(engine)() as s:
        errors = {m.recipient: m.last_error for m in s.scalars(select(OutboxMessage))}
    assert errors["cuc.pham@example.vn"] == 'bounce 5.1.1: unknown user: "cu***"'
    assert errors["an.tran@example.vn"].startswith("bounce 5.1.1: 550 5.1.1 <an***@example.vn>")
    code, out = run("notify", "bounces", str(tmp_path / "missing.eml"))
    assert code == 1
    assert "missing.eml" in out
    engine.dispose()


def test_notify_bounces_reads_a_maildir_once(db_url: str, tmp_path: Path) -> None:
    """``notify bounces --maildir`` (from cron) reads the new messages of the mailbox that
    receives SMTP_FROM's mail, then moves them to cur/ as seen: the next run reads nothing."""
    from phongdich.kit.clock import utcnow
    from phongdich.notify.bounces import bounce_key, message_id_header
    from phongdich.notify.models import OutboxMessage
    from tests.support.dsn import auto_reply, delivery_report

    engine = make_engine(db_url)
    now = utcnow()
    with make_sessionmaker(engine)() as s:
        mail = OutboxMessage(
            channel="email",
            recipient="an.tran@example.vn",
            body="Cảnh báo\n\nNội dung",
            status="sent",
            attempts=1,
            created_at=now,
            sent_at=now,
        )
        s.add(mail)
        s.commit()
        key = bounce_key(get_settings().secret_key)
        header = message_id_header(key, mail.id, int(mail.created_at.timestamp()), "x.vn")
    box = tmp_path / "bounces"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "new" / "1638316800.M1P1.mx").write_bytes(delivery_report(header))
    (box / "new" / "1638316801.M2P1.mx").write_bytes(auto_reply(header))
    (box / "cur" / "1638316700.M0P1.mx:2,S").write_bytes(delivery_report("<old@x.vn>"))

    code, out = run("notify", "bounces", "--maildir", str(box))
    assert (code, out.strip()) == (0, "failed 1, delivered 0, ignored 1")
    assert list((box / "new").iterdir()) == []
    assert sorted(p.name for p in (box / "cur").iterdir()) == [
        "1638316700.M0P1.mx:2,S",
        "1638316800.M1P1.mx:2,S",
        "1638316801.M2P1.mx:2,S",
    ]
    with make_sessionmaker(engine)() as s:
        assert s.scalars(select(OutboxMessage.status)).one() == "failed"
    code, out = run("notify", "bounces", "--maildir", str(box))
    assert (code, out.strip()) == (0, "failed 0, delivered 0, ignored 0")
    code, out = run("notify", "bounces", "--maildir", str(tmp_path))
    assert code == 1
    assert "not a Maildir" in out
    engine.dispose()
