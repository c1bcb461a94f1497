"""Per-call retries and circuit breakers: the one place every remote client gets them from.

A client wraps the function that makes one HTTP request (and translates the SDK's errors
into ``ProviderError``) and calls it through here::

    from server.providers import resilience
    answer = resilience.call("gemini", settings, send_request, body)
    # or, as a decorator:  @resilience.resilient("gemini", settings)

What happens:

- a **transient** ``ProviderError`` (``permanent=False``: connection, timeout, 408, 429, 5xx)
  is retried with jittered exponential backoff (tenacity). When the error carries
  ``retry_after`` (a ``Retry-After`` header, Gemini's ``RetryInfo.retryDelay``) the wait is
  at least that long. Attempts are bounded by ``MEDIABUDDY_PROVIDER_RETRY_ATTEMPTS`` and the
  waiting by ``MEDIABUDDY_PROVIDER_RETRY_SECONDS``: a wait that would pass that bound is not
  started, the last error is raised at once (with ``attempts`` set on it);
- a **permanent** ``ProviderError`` (a bad key, an unknown model, a rejected input) and
  every other exception are raised at once, never retried;
- every attempt passes through the provider's **circuit breaker** (pybreaker, one per
  provider name, shared by all threads of the process). Transient failures count; permanent
  ones, ``ProviderUnavailable`` and ``BudgetExceeded`` do not. After
  ``MEDIABUDDY_PROVIDER_BREAKER_FAILURES`` in a row it opens for
  ``MEDIABUDDY_PROVIDER_BREAKER_RESET_SECONDS``, and calls fail at once with
  ``CircuitOpen`` (a ``ProviderError``) instead of hammering a service that is down.

Unlike ``pybreaker.CircuitBreaker.call`` (which holds the breaker's lock for the whole
call, serialising every thread), the breaker here is only locked to check and to record:
images are drawn in threads, and one slow prediction must not queue the others.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Callable, ParamSpec, TypeVar

import pybreaker
import tenacity

from config import Settings
from server.errors import BudgetExceeded, ProviderError, ProviderUnavailable

log = logging.getLogger("mediabuddy.providers.resilience")

P = ParamSpec("P")
T = TypeVar("T")


class CircuitOpen(ProviderError):
    """The provider failed too often in a row; calls are refused until its breaker resets."""

    def __init__(self, provider: str, failures: int, reopens_in: float):
        super().__init__(provider, f"circuit breaker open after {failures} failures in a row; calls refused for "
                                   f"another {reopens_in:.0f} s", retry_after=reopens_in)
        self.failures = failures


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one remote call tries; built from the settings, overridable per call."""

    attempts: int = 4
    total_seconds: float = 60.0
    initial_seconds: float = 0.5
    max_wait_seconds: float = 20.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(attempts=settings.provider_retry_attempts, total_seconds=settings.provider_retry_seconds,
                   initial_seconds=settings.provider_retry_initial_seconds,
                   max_wait_seconds=settings.provider_retry_max_wait_seconds)


def is_transient(error: BaseException) -> bool:
    """A failure worth another try (and worth counting against the breaker)."""
    return isinstance(error, ProviderError) and not error.permanent and not isinstance(error, CircuitOpen)


class _ConcurrentBreaker(pybreaker.CircuitBreaker):
    """pybreaker's state machine, with the guarded call made outside the breaker's lock."""

    def call(self, func: Callable[..., T], *args: object, **kwargs: object) -> T:  # type: ignore[override]
        with self._lock:
            state = self.state
            if state.name == pybreaker.STATE_OPEN:
                opened_at = self._state_storage.opened_at
                reopens = (opened_at or datetime.now(UTC)) + timedelta(seconds=self.reset_timeout)
                if datetime.now(UTC) < reopens:
                    raise CircuitOpen(self.name or "provider", self.fail_max,
                                      (reopens - datetime.now(UTC)).total_seconds())
                self.half_open()  # this call is the trial
                state = self.state
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            with self._lock:
                try:
                    state._handle_error(error)  # counts it (or not) and may open the breaker
                except pybreaker.CircuitBreakerError:
                    raise error from None  # the caller gets the real failure; the next call gets CircuitOpen
            raise
        with self._lock:
            state._handle_success()
        return result


def _not_a_failure(error: BaseException) -> bool:
    return not is_transient(error) and isinstance(error, (ProviderError, ProviderUnavailable, BudgetExceeded))


_breakers: dict[str, _ConcurrentBreaker] = {}
_breakers_lock = threading.Lock()


def breaker(provider: str, settings: Settings) -> pybreaker.CircuitBreaker:
    """The process-wide breaker of ``provider`` (created on first use, limits from ``settings``)."""
    with _breakers_lock:
        found = _breakers.get(provider)
        if found is None:
            found = _breakers[provider] = _ConcurrentBreaker(
                fail_max=settings.provider_breaker_failures, reset_timeout=settings.provider_breaker_reset_seconds,
                exclude=[_not_a_failure], name=provider)
        else:  # settings may have been reloaded since
            found.fail_max = settings.provider_breaker_failures
            found.reset_timeout = settings.provider_breaker_reset_seconds
        return found


def reset_breakers() -> None:
    """Forget every breaker (a fresh process's state); for tests and ``doctor``."""
    with _breakers_lock:
        _breakers.clear()


def _wait(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_random_exponential(multiplier=policy.initial_seconds, max=policy.max_wait_seconds)

    def wait(state: tenacity.RetryCallState) -> float:
        seconds = backoff(state)
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None)
        if hinted is not None:
            seconds = max(seconds, float(hinted))  # the server said when; never sooner
        return seconds

    return wait


def call(provider: str, settings: Settings, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``fn(*args, **kwargs)`` with the retries and the breaker of ``provider``."""
    return _call(provider, settings, RetryPolicy.from_settings(settings), fn, *args, **kwargs)


def call_with(provider: str, settings: Settings, policy: RetryPolicy, fn: Callable[P, T], *args: P.args,
              **kwargs: P.kwargs) -> T:
    """As ``call``, with an explicit policy (e.g. ``attempts=1`` for a request that must not be repeated blindly)."""
    return _call(provider, settings, policy, fn, *args, **kwargs)


def resilient(provider: str, settings: Settings,
              policy: RetryPolicy | None = None) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorator form of ``call``."""
    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return _call(provider, settings, policy or RetryPolicy.from_settings(settings), fn, *args, **kwargs)
        return wrapper
    return decorate


def _call(provider: str, settings: Settings, policy: RetryPolicy, fn: Callable[..., T], *args: object,
          **kwargs: object) -> T:
    guard = breaker(provider, settings)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s: attempt %d failed (%s); retrying in %.2f s", provider, state.attempt_number, error, wait)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        stop=tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_before_delay(policy.total_seconds),
        wait=_wait(policy),
        before_sleep=before_sleep,
        reraise=True,
    )
    attempts = 0

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        return guard.call(fn, *args, **kwargs)

    try:
        return retrying(attempt)
    except ProviderError as error:
        error.attempts = attempts
        raise
