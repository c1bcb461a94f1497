"""``mediabuddy doctor``: is everything installed, verified and reachable?"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import requests

from config import Settings
from server.errors import ProviderError

log = logging.getLogger("mediabuddy.doctor")


@dataclass(frozen=True)
class Check:
    name: str
    state: str  # ok | info | warn | fail
    detail: str


def run_checks(settings: Settings) -> list[Check]:
    checks = [_ffmpeg(), _piper(settings), _espeak(), _fonts(), _folders(settings), _database(settings),
              _queue(settings), _server(settings), _providers(settings)]
    checks[4:4] = [_glyphs(language, sample) for language, sample in GLYPH_SAMPLES.items()]
    return checks + credential_checks(settings)


# Each vendor's client module has ``check_credentials(settings) -> str``: the cheapest real call,
# a line saying what works, or a ProviderError saying what is wrong and which setting fixes it.
CREDENTIALS = (
    ("Gemini key", "gemini_api_key", "server.providers.clients.gemini", "GEMINI_API_KEY",
     "voice and timeline use the offline providers"),
    ("Replicate token", "replicate_api_token", "server.providers.clients.replicate", "REPLICATE_API_TOKEN",
     "scene images are drawn locally"),
)


def credential_checks(settings: Settings) -> list[Check]:
    """One check per vendor credential. Unset is information (offline is the default), not a warning."""
    checks = []
    for name, field, module_name, variable, offline in CREDENTIALS:
        if not getattr(settings, field):
            checks.append(Check(name, "info", f"{variable} not set: {offline}"))
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            checks.append(Check(name, "warn", f"{variable} is set but its client cannot be imported ({error}); "
                                              f"{offline}"))
            continue
        try:
            checks.append(Check(name, "ok", module.check_credentials(settings)))
        except ProviderError as error:
            fix = f" To fix: set {error.setting}." if error.setting else ""
            checks.append(Check(name, "fail", f"{error.message}.{fix} Until then {offline}."))
        except Exception as error:  # noqa: BLE001 - a doctor reports every failure instead of stopping
            checks.append(Check(name, "fail", f"{type(error).__name__}: {error}. Until then {offline}."))
    return checks


def warn_about_credentials(settings: Settings) -> None:
    """At server start: a clear warning for each configured credential that does not work.

    The server keeps running either way; jobs fall back to the local providers.
    """
    for check in credential_checks(settings):
        if check.state in ("fail", "warn"):
            log.warning("%s does not work: %s", check.name, check.detail)
        else:
            log.info("%s: %s", check.name, check.detail)


def _providers(settings: Settings) -> Check:
    from server.providers.registry import check_settings

    problems = check_settings(settings)
    if problems:
        return Check("providers", "fail", "; ".join(problems))
    listed = ", ".join(f"{kind} {','.join(settings.providers_for(kind))}"
                       for kind in ("voice", "timeline", "images", "narration"))
    return Check("providers", "ok", listed)


def _guard(name: str, probe) -> Check:  # noqa: ANN001 - a zero-argument callable returning the detail
    try:
        return Check(name, "ok", probe())
    except Exception as error:  # noqa: BLE001 - a doctor reports every failure instead of stopping
        return Check(name, "fail", f"{type(error).__name__}: {error}")


def _ffmpeg() -> Check:
    def probe() -> str:
        from server.pipeline.ffmpeg import ffmpeg_exe

        result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True, timeout=20)
        return result.stdout.splitlines()[0]
    return _guard("ffmpeg", probe)


def _piper(settings: Settings) -> Check:
    def probe() -> str:
        from server.providers.narration.piper_voice import PiperNarrator, bundled_voice

        model = settings.piper_voice or bundled_voice()
        PiperNarrator(model).speak("Ready.")
        return f"{model.name} loaded" + ("" if settings.piper_voice else " (sha256 verified)")
    check = _guard("piper voice", probe)
    return check if check.state == "ok" else Check(check.name, "warn", check.detail + " → espeak-ng fallback")


def _espeak() -> Check:
    def probe() -> str:
        from server.providers.narration.espeak import EspeakNarrator

        samples, rate = EspeakNarrator().speak("Ready.")
        return f"espeak-ng ok ({rate} Hz)"
    return _guard("espeak-ng fallback", probe)


def _fonts() -> Check:
    def probe() -> str:
        from server.providers.images.theme import font_path

        return str(font_path("black").parent)
    return _guard("fonts", probe)


# Text each caption language must be able to show: every character must have a glyph in
# the font the renderer picks for that language, or it is drawn as an empty box.
GLYPH_SAMPLES = {
    "en": "The quick brown fox jumps over the lazy dog, 0123456789 — “quoted” & ‘done’?!",
    "ja": "日本語の字幕：ひらがな、カタカナ、漢字。東京へ行きます「テスト」ー",
    "zh": "中文字幕测试：你好，世界。这是一个视频。",
    "ko": "한국어 자막 테스트: 안녕하세요, 세계.",
    "ru": "Съешь же ещё этих мягких французских булок.",
    "el": "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
}


def caption_font_file(language: str) -> Path:
    """The font file captions in ``language`` are drawn with."""
    try:
        from server.renderer.fonts import caption_font
    except ModuleNotFoundError:  # before the renderer package: every caption used the theme's face
        from server.providers.images.theme import font_path

        return font_path("bold")
    return caption_font(language).path


def missing_glyphs(font_file: Path, text: str) -> list[str]:
    """Characters of ``text`` (spaces aside) that ``font_file`` has no glyph for."""
    mapped = _cmap(str(font_file))
    return sorted({ch for ch in text if not ch.isspace() and ord(ch) not in mapped})


@lru_cache(maxsize=8)
def _cmap(font_file: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont  # only the doctor needs it

    with TTFont(font_file, lazy=True, fontNumber=0) as font:
        return frozenset(font.getBestCmap() or {})


def glyph_check(language: str, sample: str, font_file: Path) -> Check:
    name = f"caption glyphs ({language})"
    missing = missing_glyphs(font_file, sample)
    if missing:
        return Check(name, "fail", f"{font_file.name} lacks {len(missing)} glyph(s) such as {''.join(missing[:12])}: "
                                   f"{language} captions would show empty boxes")
    return Check(name, "ok", f"{font_file.name} has every glyph")


def _glyphs(language: str, sample: str) -> Check:
    try:
        return glyph_check(language, sample, caption_font_file(language))
    except Exception as error:  # noqa: BLE001 - a missing font package is a failure to report, not a crash
        return Check(f"caption glyphs ({language})", "fail", f"{type(error).__name__}: {error}")


def _folders(settings: Settings) -> Check:
    def probe() -> str:
        settings.ensure_dirs()
        for folder in (settings.inbox_dir, settings.outbox_dir, settings.var_dir):
            if not os.access(folder, os.W_OK):
                raise PermissionError(f"{folder} is not writable")
        return f"inbox {settings.inbox_dir}, outbox {settings.outbox_dir}"
    return _guard("folders", probe)


def _database(settings: Settings) -> Check:
    def probe() -> str:
        from alembic.runtime.migration import MigrationContext

        from server import create_app
        from server.extensions import db

        app = create_app(settings)
        with app.app_context():
            try:
                with db.engine.connect() as connection:
                    revision = MigrationContext.configure(connection).get_current_revision()
                url = db.engine.url.render_as_string(hide_password=True)
            finally:
                db.engine.dispose()  # a check, not a server: leave no connection open
        if revision is None:
            raise RuntimeError(f"{url} has no schema yet: run `mediabuddy up` or `mediabuddy serve`")
        return f"{url} at revision {revision}"
    return _guard("database", probe)


def _queue(settings: Settings) -> Check:
    def probe() -> str:
        if settings.redis_url:
            import redis

            redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2).ping()
            return "Redis reachable"
        return f"SQLite job queue in {settings.var_dir}"
    return _guard("job queue", probe)


def _server(settings: Settings) -> Check:
    url = f"{settings.effective_server_url}/api/v1/healthz"
    try:
        response = requests.get(url, timeout=(2, 5))
        return Check("API server", "ok" if response.ok else "warn", f"{url} answered {response.status_code}")
    except requests.RequestException:
        return Check("API server", "warn", f"not running at {settings.effective_server_url} (start: mediabuddy up)")
