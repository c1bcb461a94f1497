"""The Gemini client and narrator: the real google-genai SDK against a local Gemini that misbehaves."""

from __future__ import annotations

import logging
import time
import wave
from pathlib import Path
from typing import Iterator

import numpy as np
import pydantic
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from config import ModelPrice, Settings, load_settings
from server.errors import BudgetExceeded, NotConfigured, ProviderError
from server.extensions import db
from server.intake import accept
from server.models import ProviderCall
from server.pipeline.ledger import Ledger
from server.providers import resilience
from server.providers.clients.gemini import GeminiClient, check_credentials
from server.providers.clients.gemini_errors import parse_duration, parse_retry_after
from server.providers.narration.gemini import PROVIDER as GeminiNarrator, speech_pieces
from server.providers.types import NarrationRequest, Usage
from tests.fakes.gemini import fake_gemini  # noqa: F401 - the fixture
from tests.fakes.gemini import (KEY, FakeGemini, Reply, audio, blocked, continuing, hang, internal, json_reply,
                                malformed, max_tokens, rate_limited, safety_stop, text, unavailable)
from tests.fakes.gemini_replies import RATE, speech

pytestmark = pytest.mark.clients


class Plan(pydantic.BaseModel):
    title: str
    scenes: list[str] = pydantic.Field(min_length=1)
    minutes: int = pydantic.Field(ge=1)


GOOD_PLAN = {"title": "Tides", "scenes": ["The moon pulls the sea."], "minutes": 2}



