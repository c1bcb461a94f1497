"""Reading Gemini's answers: usage, safety refusals, text over continuation hops, PCM audio, JSON.

Nothing here trusts the SDK's conveniences: ``response.text`` hides why an answer is empty
and ``response.parsed`` is silently ``None`` when JSON does not validate, so the answer's
parts, finish reason and prompt feedback are read directly and JSON is validated here.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import pydantic

from server.errors import ProviderError
from server.providers.types import Usage

PROVIDER = "gemini"
TTS_MODEL_SETTING = "MEDIABUDDY_GEMINI_TTS_MODEL"
SPEECH_RATE = 24_000     # Gemini speech: 16-bit little-endian mono PCM at 24 kHz
AUDIO_TOKENS_PER_SECOND = 32
REFUSALS = ("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY")

M = TypeVar("M", bound=pydantic.BaseModel)


def speech_tokens_for(text: str) -> int:
    """Audio tokens a text may produce, generously (about 2.5 words a second; CJK by characters)."""
    words = max(len(text.split()), len(text) // 3)
    return int(words / 2.0 * AUDIO_TOKENS_PER_SECOND) + AUDIO_TOKENS_PER_SECOND


def parse_json(text: str, schema: type[M]) -> M:
    """Validate ``text`` against ``schema``; ``ValueError`` says briefly what is wrong."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, flags=re.DOTALL)
    if fenced:  # some models wrap JSON in a fence even in JSON mode
        body = fenced.group(1)
    try:
        return schema.model_validate_json(body)
    except pydantic.ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'reply'}: {e['msg']}"
                             for e in error.errors()[:5])
        raise ValueError(problems) from None


def add_usage(a: Usage, b: Usage) -> Usage:
    return Usage(input_tokens=a.input_tokens + b.input_tokens, output_tokens=a.output_tokens + b.output_tokens,
                 images=a.images + b.images, audio_tokens=a.audio_tokens + b.audio_tokens)


def usage_of(response: Any, *, speech: bool) -> Usage:
    meta = response.usage_metadata
    if meta is None:
        return Usage()
    prompt = meta.prompt_token_count or 0
    out = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)  # thinking is billed as output
    return Usage(input_tokens=prompt, audio_tokens=out) if speech else Usage(input_tokens=prompt, output_tokens=out)


def refusal(response: Any, model: str) -> ProviderError | None:
    """A safety block, as a permanent error (the same prompt is refused again), else None."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        said = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
        return ProviderError(PROVIDER, f"{model} refused the prompt (blockReason {name_of(feedback.block_reason)}"
                                       f"{said})", permanent=True)
    if not response.candidates:
        # Gemini's way of blocking without saying why; the same prompt meets the same filter.
        return ProviderError(PROVIDER, f"{model} answered with no candidates (a block without a reason)",
                             permanent=True)
    reason = name_of(response.candidates[0].finish_reason)
    if reason in REFUSALS:
        return ProviderError(PROVIDER, f"{model} stopped its answer for {reason}", permanent=True)
    return None


def answer_text(responses: list[Any], model: str) -> str:
    """The answer's text over every hop (thought summaries left out)."""
    text = ""
    for response in responses:
        candidate = response.candidates[0]
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        text += "".join(p.text for p in parts if p.text and not p.thought)
    if text.strip():
        return text
    last = responses[-1]
    reason = name_of(last.candidates[0].finish_reason)
    if reason == "MAX_TOKENS":
        thoughts = last.usage_metadata.thoughts_token_count if last.usage_metadata else None
        raise ProviderError(PROVIDER, f"{model} used its whole output budget ({thoughts or 'unknown'} thinking "
                                      "tokens) and wrote no answer", permanent=True,
                            setting="MEDIABUDDY_GEMINI_THINKING_BUDGET")
    raise ProviderError(PROVIDER, f"{model} answered with no text (finishReason {reason})")


def answer_audio(response: Any, model: str) -> tuple[bytes, int]:
    candidate = response.candidates[0]
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    blobs = [p.inline_data for p in parts if p.inline_data is not None and p.inline_data.data]
    if not blobs:
        if any(p.text for p in parts):  # words instead of speech: not a speech model, and asking again won't help
            raise ProviderError(PROVIDER, f"{model} answered with text, not audio; is it a speech model?",
                                permanent=True, setting=TTS_MODEL_SETTING)
        raise ProviderError(PROVIDER, f"{model} answered with no audio (finishReason "
                                      f"{name_of(candidate.finish_reason)})")  # an empty answer: worth a retry
    mime = (blobs[0].mime_type or "").lower()
    if not mime.startswith(("audio/l16", "audio/pcm")):
        raise ProviderError(PROVIDER, f"{model} sent audio as {mime or 'an unnamed type'}, not 16-bit PCM",
                            permanent=True, setting=TTS_MODEL_SETTING)
    rate_match = re.search(r"rate=(\d+)", mime)
    rate = int(rate_match.group(1)) if rate_match else SPEECH_RATE
    pcm = b"".join(b.data for b in blobs)
    if len(pcm) % 2 or not 8000 <= rate <= 48000:
        raise ProviderError(PROVIDER, f"{model} sent malformed audio ({len(pcm)} bytes at {rate} Hz)")
    return pcm, rate


def name_of(value: Any) -> str:
    return str(getattr(value, "value", value) or "")
