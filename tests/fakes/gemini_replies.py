"""What the fake Gemini answers: one factory per behaviour of the real service, as wire-format bodies.

Used through ``tests.fakes.gemini`` (which re-exports every name here)::

    fake.script(rate_limited(retry_after=1), unavailable(), text("hello"))
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

RATE = 24_000   # Gemini speech: 16-bit little-endian mono PCM at 24 kHz


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, JSON body (or raw bytes), headers, and a delay before it."""

    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


def _usage(prompt_tokens: int, out_tokens: int, thoughts: int = 0) -> dict[str, int]:
    usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": out_tokens,
             "totalTokenCount": prompt_tokens + out_tokens + thoughts}
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def text(answer: str, *, finish: str = "STOP", prompt_tokens: int = 12, thoughts: int = 0) -> Reply:
    """A normal answer (also how to send malformed or schema-invalid JSON: it is just text)."""
    return Reply(body={"candidates": [{"content": {"role": "model", "parts": [{"text": answer}]},
                                       "finishReason": finish, "index": 0}],
                       "usageMetadata": _usage(prompt_tokens, max(1, len(answer) // 4), thoughts),
                       "modelVersion": "fake"})


def continuing(answer: str, token: bytes = b"hop-1") -> Reply:
    """Part of an answer that goes on: ``finishReason`` CONTINUATION and a ``continuationToken``
    the next request must send back."""
    reply = text(answer, finish="CONTINUATION")
    reply.body["candidates"][0]["continuationToken"] = base64.b64encode(token).decode()
    return reply


def json_reply(value: Any) -> Reply:
    return text(json.dumps(value))


def blocked(reason: str = "SAFETY") -> Reply:
    """A prompt refused before any answer: no candidates, ``promptFeedback.blockReason``."""
    return Reply(body={"promptFeedback": {"blockReason": reason}, "usageMetadata": _usage(12, 0)})


def safety_stop() -> Reply:
    """An answer stopped for safety: a candidate with ``finishReason`` SAFETY and no text."""
    return Reply(body={"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}],
        "usageMetadata": _usage(12, 0)})


def max_tokens(thoughts: int = 8000) -> Reply:
    """Thinking ate the whole output budget: ``MAX_TOKENS`` and no text."""
    return Reply(body={"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}],
                       "usageMetadata": _usage(12, 0, thoughts)})


def error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None,
          headers: dict[str, str] | None = None) -> Reply:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        body["details"] = details
    return Reply(status=code, body={"error": body}, headers=tuple((headers or {}).items()))


def invalid_key() -> Reply:
    return error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
         "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])


def unknown_model(model: str = "gemini-0-retired", version: str = "v1beta") -> Reply:
    return error(404, "NOT_FOUND", f"models/{model} is not found for API version {version}, or is not supported "
                                   "for generateContent. Call ListModels to see the list of available models "
                                   "and their supported methods.")


def rate_limited(retry_after: float | None = None, retry_delay: str | None = None, *,
                 daily: bool = False) -> Reply:
    """429 RESOURCE_EXHAUSTED with a ``Retry-After`` header and/or a ``RetryInfo.retryDelay`` detail;
    ``daily``: the per-day quota is what ran out (a ``QuotaFailure`` naming it)."""
    details: list[dict[str, Any]] = []
    if daily:
        details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaValue": "50"}]})
    if retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing "
                                            "details.", details, headers)


def unavailable() -> Reply:
    return error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


def internal() -> Reply:
    return error(500, "INTERNAL", "An internal error has occurred. Please retry or report in "
                                  "https://developers.generativeai.google/guide/troubleshooting")


def hang(seconds: float, then: Reply | None = None) -> Reply:
    """Answer only after ``seconds`` (longer than the client's timeout, to test it)."""
    after = then or text("too late")
    return Reply(status=after.status, body=after.body, headers=after.headers, delay=seconds)


def malformed() -> Reply:
    """A 200 whose body is not JSON (a proxy's error page)."""
    return Reply(body=b"<html><body>502 Bad Gateway</body></html>", headers=(("Content-Type", "text/html"),))


def audio(seconds: float = 1.0, *, mime: str = f"audio/L16;codec=pcm;rate={RATE}") -> Reply:
    """Speech: a soft 220 Hz tone of ``seconds``, as Gemini sends it (base64 PCM in ``inlineData``)."""
    return speech(tone(seconds), mime=mime)


def speech(pcm: bytes, *, mime: str = f"audio/L16;codec=pcm;rate={RATE}") -> Reply:
    """Speech of the caller's own (16-bit PCM at ``RATE``), as Gemini sends it."""
    seconds = len(pcm) / 2 / RATE
    return Reply(body={"candidates": [{"content": {"role": "model", "parts": [
        {"inlineData": {"mimeType": mime, "data": base64.b64encode(pcm).decode()}}]},
        "finishReason": "STOP", "index": 0}],
        "usageMetadata": _usage(10, int(seconds * 32)), "modelVersion": "fake-tts"})


def tone(seconds: float) -> bytes:
    samples = 6000 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * RATE)) / RATE)
    return samples.astype("<i2").tobytes()
