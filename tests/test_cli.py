"""The `mediabuddy` command as a new user meets it: quiet, tidy, and honest in `doctor`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from server.doctor import GLYPH_SAMPLES, caption_font_file, glyph_check, missing_glyphs, run_checks
from server.providers.images.theme import font_path
from tests.conftest import free_port

pytestmark = pytest.mark.utils
ROOT = Path(__file__).resolve().parents[1]
TINY = "# Tiny\n\nA short article, narrated in one breath.\n"


def _env(**extra: str) -> dict[str, str]:
    base = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": extra.pop("HOME", "")}
    return {**base, **extra}


def test_serve_prints_no_alembic_lines_and_keeps_json_logs(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "cli", "serve"], cwd=tmp_path, stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True,
                               env=_env(HOME=str(tmp_path), MEDIABUDDY_HOME=str(tmp_path),
                                        MEDIABUDDY_PORT=str(port), MEDIABUDDY_LOG_FORMAT="json"))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/v1/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    lines = [line for line in stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line JSON: alembic's ini did not take over logging
    assert not [r for r in records if r["logger"].startswith("alembic")]
    messages = [r["message"] for r in records]
    assert any(m.startswith("database schema upgraded from empty to ") for m in messages), messages
    assert f"API listening on http://127.0.0.1:{port}" in messages


@pytest.mark.e2e
def test_render_leaves_the_current_folder_alone_and_names_its_output(tmp_path: Path) -> None:
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    (work / "tiny.md").write_text(TINY, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "cli", "render", "tiny.md", "-o", "out/clip.mp4"], cwd=work,
                            capture_output=True, text=True, timeout=600,
                            env=_env(HOME=str(tmp_path), XDG_CACHE_HOME=str(cache), MEDIABUDDY_SHORT_SIDE="240",
                                     MEDIABUDDY_FPS="10"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in work.iterdir()) == ["out", "tiny.md"]  # no inbox/, outbox/, var/ here
    assert sorted(p.name for p in (work / "out").iterdir()) == ["clip.jpg", "clip.json", "clip.mp4", "clip.srt"]
    assert json.loads((work / "out" / "clip.json").read_text())["video"]["file"] == "clip.mp4"
    assert f"rendered tiny.md to {work / 'out' / 'clip.mp4'}" in result.stderr
    assert "published tiny.mp4" not in result.stderr  # the outbox name, which a render never writes
    assert (cache / "mediabuddy" / "var").is_dir()  # the caches live in the user's cache folder
    assert "alembic" not in result.stderr


def test_a_refused_render_says_why_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    """An article over MEDIABUDDY_MAX_MINUTES is refused in the voice stage; the command
    printed a two-exception Python traceback ending in the runner's JobFailed."""
    (tmp_path / "long.md").write_text("# Long\n\n" + "Words keep coming in this long article. " * 150, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "cli", "render", "long.md", "-o", "long.mp4"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env=_env(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"),
                                     MEDIABUDDY_MAX_MINUTES="0.5"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "long.md: voice: the narration would run about" in result.stderr
    assert "over the 0.5-minute limit (MEDIABUDDY_MAX_MINUTES)" in result.stderr
    assert not (tmp_path / "long.mp4").exists()


def test_glyph_check_fails_when_a_font_lacks_the_languages_characters() -> None:
    latin = font_path("bold")  # Source Sans Pro: Latin, Greek, Cyrillic; no kana or kanji
    assert missing_glyphs(latin, GLYPH_SAMPLES["en"]) == []
    japanese = glyph_check("ja", GLYPH_SAMPLES["ja"], latin)
    assert japanese.state == "fail"
    assert "ひ" in japanese.detail and "empty boxes" in japanese.detail
    assert glyph_check("ru", GLYPH_SAMPLES["ru"], latin).state == "ok"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the doctor's database check is tested elsewhere
def test_doctor_says_unset_keys_as_information_and_checks_each_caption_language(settings) -> None:
    checks = {c.name: c for c in run_checks(settings)}
    assert checks["Gemini key"].state == "info" and checks["Replicate token"].state == "info"
    assert "offline" in checks["Gemini key"].detail
    for language in ("en", "ja", "zh", "ko"):
        check = checks[f"caption glyphs ({language})"]
        covered = not missing_glyphs(caption_font_file(language), GLYPH_SAMPLES[language])
        assert check.state == ("ok" if covered else "fail"), check
    assert checks["caption glyphs (en)"].state == "ok"
