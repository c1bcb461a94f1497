"""The timeline stage through the registry: Gemini on its fake when configured, the offline planner when not."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from config import Settings, load_settings
from server.extensions import db
from server.models import Job, ProviderCall
from server.pipeline.runner import run_job
from server.providers.timeline import rules
from server.providers.types import SceneSpec
from tests.fakes.gemini import FakeGemini, fake_gemini, prompt_text  # noqa: F401 - fake_gemini is a fixture

pytestmark = pytest.mark.pipeline

# Every sentence is 15–25 words, and each heading is short enough to open the scene after it.
ARTICLE = """---
title: Keeping bees
---

Bees keep their hive warm through the winter by clustering tightly around the queen and shivering their muscles.

## Honey

One bee makes a twelfth of a teaspoon of honey in its life, so every jar holds the work of hundreds.

Beekeepers always leave enough honey in the hive for the colony to survive until the first spring flowers open.
"""
STAGES = ("extract", "voice", "timeline")



@pytest.fixture
def settings(tmp_path: Path, database_url: str, fake_gemini: FakeGemini) -> Settings:  # noqa: F811
    base = load_settings(home=tmp_path, database_url=database_url, short_side=240,
                         api_token="test-token-0123456789abcdef")
    return fake_gemini.configure(base, voice_providers="local", timeline_providers="gemini,local",
                                 gemini_timeout_seconds=5.0, provider_retry_attempts=1)


def sentence_plan(body: dict[str, Any]) -> dict[str, Any]:
    """A good model's plan: one scene per sentence, a heading opening the scene after it."""
    narration = prompt_text(body).split("Narration (paragraphs separated by blank lines):\n\n", 1)[1]
    narration = narration.split("\n\nYour previous plan broke these rules:")[0]
    scenes, pending = [], ""
    for paragraph in narration.split("\n\n"):
        if paragraph.startswith("## "):
            pending = paragraph[3:].strip() + " "
            continue
        for sentence in re.findall(r"[^.!?]+[.!?]", paragraph):
            text = (pending + sentence.strip()).strip()
            pending = ""
            noun = [w for w in re.findall(r"[a-z]+", text.lower()) if w in ("hive", "honey", "flowers")][0]
            scenes.append({"text": text, "concept": noun,
                           "visual": f"A close photograph of {noun} in warm morning light on a wooden bench."})
    return {"scenes": scenes}


def _job(app, client) -> int:  # noqa: ANN001
    response = client.post("/api/v1/documents?filename=bees.md", data=ARTICLE.encode(),
                           headers={"Authorization": "Bearer test-token-0123456789abcdef",
                                    "Content-Type": "text/markdown"})
    assert response.status_code in (201, 202), response.json
    return response.json["job"]["id"]


def test_the_stage_uses_gemini_s_plan_with_chapters_and_counts_the_call(app, client, fake_gemini) -> None:  # noqa: F811
    fake_gemini.respond_with(sentence_plan)
    job_id = _job(app, client)
    run_job(app, job_id, stages=STAGES)
    with app.app_context():
        job = db.session.get(Job, job_id)
        scenes = [SceneSpec(s.index, s.text, s.concept, s.visual, s.chapter or "") for s in job.scenes]
        calls = db.session.query(ProviderCall).filter_by(job_id=job_id, stage="timeline").all()
        assert not job.degraded, job.notes
    assert fake_gemini.count() == 1 and [(c.provider, c.outcome) for c in calls] == [("gemini", "ok")]
    assert all(s.visual.startswith("A close photograph of") for s in scenes)
    assert [s.chapter for s in scenes] == ["Keeping bees", "Honey", ""]   # the title is spoken as a heading
    assert rules.check(scenes) == []


def test_a_plan_that_breaks_the_rules_twice_falls_back_to_the_offline_planner(app, client, fake_gemini) -> None:  # noqa: F811
    def composite(body: dict[str, Any]) -> dict[str, Any]:
        plan = sentence_plan(body)
        plan["scenes"][0]["visual"] = "A hive and a queen with her workers at dusk."
        return plan

    fake_gemini.respond_with(composite)
    job_id = _job(app, client)
    run_job(app, job_id, stages=STAGES)
    with app.app_context():
        job = db.session.get(Job, job_id)
        scenes = [SceneSpec(s.index, s.text, s.concept, s.visual, s.chapter or "") for s in job.scenes]
        assert job.degraded and any("gemini" in note and "broke the rules twice" in note for note in job.notes), \
            job.notes
    assert fake_gemini.count() == 2
    assert not any(s.visual.startswith("A close photograph") for s in scenes)   # the offline planner's scenes
    assert [p for p in rules.check(scenes) if p.rule != "boundary"] == []
    assert "Honey" in [s.chapter for s in scenes]
