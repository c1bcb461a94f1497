"""The Replicate client: create a prediction, wait for it with a deadline, fetch its output at once.

Built on the ``replicate`` SDK (its base URL and timeouts from settings). Three things the
SDK leaves to us:

* **Errors**: every HTTP error answer is turned into a ``ProviderError`` in ``from_response``
  (an httpx response hook, so the raw answer with ``Retry-After`` and ``invalid_fields`` is
  still at hand); transport and SDK exceptions are translated in ``translate``.
* **Never paying twice**: the SDK never retries the create POST. We do, but only after
  looking for the prediction an earlier attempt may have bought (the journal's id, else the
  account's recent predictions matched on model and input).
* **Deadlines**: ``Prediction.wait()`` polls forever; ``wait`` here stops at a deadline and
  cancels. Outputs expire after an hour, so they are downloaded and decoded right away.
"""

from __future__ import annotations

import email.utils
import io
import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import httpx
from PIL import Image, UnidentifiedImageError

from config import Settings
from server.errors import NotConfigured, ProviderError, ProviderUnavailable
from server.providers import resilience
from server.providers.clients.prediction_journal import REUSE_SECONDS, PredictionJournal, request_key

if TYPE_CHECKING:
    from replicate.prediction import Prediction

log = logging.getLogger("mediabuddy.providers.replicate")

PROVIDER = "replicate"
TERMINAL = ("succeeded", "failed", "canceled")
MAX_OUTPUT_BYTES = 40 * 1024 * 1024
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
    """The prediction succeeded but its output cannot be fetched (expired, 404) or is not a usable image."""

    def __init__(self, prediction_id: str, message: str, *, status: int | None = None):
        super().__init__(PROVIDER, f"output of prediction {prediction_id}: {message}", status=status)
        self.prediction_id = prediction_id


class InputRejected(ProviderError):
    """Replicate refused the model's input (422); ``invalid_fields`` as it listed them."""

    def __init__(self, message: str, invalid_fields: list[dict[str, Any]], setting: str):
        super().__init__(PROVIDER, message, status=422, permanent=True, setting=setting)
        self.invalid_fields = invalid_fields


def _retry_after(value: str | None) -> float | None:
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
                             retry_after=_retry_after(response.headers.get("Retry-After")))
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


def _raise_on_error(response: httpx.Response) -> None:
    if response.status_code >= 400:
        response.read()
        raise from_response(response)


class _BoundedRetryAfter(httpx.HTTPTransport):
    """Caps the ``Retry-After`` the SDK's own GET retries sleep for: it trusts any value, up to ten
    times in a row, so a confused server could otherwise park a worker for hours."""

    def __init__(self, cap_seconds: float) -> None:
        super().__init__()
        self.cap_seconds = cap_seconds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST":   # the SDK never retries a POST: its hint is ours to honour
            return response
        wait = _retry_after(response.headers.get("Retry-After"))
        if wait is not None and wait > self.cap_seconds:
            response.headers["Retry-After"] = str(int(self.cap_seconds))
        return response


@dataclass(frozen=True)
class Outcome:
    """A finished prediction and whether this call paid for it (False: an earlier call's, reused)."""

    prediction: "Prediction"
    paid: bool
    key: str   # the journal's key for this request


