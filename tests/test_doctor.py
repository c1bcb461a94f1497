"""`mediabuddy doctor` reports on the real installation."""

import pytest

from server.doctor import run_checks

pytestmark = pytest.mark.utils


def test_doctor_passes_on_a_migrated_home_and_never_shows_secrets(app, settings) -> None:
    keyed = settings.model_copy(update={"gemini_api_key": "AIza-do-not-print"})
    checks = {c.name: c for c in run_checks(keyed)}
    for name in ("ffmpeg", "piper voice", "espeak-ng fallback", "fonts", "folders", "database", "job queue"):
        assert checks[name].state == "ok", (name, checks[name].detail)
    assert " at revision " in checks["database"].detail
    assert checks["providers"].state == "ok"
    assert checks["Gemini key"].state in ("warn", "fail")  # set, but nothing here answers for Google
    assert checks["Replicate token"].state == "info" and "REPLICATE_API_TOKEN not set" in checks["Replicate token"].detail
    assert all("AIza-do-not-print" not in c.detail for c in checks.values())


def test_doctor_says_how_to_create_a_missing_schema(settings) -> None:
    database = {c.name: c for c in run_checks(settings)}["database"]
    assert database.state == "fail" and "mediabuddy up" in database.detail
