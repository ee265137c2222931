"""Sign-in: officials with passwords, phone accounts with one-time SMS codes."""

from __future__ import annotations

from sqlalchemy import func, select

from phongdich.accounts.models import OtpChallenge, PhoneAccount
from phongdich.notify.models import OutboxMessage
from tests.conftest import PASSWORD, Env, World, login_official
from tests.support.http import Client, last_code

PHONE = "0987654321"


def test_official_login_me_and_logout(env: Env, world: World, client: Client) -> None:
    login_official(client, "badinh")
    me = client.get("/api/v1/auth/me").json()
    assert me["kind"] == "official"
    assert me["role"] == "commune"
    assert me["unit_code"] == "00004"
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401


def test_wrong_password_and_lockout(env: Env, world: World, client: Client) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "badinh", "password": "sai"})
    assert r.status_code == 401
    assert r.json()["message"] == "Tên đăng nhập hoặc mật khẩu không đúng."
    r = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"})
    assert r.status_code == 401
    for _ in range(9):
        client.post("/api/v1/auth/login", json={"username": "badinh", "password": "sai"})
    # The failures were recorded even though each request failed: now even the right password
    # is refused for a while.
    r = client.post("/api/v1/auth/login", json={"username": "badinh", "password": PASSWORD})
    assert r.status_code == 429
    assert "15 phút" in r.json()["message"]


def test_sms_sign_up_creates_account_once(env: Env, client: Client) -> None:
    r = client.post("/api/v1/auth/otp/request", json={"phone": "+84987654321"})
    assert r.status_code == 200
    assert r.json() == {"phone": PHONE, "expires_in": 300}
    with env.session() as s:
        code = last_code(s, PHONE)
        sms = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient == PHONE)).one()
        assert sms.channel == "sms"
        assert sms.status == "pending"
        # Only a hash of the code is stored.
        stored = s.scalars(select(OtpChallenge.code_hash)).one()
        assert code not in stored
    r = client.post(
        "/api/v1/auth/otp/verify", json={"phone": PHONE, "code": code, "full_name": "Trần Thị Bích"}
    )
    assert r.status_code == 200
    assert r.json()["display_name"] == "Trần Thị Bích"
    # A used code cannot be used again.
    r = client.post("/api/v1/auth/otp/verify", json={"phone": PHONE, "code": code})
    assert r.status_code == 422
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(PhoneAccount)) == 1


def test_six_digit_code_cannot_be_brute_forced(env: Env, client: Client) -> None:
    client.post("/api/v1/auth/otp/request", json={"phone": PHONE})
    with env.session() as s:
        code = last_code(s, PHONE)
    wrong = [f"{(int(code) + i) % 1_000_000:06d}" for i in range(1, 6)]
    for guess in wrong:
        r = client.post("/api/v1/auth/otp/verify", json={"phone": PHONE, "code": guess})
        assert r.status_code == 401
        assert r.json()["message"] == "Mã xác thực không đúng."
    # After five wrong guesses the code is burnt: even the right one no longer works.
    r = client.post("/api/v1/auth/otp/verify", json={"phone": PHONE, "code": code})
    assert r.status_code == 422
    assert "hết hạn" in r.json()["message"]
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(PhoneAccount)) == 0


def test_code_requests_are_rate_limited(env: Env, client: Client) -> None:
    for _ in range(3):
        assert client.post("/api/v1/auth/otp/request", json={"phone": PHONE}).status_code == 200
    r = client.post("/api/v1/auth/otp/request", json={"phone": PHONE})
    assert r.status_code == 429
    assert r.json()["message"] == "Bạn đã yêu cầu mã quá nhiều lần, vui lòng thử lại sau."
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(OtpChallenge)) == 3
    # Only the newest code is valid.
    with env.session() as s:
        newest = last_code(s, PHONE)
    r = client.post("/api/v1/auth/otp/verify", json={"phone": PHONE, "code": newest})
    assert r.status_code == 200


def test_daily_failures_lock_the_number(env: Env, client: Client) -> None:
    env.settings.otp_requests_per_window = 100
    for _ in range(2):
        client.post("/api/v1/auth/otp/request", json={"phone": PHONE})
        for _ in range(5):
            client.post("/api/v1/auth/otp/verify", json={"phone": PHONE, "code": "000000"})
    r = client.post("/api/v1/auth/otp/request", json={"phone": PHONE})
    assert r.status_code == 429
    assert "24 giờ" in r.json()["message"]


def test_invalid_phone_numbers(env: Env, client: Client) -> None:
    for bad in ("12345", "0241234567", "09123456789", "abcdefghij", ""):
        r = client.post("/api/v1/auth/otp/request", json={"phone": bad})
        assert r.status_code == 422, bad
        assert r.json()["message"].startswith("Số điện thoại di động không hợp lệ")
    r = client.post("/api/v1/auth/otp/request?lang=en", json={"phone": "12"})
    assert r.json()["message"].startswith("Invalid Vietnamese mobile number")
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_malformed_body_gives_translated_422(env: Env, client: Client) -> None:
    r = client.post("/api/v1/auth/otp/request", json={"telephone": "0912345678"})
    assert r.status_code == 422
    assert r.json()["message"] == "Dữ liệu không hợp lệ: phone."
