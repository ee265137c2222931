from __future__ import annotations

import pytest
from pydantic import ValidationError

from phongdich.config import Settings


def test_production_refuses_default_secret_and_missing_qr_keys() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="QR_KEYS"):
        Settings(environment="production", secret_key="s" * 40)
    ok = Settings(
        environment="production", secret_key="s" * 40, qr_keys={1: "q" * 32}, qr_active_key=1
    )
    assert ok.qr_key_bytes() == {1: b"q" * 32}


def test_active_key_must_exist_and_ids_fit_a_byte() -> None:
    with pytest.raises(ValidationError, match="QR_ACTIVE_KEY"):
        Settings(qr_keys={1: "a"}, qr_active_key=2)
    with pytest.raises(ValidationError, match="between 0 and 255"):
        Settings(qr_keys={300: "a"}, qr_active_key=300)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHONGDICH_DATABASE_URL", "sqlite:////tmp/x.db")
    monkeypatch.setenv("PHONGDICH_QR_KEYS", '{"3": "abc"}')
    monkeypatch.setenv("PHONGDICH_QR_ACTIVE_KEY", "3")
    s = Settings()
    assert s.database_url == "sqlite:////tmp/x.db"
    assert s.qr_key_bytes() == {3: b"abc"}


@pytest.mark.parametrize("hotline", ["gọi 1022", "1022;", "", "+", "1022 ", "1" * 19])
def test_a_hotline_that_would_not_fit_a_7_bit_sms_is_refused(hotline: str) -> None:
    with pytest.raises(ValidationError, match="hotline"):
        Settings(hotline=hotline)


def test_a_hotline_of_digits_spaces_and_dots_is_taken() -> None:
    for hotline in ("1022", "1900 9095", "+84 24.3825.1111"):
        assert Settings(hotline=hotline).hotline == hotline
    assert Settings().hotline == "1022"
