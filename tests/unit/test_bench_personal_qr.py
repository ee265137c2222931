"""A fast run of the personal health QR benchmark (phongdich bench personal-qr)."""

from __future__ import annotations

import json

from phongdich.bench import personal_qr
from phongdich.people import healthqr


def test_small_run_reports_every_field() -> None:
    result = personal_qr.run(count=200, seconds=0.2)
    json.dumps(result)  # the CLI prints it as JSON
    assert result["bench"] == "personal-qr"
    assert result["count"] == 200
    assert result["cores"] == 1
    assert result["target_per_s"] == 10_000
    assert result["pass_chars"] == healthqr.TEXT_LEN
    full = result["verifications_per_s"]
    bare = result["bare_signature_verifications_per_s"]
    ratio = result["ratio"]
    assert isinstance(full, float)
    assert isinstance(bare, float)
    assert isinstance(ratio, float)
    assert full > 0
    assert bare > 0
    assert 0 < ratio < 1.5
    assert result["meets_target"] is (full >= 10_000)
