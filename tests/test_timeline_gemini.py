"""The Gemini timeline planner: the real google-genai SDK against the local Gemini fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config import Settings, load_settings
from server.errors import NotConfigured, ProviderError
from server.providers.timeline import rules
from server.providers.timeline.gemini import PROVIDER as GeminiTimeline, TimelinePlan
from server.providers.types import TimelineRequest
from tests.fakes.meter import RecordingMeter
from tests.fakes.gemini import FakeGemini, fake_gemini, prompt_text  # noqa: F401 - fake_gemini is a fixture

pytestmark = pytest.mark.clients

NARRATION = (
    "Bees keep a hive warm through the winter by clustering together around their queen and shivering "
    "their wing muscles.\n\n## Honey.\n\nOne bee makes a twelfth of a teaspoon of honey in its "
    "life, so every jar holds the work of hundreds of bees. Beekeepers leave enough honey in the hive "
    "for the colony to survive until the first spring flowers open.")
# What a good model would pick, sentence by sentence.
CONCEPTS = ("winter hive", "honey jar", "beekeeper")



@pytest.fixture
def settings(tmp_path: Path, fake_gemini: FakeGemini) -> Settings:  # noqa: F811
    return fake_gemini.configure(load_settings(home=tmp_path), gemini_timeout_seconds=5.0,
                                 provider_retry_attempts=2, provider_retry_initial_seconds=0.01,
                                 provider_retry_max_wait_seconds=0.05)


def narration_of(request_json: dict[str, Any]) -> str:
    return prompt_text(request_json).split("Narration (paragraphs separated by blank lines):\n\n", 1)[1] \
        .split("\n\nYour previous plan broke these rules:")[0]


def photographic_plan(narration: str) -> dict[str, Any]:
    """What a good model answers: one scene per sentence (the heading opens the second), one picture each."""
    sentences = [s.strip() for s in narration.replace("## ", "").replace("\n\n", " ").split(". ") if s.strip()]
    texts = [sentences[0] + ".", sentences[1] + ". " + sentences[2] + ".", sentences[3]]
    return {"scenes": [{"text": text, "concept": concept,
                        "visual": f"A close photograph of a {concept} on a wooden table in warm morning light."}
                       for text, concept in zip(texts, CONCEPTS)]}


def test_a_valid_plan_is_used_as_it_comes_with_chapters_from_the_headings(settings, fake_gemini) -> None:  # noqa: F811
    fake_gemini.respond_with(lambda body: photographic_plan(narration_of(body)))
    meter = RecordingMeter()
    timeline = GeminiTimeline(settings).plan(TimelineRequest(text=NARRATION, title="Bees"), meter)
    assert fake_gemini.count() == 1 and [r.outcome for r in meter.rows] == ["ok"]
    assert meter.rows[0].usage.input_tokens > 0
    assert all(s.visual.startswith("A close photograph of") for s in timeline.scenes)
    assert " ".join(s.text for s in timeline.scenes) == " ".join(NARRATION.replace("## ", "").split())
    assert [s.chapter for s in timeline.scenes if s.chapter] == ["Honey"]
    assert timeline.scenes[[s.chapter for s in timeline.scenes].index("Honey")].text.startswith("Honey.")
    assert rules.check(timeline.scenes) == []
    body = fake_gemini.requests[0].body
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert "scenes" in body["generationConfig"]["responseSchema"]["properties"]
    assert "word for word" in body["systemInstruction"]["parts"][0]["text"]


def test_a_composite_plan_is_sent_back_once_with_the_reasons(settings, fake_gemini) -> None:  # noqa: F811
    def answer(body: dict[str, Any]) -> dict[str, Any]:
        plan = photographic_plan(narration_of(body))
        if "previous plan broke these rules" not in prompt_text(body):
            plan["scenes"][0]["visual"] = "A queen bee with her workers and a honeycomb in a hive."
        return plan

    fake_gemini.respond_with(answer)
    meter = RecordingMeter()
    timeline = GeminiTimeline(settings).plan(TimelineRequest(text=NARRATION), meter)
    assert fake_gemini.count() == 2 and len(meter.rows) == 2
    second = prompt_text(fake_gemini.requests[1].body)
    assert "scene 0: visual" in second and "describes more than one thing" in second
    assert rules.check(timeline.scenes) == []
    assert "after one correction" in timeline.notes[0]


def test_a_plan_that_rewrites_the_narration_fails_clearly_after_one_correction(settings, fake_gemini) -> None:  # noqa: F811
    def rewrite(body: dict[str, Any]) -> dict[str, Any]:
        plan = photographic_plan(narration_of(body))
        plan["scenes"][1]["text"] = plan["scenes"][1]["text"].replace("teaspoon", "spoonful")
        return plan

    fake_gemini.respond_with(rewrite)
    with pytest.raises(ProviderError) as caught:
        GeminiTimeline(settings).plan(TimelineRequest(text=NARRATION), RecordingMeter())
    assert caught.value.permanent and "broke the rules twice" in str(caught.value)
    assert fake_gemini.count() == 2
    assert "not the narration verbatim" in prompt_text(fake_gemini.requests[1].body)
    assert "teaspoon" in prompt_text(fake_gemini.requests[1].body)


def test_a_heading_inside_a_scene_is_a_reason_to_re_plan(settings, fake_gemini) -> None:  # noqa: F811
    def merged(body: dict[str, Any]) -> dict[str, Any]:
        plan = photographic_plan(narration_of(body))
        first, second = plan["scenes"][0], plan["scenes"][1]
        plan["scenes"][0:2] = [{**first, "text": f"{first['text']} {second['text']}"}]
        return plan

    fake_gemini.respond_with(merged)
    with pytest.raises(ProviderError):
        GeminiTimeline(settings).plan(TimelineRequest(text=NARRATION), RecordingMeter())
    assert "the heading “Honey.” must start a new scene" in prompt_text(fake_gemini.requests[1].body) or \
        "must start a new scene" in prompt_text(fake_gemini.requests[1].body)


def test_without_a_key_the_planner_declines_as_not_configured(tmp_path: Path) -> None:
    with pytest.raises(NotConfigured) as caught:
        GeminiTimeline(load_settings(home=tmp_path))
    assert "GEMINI_API_KEY" in caught.value.reason


def test_the_schema_is_the_one_sent(settings) -> None:
    assert set(TimelinePlan.model_json_schema()["$defs"]["ScenePlan"]["properties"]) == {"text", "concept", "visual"}
    assert GeminiTimeline(settings).fingerprint().startswith(settings.gemini_model)
