"""Delivery status notifications (RFC 3464) as mail servers send them back, for the tests."""

from __future__ import annotations


def delivery_report(
    message_id: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <an.tran@example.vn>: Recipient address rejected: "
    "User unknown in virtual mailbox table",
    returned: str = "headers",
    recipients: int = 1,
) -> bytes:
    """A report about the e-mail ``message_id``, shaped as Postfix sends it (the returned
    headers as text/rfc822-headers) or, with ``returned="message"``, as Exim does (the whole
    message as message/rfc822)."""
    boundary = "B0UND.1638316800/mx.example.vn"
    original = (
        "From: PhongDich <canh-bao@phongdich.example.vn>\r\n"
        "To: an.tran@example.vn\r\n"
        "Subject: =?utf-8?q?C=E1=BA=A3nh_b=C3=A1o?=\r\n"
        f"Message-ID: {message_id}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
    )
    if returned == "headers":
        returned_part = f"Content-Type: text/rfc822-headers\r\n\r\n{original}"
    else:
        returned_part = f"Content-Type: message/rfc822\r\n\r\n{original}\r\nKinh gui anh/chi\r\n"
    blocks = "".join(
        f"\r\nFinal-Recipient: rfc822; an.tran{i or ''}@example.vn\r\n"
        f"Original-Recipient: rfc822;an.tran{i or ''}@example.vn\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mx.example.vn\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n"
        for i in range(recipients)
    )
    return (
        "From: MAILER-DAEMON@mail.phongdich.example.vn (Mail Delivery System)\r\n"
        "To: canh-bao@phongdich.example.vn\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mail.phongdich.example.vn\r\n"
        "Arrival-Date: Wed,  1 Dec 2021 08:00:00 +0700 (ICT)\r\n"
        f"{blocks}"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        f"{returned_part}"
        "\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def auto_reply(message_id: str) -> bytes:
    """An out-of-office answer to the e-mail ``message_id``: no report."""
    return (
        "From: An Tran <an.tran@example.vn>\r\n"
        "To: canh-bao@phongdich.example.vn\r\n"
        "Subject: Auto: Canh bao\r\n"
        f"In-Reply-To: {message_id}\r\n"
        f"References: {message_id}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"I am away until Monday. Message-ID: {message_id}\r\n"
    ).encode()