@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No database here: these tests need the Gemini settings only (and run once, not per database)."""
    return load_settings(home=tmp_path)


@pytest.fixture
def gemini_settings(settings: Settings, fake_gemini: FakeGemini) -> Settings:
    return fake_gemini.configure(settings, gemini_timeout_seconds=1.0, provider_retry_attempts=3,
                                 provider_retry_seconds=10.0, provider_retry_initial_seconds=0.01,
                                 provider_retry_max_wait_seconds=0.05, provider_breaker_failures=4,
                                 provider_breaker_reset_seconds=30.0)


@pytest.fixture
def client(gemini_settings) -> Iterator[GeminiClient]:  # noqa: ANN001
    with GeminiClient(gemini_settings) as gemini:
        yield gemini


@pytest.fixture(scope="module")
def ledger_app(tmp_path_factory):  # noqa: ANN001, ANN201 - a Flask app
    """One migrated SQLite database for the module; each test gets its own job in it."""
    from server import create_app, upgrade_database

    application = create_app(load_settings(home=tmp_path_factory.mktemp("ledger")))
    upgrade_database(application)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def meter(ledger_app, settings: Settings) -> Ledger:
    """The real cost ledger of a real job: every paid request must leave one row."""
    with ledger_app.app_context():
        job = accept(f"# Tides\n\nThe sea rises and falls ({settings.home.name}).\n".encode(), "tides.md", None,
                     settings)
        return Ledger(db.engine, settings, job.job_id, "narration")


def rows(ledger: Ledger) -> list[ProviderCall]:
    with Session(ledger.engine) as session:
        return list(session.scalars(sa.select(ProviderCall).where(ProviderCall.job_id == ledger.job_id)
                                    .order_by(ProviderCall.id)))


# Answers -----------------------------------------------------------------------------------


def test_text_reply_carries_usage_model_and_a_bounded_thinking_budget(client, fake_gemini, meter):
    fake_gemini.script(text("Tides follow the moon.", prompt_tokens=31, thoughts=7))
    reply = client.generate_text("Why are there tides?", meter=meter, system="Answer in one sentence.")
    assert reply.text == "Tides follow the moon."
    assert reply.model == "gemini-3.5-flash-lite"
    assert reply.usage == Usage(input_tokens=31, output_tokens=len(reply.text) // 4 + 7)
    seen = fake_gemini.requests[-1]
    assert (seen.version, seen.model, seen.action, seen.key_sent) == ("v1beta", "gemini-3.5-flash-lite",
                                                                      "generateContent", True)
    assert seen.body["systemInstruction"]["parts"][0]["text"] == "Answer in one sentence."
    config = seen.body["generationConfig"]
    assert config["maxOutputTokens"] == 8192
    assert config["thinkingConfig"] in ({"thinkingBudget": 1024}, {"thinking_budget": 1024})
    assert [(r.provider, r.model, r.input_tokens, r.output_tokens, r.outcome) for r in rows(meter)] == [
        ("gemini", "gemini-3.5-flash-lite", 31, reply.usage.output_tokens, "ok")]
    assert rows(meter)[0].price_usd == pytest.approx((31 * 0.30 + reply.usage.output_tokens * 2.50) / 1e6)


def test_api_version_and_model_come_from_settings(gemini_settings, fake_gemini, meter):
    settings = gemini_settings.model_copy(update={"gemini_api_version": "v1", "gemini_model": "gemini-3.8-flash"})
    with GeminiClient(settings) as gemini:
        assert gemini.generate_text("hello", meter=meter).model == "gemini-3.8-flash"
    assert fake_gemini.requests[-1].path == "/v1/models/gemini-3.8-flash:generateContent"


def test_json_reply_is_validated_against_the_model(client, fake_gemini, meter):
    fake_gemini.respond_with(lambda request: GOOD_PLAN)
    reply = client.generate_json("Plan a video about tides.", Plan, meter=meter)
    assert reply.value == Plan(**GOOD_PLAN) and not reply.repaired
    config = fake_gemini.requests[-1].body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["type"] == "OBJECT"
    assert set(config["responseSchema"]["required"]) == {"title", "scenes", "minutes"}


@pytest.mark.parametrize("first, problem", [
    (json_reply({"title": "Tides", "scenes": [], "minutes": 0}), "minutes"),   # valid JSON, breaks the rules
    (text('{"title": "Tides", "scenes": ["The moon"'), "Invalid JSON"),          # cut off
    (text("Sure! Here is your plan: the moon pulls the sea."), "Invalid JSON"),  # not JSON at all
], ids=["schema-invalid", "truncated", "prose"])
def test_one_repair_prompt_quotes_the_validation_error(client, fake_gemini, meter, first, problem):
    fake_gemini.script(first, json_reply(GOOD_PLAN))
    reply = client.generate_json("Plan a video about tides.", Plan, meter=meter)
    assert reply.value == Plan(**GOOD_PLAN) and reply.repaired
    assert fake_gemini.count() == 2 and len(rows(meter)) == 2
    repair = fake_gemini.requests[-1].body["contents"]
    assert [c["role"] for c in repair] == ["user", "model", "user"]
    assert repair[1]["parts"][0]["text"] == first.body["candidates"][0]["content"]["parts"][0]["text"]
    assert "did not match the required JSON schema" in repair[2]["parts"][0]["text"]
    assert problem in repair[2]["parts"][0]["text"]
    assert reply.usage.input_tokens == 24  # both calls counted


def test_a_second_invalid_answer_is_a_clear_permanent_failure(client, fake_gemini, meter):
    fake_gemini.script(json_reply({"title": "x"}), json_reply({"title": "x", "scenes": []}))
    with pytest.raises(ProviderError) as caught:
        client.generate_json("Plan.", Plan, meter=meter)
    error = caught.value
    assert error.permanent and error.setting == "MEDIABUDDY_GEMINI_MODEL"
    assert "twice answered JSON that does not match Plan" in error.message and "scenes" in error.message
    assert fake_gemini.count() == 2  # one repair, no blind retries


@pytest.mark.parametrize("refusal, words", [
    (blocked("PROHIBITED_CONTENT"), "blockReason PROHIBITED_CONTENT"),
    (safety_stop(), "stopped its answer for SAFETY"),
    (Reply(body={"candidates": [], "usageMetadata": {"promptTokenCount": 12}}), "no candidates"),
], ids=["blocked-prompt", "finish-safety", "no-candidates"])
def test_safety_refusals_are_permanent_and_not_retried(client, fake_gemini, meter, refusal, words):
    fake_gemini.script(refusal)
    with pytest.raises(ProviderError) as caught:
        client.generate_text("Something the model refuses.", meter=meter)
    assert caught.value.permanent and words in caught.value.message
    assert fake_gemini.count() == 1 and rows(meter)[0].outcome == "ProviderError"
    assert rows(meter)[0].input_tokens == 12  # a refused prompt is still billed for its input


def test_max_tokens_without_text_names_the_thinking_budget(client, fake_gemini, meter):
    fake_gemini.script(max_tokens(thoughts=8000))
    with pytest.raises(ProviderError) as caught:
        client.generate_text("Think hard.", meter=meter)
    error = caught.value
    assert error.permanent and error.setting == "MEDIABUDDY_GEMINI_THINKING_BUDGET"
    assert "8000 thinking tokens" in error.message
    assert rows(meter)[0].output_tokens == 8000 and fake_gemini.count() == 1


# Failures and retries ------------------------------------------------------------------------


@pytest.mark.parametrize("reply, wait", [(rate_limited(retry_after=0.6), 0.6),
                                         (rate_limited(retry_delay="0.7s"), 0.7),
                                         (rate_limited(retry_after=0.2, retry_delay="0.8s"), 0.8)],
                         ids=["retry-after", "retry-info", "both"])
def test_429_waits_as_long_as_gemini_asks(client, fake_gemini, meter, reply, wait):
    fake_gemini.script(reply, text("ok"))
    started = time.monotonic()
    assert client.generate_text("hello", meter=meter).text == "ok"
    assert time.monotonic() - started >= wait
    assert fake_gemini.count() == 2 and [r.outcome for r in rows(meter)] == ["ProviderError 429", "ok"]


def test_a_spent_daily_quota_is_not_retried(client, fake_gemini, meter):
    fake_gemini.script(rate_limited(retry_delay="20s", daily=True), text("never reached"))
    with pytest.raises(ProviderError) as caught:
        client.generate_text("hello", meter=meter)
    error = caught.value
    assert (error.status, error.permanent, error.setting) == (429, True, "GEMINI_API_KEY")
    assert "PerDay" in error.message and fake_gemini.count() == 1


def test_5xx_bursts_are_retried_and_bounded(client, fake_gemini, meter):
    fake_gemini.script(unavailable(), internal(), text("after the burst"))
    assert client.generate_text("hello", meter=meter).text == "after the burst"
    assert fake_gemini.count() == 3
    fake_gemini.script(*[unavailable()] * 10)
    with pytest.raises(ProviderError) as caught:
        client.generate_text("hello", meter=meter)
    assert caught.value.status == 503 and not caught.value.permanent and caught.value.attempts == 3
    assert fake_gemini.count() == 6 and len(rows(meter)) == 6  # ledger rows == requests the vendor saw


def test_a_hang_longer_than_the_timeout_is_abandoned_and_retried(client, fake_gemini, meter):
    fake_gemini.script(hang(20), text("second try"))
    started = time.monotonic()
    assert client.generate_text("hello", meter=meter).text == "second try"
    assert time.monotonic() - started < 10  # the hang lasts 20 s: the client did not wait for it
    fake_gemini.script(*[hang(20)] * 3)
    with pytest.raises(ProviderError) as caught:
        client.generate_text("hello", meter=meter)
    assert "within 1 s (MEDIABUDDY_GEMINI_TIMEOUT_SECONDS)" in caught.value.message and not caught.value.permanent


def test_an_answer_that_is_not_json_is_transient(client, fake_gemini, meter):
    fake_gemini.script(malformed(), text("fine"))
    assert client.generate_text("hello", meter=meter).text == "fine"
    assert fake_gemini.count() == 2


def test_an_unreachable_service_names_the_base_url(gemini_settings, meter):
    from tests.conftest import free_port

    settings = gemini_settings.model_copy(update={"gemini_base_url": f"http://127.0.0.1:{free_port()}"})
    with GeminiClient(settings) as gemini, pytest.raises(ProviderError) as caught:
        gemini.generate_text("hello", meter=meter)
    assert "cannot reach" in caught.value.message and caught.value.setting == "MEDIABUDDY_GEMINI_BASE_URL"
    assert not caught.value.permanent and caught.value.attempts == 3


def test_invalid_key_fails_fast_and_never_shows_a_key(gemini_settings, fake_gemini, meter, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "AIzaWRONG-key-0123456789abcdefghijkl"
    settings = fake_gemini.configure(gemini_settings, gemini_api_key=wrong)
    with GeminiClient(settings) as gemini, pytest.raises(ProviderError) as caught:
        gemini.generate_text("hello", meter=meter)
    error = caught.value
    assert (error.status, error.permanent, error.setting) == (400, True, "GEMINI_API_KEY")
    assert "API key not valid" in error.message and "set GEMINI_API_KEY" in error.message
    assert fake_gemini.count() == 1  # a 400 is never retried
    shown = " ".join([str(error), repr(error), error.message, error.hint, str(error.__cause__), caplog.text])
    assert wrong not in shown and KEY not in shown


def test_the_sdks_own_environment_variables_change_nothing(client, fake_gemini, meter, monkeypatch):
    # Only config.py reads the environment; the SDK would switch to Vertex AI or another API version.
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "v1alpha")
    monkeypatch.setenv("GOOGLE_API_KEY", "AIzaFROM-THE-ENVIRONMENT-0123456789")
    assert client.generate_text("hello", meter=meter).text
    seen = fake_gemini.requests[-1]
    assert seen.path.startswith("/v1beta/models/") and seen.key_sent and fake_gemini.problems == []


def test_no_key_declines_as_not_configured(settings):
    with pytest.raises(NotConfigured) as caught:
        GeminiClient(settings.model_copy(update={"gemini_api_key": None}))
    assert "GEMINI_API_KEY" in caught.value.reason


@pytest.mark.parametrize("setting, call", [
    ("MEDIABUDDY_GEMINI_MODEL", lambda g, m: g.generate_text("hello", meter=m, model="gemini-2.0-flash")),
    ("MEDIABUDDY_GEMINI_TTS_MODEL", lambda g, m: g.synthesize_speech("hello", meter=m, model="gemini-0-tts")),
], ids=["text", "speech"])
def test_unknown_model_names_the_setting_to_change(gemini_settings, fake_gemini, meter, setting, call):
    with GeminiClient(gemini_settings) as gemini, pytest.raises(ProviderError) as caught:
        call(gemini, meter)   # no price for it: refused before any request, naming the model setting
    assert (caught.value.permanent, caught.value.setting) == (True, setting)
    assert "MEDIABUDDY_PRICES" in caught.value.message and fake_gemini.count() == 0
    priced = gemini_settings.model_copy(update={"prices": {"gemini-2.0-flash": ModelPrice(input=1, output=1),
                                                           "gemini-0-tts": ModelPrice(input=1, audio_output=1)}})
    meter.prices = priced.model_prices
    with GeminiClient(priced) as gemini, pytest.raises(ProviderError) as caught:
        call(gemini, meter)   # priced but unknown to Gemini: its 404
    assert (caught.value.status, caught.value.permanent, caught.value.setting) == (404, True, setting)
    assert f"set {setting}" in caught.value.message and fake_gemini.count() == 1


def test_breaker_opens_on_a_503_storm_and_ignores_400s(gemini_settings, fake_gemini, meter):
    wrong = fake_gemini.configure(gemini_settings, gemini_api_key="AIzaWRONG-key-0123456789abcdefghijkl")
    with GeminiClient(wrong) as gemini:
        for _ in range(6):  # more permanent failures than the breaker allows transient ones
            with pytest.raises(ProviderError) as caught:
                gemini.generate_text("hello", meter=meter)
            assert caught.value.status == 400
    with GeminiClient(gemini_settings) as gemini:
        assert gemini.generate_text("still closed", meter=meter).text  # 400s did not open the breaker
        fake_gemini.script(*[unavailable()] * 20)
        with pytest.raises(ProviderError):
            gemini.generate_text("storm", meter=meter)   # 3 attempts
        with pytest.raises(resilience.CircuitOpen):
            gemini.generate_text("storm", meter=meter)   # the 4th failure opens it
        before = fake_gemini.count()
        with pytest.raises(resilience.CircuitOpen):
            gemini.generate_text("storm", meter=meter)
        assert fake_gemini.count() == before  # refused without a request


# Free calls and the credential check ---------------------------------------------------------


def test_count_tokens_and_list_models(client, fake_gemini):
    assert client.count_tokens("one two three four five six seven eight") == len("one two three four five six "
                                                                                  "seven eight") // 4
    assert "gemini-3.5-flash-lite" in client.list_models()
    assert fake_gemini.count("countTokens") == 1 and fake_gemini.count("list") == 1


def test_check_credentials(gemini_settings, fake_gemini):
    assert "gemini-3.5-flash-lite" in check_credentials(gemini_settings) and "available" in check_credentials(
        gemini_settings)
    with pytest.raises(ProviderError) as caught:
        check_credentials(fake_gemini.configure(gemini_settings, gemini_api_key="AIzaWRONG-0123456789abcdefghijkl"))
    assert caught.value.setting == "GEMINI_API_KEY" and "AIzaWRONG" not in str(caught.value)
    fake_gemini.models.discard("gemini-3.5-flash-lite")
    with pytest.raises(ProviderError) as caught:
        check_credentials(gemini_settings)
    assert caught.value.setting == "MEDIABUDDY_GEMINI_MODEL"
    with pytest.raises(NotConfigured):
        check_credentials(gemini_settings.model_copy(update={"gemini_api_key": None}))
    fake_gemini.models.add("gemini-3.5-flash-lite")
    fake_gemini.script(hang(20))  # a hung service: the check gives up after its timeout, once
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        check_credentials(gemini_settings.model_copy(update={"gemini_timeout_seconds": 1.0}))
    assert "within 1 s" in caught.value.message and time.monotonic() - started < 8


def test_retry_hints_parse():
    assert parse_duration("7s") == 7.0 and parse_duration("1.5s") == 1.5
    assert parse_duration({"seconds": 2, "nanos": 500_000_000}) == 2.5 and parse_duration("soon") is None
    assert parse_retry_after("3") == 3.0 and parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("later") is None


# Speech --------------------------------------------------------------------------------------


def test_narrator_writes_24khz_wav_with_captions(gemini_settings, fake_gemini, meter, tmp_path: Path):
    narrator = GeminiNarrator(gemini_settings.model_copy(update={"gemini_tts_voice": "Puck"}))
    assert narrator.speaks("en") and narrator.speaks("ja-JP") and not narrator.speaks("xx")
    fake_gemini.script(audio(1.5))
    text_ = "The tide comes in. Then, slowly, it goes out again."
    clip = narrator.narrate(NarrationRequest(text=text_, pause_ms=300), tmp_path / "scene.wav", meter)
    with wave.open(str(clip.path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
        assert wav.getnframes() == 24000 * 1.5 + 24000 * 300 // 1000
    assert clip.duration_ms == 1800 and clip.provider == "gemini"
    assert " ".join(c.text for c in clip.captions) == text_ and [w.text for w in clip.words] == text_.split()
    assert clip.captions[0].start_ms == 0 and clip.captions[-1].end_ms == 1500   # a tone: no pause to go by
    config = fake_gemini.requests[-1].body["generationConfig"]
    assert config["responseModalities"] == ["AUDIO"] and "Puck" in str(config)
    assert [(r.model, r.audio_tokens) for r in rows(meter)] == [("gemini-3.8-flash-lite-tts", 48)]
    assert rows(meter)[0].price_usd == pytest.approx((10 * 0.50 + 48 * 6.00) / 1e6)


def test_gemini_speech_gets_word_timings_from_its_pauses(gemini_settings, fake_gemini, meter, tmp_path: Path):
    """Gemini gives no word timings. Real speech (espeak-ng's, which reports where each word
    starts) served as Gemini's answer: the narrator finds the words in the pauses. Every
    word after punctuation (where a caption cue starts) lands within 60 ms of where espeak
    said it; spread by length over the clip as before, they were up to ~500 ms off."""
    from server.providers.narration.espeak import EspeakNarrator

    text_ = ("The fetch API lets a page ask a server for data. It answers with a promise, and the promise "
             "resolves to the response when the headers arrive.")
    samples, rate, spans = EspeakNarrator().speak_timed(text_)
    assert spans is not None
    at_24k = np.interp(np.arange(len(samples) * RATE // rate) * rate / RATE, np.arange(len(samples)), samples)
    fake_gemini.script(speech(np.round(at_24k).astype("<i2").tobytes()))
    clip = GeminiNarrator(gemini_settings).narrate(NarrationRequest(text=text_, pause_ms=300), tmp_path / "s.wav", meter)
    truth = [a * 1000 // rate for a, _ in spans]
    found = [w.start_ms for w in clip.words]
    tokens = text_.split()
    after_punctuation = [i for i in range(1, len(tokens)) if tokens[i - 1][-1] in ".,"]
    assert after_punctuation and all(abs(found[i] - truth[i]) <= 60 for i in after_punctuation), \
        [(tokens[i], found[i], truth[i]) for i in after_punctuation]
    errors = sorted(abs(f - t) for f, t in zip(found, truth))
    assert errors[len(errors) // 2] <= 80                       # the median word, placed by length between pauses
    cue_starts = {c.start_ms for c in clip.captions}
    assert all(found[i] in cue_starts for i in after_punctuation if tokens[i - 1][-1] == ".")   # cues carry them
    assert clip.captions[0].words and clip.captions[-1].end_ms <= clip.duration_ms - 300


def test_long_text_is_spoken_in_pieces_under_the_input_limit(gemini_settings, fake_gemini, meter, tmp_path):
    long_text = "The moon pulls the sea toward it, and the sea answers. " * 150   # ~8,300 characters
    pieces = speech_pieces(long_text)
    assert len(pieces) == 3 and all(len(p) <= 4000 for p in pieces) and " ".join(pieces) == long_text.strip()
    assert speech_pieces("字" * 9000) == ["字" * 4000, "字" * 4000, "字" * 1000]  # no spaces: cut at the limit
    fake_gemini.script(audio(0.5), audio(0.5), audio(0.3))
    clip = GeminiNarrator(gemini_settings).narrate(NarrationRequest(text=long_text), tmp_path / "long.wav", meter)
    assert fake_gemini.count() == 3 and len(rows(meter)) == 3
    assert clip.duration_ms > 0 and clip.captions[-1].end_ms <= clip.duration_ms


def test_a_speech_model_that_answers_text_is_a_clear_error(gemini_settings, fake_gemini, meter, tmp_path):
    fake_gemini.script(text("I cannot speak."))
    with pytest.raises(ProviderError) as caught:
        GeminiNarrator(gemini_settings).narrate(NarrationRequest(text="Hello."), tmp_path / "x.wav", meter)
    assert caught.value.permanent and caught.value.setting == "MEDIABUDDY_GEMINI_TTS_MODEL"
    assert not (tmp_path / "x.wav").exists()


def test_an_empty_speech_answer_is_retried(gemini_settings, fake_gemini, meter, tmp_path):
    empty = {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "OTHER", "index": 0}],
             "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}
    fake_gemini.script(Reply(body=empty), audio(0.4))
    clip = GeminiNarrator(gemini_settings).narrate(NarrationRequest(text="Hello.", pause_ms=0), tmp_path / "e.wav",
                                                   meter)
    assert clip.duration_ms == 400 and fake_gemini.count() == 2
    assert [r.outcome for r in rows(meter)] == ["ProviderError", "ok"]


def test_narrator_declines_without_a_key(settings):
    with pytest.raises(NotConfigured):
        GeminiNarrator(settings.model_copy(update={"gemini_api_key": None}))


def test_a_truncated_text_answer_says_so(client, fake_gemini, meter):
    fake_gemini.script(text("The tide comes in and", finish="MAX_TOKENS"), text("Done."))
    assert client.generate_text("hello", meter=meter).truncated
    assert not client.generate_text("hello", meter=meter).truncated


class Loose(pydantic.BaseModel):
    counts: dict[str, int]   # additionalProperties: Gemini's schema subset cannot say it


def test_a_schema_gemini_cannot_express_is_a_permanent_error_before_any_request(client, fake_gemini, meter):
    with pytest.raises(ProviderError) as caught:
        client.generate_json("Count the words.", Loose, meter=meter)
    assert caught.value.permanent and "additionalProperties" in caught.value.message
    assert fake_gemini.count() == 0


def test_the_key_never_reaches_logs_or_errors(gemini_settings, fake_gemini, meter, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    fake_gemini.script(unavailable(), rate_limited(retry_after=0.01), text("{}"), json_reply(GOOD_PLAN), audio(0.2),
                       malformed(), internal(), internal())
    shown: list[str] = []
    with GeminiClient(gemini_settings) as gemini:
        gemini.generate_json("Plan.", Plan, meter=meter)
        GeminiNarrator(gemini_settings).narrate(NarrationRequest(text="Hi."), tmp_path / "a.wav", meter)
        with pytest.raises(ProviderError) as caught:
            gemini.generate_text("hello", meter=meter)
        shown += [str(caught.value), repr(caught.value), str(caught.value.__cause__)]
    assert fake_gemini.count() == 8 and "internal error" in caplog.text  # the retries were logged
    assert KEY not in caplog.text + " ".join(shown) and KEY[:16] not in caplog.text
    assert KEY not in repr(fake_gemini.requests)  # not even the fake keeps it


def test_the_request_voice_is_used_only_when_it_is_a_gemini_voice(gemini_settings, fake_gemini, meter, tmp_path):
    narrator = GeminiNarrator(gemini_settings)
    assert narrator.voice_for(NarrationRequest(text="x", voice="puck")) == "Puck"
    assert narrator.voice_for(NarrationRequest(text="x", voice="joe-us-piper")) == "Kore"
    narrator.narrate(NarrationRequest(text="Hello.", voice="charon"), tmp_path / "v.wav", meter)
    assert "Charon" in str(fake_gemini.requests[-1].body["generationConfig"])


def test_check_credentials_covers_the_speech_model_when_gemini_narrates(gemini_settings, fake_gemini):
    narrating = gemini_settings.model_copy(update={"narration_providers": "gemini,piper"})
    assert "gemini-3.8-flash-lite-tts" in check_credentials(narrating)
    fake_gemini.models.discard("gemini-3.8-flash-lite-tts")
    with pytest.raises(ProviderError) as caught:
        check_credentials(narrating)
    assert caught.value.setting == "MEDIABUDDY_GEMINI_TTS_MODEL"
    silent = gemini_settings.model_copy(update={"narration_providers": "piper,espeak"})
    assert "tts" not in check_credentials(silent)  # not narrating with gemini: the speech model is not needed


def test_a_continued_answer_is_one_metered_request_per_hop(client, fake_gemini, meter):
    fake_gemini.script(continuing("The tide ", token=b"t1"), continuing("comes ", token=b"t2"), text("in."))
    reply = client.generate_text("hello", meter=meter)
    assert reply.text == "The tide comes in." and not reply.truncated
    assert fake_gemini.count() == 3 and len(rows(meter)) == 3
    assert [r.body.get("continuationToken") for r in fake_gemini.requests] == [None, "dDE=", "dDI="]
    assert reply.usage.input_tokens == 36


# The fake itself: it must catch what the real service would refuse ---------------------------


def test_the_fake_refuses_what_gemini_refuses_and_records_why():
    import json as json_
    import urllib.error
    import urllib.request

    fake = FakeGemini().start()
    try:
        def post(path: str, body: object, key: str | None = KEY) -> tuple[int, dict]:
            headers = {"Content-Type": "application/json", **({"x-goog-api-key": key} if key else {})}
            request = urllib.request.Request(fake.url + path, json_.dumps(body).encode(), headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    return answer.status, json_.loads(answer.read())
            except urllib.error.HTTPError as error:
                with error:
                    return error.code, json_.loads(error.read())

        good = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        assert post("/v1beta/models/gemini-3.5-flash-lite:generateContent", good, key=None)[0] == 403
        status, body = post("/v1/models/gemini-3.5-flash-lite:generateContent", good, key="AIzaWRONG")
        assert status == 400 and body["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        assert post("/v1beta/models/gemini-9:generateContent", good)[0] == 404
        assert fake.problems == []
        refused = [
            ({"contents": []}, "'contents' must be a non-empty list"),
            ({**good, "generationConfig": {"responseMimeType": "application/json",
                                           "responseSchema": {"type": "object"}}}, "must be upper-case"),
            ({**good, "generationConfig": {"responseSchema": {"type": "OBJECT"}}}, "needs responseMimeType"),
            ({**good, "continuationToken": "dDE="}, "continuationToken"),
        ]
        for body, why in refused:
            status, answer = post("/v1beta/models/gemini-3.5-flash-lite:generateContent", body)
            assert status == 400 and why in answer["error"]["message"] and why in fake.problems[-1]
        assert post("/v1beta/models/gemini-3.8-flash-lite-tts:generateContent", good)[0] == 400  # speech model
        assert post("/v1beta/models/gemini-3.5-flash-lite:countTokens?key=" + KEY, good)[0] == 200
        assert "key travels in the URL" in fake.problems[-1] and len(fake.problems) == 6
        fake.problems.clear()
        fake.respond_with(lambda request: "plain")
        assert post("/v1beta/models/gemini-3.5-flash-lite:generateContent", good)[1]["candidates"][0]["content"][
            "parts"][0]["text"] == "plain"
        fake.respond_with(lambda request: {"a": 1})
        assert json_.loads(post("/v1beta/models/gemini-3.5-flash-lite:generateContent", good)[1]["candidates"][0][
            "content"]["parts"][0]["text"]) == {"a": 1}
    finally:
        fake.stop()


@pytest.mark.parametrize("setting, value, says", [
    ("gemini_model", "gemini-2.5-flash", "MEDIABUDDY_GEMINI_MODEL: gemini-2.5-flash is retired"),
    ("gemini_tts_model", "gemini-2.5-pro", "MEDIABUDDY_GEMINI_TTS_MODEL: gemini-2.5-pro is retired"),
    ("gemini_model", "gemini-1.5-flash-002", "is retired"),
    ("gemini_tts_voice", "Joe", "MEDIABUDDY_GEMINI_TTS_VOICE: must be one of Gemini's prebuilt voices"),
    ("gemini_thinking_budget", 5000, "MEDIABUDDY_GEMINI_THINKING_BUDGET: must be at most half"),
    ("gemini_base_url", "generativelanguage.googleapis.com", "MEDIABUDDY_GEMINI_BASE_URL: must be an http"),
    ("gemini_api_version", "v2", "MEDIABUDDY_GEMINI_API_VERSION"),
])
def test_gemini_settings_are_validated_with_their_names(tmp_path, setting, value, says):
    from config import SettingsError

    with pytest.raises(SettingsError) as caught:
        load_settings(home=tmp_path, **{setting: value})
    assert says in str(caught.value)


def test_gemini_settings_defaults_are_current_and_normalised(tmp_path):
    settings = load_settings(home=tmp_path, gemini_model="models/gemini-3.8-flash", gemini_tts_voice="puck",
                             gemini_base_url="http://127.0.0.1:9/")
    assert (settings.gemini_model, settings.gemini_tts_voice, settings.gemini_base_url) == (
        "gemini-3.8-flash", "Puck", "http://127.0.0.1:9")
    defaults = load_settings(home=tmp_path)
    assert defaults.gemini_model in defaults.model_prices and defaults.gemini_tts_model in defaults.model_prices


def test_one_client_serves_threads_at_once(client, fake_gemini, meter):
    from concurrent.futures import ThreadPoolExecutor

    fake_gemini.respond_with(lambda request: {"title": request["contents"][0]["parts"][0]["text"], "scenes": ["x"],
                                              "minutes": 1})
    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(pool.map(lambda i: client.generate_json(f"plan {i}", Plan, meter=meter), range(12)))
    assert [r.value.title for r in replies] == [f"plan {i}" for i in range(12)]
    assert fake_gemini.count() == 12 == len(rows(meter))
