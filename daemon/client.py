"""HTTP delivery of one spooled file to ``POST /api/v1/documents``.

Every answer is classified once, here:

- delivered: 2xx;
- transient: 5xx, 408, timeouts; the file spends an attempt and backs off on its own;
- throttled: 429 (or 503 with Retry-After); every upload waits as long as the server asked;
- unreachable: the connection failed or the circuit breaker is open; every upload waits;
- unauthorized: 401/403; every upload pauses until the token is accepted;
- wrong server: 404/405/501 for the upload endpoint; every upload pauses, the URL is wrong;
- permanent: any other 4xx (400, 413, 415, 422...): dead-letter now.

Only the first and the last are about the file itself; the middle ones are about the
server, so they pause the whole queue and spend none of the file's attempts. Short
connection blips are retried in-process with tenacity; long-horizon retries belong to the
queue. A pybreaker circuit breaker, which counts connection failures and 5xx, stops
hammering a server that is down.
"""

from __future__ import annotations

import enum
import email.utils
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pybreaker
import requests
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random_exponential

TRANSIENT_STATUSES = {408, 425, 500, 502, 503, 504}
AUTH_STATUSES = {401, 403}
NOT_OUR_SERVER_STATUSES = {404, 405, 501}  # no such endpoint: a wrong MEDIABUDDY_SERVER_URL, not a bad file
CONNECT_TIMEOUT, READ_TIMEOUT = 3.05, 30.0


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"
    THROTTLED = "throttled"
    UNREACHABLE = "unreachable"
    UNAUTHORIZED = "unauthorized"
    WRONG_SERVER = "wrong_server"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    status: int | None
    message: str
    body_excerpt: str = ""
    retry_after: float | None = None


class _Transient(Exception):
    """A failure the breaker counts and tenacity may retry; carries the outcome."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.message)
        self.outcome = outcome


class Uploader:
    """Posts documents to one server with one token."""

    def __init__(self, base_url: str, token_source, breaker_reset_seconds: float = 10.0):  # noqa: ANN001
        self._url = f"{base_url.rstrip('/')}/api/v1/documents"
        self._token_source = token_source  # a callable, so a token written later is picked up
        self._local = threading.local()  # one keep-alive session per delivery thread
        self.breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=breaker_reset_seconds, name="server")

    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def deliver(self, spool_path: Path, relative_path: str, sha256: str) -> Outcome:
        try:
            body = spool_path.read_bytes()
        except OSError as error:
            return Outcome(Verdict.PERMANENT, None, f"the spooled copy is unreadable: {error.strerror or error}")
        try:
            return self.breaker.call(self._post_with_retries, body, relative_path, sha256)
        except _Transient as failure:
            return failure.outcome
        except pybreaker.CircuitBreakerError:
            return Outcome(Verdict.UNREACHABLE, None, "the server keeps failing; circuit breaker open, waiting",
                           retry_after=self.breaker.reset_timeout)

    # Only connection blips are retried here; an HTTP answer (429 with Retry-After, 503...) goes to the queue.
    @retry(retry=retry_if_exception(lambda e: isinstance(e, _Transient) and e.outcome.verdict is Verdict.UNREACHABLE),
           stop=stop_after_attempt(2),
           wait=wait_random_exponential(multiplier=0.2, max=1.0), reraise=True)
    def _post_with_retries(self, body: bytes, relative_path: str, sha256: str) -> Outcome:
        token = self._token_source()
        if not token:
            return Outcome(Verdict.UNAUTHORIZED, None, "no API token yet (the server writes var/api-token on start)")
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": sha256,
                   "Content-Type": "text/markdown; charset=utf-8"}
        try:
            response = self._session.post(f"{self._url}?filename={quote(relative_path)}", data=body, headers=headers,
                                          timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        except requests.ConnectTimeout as error:
            raise _Transient(Outcome(Verdict.UNREACHABLE, None, "timed out connecting to the server")) from error
        except requests.Timeout as error:
            raise _Transient(Outcome(Verdict.TRANSIENT, None, "the server took too long to answer")) from error
        except requests.ConnectionError as error:
            raise _Transient(Outcome(Verdict.UNREACHABLE, None, _connection_problem(error))) from error
        return self._classify(response)

    @staticmethod
    def _classify(response: requests.Response) -> Outcome:
        status = response.status_code
        excerpt = response.text[:500]
        message = _error_message(response) or response.reason or f"HTTP {status}"
        if 200 <= status < 300:
            return Outcome(Verdict.DELIVERED, status, "delivered", excerpt)
        if status in AUTH_STATUSES:
            return Outcome(Verdict.UNAUTHORIZED, status, message, excerpt)
        if status in NOT_OUR_SERVER_STATUSES:
            return Outcome(Verdict.WRONG_SERVER, status, message, excerpt)
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if status == 429 or (status == 503 and retry_after is not None):
            return Outcome(Verdict.THROTTLED, status, message, excerpt, retry_after)
        if status in TRANSIENT_STATUSES or status >= 500:
            raise _Transient(Outcome(Verdict.TRANSIENT, status, message, excerpt, retry_after))
        return Outcome(Verdict.PERMANENT, status, message, excerpt)


def _connection_problem(error: requests.ConnectionError) -> str:
    text = str(error)
    if "Connection refused" in text:
        return "cannot connect to the server (connection refused; is `mediabuddy serve` running?)"
    if "RemoteDisconnected" in text or "reset" in text.lower() or "aborted" in text.lower():
        return "the connection closed before the server answered"
    return "cannot connect to the server"


def _error_message(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
