"""Retries and circuit breakers, with real failing callables and real (short) waits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from config import load_settings
from server.errors import BudgetExceeded, ProviderError
from server.providers import resilience
from server.providers.resilience import CircuitOpen, RetryPolicy

pytestmark = pytest.mark.clients



def quick(tmp_path: Path, **overrides: object):
    values = dict(home=tmp_path, provider_retry_attempts=4, provider_retry_seconds=5.0,
                  provider_retry_initial_seconds=0.01, provider_retry_max_wait_seconds=0.05,
                  provider_breaker_failures=10, provider_breaker_reset_seconds=0.4)
    values.update(overrides)
    return load_settings(**values)


class Flaky:
    """Fails with the given errors in turn, then answers ``"ok"``; remembers when it was called."""

    def __init__(self, *errors: BaseException):
        self.errors = list(errors)
        self.calls: list[float] = []

    def __call__(self, value: str = "ok") -> str:
        self.calls.append(time.monotonic())
        if self.errors:
            raise self.errors.pop(0)
        return value


def transient(status: int = 503, retry_after: float | None = None) -> ProviderError:
    return ProviderError("fake", f"HTTP {status}", status=status, retry_after=retry_after)


def test_transient_errors_are_retried_until_an_answer(tmp_path):
    flaky = Flaky(transient(503), transient(429), transient(500))
    assert resilience.call("fake", quick(tmp_path), flaky, "answer") == "answer"
    assert len(flaky.calls) == 4


def test_permanent_errors_are_raised_at_once(tmp_path):
    flaky = Flaky(ProviderError("fake", "API key not valid", status=400, permanent=True, setting="GEMINI_API_KEY"))
    with pytest.raises(ProviderError) as caught:
        resilience.call("fake", quick(tmp_path), flaky)
    assert len(flaky.calls) == 1
    assert caught.value.attempts == 1 and caught.value.hint == "check GEMINI_API_KEY"


def test_other_exceptions_are_not_retried(tmp_path):
    flaky = Flaky(ValueError("a bug, not a blip"))
    with pytest.raises(ValueError):
        resilience.call("fake", quick(tmp_path), flaky)
    assert len(flaky.calls) == 1


def test_attempts_are_bounded_and_the_last_error_says_how_many(tmp_path):
    flaky = Flaky(*(transient(503) for _ in range(10)))
    with pytest.raises(ProviderError) as caught:
        resilience.call("fake", quick(tmp_path, provider_breaker_failures=100), flaky)
    assert len(flaky.calls) == 4
    assert caught.value.attempts == 4 and caught.value.status == 503


def test_retry_after_is_honoured(tmp_path):
    flaky = Flaky(transient(429, retry_after=0.3))
    started = time.monotonic()
    assert resilience.call("fake", quick(tmp_path), flaky) == "ok"
    assert flaky.calls[1] - flaky.calls[0] >= 0.3
    assert time.monotonic() - started < 2


def test_a_wait_past_the_total_bound_is_not_started(tmp_path):
    flaky = Flaky(transient(429, retry_after=30.0))
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        resilience.call("fake", quick(tmp_path, provider_retry_seconds=1.0), flaky)
    assert time.monotonic() - started < 0.5, "it slept for a Retry-After beyond MEDIABUDDY_PROVIDER_RETRY_SECONDS"
    assert caught.value.retry_after == 30.0 and len(flaky.calls) == 1


def test_backoff_grows_and_stays_within_the_maximum(tmp_path):
    flaky = Flaky(*(transient() for _ in range(5)))
    settings = quick(tmp_path, provider_retry_attempts=6, provider_retry_initial_seconds=0.05,
                     provider_retry_max_wait_seconds=0.2, provider_breaker_failures=100)
    resilience.call("fake", settings, flaky)
    gaps = [b - a for a, b in zip(flaky.calls, flaky.calls[1:])]
    assert all(gap <= 0.2 + 0.15 for gap in gaps), gaps  # jitter up to the cap, plus scheduling slack
    assert sum(gaps) > 0.05


def test_breaker_opens_after_transient_failures_then_recovers(tmp_path):
    settings = quick(tmp_path, provider_retry_attempts=1, provider_breaker_failures=3)
    down = Flaky(*(transient() for _ in range(3)))
    for _ in range(3):
        with pytest.raises(ProviderError) as caught:
            resilience.call("fake", settings, down)
        assert not isinstance(caught.value, CircuitOpen)  # the real failure, even on the one that trips it
    with pytest.raises(CircuitOpen) as caught:
        resilience.call("fake", settings, down)
    assert len(down.calls) == 3, "an open breaker must not call the service"
    assert "circuit breaker open" in str(caught.value) and caught.value.retry_after > 0
    time.sleep(0.45)
    assert resilience.call("fake", settings, down) == "ok"  # half-open trial succeeds and closes it
    assert resilience.breaker("fake", settings).current_state == "closed"


def test_open_breaker_is_not_retried(tmp_path):
    settings = quick(tmp_path, provider_retry_attempts=1, provider_breaker_failures=3)
    for _ in range(3):
        with pytest.raises(ProviderError):
            resilience.call("fake", settings, Flaky(transient()))
    started = time.monotonic()
    with pytest.raises(CircuitOpen):
        resilience.call("fake", quick(tmp_path, provider_breaker_failures=3), Flaky())
    assert time.monotonic() - started < 0.1


def test_permanent_errors_and_budget_do_not_trip_the_breaker(tmp_path):
    settings = quick(tmp_path)
    for _ in range(5):
        with pytest.raises(ProviderError):
            resilience.call("fake", settings, Flaky(ProviderError("fake", "bad input", status=422, permanent=True)))
        with pytest.raises(BudgetExceeded):
            resilience.call("fake", settings, Flaky(BudgetExceeded(0.9, 0.2, 1.0)))
    assert resilience.breaker("fake", settings).current_state == "closed"


def test_breakers_are_per_provider(tmp_path):
    settings = quick(tmp_path, provider_retry_attempts=1, provider_breaker_failures=3)
    for _ in range(3):
        with pytest.raises(ProviderError):
            resilience.call("down", settings, Flaky(transient()))
    with pytest.raises(CircuitOpen):
        resilience.call("down", settings, Flaky())
    assert resilience.call("up", settings, Flaky()) == "ok"


def test_calls_through_one_breaker_run_concurrently(tmp_path):
    settings = quick(tmp_path)
    inside = threading.Barrier(4, timeout=2)

    def slow() -> str:
        inside.wait()  # only passes if all four calls are inside at once
        return "ok"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(resilience.call("fake", settings, slow)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == ["ok"] * 4


def test_decorator_and_explicit_policy(tmp_path):
    settings = quick(tmp_path)
    flaky = Flaky(transient(), transient())

    @resilience.resilient("fake", settings)
    def fetch(value: str) -> str:
        return flaky(value)

    assert fetch("x") == "x" and len(flaky.calls) == 3
    once = Flaky(transient())
    with pytest.raises(ProviderError):
        resilience.call_with("fake", settings, RetryPolicy(attempts=1), once)
    assert len(once.calls) == 1
