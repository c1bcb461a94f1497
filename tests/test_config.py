"""Settings: validated once, bad values named with their variable and what is allowed."""

from pathlib import Path

import pytest

from config import SettingsError, load_settings, video_size

pytestmark = pytest.mark.utils


def test_home_decides_where_folders_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIABUDDY_HOME", str(tmp_path))
    settings = load_settings()
    assert settings.inbox_dir == tmp_path / "inbox"
    assert settings.outbox_dir == tmp_path / "outbox"
    assert settings.var_dir == tmp_path / "var"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'var' / 'mediabuddy.db'}"


def test_each_folder_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIABUDDY_HOME", str(tmp_path))
    monkeypatch.setenv("MEDIABUDDY_OUTBOX", str(tmp_path / "videos"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    settings = load_settings()
    assert settings.outbox_dir == tmp_path / "videos"
    assert settings.effective_database_url.startswith("postgresql://")


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("MEDIABUDDY_PORT", "99999", "MEDIABUDDY_PORT: Input should be less than or equal to 65535"),
    ("MEDIABUDDY_ASPECT", "5:3", "MEDIABUDDY_ASPECT: must be one of 9:16, 16:9, 1:1, 4:5"),
    ("MEDIABUDDY_THEME", "neon", "MEDIABUDDY_THEME: must be one of"),
    ("DATABASE_URL", "mysql://x", "DATABASE_URL: must be a sqlite:/// or postgresql:// URL"),
    ("MEDIABUDDY_TTS_ENGINE", "say", "MEDIABUDDY_TTS_ENGINE: Input should be 'auto', 'piper' or 'espeak'"),
])
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                      expected: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert expected in str(caught.value)


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIABUDDY_PORT", "nope")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-secret-value")
    settings_error = None
    try:
        load_settings()
    except SettingsError as error:
        settings_error = str(error)
    assert settings_error and "AIza-secret-value" not in settings_error
    monkeypatch.setenv("MEDIABUDDY_PORT", "8000")
    assert "AIza-secret-value" not in repr(load_settings())


@pytest.mark.parametrize(("aspect", "size"), [("9:16", (1080, 1920)), ("16:9", (1920, 1080)), ("1:1", (1080, 1080)),
                                              ("4:5", (1080, 1350))])
def test_video_sizes_are_even(aspect: str, size: tuple[int, int]) -> None:
    assert video_size(aspect, 1080) == size
    assert all(v % 2 == 0 for v in video_size(aspect, 241))
