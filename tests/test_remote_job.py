"""Whole jobs through Gemini and FLUX on their local fakes, with the real SDKs, and the ledger.

Gemini rewrites the voice, plans the timeline and speaks the narration; FLUX on Replicate
draws every scene. The fakes count what a real account would be charged for; the ledger
must say the same.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from config import load_settings
from server import create_app, upgrade_database
from server.extensions import db
from server.intake import accept
from server.models import Asset, AssetKind, Job, JobStatus, ProviderCall
from server.pipeline.runner import JobFailed, run_job
from server.providers.timeline.segmenter import plan_scenes
from tests.fakes.gemini import (FakeGemini, fake_gemini, hang, json_reply, prompt_text,  # noqa: F401
                                rate_limited, unavailable)
from tests.fakes.replicate import FakeReplicate, fake_replicate  # noqa: F401 - the fixture

pytestmark = pytest.mark.clients
TOKEN = "test-token-0123456789abcdef"
ARTICLE = ("---\ntitle: The Harbour\n---\n# The Harbour\n\n"
           "The harbour opened in the spring and handled coal for the whole valley every single year. "
           "Fishing boats came back each evening with herring, and the market stayed open until dark.\n\n"
           "## The lighthouse\n\nMargaret Ellis kept the lamp lit for many years without a single night off. "
           "She logged every ship that passed the point and wrote down the weather each morning.\n")
NARRATION = re.compile(r"Narration \(paragraphs separated by blank lines\):\n\n(.*)$", re.S)
SECTIONS = re.compile(r"answer with the same sections, same headings, same order\):\n(\{.*\})\s*$", re.S)



def answer_like_gemini(body: dict) -> object:
    """A well-behaved model: the voice rewrite gives the article's own sections back (every check
    accepts that), the timeline cuts the narration where a careful planner would."""
    prompt = prompt_text(body)
    found = SECTIONS.search(prompt)
    if found:
        return json_reply(json.loads(found.group(1)))
    narration = NARRATION.search(prompt)
    assert narration, f"an unexpected text request reached the fake: {prompt[:200]}"
    scenes = plan_scenes(narration.group(1))
    return json_reply({"scenes": [{"text": s.text, "concept": s.concept, "visual": s.visual} for s in scenes]})


def remote_settings(tmp_path: Path, gemini: FakeGemini, replicate: FakeReplicate, **overrides):
    values = dict(home=tmp_path / "home", short_side=240, fps=10, api_token=TOKEN,
                  voice_providers="gemini,local", timeline_providers="gemini,local", image_providers="replicate,local",
                  narration_providers="gemini,espeak",
                  replicate_api_token=replicate.token, replicate_base_url=replicate.url, replicate_poll_seconds=0.02,
                  replicate_deadline_seconds=10, provider_retry_attempts=2, provider_retry_initial_seconds=0.01,
                  provider_retry_max_wait_seconds=0.05, provider_retry_seconds=5)
    values.update(overrides)
    key = values.pop("gemini_api_key", None)  # configure() sets the fake's own key unless told otherwise
    return gemini.configure(load_settings(**values), **({"gemini_api_key": key} if key else {}))


class Run:
    """One app on one home; jobs submitted and run to the end, facts read back."""

    def __init__(self, settings):
        self.settings = settings
        self.app = create_app(settings)
        upgrade_database(self.app)

    def job(self, body: str = ARTICLE, name: str = "harbour.md") -> int:
        with self.app.app_context():
            job_id = accept(body.encode(), name, None, self.settings).job_id
        run_job(self.app, job_id)
        return job_id

    def ledger(self, job_id: int) -> list[ProviderCall]:
        with self.app.app_context():
            rows = db.session.scalars(sa.select(ProviderCall).where(ProviderCall.job_id == job_id)
                                      .order_by(ProviderCall.id)).all()
            db.session.expunge_all()
            return list(rows)

    def job_facts(self, job_id: int) -> dict:
        with self.app.app_context():
            job = db.session.get(Job, job_id)
            images = [a.provider for a in job.assets if a.kind == AssetKind.IMAGE]
            voices = [a.provider for a in job.assets if a.kind == AssetKind.NARRATION]
            body = self.app.test_client().get(f"/api/v1/jobs/{job_id}",
                                              headers={"Authorization": f"Bearer {TOKEN}"}).get_json()["job"]
            return {"status": job.status, "degraded": job.degraded, "notes": list(job.notes), "error": job.error,
                    "images": images, "voices": voices, "api_cost": body["cost"], "slug": job.slug}

    def manifest(self, slug: str) -> dict:
        return json.loads((self.settings.outbox_dir / f"{slug}.json").read_text(encoding="utf-8"))

    def close(self) -> None:
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def run(tmp_path, fake_gemini, fake_replicate):
    fake_gemini.respond_with(answer_like_gemini)
    runs: list[Run] = []

    def start(**overrides) -> Run:
        runs.append(Run(remote_settings(tmp_path, fake_gemini, fake_replicate, **overrides)))
        return runs[-1]

    yield start
    for each in runs:
        each.close()


def test_a_job_through_gemini_and_flux_then_a_rerun_that_pays_nothing(run, fake_gemini, fake_replicate):
    app = run()
    first = app.job()
    facts, ledger = app.job_facts(first), app.ledger(first)
    manifest = app.manifest(facts["slug"])
    scenes = len(manifest["scenes"])
    assert facts["status"] == JobStatus.SUCCEEDED and not facts["degraded"], facts["notes"]
    assert {"gemini", "replicate"} <= set(manifest["providers"])
    assert facts["images"] == ["replicate"] * scenes and facts["voices"] == ["gemini"] * scenes
    assert "timeline: timeline planned by Gemini" in facts["notes"], facts["notes"]
    # The ledger equals what the vendors counted: every Gemini request, every FLUX prediction.
    gemini_rows = [r for r in ledger if r.provider == "gemini"]
    flux_rows = [r for r in ledger if r.provider == "replicate"]
    assert len(gemini_rows) == fake_gemini.count("generateContent")
    assert len(flux_rows) == fake_replicate.creates == scenes
    assert all(r.outcome == "ok" and not r.cached for r in ledger)
    assert sum(r.images for r in flux_rows) == scenes
    total = sum(r.price_usd for r in ledger)
    assert total == pytest.approx(scenes * 0.003 + sum(r.price_usd for r in gemini_rows)) and total > scenes * 0.003
    assert manifest["cost"] == facts["api_cost"] == {"total_usd": round(total, 6), "paid_calls": len(ledger),
                                                     "failed_calls": 0, "cached_calls": 0}
    print(f"\nfirst run: {len(ledger)} paid calls ({len(gemini_rows)} Gemini, {len(flux_rows)} FLUX), ${total:.6f}")

    requests_before, creates_before = len(fake_gemini.requests), fake_replicate.creates
    second = app.job(ARTICLE + "\n", "harbour-again.md")  # the same article saved again
    again, reledger = app.job_facts(second), app.ledger(second)
    assert len(fake_gemini.requests) == requests_before and fake_replicate.creates == creates_before, \
        "a re-run of the same article made a paid call"
    assert again["status"] == JobStatus.SUCCEEDED and not again["degraded"]
    assert all(r.cached and r.price_usd == 0 for r in reledger) and len(reledger) == len(ledger)
    assert app.manifest(again["slug"])["cost"] == {"total_usd": 0.0, "paid_calls": 0, "failed_calls": 0,
                                                   "cached_calls": len(ledger)}
    assert {"gemini", "replicate"} <= set(app.manifest(again["slug"])["providers"])
    print(f"re-run: 0 paid calls, $0.000000, {len(reledger)} calls saved by the cache")


def test_services_down_for_good_finish_on_local_marked_degraded(run, fake_gemini, fake_replicate):
    fake_gemini.script(*[unavailable() for _ in range(200)])
    fake_replicate.fail("POST", "/predictions", 503, count=1000)
    app = run(provider_breaker_failures=4)
    job_id = app.job()
    facts, ledger = app.job_facts(job_id), app.ledger(job_id)
    manifest = app.manifest(facts["slug"])
    assert facts["status"] == JobStatus.SUCCEEDED and facts["degraded"] and manifest["degraded"]
    assert set(manifest["providers"]) == {"local", "espeak"}
    notes = " | ".join(facts["notes"])
    assert "voice: gemini failed after 2 attempts" in notes and "used local instead" in notes
    assert "images: replicate" in notes and "narration: gemini" in notes and "used espeak instead" in notes
    assert "circuit breaker open" in notes, "the breaker should have stopped the calls to a service that is down"
    assert len([r for r in ledger if r.provider == "gemini"]) == fake_gemini.count("generateContent")
    assert all(r.outcome != "ok" and r.price_usd == 0 for r in ledger)
    assert manifest["cost"]["paid_calls"] == 0 and manifest["cost"]["failed_calls"] == len(ledger)
    assert fake_replicate.creates == 0


def test_an_invalid_key_falls_back_and_names_the_setting(run, fake_gemini, fake_replicate):
    app = run(gemini_api_key="AIza-not-the-right-key-000000000000000", replicate_api_token="r8_wrong_token")
    job_id = app.job()
    facts = app.job_facts(job_id)
    assert facts["status"] == JobStatus.SUCCEEDED and facts["degraded"]
    voice_note = next(n for n in facts["notes"] if n.startswith("voice: gemini"))
    assert "GEMINI_API_KEY" in voice_note
    image_note = next(n for n in facts["notes"] if n.startswith("images: replicate"))
    assert "REPLICATE_API_TOKEN" in image_note
    assert fake_gemini.count("generateContent") == 3, "a bad key is permanent: asked once per stage (voice, " \
                                                     "timeline, narration), never once per scene"
    assert "AIza-not-the-right-key" not in json.dumps(facts["notes"])


def test_a_budget_too_small_fails_the_job_before_any_paid_call(run, fake_gemini, fake_replicate):
    app = run(max_cost_per_job=0.0000001)
    with app.app.app_context():
        job_id = accept(ARTICLE.encode(), "harbour.md", None, app.settings).job_id
    with pytest.raises(JobFailed) as caught:
        run_job(app.app, job_id)
    facts = app.job_facts(job_id)
    assert not caught.value.retryable and facts["status"] == JobStatus.FAILED
    assert "past its limit of $0.0000" in facts["error"]
    error_file = (app.settings.outbox_dir / f"{facts['slug']}.error.txt").read_text()
    assert "raise MEDIABUDDY_MAX_COST_PER_JOB" in error_file
    assert fake_gemini.count("generateContent") == 0 and fake_replicate.creates == 0 and app.ledger(job_id) == []


def test_doctor_and_start_up_check_each_configured_credential(tmp_path, fake_gemini, fake_replicate, caplog):
    from server.doctor import credential_checks, warn_about_credentials

    good = remote_settings(tmp_path, fake_gemini, fake_replicate)
    checks = {c.name: c for c in credential_checks(good)}
    assert checks["Gemini key"].state == "ok" and "key accepted" in checks["Gemini key"].detail
    assert checks["Replicate token"].state == "ok" and "token works" in checks["Replicate token"].detail

    bad = remote_settings(tmp_path, fake_gemini, fake_replicate, gemini_api_key="AIza-wrong-key-0000000000000000000",
                          replicate_api_token="r8_wrong_token")
    checks = {c.name: c for c in credential_checks(bad)}
    assert checks["Gemini key"].state == "fail" and "GEMINI_API_KEY" in checks["Gemini key"].detail
    assert checks["Replicate token"].state == "fail" and "REPLICATE_API_TOKEN" in checks["Replicate token"].detail
    with caplog.at_level("WARNING", logger="mediabuddy.doctor"):
        warn_about_credentials(bad)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(w.startswith("Gemini key does not work") and "GEMINI_API_KEY" in w for w in warnings)
    assert any(w.startswith("Replicate token does not work") for w in warnings)
    assert not any("AIza-wrong-key" in w or "r8_wrong_token" in w for w in warnings), "a secret reached the log"

    offline = load_settings(home=tmp_path / "offline")
    assert {c.state for c in credential_checks(offline)} == {"info"}


def test_a_429_storm_is_waited_out_and_expired_images_fall_back(run, fake_gemini, fake_replicate):
    fake_gemini.script(*[rate_limited(retry_after=0.2) for _ in range(3)])
    fake_replicate.expire_all = True  # every FLUX output URL answers 404
    app = run(provider_retry_attempts=5, narration_providers="espeak")
    job_id = app.job()
    facts, ledger = app.job_facts(job_id), app.ledger(job_id)
    assert facts["status"] == JobStatus.SUCCEEDED
    assert not any(n.startswith("voice: gemini") for n in facts["notes"]), "the storm passed: no fallback for voice"
    outcomes = [r.outcome for r in ledger if r.provider == "gemini"]
    assert outcomes[:4] == ["ProviderError 429"] * 3 + ["ok"] and set(outcomes[4:]) == {"ok"}  # then the timeline
    assert len([r for r in ledger if r.provider == "gemini"]) == fake_gemini.count("generateContent")
    image_note = next(n for n in facts["notes"] if n.startswith("images: replicate"))
    assert facts["degraded"] and "used local instead" in image_note and facts["images"] == ["local"] * len(facts["images"])
    flux_rows = [r for r in ledger if r.provider == "replicate"]
    assert len(flux_rows) == fake_replicate.creates and sum(r.images for r in flux_rows) == fake_replicate.creates


def test_a_hanging_service_is_abandoned_in_bounded_time(run, fake_gemini, fake_replicate):
    fake_gemini.script(*[hang(5) for _ in range(10)])
    app = run(gemini_timeout_seconds=1, narration_providers="espeak", image_providers="local")
    started = time.monotonic()
    job_id = app.job()
    facts = app.job_facts(job_id)
    assert facts["status"] == JobStatus.SUCCEEDED and facts["degraded"]
    assert any(n.startswith("voice: gemini failed after 2 attempts") for n in facts["notes"]), facts["notes"]
    assert time.monotonic() - started < 30
