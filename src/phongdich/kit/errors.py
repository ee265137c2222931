"""Domain errors carry their HTTP status and a message key; one handler renders them."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self, message_key: str | None = None, /, *, keep_changes: bool = False, **params: Any
    ) -> None:
        self.message_key = message_key or f"error.{self.code}"
        self.params = params
        # Some refusals must still be recorded (failed-attempt counters): the request boundary
        # commits instead of rolling back when this is set.
        self.keep_changes = keep_changes
        super().__init__(self.message_key)


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Invalid(DomainError):
    status_code = 422
    code = "invalid"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Unauthenticated(DomainError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Gone(DomainError):
    status_code = 410
    code = "gone"


class TooManyRequests(DomainError):
    status_code = 429
    code = "too_many_requests"


class InvalidRows(Invalid):
    """Several rows of a batch refused at once (row number, the row's own error): nothing of
    the batch is saved."""

    def __init__(self, rows: list[tuple[int, DomainError]]) -> None:
        super().__init__("error.batch_rows", count=len(rows))
        self.rows = rows
