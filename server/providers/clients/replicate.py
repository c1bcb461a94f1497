"""The Replicate client: create a prediction, wait for it with a deadline, fetch its output at once.

Built on the ``replicate`` SDK (its base URL and timeouts from settings). Three things the
SDK leaves to us:

* **Errors**: every HTTP error answer is turned into a ``ProviderError`` by
  ``replicate_errors.from_response``, raised from an httpx response hook so the raw answer
  (``Retry-After``, ``invalid_fields``) is still at hand; exceptions go through ``translate``.
* **Never paying twice**: the SDK never retries the create POST. We do, but only after
  looking for the prediction an earlier attempt may have bought (the journal's id, else the
  account's recent predictions matched on model and input).
* **Deadlines**: ``Prediction.wait()`` polls forever; ``wait`` here stops at a deadline and
  cancels. Outputs expire after an hour, so they are downloaded and decoded right away.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import weakref
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

import httpx
from PIL import Image, UnidentifiedImageError

from config import Settings
from server.errors import NotConfigured, ProviderError, ProviderUnavailable
from server.providers import resilience
from server.providers.base import PaidCall
from server.providers.clients.prediction_journal import REUSE_SECONDS, PredictionJournal, request_key
from server.providers.clients.replicate_errors import (
    PROVIDER,
    InputRejected,
    OutputUnavailable,
    PredictionFailed,
    from_response,
    retry_after_seconds,
    translate,
)
from server.providers.types import Usage

if TYPE_CHECKING:
    from replicate.prediction import Prediction

PaidCallFactory = Callable[[], AbstractContextManager[PaidCall]]

log = logging.getLogger("mediabuddy.providers.replicate")

TERMINAL = ("succeeded", "failed", "canceled")
MAX_OUTPUT_BYTES = 40 * 1024 * 1024


def _same_input(echo: object, payload: dict[str, Any]) -> bool:
    """Whether an echoed input is ours: the prompt present and every field we sent that it shows equal
    (compared as text, since a server may echo ``"1"`` as ``1``)."""
    if not isinstance(echo, dict) or "prompt" not in echo:
        return False
    return all(str(echo[name]) == str(value) for name, value in payload.items() if name in echo)


def _recent(created_at: str | None) -> bool:
    if not created_at:
        return True
    try:
        made = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return True   # an odd timestamp is no reason to pay again
    return (datetime.now(timezone.utc) - made).total_seconds() < REUSE_SECONDS


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
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is not None and wait > self.cap_seconds:
            response.headers["Retry-After"] = str(int(self.cap_seconds))
        return response


@dataclass(frozen=True)
class Outcome:
    """A finished prediction and whether this call's ledger rows count its price (False: an earlier
    call bought it and its row already does)."""

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
        self._key_locks: dict[str, threading.Lock] = {}

    @property
    def journal(self) -> PredictionJournal:
        """Opened on first use (``check_credentials`` never needs it); scenes are drawn in threads."""
        with self._journal_lock:
            if self._journal is None:
                self._journal = PredictionJournal(self.settings.var_dir / "replicate-predictions.sqlite")
            return self._journal

    def _lock_for(self, key: str) -> threading.Lock:
        with self._journal_lock:
            return self._key_locks.setdefault(key, threading.Lock())

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
        """A live prediction of ours for this model and input among the account's newest (one page,
        the 100 most recent), made within the last ``REUSE_SECONDS``."""
        page = self._call(lambda: self.sdk.predictions.list())
        for prediction in page.results:
            if (prediction.model == model and prediction.status not in ("failed", "canceled")
                    and _same_input(prediction.input, payload) and _recent(prediction.created_at)):
                return prediction
        return None

    def _previous(self, key: str, model: str, payload: dict[str, Any]) -> "tuple[Prediction, bool] | None":
        """The prediction an earlier attempt bought for this request, if it is still good, and
        whether a ledger row already counts it."""
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
        return found, entry.billed

    def _find_or_create(self, key: str, model: str, payload: dict[str, Any], paid_call: PaidCallFactory,
                        note: str) -> tuple["Prediction", bool]:
        """One attempt: reuse what an earlier attempt bought, else create (the intent written first).

        Each create is one ledger row (a refused one costs nothing); a prediction found after
        a lost answer gets the row its create could not write, once. Returns the prediction
        and whether this call's rows count its price.
        """
        previous = self._previous(key, model, payload)
        if previous is not None and previous[1]:
            return previous[0], False
        with paid_call() as call:
            if previous is not None:
                prediction = previous[0]
                call.detail = f"prediction={prediction.id} {note} (its create's answer was lost)".strip()
            else:
                self.journal.intend(key, model)
                # Always ask to wait: without it the SDK sends the create with no timeout at all
                # (timeout=None), and a hung create would park this thread for ever.
                wait = self.settings.replicate_prefer_wait
                try:
                    prediction = self._call(lambda: self.sdk.models.predictions.create(model, payload, wait=wait))
                except ProviderError as error:
                    if error.status is None and not isinstance(error.__cause__, httpx.HTTPError):
                        # Answered 2xx with a body that is not a prediction: it was made, and is
                        # counted now; the retry finds it (billed) and does not count it again.
                        call.usage = Usage(images=1)
                        call.detail = f"create answered but unreadable {note}".strip()
                        self.journal.billed(key)
                    raise
                self.journal.record(key, model, prediction.id)
                log.info("replicate: created prediction %s on %s", prediction.id, model)
                call.detail = f"prediction={prediction.id} {note}".strip()
            call.usage = Usage(images=1)
        self.journal.billed(key)
        return prediction, True

    def predict(self, model: str, payload: dict[str, Any], *, paid_call: PaidCallFactory,
                note: str = "") -> Outcome:
        """A succeeded prediction for this input, never buying one that an earlier attempt already bought.

        ``paid_call()`` opens a ledger row (``meter.call(...)``) around each create; ``note``
        goes into its detail. Retries and the breaker come from ``resilience``: every retry
        of the create starts by looking for the prediction the failed attempt may have made.
        """
        key = request_key(model, payload)
        # Two scenes asking for the very same picture at once would each buy it: the second
        # waits here, then finds the first one's prediction in the journal.
        with self._lock_for(key):
            prediction, paid = resilience.call(PROVIDER, self.settings, self._find_or_create, key, model, payload,
                                               paid_call, note)
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

    def fetch_image(self, outcome: Outcome, check: Callable[[Image.Image], None] | None = None) -> Image.Image:
        """Download the first output now (URLs expire) and decode it; a 404 is ``OutputUnavailable``.

        ``check`` may refuse the picture (wrong size) with ``OutputUnavailable``. An output that
        cannot be had or is refused makes the journal forget the prediction, so the next
        attempt buys a new one rather than fetching the same unusable output again.
        """
        try:
            image = self._fetch_image(outcome.prediction)
            if check is not None:
                check(image)
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
                                            "deleted (Replicate keeps outputs for an hour)",
                                            status=response.status_code)
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
    try:
        account = client._call(lambda: client.sdk.accounts.current())
    except ProviderError as error:
        if error.status is None:   # never reached Replicate: the address is what to check
            raise ProviderError(PROVIDER, f"{error.message} at {settings.replicate_base_url}",
                                setting="MEDIABUDDY_REPLICATE_BASE_URL") from error
        raise
    client._call(lambda: client.sdk.models.get(settings.flux_model))
    return f"token works (account {account.username}); model {settings.flux_model} is readable"


__all__ = ["REUSE_SECONDS", "InputRejected", "OutputUnavailable", "Outcome", "PredictionFailed", "ReplicateClient",
           "check_credentials", "from_response", "translate"]
