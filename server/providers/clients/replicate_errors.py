"""Replicate's failures as ``ProviderError``s: the one place an error answer is read.

``from_response`` turns an HTTP error answer (status, problem-details body, ``Retry-After``,
``invalid_fields``) into a ``ProviderError`` that says whether to retry and which setting
to fix; ``translate`` does the same for exceptions from httpx and the SDK. The client
raises ``from_response`` from an httpx response hook, so the raw answer is still at hand.
No message carries the token: Replicate's own detail text is quoted, never our headers.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

from server.errors import ProviderError

PROVIDER = "replicate"
INPUT_SETTINGS = {"num_inference_steps": "MEDIABUDDY_FLUX_STEPS", "output_format": "MEDIABUDDY_FLUX_OUTPUT_FORMAT",
                  "output_quality": "MEDIABUDDY_FLUX_OUTPUT_QUALITY", "megapixels": "MEDIABUDDY_FLUX_MEGAPIXELS",
                  "go_fast": "MEDIABUDDY_FLUX_GO_FAST"}


class PredictionFailed(ProviderError):
    """The model ran and failed, or the prediction was canceled; carries its error and last log lines."""

    def __init__(self, prediction_id: str, state: str, error: str, logs_tail: str):
        super().__init__(PROVIDER, f"prediction {prediction_id} {state}: {error or 'no error given'}"
                         + (f"; last log lines: {logs_tail}" if logs_tail else ""))
        self.prediction_id = prediction_id
        self.state = state
        self.error = error
        self.logs_tail = logs_tail


class OutputUnavailable(ProviderError):
    """The prediction succeeded but its output is gone (expired, 404) or is not a usable image.

    Permanent: fetching it again cannot help, and every further scene would buy a picture
    that may be lost the same way, so the registry stops asking Replicate for this stage
    (the scene falls back) instead of paying again. The next job tries afresh.
    """

    def __init__(self, prediction_id: str, message: str, *, status: int | None = None):
        super().__init__(PROVIDER, f"output of prediction {prediction_id}: {message}", status=status, permanent=True)
        self.prediction_id = prediction_id


class InputRejected(ProviderError):
    """Replicate refused the model's input (422); ``invalid_fields`` as it listed them."""

    def __init__(self, message: str, invalid_fields: list[dict[str, Any]], setting: str):
        super().__init__(PROVIDER, message, status=422, permanent=True, setting=setting)
        self.invalid_fields = invalid_fields


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def from_response(response: httpx.Response) -> ProviderError:
    """The one place an HTTP error answer from Replicate becomes a ``ProviderError``."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    status = response.status_code
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase or "no detail")[:500]
    path = response.request.url.path
    if status in (401, 403):
        return ProviderError(PROVIDER, f"Replicate refused the API token ({status}): {detail}", status=status,
                             permanent=True, setting="REPLICATE_API_TOKEN")
    if status == 402:
        return ProviderError(PROVIDER, f"the Replicate account cannot pay (402): {detail}", status=status,
                             permanent=True, setting="REPLICATE_API_TOKEN")
    if status == 404 and path.startswith("/v1/models/"):
        return ProviderError(PROVIDER, f"unknown model ({path.split('/v1/models/')[1].removesuffix('/predictions')}): "
                             f"{detail}", status=status, permanent=True, setting="MEDIABUDDY_FLUX_MODEL")
    if status == 422:
        fields = [f for f in body.get("invalid_fields") or [] if isinstance(f, dict)]
        names = [str(f.get("field", "")).removeprefix("input.") for f in fields]
        setting = next((INPUT_SETTINGS[n] for n in names if n in INPUT_SETTINGS), "MEDIABUDDY_FLUX_MODEL")
        listed = "; ".join(f"{f.get('field')}: {f.get('description')}" for f in fields) or detail
        return InputRejected(f"Replicate rejected the input (422): {listed}", fields, setting)
    if status in (408, 429) or status >= 500:
        return ProviderError(PROVIDER, f"Replicate answered {status}: {detail}", status=status,
                             retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    return ProviderError(PROVIDER, f"Replicate answered {status} to {response.request.method} {path}: {detail}",
                         status=status, permanent=True)


def translate(error: Exception) -> ProviderError:
    """An exception from httpx or the SDK as a ``ProviderError`` (call as ``raise translate(e) from e``)."""
    from replicate.exceptions import ReplicateError

    if isinstance(error, ProviderError):
        return error
    if isinstance(error, httpx.TimeoutException):
        return ProviderError(PROVIDER, f"Replicate did not answer in time ({type(error).__name__})")
    if isinstance(error, httpx.TransportError):
        return ProviderError(PROVIDER, f"could not talk to Replicate ({type(error).__name__}: {error})")
    if isinstance(error, ReplicateError):
        return ProviderError(PROVIDER, f"Replicate error {error.status}: {error.detail or error.title}",
                             status=error.status, permanent=bool(error.status and 400 <= error.status < 500
                                                                 and error.status not in (408, 429)))
    # A body that is not the prediction JSON we expect (pydantic ValidationError, ValueError, KeyError).
    return ProviderError(PROVIDER, f"Replicate sent an answer that is not valid ({type(error).__name__}: "
                         f"{str(error)[:300]})")
