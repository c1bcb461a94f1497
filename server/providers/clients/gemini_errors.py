"""The one place where Gemini SDK and transport errors become ``ProviderError``s.

What Gemini says, and what it means for us (EXTERNAL-APIS.md):

- 400 ``INVALID_ARGUMENT`` "API key not valid": a bad key (Gemini never answers 401 for it);
  any other 400 is a request we built wrongly or a setting (voice, model) the API refused.
- 403 ``PERMISSION_DENIED``: the key may not use this API or model.
- 404: an unknown or retired model.
- 408, 429 ``RESOURCE_EXHAUSTED``, 5xx: transient; 429 may carry ``google.rpc.RetryInfo``
  with ``retryDelay`` like ``"7s"``, any answer may carry ``Retry-After``. A 429 whose
  ``google.rpc.QuotaFailure`` names a per-day quota is permanent: no retry within a job helps.
- Timeouts, refused connections and answers that are not JSON: transient.
- Anything else the SDK raises happened before a request was sent (a schema it cannot
  express, a bad argument): permanent, since the same call would fail again.

Permanent errors are not retried and must not open a circuit breaker. No message ever
contains the API key: the vendor's text is scrubbed before it is quoted.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any

from server.errors import ProviderError

PROVIDER = "gemini"
KEY_SETTING = "GEMINI_API_KEY"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
_TRANSIENT_STATUSES = {408, 429}
_KEY_REASONS = {"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_NOT_FOUND"}


def from_sdk_error(error: Exception, *, model: str, model_setting: str, secret: str, timeout: float,
                   base_url: str) -> ProviderError:
    """Translate anything ``google-genai`` raised into one ``ProviderError`` (callers ``raise ... from``)."""
    from google.genai import errors as sdk_errors

    if isinstance(error, sdk_errors.APIError):
        return _from_api_error(error, model=model, model_setting=model_setting, secret=secret)
    if isinstance(error, _timeouts()):
        return ProviderError(PROVIDER, f"no answer from {base_url} within {timeout:g} s "
                                       "(MEDIABUDDY_GEMINI_TIMEOUT_SECONDS)")
    if isinstance(error, _transport_errors()):
        return ProviderError(PROVIDER, f"cannot reach {base_url}: {scrub(type(error).__name__, secret)} "
                                       f"{scrub(str(error), secret)}".rstrip(),
                             setting="MEDIABUDDY_GEMINI_BASE_URL")
    if isinstance(error, (json.JSONDecodeError, sdk_errors.UnknownApiResponseError)):
        # A proxy's error page or a cut body: the service, not us.
        return ProviderError(PROVIDER, f"the answer from {base_url} was not the JSON Gemini sends "
                                       f"({type(error).__name__})")
    # The SDK refused before sending (e.g. a pydantic schema Gemini cannot express): ours to fix,
    # and the same request would fail again.
    return ProviderError(PROVIDER, f"google-genai could not make the request: {type(error).__name__}: "
                                   f"{scrub(str(error), secret)[:300]}", permanent=True)


def _from_api_error(error: Any, *, model: str, model_setting: str, secret: str) -> ProviderError:
    status = int(error.code or 0)
    label = f"{status} {error.status or ''}".strip()
    message = scrub(str(error.message or ""), secret)[:300]
    details = _details(error.details)
    reasons = {str(d.get("reason", "")) for d in details}
    retry_after = _retry_after(error, details)
    if status in (401, 403) or (status == 400 and ("API key" in message or reasons & _KEY_REASONS)):
        what = "the API key was refused" if status != 403 else "the API key may not use this API or model"
        return ProviderError(PROVIDER, f"{what} ({label}: {message}); set {KEY_SETTING} to a valid Gemini key",
                             status=status, permanent=True, setting=KEY_SETTING)
    if status == 404:
        return ProviderError(PROVIDER, f"model {model or '?'} is unknown or retired ({label}: {message}); "
                                       f"set {model_setting} to a current model", status=status, permanent=True,
                             setting=model_setting)
    daily = _daily_quota(details)
    if status == 429 and daily:  # waiting seconds will not help: fall back now instead of storming
        return ProviderError(PROVIDER, f"the key's daily quota is used up ({daily}); wait for it to reset or raise "
                                       "the quota (billing) for this key", status=status, permanent=True,
                             retry_after=retry_after, setting=KEY_SETTING)
    if status in _TRANSIENT_STATUSES or status >= 500:
        return ProviderError(PROVIDER, f"{label}: {message}", status=status, retry_after=retry_after)
    setting = model_setting if "voice" not in message.lower() else "MEDIABUDDY_GEMINI_TTS_VOICE"
    return ProviderError(PROVIDER, f"the request was refused ({label}: {message})", status=status, permanent=True,
                         setting=setting)


def _daily_quota(details: list[dict[str, Any]]) -> str:
    """The id of a per-day quota a 429 says was exceeded (``google.rpc.QuotaFailure``), else ``""``."""
    for detail in details:
        if detail.get("@type") == QUOTA_FAILURE:
            for violation in detail.get("violations") or []:
                quota = str(violation.get("quotaId", "")) if isinstance(violation, dict) else ""
                if "PerDay" in quota:
                    return quota
    return ""


def _details(body: Any) -> list[dict[str, Any]]:
    """The ``details`` list of a Google error body, wherever the SDK left it."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return []
    inner = body.get("error", body)
    found = inner.get("details") if isinstance(inner, dict) else None
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def _retry_after(error: Any, details: list[dict[str, Any]]) -> float | None:
    """Seconds to wait: the larger of ``Retry-After`` and ``RetryInfo.retryDelay``, when given."""
    hints: list[float] = []
    response = getattr(error, "response", None)
    header = response.headers.get("retry-after") if response is not None and hasattr(response, "headers") else None
    if header:
        hints.extend(x for x in [parse_retry_after(header)] if x is not None)
    for detail in details:
        if detail.get("@type") == RETRY_INFO:
            hints.extend(x for x in [parse_duration(detail.get("retryDelay"))] if x is not None)
    return max(hints) if hints else None


def parse_retry_after(value: str) -> float | None:
    """``Retry-After``: delta seconds or an HTTP date."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_duration(value: Any) -> float | None:
    """A protobuf Duration as JSON (``"7s"``, ``"1.5s"``) or ``{"seconds": 7, "nanos": 0}``."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", value)
        return float(match.group(1)) if match else None
    if isinstance(value, dict):
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    return None


def scrub(text: str, secret: str) -> str:
    """``text`` with the key (and anything shaped like a Google API key) masked."""
    if secret:
        text = text.replace(secret, "***")
    return re.sub(r"AIza[0-9A-Za-z_\-]{20,}", "***", text)


def _timeouts() -> tuple[type[BaseException], ...]:
    return tuple(_http_classes("TimeoutException")) + (TimeoutError,)


def _transport_errors() -> tuple[type[BaseException], ...]:
    return tuple(_http_classes("TransportError")) + (ConnectionError,)


def _http_classes(name: str) -> list[type[BaseException]]:
    """The SDK speaks through httpx2 by default and httpx as a fallback: catch either."""
    found = []
    for package in ("httpx2", "httpx"):
        try:
            module = __import__(package)
        except ImportError:
            continue
        found.append(getattr(module, name))
    return found

