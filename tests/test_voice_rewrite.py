"""The Gemini rewrite in the author's voice, on the fake Gemini with the real SDK, and its checks."""

from __future__ import annotations

import json

import pytest

from server.errors import ProviderError
from server.extensions import db
from server.intake import accept
from server.models import Job
from server.pipeline.runner import run_job
from server.providers.types import VoiceRequest
from server.providers.voice import checks
from server.providers.voice.gemini import PROVIDER as GeminiVoice
from tests.conftest import CORPUS
from tests.fakes.meter import RecordingMeter
from tests.fakes.gemini import FakeGemini, fake_gemini, prompt_text  # noqa: F401 - fixture

pytestmark = pytest.mark.clients

SOURCE = ("The harbour opened in 1887 and handled 40,000 tonnes of coal a year.\n\n## The lighthouse\n\n"
          "Margaret Ellis kept the lamp lit for 31 years. She logged every ship that passed the point.")
FAITHFUL = [{"heading": "", "text": "Well, the harbour opened in 1887, and it handled 40,000 tonnes of coal a "
                                   "year; a good deal of coal, that is to say."},
            {"heading": "The lighthouse", "text": "Margaret Ellis kept that lamp lit for 31 years, and she "
                                                  "logged every ship that passed the point."}]



@pytest.fixture
def voice(settings, fake_gemini: FakeGemini) -> GeminiVoice:
    return GeminiVoice(fake_gemini.configure(settings, provider_retry_attempts=2,
                                             provider_retry_initial_seconds=0.01,
                                             provider_retry_max_wait_seconds=0.05))


def _answer(sections: list[dict[str, str]]) -> dict[str, object]:
    return {"sections": sections}


def test_checks_catch_invented_facts_markup_length_and_lost_headings():
    assert checks.problems(SOURCE, "\n\n".join(s["text"] if not s["heading"] else f"## {s['heading']}\n\n{s['text']}"
                                               for s in FAITHFUL)) == []
    bad = "Opened 1888 under Captain Morgan. See `docs` at https://x.org.\n\n## The lighthouse\n\nShort."
    reasons = " | ".join(checks.problems(SOURCE, bad))
    assert "1888" in reasons and "Morgan" in reasons and "backtick" in reasons and "URL" in reasons
    assert "fewer than" in reasons
    assert "headings" in checks.problems(SOURCE, "Margaret Ellis kept the lamp lit for 31 years " * 3)[-1]
    assert checks.named_entities("He met Ada Lovelace. Then he left.") == {"Ada", "Lovelace"}


def test_a_faithful_rewrite_keeps_headings_and_is_made_speakable(voice, fake_gemini):
    fake_gemini.respond_with(lambda body: _answer(FAITHFUL))
    meter = RecordingMeter()
    result = voice.rewrite(VoiceRequest(text=SOURCE, title="The harbour"), meter)
    assert result.rewritten and "## The lighthouse" in result.text
    assert "1887" not in result.text and "eighty-seven" in result.text  # the spoken form, after the checks
    assert fake_gemini.count() == 1 == len(meter.rows)
    sent = fake_gemini.requests[0].prompt
    assert json.dumps("The lighthouse") in sent and "add none" in json.dumps(fake_gemini.requests[0].body)


def test_an_invented_fact_is_sent_back_once_with_the_reason(voice, fake_gemini):
    invented = [dict(FAITHFUL[0], text=FAITHFUL[0]["text"] + " It closed in 1952."), FAITHFUL[1]]
    answers = iter([_answer(invented), _answer(FAITHFUL)])
    fake_gemini.respond_with(lambda body: next(answers))
    result = voice.rewrite(VoiceRequest(text=SOURCE), RecordingMeter())
    assert result.rewritten and fake_gemini.count() == 2
    assert "numbers that are not in the article: 1952" in fake_gemini.requests[1].prompt


def test_a_rewrite_that_fails_twice_is_a_provider_error(voice, fake_gemini):
    fake_gemini.respond_with(lambda body: _answer([{"heading": "", "text": "Captain Nemo sailed in 1870."}]))
    with pytest.raises(ProviderError, match="failed its checks twice") as caught:
        voice.rewrite(VoiceRequest(text=SOURCE), RecordingMeter())
    assert caught.value.permanent and fake_gemini.count() == 2


def test_the_style_guide_is_written_once_per_samples_and_model(voice, fake_gemini):
    def respond(body: dict) -> object:
        return ("Short plain sentences, dry humour." if "style guide of at most" in prompt_text(body)
                else _answer(FAITHFUL))

    fake_gemini.respond_with(respond)
    request = VoiceRequest(text=SOURCE, style_guide="Write in long sentences.", style_excerpts=("An excerpt.",))
    voice.rewrite(request, RecordingMeter())
    assert fake_gemini.count() == 2
    assert "Short plain sentences, dry humour." in fake_gemini.requests[1].prompt
    voice.rewrite(VoiceRequest(text=SOURCE + " More.", style_guide=request.style_guide,
                               style_excerpts=request.style_excerpts), RecordingMeter())
    assert fake_gemini.count() == 3  # the guide came from the cache


ARTICLE = ("---\ntitle: The harbour\n---\n" + SOURCE.replace("## The lighthouse", "## The lighthouse")).encode()


def _voice_stage(app, settings, body: bytes = ARTICLE) -> Job:
    app.extensions["mediabuddy.settings"] = settings
    with app.app_context():
        job_id = accept(body, "harbour.md", None, settings).job_id
    run_job(app, job_id, stages=("extract", "voice"))
    with app.app_context():
        job = db.session.get(Job, job_id)
        db.session.expunge(job)
        return job


def _in_twains_voice(body: dict) -> object:
    """Answer as a rewriting model would: the same sections, reworded a little."""
    prompt = prompt_text(body)
    if "style guide of at most" in prompt:
        return "Dry and plain."
    article = json.loads(prompt.split("same order):\n", 1)[1].split("\n", 1)[0])
    return _answer([{"heading": s["heading"], "text": f"Well, {s['text']} That is to say."}
                    for s in article["sections"]])


def test_a_job_is_rewritten_in_the_authors_voice(app, settings, fake_gemini):
    fake_gemini.respond_with(_in_twains_voice)
    configured = fake_gemini.configure(settings, voice_samples=CORPUS / "voice")
    job = _voice_stage(app, configured)
    assert "## The lighthouse" in job.spoken_text and "That is to say." in job.spoken_text
    assert not job.degraded
    assert any("in the author's voice" in n for n in job.notes)
    rewrite_prompt = fake_gemini.requests[-1].prompt
    assert "Dry and plain." in rewrite_prompt and "words on average" not in rewrite_prompt


def test_a_rewrite_that_keeps_failing_falls_back_to_the_articles_words(app, settings, fake_gemini):
    fake_gemini.respond_with(lambda body: _answer([{"heading": "", "text": "Captain Nemo sailed in 1870."}]))
    job = _voice_stage(app, fake_gemini.configure(settings))
    assert job.degraded and "Margaret Ellis" in job.spoken_text
    assert any("failed its checks twice" in n and "1870" in n for n in job.notes)
    assert any("no rewrite was done" in n for n in job.notes)
