"""The provider registry on real stages, a real database and real local providers.

``painter`` is a small but real paid image provider, written here as one module in a
plugin folder on ``server.providers.images``' path: exactly what adding a provider takes.
It meters every request, retries through ``server.providers.resilience`` and fails as a
test tells it to (a provider that fails on purpose, not a mock of ours).
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from config import ModelPrice, load_settings
from server import create_app, upgrade_database
from server.errors import ProviderError, StageError
from server.extensions import db
from server.intake import accept
from server.models import Asset, AssetKind, Job, JobStatus, ProviderCall
from server.pipeline.cache import ResultCache
from server.pipeline.ledger import Ledger
from server.pipeline.runner import JobFailed, run_job
from server.providers import resilience
from server.providers.registry import ProviderChain, provider_classes
from tests.conftest import POSTGRES_URL, _reset_postgres

pytestmark = pytest.mark.pipeline

ARTICLE = ("# The Lighthouse\n\nEvery evening the keeper climbed the spiral stairs to light the great lamp above. "
           "Ships passing in the dark trusted that steady beam more than any paper chart they carried aboard. "
           "When the storm came in November, the lamp stayed lit for three long nights without any rest. "
           "In spring the harbour filled with fishing boats again, and the village thanked the keeper with bread.\n")
UP_TO_IMAGES = ("extract", "voice", "timeline", "images")

PAINTER = '''
"""A paid test image provider: one request per picture, metered, retried, failing as scripted."""

from __future__ import annotations

from typing import ClassVar

from PIL import Image

from server.errors import NotConfigured, ProviderUnavailable
from server.providers import resilience
from server.providers.types import ImageResult, Usage

SCRIPT = {"construct": "ok", "error": None}   # the test sets these
CALLS: list[str] = []                         # every request the "vendor" received


class Painter:
    kind: ClassVar[str] = "images"
    name: ClassVar[str] = "painter"
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = True

    def __init__(self, settings):
        self.settings = settings
        if SCRIPT["construct"] == "unset":
            raise NotConfigured("painter", "PAINTER_KEY is not set")
        if SCRIPT["construct"] == "broken":
            raise ProviderUnavailable("painter", "the painter package is too old")
        if SCRIPT["construct"] == "crash":
            raise RuntimeError("the painter's settings file is corrupt")

    def fingerprint(self):
        return "model=test-painter"

    def draw(self, request, out, meter):
        def attempt():
            estimate = meter.price("test-painter", Usage(images=1))
            with meter.call(self.name, "test-painter", estimate=estimate) as call:
                CALLS.append(request.scene.concept)
                error = SCRIPT["error"](request) if SCRIPT["error"] else None
                if error is not None:
                    raise error
                Image.new("RGB", (request.style.width, request.style.height), (200, 40, 40)).save(out, "PNG")
                call.usage = Usage(images=1)
                call.detail = f"prediction {len(CALLS)}"

        resilience.call(self.name, self.settings, attempt)
        return ImageResult(path=out, seed=7)


PROVIDER = Painter
'''


@pytest.fixture
def painter(tmp_path, monkeypatch):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "painter.py").write_text(textwrap.dedent(PAINTER), encoding="utf-8")
    package = importlib.import_module("server.providers.images")
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(plugins)])
    resilience.reset_breakers()
    module = importlib.import_module("server.providers.images.painter")
    yield module
    sys.modules.pop("server.providers.images.painter", None)
    resilience.reset_breakers()


@contextmanager
def pipeline(tmp_path: Path, **overrides):
    values = dict(home=tmp_path / "home", short_side=240, fps=10, api_token="test-token-0123456789abcdef",
                  narration_providers="espeak", image_providers="painter,local",
                  prices={"test-painter": ModelPrice(image=0.01)}, provider_retry_attempts=2,
                  provider_retry_initial_seconds=0.01, provider_retry_max_wait_seconds=0.02,
                  provider_breaker_failures=50)
    values.update(overrides)
    settings = load_settings(**values)
    app = create_app(settings)
    upgrade_database(app)
    try:
        yield app, settings
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def submit(app, settings, body: str = ARTICLE, name: str = "lighthouse.md") -> int:
    with app.app_context():
        return accept(body.encode(), name, None, settings).job_id


def facts(app, job_id: int) -> dict:
    with app.app_context():
        job = db.session.get(Job, job_id)
        calls = db.session.scalars(sa.select(ProviderCall).where(ProviderCall.job_id == job_id)
                                   .order_by(ProviderCall.id)).all()
        images = db.session.scalars(sa.select(Asset).where(Asset.job_id == job_id, Asset.kind == AssetKind.IMAGE)
                                    .order_by(Asset.scene_id)).all()
        return {"status": job.status, "degraded": job.degraded, "error": job.error,
                "notes": [n for n in job.notes if n.startswith("images: ")],  # what the image chain said
                "scenes": len(job.scenes), "image_providers": [a.provider for a in images],
                "image_paths": [a.path for a in images],
                "calls": [(c.provider, c.outcome, c.cached, round(c.price_usd, 6)) for c in calls]}


def test_a_new_image_provider_is_one_module(tmp_path, painter):
    with pipeline(tmp_path) as (app, settings):
        job_id = submit(app, settings)
        run_job(app, job_id, stages=UP_TO_IMAGES)
        got = facts(app, job_id)
    assert got["scenes"] >= 3 and got["image_providers"] == ["painter"] * got["scenes"]
    assert not got["degraded"] and got["notes"] == []
    assert got["calls"] == [("painter", "ok", False, 0.01)] * len(painter.CALLS)
    assert len(painter.CALLS) == got["scenes"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_second_run_of_the_same_article_pays_nothing(tmp_path, painter, database):
    extra = {}
    if database == "postgresql":  # pictures drawn in threads, each row in its own transaction, on PostgreSQL
        _reset_postgres(POSTGRES_URL)
        extra["database_url"] = POSTGRES_URL
    with pipeline(tmp_path, **extra) as (app, settings):
        first = submit(app, settings)
        run_job(app, first, stages=UP_TO_IMAGES)
        paid = len(painter.CALLS)
        second = submit(app, settings, ARTICLE + "\n")  # saved again: a new version, the same words
        run_job(app, second, stages=UP_TO_IMAGES)
        got = facts(app, second)
    assert len(painter.CALLS) == paid, "a re-run made a paid call"
    assert got["calls"] == [("painter", "ok", True, 0.0)] * paid
    assert got["image_providers"] == ["painter"] * paid


def test_an_edit_pays_only_for_the_scene_it_changed(tmp_path, painter):
    with pipeline(tmp_path) as (app, settings):
        run_job(app, submit(app, settings), stages=UP_TO_IMAGES)
        before = list(painter.CALLS)
        edited = ARTICLE.replace("with bread", "with fresh warm bread and a song")
        second = submit(app, settings, edited)
        run_job(app, second, stages=UP_TO_IMAGES)
        got = facts(app, second)
    new_calls = painter.CALLS[len(before):]
    assert len(new_calls) == 1, new_calls
    assert sorted(c[2] for c in got["calls"]) == [False] + [True] * (got["scenes"] - 1)


def test_fallback_is_per_scene_and_the_job_says_where(tmp_path, painter):
    with pipeline(tmp_path) as (app, settings):
        job_id = submit(app, settings)
        run_job(app, job_id, stages=("extract", "voice", "timeline"))
        with app.app_context():
            job = db.session.get(Job, job_id)
            unlucky = job.scenes[1].concept
            job.status = JobStatus.QUEUED  # run_job over a few stages ends the job; carry on with it
            db.session.commit()
        painter.SCRIPT["error"] = lambda request: (
            ProviderError("painter", "HTTP 503: model is overloaded", status=503)
            if request.scene.concept == unlucky else None)
        run_job(app, job_id, stages=UP_TO_IMAGES)
        got = facts(app, job_id)
    n = got["scenes"]
    assert got["image_providers"][1] == "local"
    assert got["image_providers"].count("painter") == n - 1
    assert got["degraded"] is True
    (note,) = got["notes"]
    assert note.startswith(f"images: painter failed after 2 attempts: HTTP 503: model is overloaded for 1 of {n} calls")
    assert "; used local instead. To fix: " in note
    assert "remove painter from MEDIABUDDY_IMAGE_PROVIDERS" in note
    assert len(got["calls"]) == len(painter.CALLS) == n + 1, "the ledger equals the requests the vendor saw"
    assert [c[1] for c in got["calls"]].count("ProviderError 503") == 2


def test_a_provider_with_no_key_is_not_degradation(tmp_path, painter):
    painter.SCRIPT["construct"] = "unset"
    with pipeline(tmp_path) as (app, settings):
        job_id = submit(app, settings)
        run_job(app, job_id, stages=UP_TO_IMAGES)
        got = facts(app, job_id)
    assert got["image_providers"] == ["local"] * got["scenes"]
    assert (got["degraded"], got["notes"], got["calls"]) == (False, [], [])


def test_a_configured_provider_that_declines_degrades_the_job(tmp_path, painter):
    painter.SCRIPT["construct"] = "broken"
    with pipeline(tmp_path) as (app, settings):
        job_id = submit(app, settings)
        run_job(app, job_id, stages=UP_TO_IMAGES)
        got = facts(app, job_id)
    assert got["degraded"] and got["image_providers"] == ["local"] * got["scenes"]
    assert got["notes"][0].startswith("images: painter declined: the painter package is too old for "
                                      f"{got['scenes']} of {got['scenes']} calls; used local instead.")


def test_strict_providers_fail_the_job_instead(tmp_path, painter):
    painter.SCRIPT["error"] = lambda request: ProviderError("painter", "HTTP 500", status=500)
    with pipeline(tmp_path, strict_providers=True) as (app, settings):
        job_id = submit(app, settings)
        with pytest.raises(JobFailed) as caught:
            run_job(app, job_id, stages=UP_TO_IMAGES)
        got = facts(app, job_id)
    assert caught.value.retryable, "a 500 may pass: the queue may retry the job"
    assert got["status"] == JobStatus.FAILED and "MEDIABUDDY_STRICT_PROVIDERS is on" in got["error"]
    assert got["image_providers"] == []


def test_a_permanent_failure_is_not_asked_again_and_names_the_setting(tmp_path, painter):
    painter.SCRIPT["error"] = lambda request: ProviderError("painter", "API key not valid", status=400,
                                                           permanent=True, setting="PAINTER_KEY")
    # One drawing thread: with several, each may meet the bad key once before the first failure is known.
    with pipeline(tmp_path, render_workers=1) as (app, settings):
        job_id = submit(app, settings)
        run_job(app, job_id, stages=UP_TO_IMAGES)
        got = facts(app, job_id)
    assert len(painter.CALLS) == 1 and got["calls"] == [("painter", "ProviderError 400", False, 0.0)]
    assert got["image_providers"] == ["local"] * got["scenes"]
    assert "painter failed: API key not valid" in got["notes"][0] and "To fix: check PAINTER_KEY." in got["notes"][0]


def test_an_open_breaker_sends_the_rest_to_the_fallback_without_calling(tmp_path, painter):
    painter.SCRIPT["error"] = lambda request: ProviderError("painter", "HTTP 503", status=503)
    with pipeline(tmp_path, provider_retry_attempts=1, provider_breaker_failures=2, render_workers=1) as (app, settings):
        job_id = submit(app, settings)
        run_job(app, job_id, stages=UP_TO_IMAGES)
        got = facts(app, job_id)
    assert len(painter.CALLS) == 2, "calls after the breaker opened reached the vendor"
    assert got["image_providers"] == ["local"] * got["scenes"]
    assert any("painter was not asked: circuit breaker open after 2 failures" in note for note in got["notes"])


def test_the_budget_stops_the_job_before_the_call(tmp_path, painter):
    with pipeline(tmp_path, max_cost_per_job=0.005) as (app, settings):
        job_id = submit(app, settings)
        with pytest.raises(JobFailed) as caught:
            run_job(app, job_id, stages=UP_TO_IMAGES)
        got = facts(app, job_id)
        error_file = (settings.outbox_dir / "lighthouse.error.txt").read_text()
    assert not caught.value.retryable and painter.CALLS == [] and got["calls"] == []
    assert got["status"] == JobStatus.FAILED and "past its limit of $0.0050" in got["error"]
    assert "raise MEDIABUDDY_MAX_COST_PER_JOB" in error_file


def test_an_unknown_provider_name_lists_the_available_ones(tmp_path, painter):
    with pipeline(tmp_path, image_providers="replicat,local") as (app, settings):
        job_id = submit(app, settings)
        with pytest.raises(JobFailed) as caught:
            run_job(app, job_id, stages=UP_TO_IMAGES)
        error_file = (settings.outbox_dir / "lighthouse.error.txt").read_text()
    assert not caught.value.retryable
    assert "there is no images provider called 'replicat'" in str(caught.value)
    assert "fix MEDIABUDDY_IMAGE_PROVIDERS (available: local, painter" in error_file


def test_defaults_skip_remote_modules_quietly_and_explicit_names_must_exist(tmp_path):
    defaults = load_settings(home=tmp_path)
    assert defaults.providers_for("voice") == ["gemini", "local"]
    assert [cls.name for cls in provider_classes("voice", defaults)][-1] == "local"
    with pipeline(tmp_path, image_providers="local") as (app, settings):  # remote voice/timeline by default
        job_id = submit(app, settings)
        run_job(app, job_id, stages=("extract", "voice", "timeline"))
        got = facts(app, job_id)
        with app.app_context():
            notes = db.session.get(Job, job_id).notes
        assert got["degraded"] is False and not [n for n in notes if "gemini" in n], notes
    with pytest.raises(StageError, match="there is no voice provider called 'nosuch'"):
        provider_classes("voice", load_settings(home=tmp_path, voice_providers="nosuch,local"))
    assert load_settings(home=tmp_path, MEDIABUDDY_IMAGES_PROVIDERS="local").providers_for("images") == ["local"]


def test_never_an_english_voice_for_japanese(tmp_path):
    with pipeline(tmp_path, narration_providers="piper,espeak") as (app, settings):
        with app.app_context():
            job_id = submit(app, settings)
            ledger, cache = Ledger(db.engine, settings, job_id, "narration"), ResultCache(settings.var_dir / "cache")
            with pytest.raises(StageError) as caught:
                ProviderChain("narration", settings, ledger, cache, language="ja")
            assert not caught.value.retryable and "no narration provider speaks language 'ja'" in caught.value.message
            english = ProviderChain("narration", settings, ledger, cache, language="en-GB")
            assert [c.name for c in english.candidates] == ["piper", "espeak"]


def test_a_whole_job_publishes_providers_and_cost(tmp_path, painter):
    with pipeline(tmp_path) as (app, settings):
        job_id = submit(app, settings)
        run_job(app, job_id)
        manifest = json.loads((settings.outbox_dir / "lighthouse.json").read_text())
        client = app.test_client()
        body = client.get(f"/api/v1/jobs/{job_id}",
                          headers={"Authorization": "Bearer test-token-0123456789abcdef"}).get_json()
    scenes = len(manifest["scenes"])
    assert manifest["providers"] == ["espeak", "local", "painter"]
    assert manifest["cost"] == {"total_usd": round(0.01 * scenes, 6), "paid_calls": scenes, "failed_calls": 0,
                                "cached_calls": 0}
    assert body["job"]["cost"] == manifest["cost"]


def test_a_provider_that_crashes_is_a_failure_to_fall_back_from(tmp_path, painter, caplog, monkeypatch):
    painter.SCRIPT["error"] = lambda request: KeyError("output")  # e.g. a vendor answer it did not expect
    # Alembic's logging setup replaces the root handlers caplog relies on: listen on our logger itself.
    monkeypatch.setattr(logging.getLogger("mediabuddy.providers"), "handlers", [caplog.handler])
    with pipeline(tmp_path) as (app, settings):
        job_id = submit(app, settings)
        run_job(app, job_id, stages=UP_TO_IMAGES)
        got = facts(app, job_id)
    assert got["status"] == JobStatus.SUCCEEDED and got["degraded"]
    assert got["image_providers"] == ["local"] * got["scenes"]
    assert "images: painter failed unexpectedly (KeyError: 'output')" in got["notes"][0]
    assert "painter failed unexpectedly" in caplog.text and "Traceback" in caplog.text  # the bug is not hidden

    painter.SCRIPT.update(construct="crash", error=None)
    with pipeline(tmp_path / "again") as (app, settings):
        job_id = submit(app, settings)
        run_job(app, job_id, stages=UP_TO_IMAGES)
        got = facts(app, job_id)
    assert got["image_providers"] == ["local"] * got["scenes"]
    assert "painter could not start (RuntimeError: the painter's settings file is corrupt)" in got["notes"][0]


def test_a_misspelt_provider_stops_the_server_and_worker_at_start(tmp_path):
    from click.testing import CliRunner

    import cli

    env = {"MEDIABUDDY_HOME": str(tmp_path), "MEDIABUDDY_IMAGE_PROVIDERS": "replicat,local"}
    for command in ("serve", "worker"):
        result = CliRunner().invoke(cli.main, [command], env=env)
        assert result.exit_code == 1, result.output
        assert "there is no images provider called 'replicat'; fix MEDIABUDDY_IMAGE_PROVIDERS (available: local" \
            in result.output