class ReplicateClient:
    """One per provider; thread-safe (httpx clients are), so scenes can be drawn in parallel."""

    def __init__(self, settings: Settings, journal: PredictionJournal | None = None) -> None:
        if settings.replicate_api_token is None:
            raise NotConfigured(PROVIDER, "REPLICATE_API_TOKEN is not set")
        try:
            import replicate
        except ImportError as error:
            raise ProviderUnavailable(PROVIDER, "the replicate package is not installed") from error
        self.settings = settings
        timeout = httpx.Timeout(settings.replicate_read_timeout, connect=settings.replicate_connect_timeout)
        transport = _BoundedRetryAfter(settings.provider_retry_max_wait_seconds)
        self.sdk = replicate.Client(api_token=settings.replicate_api_token.get_secret_value(),
                                    base_url=settings.replicate_base_url, timeout=timeout,
                                    transport=transport, event_hooks={"response": [_raise_on_error]})
        # The SDK offers no close(); its connections live in our transport, closed with us.
        self.close = weakref.finalize(self, transport.close)
        self._journal = journal
        self._journal_lock = threading.Lock()

    @property
    def journal(self) -> PredictionJournal:
        """Opened on first use (``check_credentials`` never needs it); scenes are drawn in threads."""
        with self._journal_lock:
            if self._journal is None:
                self._journal = PredictionJournal(self.settings.var_dir / "replicate-predictions.sqlite")
            return self._journal

    def _call(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as error:  # noqa: BLE001 - every failure is translated, none swallowed
            raise translate(error) from error

    # Finding and creating ---------------------------------------------------------------

    def _get(self, prediction_id: str) -> "Prediction | None":
        try:
            return self._call(lambda: self.sdk.predictions.get(prediction_id))
        except ProviderError as error:
            if error.status == 404:
                return None
            raise

    def find_recent(self, model: str, payload: dict[str, Any]) -> "Prediction | None":
        """A live prediction of ours for this model and input, from the account's newest predictions."""
        page = self._call(lambda: self.sdk.predictions.list())
        for prediction in page.results:
            if prediction.model == model and prediction.input == payload and prediction.status not in ("failed",
                                                                                                     "canceled"):
                return prediction
        return None

    def _previous(self, key: str, model: str, payload: dict[str, Any]) -> "Prediction | None":
        """The prediction an earlier attempt bought for this request, if it is still good."""
        entry = self.journal.lookup(key)
        if entry is None:
            return None
        # An intent without an id: a create was sent and its answer lost (timeout, dropped
        # connection, crash). Replicate may well have made it: look before buying again.
        found = self._get(entry.prediction_id) if entry.prediction_id else self.find_recent(model, payload)
        if found is None or found.status in ("failed", "canceled"):
            self.journal.forget(key)
            return None
        log.info("replicate: prediction %s (%s %.0f s ago) answers this request; not paying again", found.id,
                 entry.state, entry.age_seconds)
        if not entry.prediction_id:
            self.journal.record(key, model, found.id)
        return found

    def _find_or_create(self, key: str, model: str, payload: dict[str, Any],
                        sent: list[bool]) -> tuple["Prediction", bool]:
        """One attempt: reuse what an earlier attempt bought, else create (the intent written first).

        Returns the prediction and whether this call paid for it: True when it was created
        now, or found after a create this call sent lost its answer; False when an earlier
        call (whose ledger row already counts it) bought it.
        """
        previous = self._previous(key, model, payload)
        if previous is not None:
            return previous, sent[0]
        self.journal.intend(key, model)
        sent[0] = True
        # Always ask to wait: without it the SDK sends the create with no timeout at all
        # (timeout=None), and a hung create would park this thread for ever.
        wait = self.settings.replicate_prefer_wait
        prediction = self._call(lambda: self.sdk.models.predictions.create(model, payload, wait=wait))
        self.journal.record(key, model, prediction.id)
        log.info("replicate: created prediction %s on %s", prediction.id, model)
        return prediction, True

    def predict(self, model: str, payload: dict[str, Any], *,
                on_created: Callable[[str, bool], None] | None = None) -> Outcome:
        """A succeeded prediction for this input, never buying one that an earlier attempt already bought.

        Retries (and the breaker) come from ``resilience``: every retry of the create starts
        by looking for the prediction the failed attempt may have made. ``on_created(id, paid)``
        is called before waiting, so the ledger knows the id even if the wait fails.
        """
        key = request_key(model, payload)
        prediction, paid = resilience.call(PROVIDER, self.settings, self._find_or_create, key, model, payload, [False])
        if on_created is not None:
            on_created(prediction.id, paid)
        try:
            return Outcome(self.wait(prediction), paid, key)
        except PredictionFailed:
            self.journal.forget(key)
            raise

    def wait(self, prediction: "Prediction") -> "Prediction":
        """Poll until the prediction is finished or the deadline passes (then cancel it)."""
        deadline = time.monotonic() + self.settings.replicate_deadline_seconds
        while prediction.status not in TERMINAL:
            if time.monotonic() > deadline:
                self._cancel(prediction.id)
                raise ProviderError(PROVIDER, f"prediction {prediction.id} still {prediction.status} after "
                                    f"{self.settings.replicate_deadline_seconds:.0f} s; canceled",
                                    setting="MEDIABUDDY_REPLICATE_DEADLINE_SECONDS")
            time.sleep(self.settings.replicate_poll_seconds)
            prediction = resilience.call(PROVIDER, self.settings, self._status, prediction.id)
        if prediction.status != "succeeded":
            tail = " | ".join((prediction.logs or "").strip().splitlines()[-5:])
            raise PredictionFailed(prediction.id, prediction.status, prediction.error or "", tail[-800:])
        return prediction

    def _status(self, prediction_id: str) -> "Prediction":
        return self._call(lambda: self.sdk.predictions.get(prediction_id))

    def _cancel(self, prediction_id: str) -> None:
        try:
            self._call(lambda: self.sdk.predictions.cancel(prediction_id))
        except ProviderError as error:
            log.warning("replicate: could not cancel %s (%s); it may still finish and be billed",
                        prediction_id, error.message)

    # Output -----------------------------------------------------------------------------

    def fetch_image(self, outcome: Outcome) -> Image.Image:
        """Download the first output now (URLs expire) and decode it; a 404 is ``OutputUnavailable``.

        An output that cannot be had makes the journal forget the prediction, so the next
        attempt buys a new one rather than waiting on a dead URL again.
        """
        try:
            image = self._fetch_image(outcome.prediction)
        except OutputUnavailable:
            self.journal.forget(outcome.key)
            raise
        self.journal.done(outcome.key)
        return image

    def _fetch_image(self, prediction: "Prediction") -> Image.Image:
        output = prediction.output
        url = output[0] if isinstance(output, list) and output else output
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise OutputUnavailable(prediction.id, f"no image URL in the output ({str(output)[:200]!r})")
        data = resilience.call(PROVIDER, self.settings, self._download, prediction.id, url)
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise OutputUnavailable(prediction.id, f"{len(data)} bytes that are not an image ({error})") from error
        return image

    def _download(self, prediction_id: str, url: str) -> bytes:
        try:
            with httpx.Client(timeout=self.settings.replicate_download_timeout, follow_redirects=True) as downloads, \
                    downloads.stream("GET", url) as response:
                if response.status_code in (403, 404, 410):
                    raise OutputUnavailable(prediction_id, f"{url} answered {response.status_code}: expired or "
                                            "deleted (Replicate keeps outputs for an hour)", status=response.status_code)
                if response.status_code >= 400:
                    raise ProviderError(PROVIDER, f"{url} answered {response.status_code}", status=response.status_code)
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_OUTPUT_BYTES:
                        raise OutputUnavailable(prediction_id, f"larger than {MAX_OUTPUT_BYTES} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except (httpx.HTTPError, ValueError) as error:
            raise translate(error) from error


def check_credentials(settings: Settings) -> str:
    """For ``mediabuddy doctor``: the cheapest real calls (account, then model read). Raises ProviderError."""
    client = ReplicateClient(settings)
    account = client._call(lambda: client.sdk.accounts.current())
    client._call(lambda: client.sdk.models.get(settings.flux_model))
    return f"token works (account {account.username}); model {settings.flux_model} is readable"


__all__ = ["REUSE_SECONDS", "InputRejected", "OutputUnavailable", "Outcome", "PredictionFailed", "ReplicateClient",
           "check_credentials", "from_response", "translate"]
