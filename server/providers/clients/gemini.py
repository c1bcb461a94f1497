"""The Gemini client: text, JSON validated against a pydantic model, and speech, built to fail well.

Every call goes through ``google-genai`` (the maintained SDK) pointed at
``MEDIABUDDY_GEMINI_BASE_URL``. The SDK's own retries are off: transient failures are
retried once, in ``server.providers.resilience``, around a single metered attempt, so the
cost ledger holds one row per HTTP request the vendor saw. Every SDK or transport error
becomes a ``ProviderError`` in one place, ``from_sdk_error()``, which decides ``permanent``
(bad key, unknown model, rejected input: fail fast, do not trip the breaker),
``retry_after`` (the ``Retry-After`` header or Gemini's ``RetryInfo.retryDelay``) and the
``setting`` a person should fix. The API key never appears in a message.

Each request opens and closes its own connection, so a client may live as long as its
provider and be shared by threads::

    gemini = GeminiClient(settings)
        reply = gemini.generate_json(prompt, Plan, meter=meter, system=RULES)
        reply.value, reply.usage, reply.model
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, TypeVar

import pydantic

from config import Settings
from server.errors import NotConfigured, ProviderError
from server.providers.base import Meter
from server.providers.clients.gemini_answers import (add_usage, answer_audio, answer_text, name_of, parse_json,
                                                     refusal, speech_tokens_for, usage_of)
from server.providers.clients.gemini_errors import from_sdk_error, scrub
from server.providers.types import Usage

if TYPE_CHECKING:  # the SDK is imported only where a client is built
    from google.genai import Client, types

PROVIDER = "gemini"
KEY_SETTING = "GEMINI_API_KEY"
MODEL_SETTING = "MEDIABUDDY_GEMINI_MODEL"
TTS_MODEL_SETTING = "MEDIABUDDY_GEMINI_TTS_MODEL"
CHARS_PER_TOKEN = 3      # a cautious guess for budget estimates (English runs near 4)
MAX_HOPS = 8             # continuation requests one answer may take
CHECK_TIMEOUT_SECONDS = 10.0  # a credential check waits no longer than this for a hung service
MAX_SPEECH_CHARS = 4000  # well under the 8,192-input-token limit even at one token per character (CJK)

M = TypeVar("M", bound=pydantic.BaseModel)


@dataclass(frozen=True)
class TextReply:
    text: str
    usage: Usage
    model: str
    truncated: bool = False   # finishReason MAX_TOKENS: the text stops where the output budget ran out


@dataclass(frozen=True)
class JsonReply(Generic[M]):
    value: M
    usage: Usage          # both calls when a repair re-prompt was needed
    model: str
    repaired: bool        # True: the first answer failed validation and the second passed


R = TypeVar("R")


@dataclass(frozen=True)
class Checked(Generic[R]):
    """An answer that went through the caller's own checks (``generate_checked``)."""

    value: R
    first_problems: int       # problems the first answer had (0: accepted as it came)
    problems: list[str]       # problems the answer given still has (empty: accepted)


@dataclass(frozen=True)
class SpeechReply:
    pcm: bytes            # 16-bit little-endian mono samples
    rate: int
    usage: Usage
    model: str


