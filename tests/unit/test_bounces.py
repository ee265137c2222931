"""Reading delivery reports back: signed Message-IDs and RFC 3464 parsing (pure)."""

from __future__ import annotations

import pytest

from phongdich.notify.bounces import (
    DIAGNOSTIC_LIMIT,
    bounce_key,
    message_id_header,
    read_report,
    verify_message_id,
)
from tests.support.dsn import auto_reply, delivery_report

KEY = bounce_key("a-secret-of-the-platform")
CREATED = 1_638_316_800


def test_a_message_id_names_its_message_only_under_its_key() -> None:
    header = message_id_header(KEY, 42, CREATED, "phongdich.example.vn")
    assert header.startswith("<phongdich.42.1638316800.")
    assert header.endswith("@phongdich.example.vn>")
    assert verify_message_id(KEY, header) == (42, CREATED)
    assert verify_message_id(KEY, f"  {header} (comment)") == (42, CREATED)
    assert verify_message_id(bounce_key("another-secret"), header) is None
    assert bounce_key("a-secret-of-the-platform") == KEY
    # Another id or time with the same signature: somebody guessing.
    sig = header.split(".")[3].split("@")[0]
    assert verify_message_id(KEY, f"<phongdich.43.{CREATED}.{sig}@x>") is None
    assert verify_message_id(KEY, f"<phongdich.42.{CREATED + 1}.{sig}@x>") is None
    assert verify_message_id(KEY, "<20211201.1234@mail.example.vn>") is None
    assert verify_message_id(KEY, "") is None


@pytest.mark.parametrize("returned", ["headers", "message"])
def test_a_failed_recipient_is_read_with_its_status_and_answer(returned: str) -> None:
    header = message_id_header(KEY, 7, CREATED, "phongdich.example.vn")
    (outcome,) = read_report(KEY, delivery_report(header, returned=returned))
    assert (outcome.message_id, outcome.created, outcome.action) == (7, CREATED, "failed")
    assert outcome.status == "5.1.1"
    assert outcome.diagnostic.startswith("550 5.1.1 <an.tran@example.vn>: Recipient address")
    assert outcome.error().startswith("bounce 5.1.1: 550 5.1.1")


def test_one_outcome_per_recipient_and_only_final_actions() -> None:
    header = message_id_header(KEY, 7, CREATED, "phongdich.example.vn")
    assert len(read_report(KEY, delivery_report(header, recipients=2))) == 2
    delivered = read_report(KEY, delivery_report(header, action="delivered", status="2.0.0"))
    assert [o.action for o in delivered] == ["delivered"]
    # Still on its way: nothing final.
    for action in ("delayed", "relayed", "expanded"):
        assert read_report(KEY, delivery_report(header, action=action, status="4.4.7")) == []


def test_what_is_no_report_about_our_mail_gives_nothing() -> None:
    ours = message_id_header(KEY, 7, CREATED, "phongdich.example.vn")
    forged = ours.replace(ours.split(".")[3][:6], "000000")
    assert read_report(KEY, delivery_report(forged)) == []
    assert read_report(KEY, delivery_report("<1234.5678@elsewhere.example>")) == []
    assert read_report(KEY, auto_reply(ours)) == []
    assert read_report(KEY, b"") == []
    assert read_report(KEY, b"\xff\xfe not mail at all") == []
    # A report whose returned part is missing cannot name the message.
    report = delivery_report(ours).decode()
    cut = report.split("Content-Description: Undelivered Message Headers")[0] + "--"
    assert read_report(KEY, cut.encode()) == []


def test_a_long_answer_is_cut_and_an_answer_may_be_missing() -> None:
    header = message_id_header(KEY, 7, CREATED, "phongdich.example.vn")
    (long,) = read_report(KEY, delivery_report(header, diagnostic="smtp; 552 " + "x" * 2000))
    assert len(long.error()) == DIAGNOSTIC_LIMIT
    (bare,) = read_report(KEY, delivery_report(header, diagnostic=""))
    assert bare.error() == "bounce 5.1.1"


def test_a_report_that_postfix_sent_is_read() -> None:
    """``postfix-bounce.eml``: what Postfix 3.7 (Debian 12) sent back for a warning e-mail to
    an unknown user, the e-mail sent by ``SmtpAdapter`` under the development secret."""
    from pathlib import Path

    from phongdich.config import DEV_SECRET

    raw = (Path(__file__).parents[1] / "support" / "postfix-bounce.eml").read_bytes()
    (outcome,) = read_report(bounce_key(DEV_SECRET), raw)
    assert (outcome.message_id, outcome.created) == (1, 1_796_511_043)
    assert (outcome.action, outcome.status) == ("failed", "5.1.1")
    assert outcome.diagnostic == 'unknown user: "khongco"'
    assert read_report(KEY, raw) == []  # another platform's key
