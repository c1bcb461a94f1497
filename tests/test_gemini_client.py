"""The Gemini client and narrator: the real google-genai SDK against a local Gemini that misbehaves."""

from __future__ import annotations

import contextlib
import logging
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pydantic
import pytest

from config import Settings, load_settings
from server.errors import NotConfigured, ProviderError
from server.providers import resilience
from server.providers.clients.gemini import GeminiClient, check_credentials
from server.providers.clients.gemini_errors import parse_duration, parse_retry_after
from server.providers.narration.gemini import PROVIDER as GeminiNarrator, speech_pieces
from server.providers.types import NarrationRequest, Usage
from tests.fakes.gemini import (KEY, FakeGemini, audio, blocked, continuing, fake_gemini, hang, internal, invalid_key,  # noqa: F401
                                json_reply, malformed, max_tokens, rate_limited, safety_stop, text, unavailable,
                                unknown_model)

pytestmark = pytest.mark.clients


@dataclass
class Row:
    provider: str
    model: str
    estimate: float
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    detail: str = ""
    outcome: str = "ok"


class RecordingMeter:
    """A Meter that keeps its rows in memory, so a test can compare them with the fake's count."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    @contextlib.contextmanager
    def call(self, provider: str, model: str, *, estimate: float) -> Iterator[Row]:
        row = Row(provider, model, estimate)
        self.rows.append(row)
        try:
            yield row
        except BaseException as error:
            row.outcome = type(error).__name__
            raise


class Plan(pydantic.BaseModel):
    title: str
    scenes: list[str] = pydantic.Field(min_length=1)
    minutes: int = pydantic.Field(ge=1)


GOOD_PLAN = {"title": "Tides", "scenes": ["The moon pulls the sea."], "minutes": 2}


@pytest.fixture(autouse=True)
def fresh_breakers() -> Iterator[None]:
    resilience.reset_breakers()
    yield
    resilience.reset_breakers()


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


@pytest.fixture
def meter() -> RecordingMeter:
    return RecordingMeter()


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
    assert [(r.model, r.usage, r.outcome) for r in meter.rows] == [("gemini-3.5-flash-lite", reply.usage, "ok")]
    assert 0 < meter.rows[0].estimate < 0.05


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
    assert fake_gemini.count() == 2 and len(meter.rows) == 2
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


@pytest.mark.parametrize("refusal, words", [(blocked("PROHIBITED_CONTENT"), "blockReason PROHIBITED_CONTENT"),
                                            (safety_stop(), "stopped its answer for SAFETY")],
                         ids=["blocked-prompt", "finish-safety"])
def test_safety_refusals_are_permanent_and_not_retried(client, fake_gemini, meter, refusal, words):
    fake_gemini.script(refusal)
    with pytest.raises(ProviderError) as caught:
        client.generate_text("Something the model refuses.", meter=meter)
    assert caught.value.permanent and words in caught.value.message
    assert fake_gemini.count() == 1 and meter.rows[0].outcome == "ProviderError"
    assert meter.rows[0].usage.input_tokens == 12  # a refused prompt is still billed for its input


def test_max_tokens_without_text_names_the_thinking_budget(client, fake_gemini, meter):
    fake_gemini.script(max_tokens(thoughts=8000))
    with pytest.raises(ProviderError) as caught:
        client.generate_text("Think hard.", meter=meter)
    error = caught.value
    assert error.permanent and error.setting == "MEDIABUDDY_GEMINI_THINKING_BUDGET"
    assert "8000 thinking tokens" in error.message
    assert meter.rows[0].usage.output_tokens == 8000 and fake_gemini.count() == 1


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
    assert fake_gemini.count() == 2 and [r.outcome for r in meter.rows] == ["ProviderError", "ok"]


def test_5xx_bursts_are_retried_and_bounded(client, fake_gemini, meter):
    fake_gemini.script(unavailable(), internal(), text("after the burst"))
    assert client.generate_text("hello", meter=meter).text == "after the burst"
    assert fake_gemini.count() == 3
    fake_gemini.script(*[unavailable()] * 10)
    with pytest.raises(ProviderError) as caught:
        client.generate_text("hello", meter=meter)
    assert caught.value.status == 503 and not caught.value.permanent and caught.value.attempts == 3
    assert fake_gemini.count() == 6 and len(meter.rows) == 6  # ledger rows == requests the vendor saw


def test_a_hang_longer_than_the_timeout_is_abandoned_and_retried(client, fake_gemini, meter):
    fake_gemini.script(hang(20), text("second try"))
    started = time.monotonic()
    assert client.generate_text("hello", meter=meter).text == "second try"
    assert time.monotonic() - started < 5
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


def test_no_key_declines_as_not_configured(settings):
    with pytest.raises(NotConfigured) as caught:
        GeminiClient(settings.model_copy(update={"gemini_api_key": None}))
    assert "GEMINI_API_KEY" in caught.value.reason


@pytest.mark.parametrize("setting, call", [
    ("MEDIABUDDY_GEMINI_MODEL", lambda g, m: g.generate_text("hello", meter=m, model="gemini-2.0-flash")),
    ("MEDIABUDDY_GEMINI_TTS_MODEL", lambda g, m: g.synthesize_speech("hello", meter=m, model="gemini-0-tts")),
], ids=["text", "speech"])
def test_unknown_model_names_the_setting_to_change(client, fake_gemini, meter, setting, call):
    with pytest.raises(ProviderError) as caught:
        call(client, meter)
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
    assert "gemini-3.5-flash-lite available" in check_credentials(gemini_settings)
    with pytest.raises(ProviderError) as caught:
        check_credentials(fake_gemini.configure(gemini_settings, gemini_api_key="AIzaWRONG-0123456789abcdefghijkl"))
    assert caught.value.setting == "GEMINI_API_KEY" and "AIzaWRONG" not in str(caught.value)
    fake_gemini.models.discard("gemini-3.5-flash-lite")
    with pytest.raises(ProviderError) as caught:
        check_credentials(gemini_settings)
    assert caught.value.setting == "MEDIABUDDY_GEMINI_MODEL"
    with pytest.raises(NotConfigured):
        check_credentials(gemini_settings.model_copy(update={"gemini_api_key": None}))


def test_retry_hints_parse():
    assert parse_duration("7s") == 7.0 and parse_duration("1.5s") == 1.5
    assert parse_duration({"seconds": 2, "nanos": 500_000_000}) == 2.5 and parse_duration("soon") is None
    assert parse_retry_after("3") == 3.0 and parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("later") is None


# Speech --------------------------------------------------------------------------------------


def test_narrator_writes_24khz_wav_with_captions_and_no_word_timings(gemini_settings, fake_gemini, meter,
                                                                     tmp_path: Path):
    narrator = GeminiNarrator(gemini_settings.model_copy(update={"gemini_tts_voice": "Puck"}))
    assert narrator.speaks("en") and narrator.speaks("ja-JP") and not narrator.speaks("xx")
    fake_gemini.script(audio(1.5))
    text_ = "The tide comes in. Then, slowly, it goes out again."
    clip = narrator.narrate(NarrationRequest(text=text_, pause_ms=300), tmp_path / "scene.wav", meter)
    with wave.open(str(clip.path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
        assert wav.getnframes() == 24000 * 1.5 + 24000 * 300 // 1000
    assert clip.duration_ms == 1800 and clip.provider == "gemini" and clip.words == ()
    assert " ".join(c.text for c in clip.captions) == text_
    assert clip.captions[0].start_ms == 0 and clip.captions[-1].end_ms == 1500
    config = fake_gemini.requests[-1].body["generationConfig"]
    assert config["responseModalities"] == ["AUDIO"] and "Puck" in str(config)
    assert meter.rows[0].model == "gemini-3.8-flash-lite-tts" and meter.rows[0].usage.audio_tokens == 48


def test_long_text_is_spoken_in_pieces_under_the_input_limit(gemini_settings, fake_gemini, meter, tmp_path):
    long_text = "The moon pulls the sea toward it, and the sea answers. " * 150   # ~8,300 characters
    pieces = speech_pieces(long_text)
    assert len(pieces) == 3 and all(len(p) <= 4000 for p in pieces) and " ".join(pieces) == long_text.strip()
    assert speech_pieces("字" * 9000) == ["字" * 4000, "字" * 4000, "字" * 1000]  # no spaces: cut at the limit
    fake_gemini.script(audio(0.5), audio(0.5), audio(0.3))
    clip = GeminiNarrator(gemini_settings).narrate(NarrationRequest(text=long_text), tmp_path / "long.wav", meter)
    assert fake_gemini.count() == 3 and len(meter.rows) == 3
    assert clip.duration_ms > 0 and clip.captions[-1].end_ms <= clip.duration_ms


def test_a_speech_model_that_answers_text_is_a_clear_error(gemini_settings, fake_gemini, meter, tmp_path):
    fake_gemini.script(text("I cannot speak."))
    with pytest.raises(ProviderError) as caught:
        GeminiNarrator(gemini_settings).narrate(NarrationRequest(text="Hello."), tmp_path / "x.wav", meter)
    assert caught.value.permanent and caught.value.setting == "MEDIABUDDY_GEMINI_TTS_MODEL"
    assert not (tmp_path / "x.wav").exists()


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
    assert "available" in check_credentials(gemini_settings)  # not narrating with gemini: not needed


def test_a_continued_answer_is_one_metered_request_per_hop(client, fake_gemini, meter):
    fake_gemini.script(continuing("The tide ", token=b"t1"), continuing("comes ", token=b"t2"), text("in."))
    reply = client.generate_text("hello", meter=meter)
    assert reply.text == "The tide comes in." and not reply.truncated
    assert fake_gemini.count() == 3 and len(meter.rows) == 3
    assert [r.body.get("continuationToken") for r in fake_gemini.requests] == [None, "dDE=", "dDI="]
    assert reply.usage.input_tokens == 36