class GeminiClient:
    """One configured Gemini connection; declines with ``NotConfigured`` when there is no key.

    ``resilience`` runs one attempt with retries and the breaker; the default is
    ``server.providers.resilience.call`` for the provider named ``gemini``.
    """

    def __init__(self, settings: Settings, *, resilience: Callable[[Callable[[], Any]], Any] | None = None):
        if settings.gemini_api_key is None or not settings.gemini_api_key.get_secret_value().strip():
            raise NotConfigured(PROVIDER, f"no API key: set {KEY_SETTING} (or GOOGLE_API_KEY)")
        self.settings = settings
        self._key = settings.gemini_api_key.get_secret_value().strip()
        self._run = resilience or _default_resilience(settings)

    # Lifecycle ---------------------------------------------------------------------------
    # Each request gets its own ``genai.Client``, closed as soon as the answer is read: no
    # pool outlives a call (providers are long-lived and never closed), threads share
    # nothing, and a retry after a hang starts on a fresh connection. Building one costs
    # about 70 ms, small beside a model's answer.

    def __enter__(self) -> GeminiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing stays open between calls; kept so ``with GeminiClient(...)`` reads naturally."""

    @contextmanager
    def _sdk(self) -> Iterator[Client]:
        client = self._build()
        try:
            yield client
        finally:
            client.close()

    def _build(self) -> Client:
        from google import genai
        from google.genai import types

        return genai.Client(api_key=self._key, vertexai=False, http_options=types.HttpOptions(
            base_url=self.settings.gemini_base_url,
            api_version=self.settings.gemini_api_version,
            timeout=int(self.settings.gemini_timeout_seconds * 1000),  # the SDK takes milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),         # retries happen in resilience, once
        ))

    # Public calls ------------------------------------------------------------------------

    def generate_text(self, prompt: str, *, meter: Meter, system: str = "", model: str = "",
                      temperature: float | None = None) -> TextReply:
        """Plain text from the text model (``MEDIABUDDY_GEMINI_MODEL`` unless ``model`` is given)."""
        model = model or self.settings.gemini_model
        text, usage, finish = self._generate_text([_user(prompt)], model=model, meter=meter,
                                                  config=self._text_config(system, temperature))
        return TextReply(text=text, usage=usage, model=model, truncated=finish == "MAX_TOKENS")

    def generate_json(self, prompt: str, schema: type[M], *, meter: Meter, system: str = "", model: str = "",
                      temperature: float | None = None) -> JsonReply[M]:
        """A ``schema`` instance from structured output, validated here (``response.parsed`` is
        ``None`` when validation fails, silently). One repair re-prompt quotes the validation
        error; a second invalid answer is a permanent ``ProviderError``."""
        model = model or self.settings.gemini_model
        config = self._text_config(system, temperature, schema=schema)
        contents = [_user(prompt)]
        text, usage, _ = self._generate_text(contents, model=model, meter=meter, config=config)
        try:
            return JsonReply(value=parse_json(text, schema), usage=usage, model=model, repaired=False)
        except ValueError as problem:
            first_problem = str(problem)
        contents += [_model(text), _user(
            f"Your reply did not match the required JSON schema: {first_problem}\n"
            "Reply again with only the corrected JSON object, nothing else.")]
        text, second, _ = self._generate_text(contents, model=model, meter=meter, config=config)
        usage = add_usage(usage, second)
        try:
            return JsonReply(value=parse_json(text, schema), usage=usage, model=model, repaired=True)
        except ValueError as problem:
            raise ProviderError(PROVIDER, f"{model} twice answered JSON that does not match {schema.__name__}: "
                                          f"{problem}", permanent=True, setting=MODEL_SETTING) from None

    def generate_checked(self, prompt: str, schema: type[M], check: Callable[[M], tuple[R, list[str]]],
                         correction: Callable[[list[str]], str], *, meter: Meter, **options: Any) -> Checked[R]:
        """``generate_json`` whose answer must also pass the caller's ``check`` (the result and the
        rules it breaks). An answer that breaks some is asked for once more, with
        ``correction(problems)`` after the prompt; what the second answer still breaks is
        returned for the caller to refuse."""
        result, problems = check(self.generate_json(prompt, schema, meter=meter, **options).value)
        if not problems:
            return Checked(result, 0, [])
        retry = f"{prompt}\n\n{correction(problems)}"
        second, left = check(self.generate_json(retry, schema, meter=meter, **options).value)
        return Checked(second, len(problems), left)

    def synthesize_speech(self, text: str, *, meter: Meter, voice: str = "", model: str = "") -> SpeechReply:
        """Speech for ``text`` (at most ``MAX_SPEECH_CHARS`` characters; split longer text first)."""
        from google.genai import types

        model = model or self.settings.gemini_tts_model
        if not text.strip():
            raise ValueError("no text to speak")
        if len(text) > MAX_SPEECH_CHARS:
            raise ValueError(f"{len(text)} characters is over the {MAX_SPEECH_CHARS} one speech request may carry")
        config = types.GenerateContentConfig(
            automatic_continuation=False,   # each billed request is metered and retried on its own
            response_modalities=["AUDIO"],
            speech_config=types.SpeechConfig(voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=voice or self.settings.gemini_tts_voice))),
        )
        estimate = self._estimate(model, len(text) // CHARS_PER_TOKEN + 1, speech_tokens_for(text))

        responses, usage = self._exchange(model, [_user(text)], config, meter=meter, estimate=estimate,
                                          model_setting=TTS_MODEL_SETTING, speech=True,
                                          check=lambda response: answer_audio(response, model))
        pcm, rate = bytearray(), 0
        for response in responses:
            piece, piece_rate = answer_audio(response, model)
            if rate and piece_rate != rate:
                raise ProviderError(PROVIDER, f"{model} changed its sample rate from {rate} to {piece_rate} Hz")
            pcm += piece
            rate = piece_rate
        return SpeechReply(pcm=bytes(pcm), rate=rate, usage=usage, model=model)

    def count_tokens(self, text: str, *, model: str = "") -> int:
        """Tokens ``text`` makes for ``model`` (a free call)."""
        model = model or self.settings.gemini_model

        def attempt() -> int:
            try:
                with self._sdk() as sdk:
                    answer = sdk.models.count_tokens(model=model, contents=text)
            except Exception as error:  # noqa: BLE001 - every SDK failure is translated in one place
                raise self._translate(error, model, MODEL_SETTING) from error
            if answer.total_tokens is None:
                raise ProviderError(PROVIDER, f"countTokens for {model} answered without totalTokens")
            return int(answer.total_tokens)

        return self._run(attempt)

    def list_models(self) -> list[str]:
        """Model ids this key may use (a free call, the cheapest proof that the key works)."""
        def attempt() -> list[str]:
            try:
                with self._sdk() as sdk:
                    return [m.name.removeprefix("models/") for m in sdk.models.list(config={"page_size": 100})
                            if m.name]
            except Exception as error:  # noqa: BLE001 - translated in one place
                raise self._translate(error, "", KEY_SETTING) from error

        return self._run(attempt)

    # Internals ---------------------------------------------------------------------------

    def _text_config(self, system: str, temperature: float | None,
                     schema: type[pydantic.BaseModel] | None = None) -> types.GenerateContentConfig:
        from google.genai import types

        return types.GenerateContentConfig(
            automatic_continuation=False,   # each billed request is metered and retried on its own
            system_instruction=system or None,
            temperature=temperature,
            max_output_tokens=self.settings.gemini_max_output_tokens,
            # A bounded thinking budget leaves room for the answer (MAX_TOKENS with no text otherwise).
            thinking_config=types.ThinkingConfig(thinking_budget=self.settings.gemini_thinking_budget),
            response_mime_type="application/json" if schema else None,
            response_schema=schema,
        )

    def _generate_text(self, contents: list[dict[str, Any]], *, model: str, meter: Meter,
                       config: types.GenerateContentConfig) -> tuple[str, Usage, str]:
        prompt_chars = sum(len(p.get("text", "")) for c in contents for p in c["parts"])
        estimate = self._estimate(model, prompt_chars // CHARS_PER_TOKEN + 1, self.settings.gemini_max_output_tokens)

        responses, usage = self._exchange(model, contents, config, meter=meter, estimate=estimate,
                                          model_setting=MODEL_SETTING, speech=False)
        return answer_text(responses, model), usage, name_of(responses[-1].candidates[0].finish_reason)

    def _exchange(self, model: str, contents: list[dict[str, Any]], config: types.GenerateContentConfig, *,
                  meter: Meter, estimate: float, model_setting: str, speech: bool,
                  check: Callable[[Any], object] | None = None) -> tuple[list[Any], Usage]:
        """One answer as one or more requests, each metered and retried on its own.

        An answer that ends with ``finishReason`` CONTINUATION and a ``continuationToken`` goes on
        in a follow-up request carrying the token (the SDK would do this inside one call, hiding
        billed requests from the ledger, so its automatic continuation is off). ``check`` reads
        each answer inside its attempt, so what it raises is recorded and, if transient, retried.
        """
        responses: list[Any] = []
        usage = Usage()
        hop_config = config
        for _ in range(MAX_HOPS):
            def attempt(hop_config: types.GenerateContentConfig = hop_config) -> tuple[Any, Usage]:
                with meter.call(PROVIDER, model, estimate=estimate) as call:
                    response = self._send(model, contents, hop_config, model_setting)
                    call.usage = usage_of(response, speech=speech)
                    refused = refusal(response, model)
                    if refused:  # inside the call: the ledger row says it failed (the input is still billed)
                        raise refused
                    if check is not None:
                        check(response)  # a transient problem with the answer is retried like any other
                    return response, call.usage

            response, hop_usage = self._run(attempt)
            responses.append(response)
            usage = add_usage(usage, hop_usage)
            token = response.candidates[0].continuation_token
            if name_of(response.candidates[0].finish_reason) != "CONTINUATION" or not token:
                return responses, usage
            hop_config = config.model_copy(update={"continuation_token": token})
        raise ProviderError(PROVIDER, f"{model} was still continuing its answer after {MAX_HOPS} requests",
                            permanent=True, setting="MEDIABUDDY_GEMINI_MAX_OUTPUT_TOKENS")

    def _send(self, model: str, contents: list[dict[str, Any]], config: Any, model_setting: str) -> Any:
        try:
            with self._sdk() as sdk:
                return sdk.models.generate_content(model=model, contents=contents, config=config)
        except Exception as error:  # noqa: BLE001 - every SDK failure is translated in one place
            raise self._translate(error, model, model_setting) from error

    def _translate(self, error: Exception, model: str, model_setting: str) -> ProviderError:
        return from_sdk_error(error, model=model, model_setting=model_setting, secret=self._key,
                              timeout=self.settings.gemini_timeout_seconds, base_url=self.settings.gemini_base_url)

    def _estimate(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """The most this call may cost, for the budget check before it, at MEDIABUDDY_PRICES (the
        ledger prices the usage afterwards from the same settings)."""
        price = self.settings.model_prices.get(model)
        if price is None:  # most often a mistyped model id: say both fixes
            setting = TTS_MODEL_SETTING if model.endswith("-tts") else MODEL_SETTING
            known = ", ".join(m for m in self.settings.model_prices if m.startswith("gemini"))
            raise ProviderError(PROVIDER, f"model {model} has no price, so its cost could not be counted: set "
                                          f"{setting} to one of {known}, or add its price to MEDIABUDDY_PRICES",
                                permanent=True, setting=setting)
        out = price.audio_output if model.endswith("-tts") else price.output
        return (input_tokens * price.input + output_tokens * out) / 1_000_000


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def _model(text: str) -> dict[str, Any]:
    return {"role": "model", "parts": [{"text": text}]}


def _default_resilience(settings: Settings) -> Callable[[Callable[[], Any]], Any]:
    """Retries and the breaker from ``server.providers.resilience`` (one policy for every vendor)."""
    from server.providers import resilience

    return lambda attempt: resilience.call(PROVIDER, settings, attempt)


def check_credentials(settings: Settings) -> str:
    """The cheapest real call (list models) for doctor and start-up: a line saying what works,
    or a ``ProviderError`` saying what is wrong and which setting fixes it."""
    quick = settings.model_copy(update={"gemini_timeout_seconds": min(settings.gemini_timeout_seconds,
                                                                      CHECK_TIMEOUT_SECONDS)})
    with GeminiClient(quick, resilience=lambda attempt: attempt()) as client:  # one try: doctor answers fast
        models = client.list_models()
    wanted = [(settings.gemini_model, MODEL_SETTING)]
    if PROVIDER in settings.providers_for("narration"):
        wanted.append((settings.gemini_tts_model, TTS_MODEL_SETTING))
    for model, setting in wanted:
        if model not in models:
            raise ProviderError(PROVIDER, f"the key works but model {model} is not offered to it; set {setting} "
                                          "to a listed model", permanent=True, setting=setting)
    return f"key accepted at {settings.gemini_base_url}; {' and '.join(m for m, _ in wanted)} available"


__all__ = ["GeminiClient", "TextReply", "JsonReply", "SpeechReply", "check_credentials", "parse_json",
           "from_sdk_error", "scrub", "MAX_SPEECH_CHARS"]
