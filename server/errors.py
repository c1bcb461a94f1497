"""Error types for the server. Each carries the data a caller needs, never just a string."""

from __future__ import annotations


class MediaBuddyError(Exception):
    """Root of every error the server raises on purpose."""


class ApiError(MediaBuddyError):
    """An HTTP error answered as ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class InvalidDocument(MediaBuddyError):
    """The markdown cannot become a video (empty, not UTF-8, no prose...)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class StageError(MediaBuddyError):
    """A pipeline stage failed; ``hint`` tells a person what to do about it."""

    def __init__(self, stage: str, message: str, *, hint: str = "", retryable: bool = True):
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.message = message
        self.hint = hint
        self.retryable = retryable


class ProviderUnavailable(MediaBuddyError):
    """A provider declines: not configured, not installed, or its model failed to verify."""

    def __init__(self, provider: str, reason: str):
        super().__init__(f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason


class NotConfigured(ProviderUnavailable):
    """A provider declines because nobody configured it (no key set): information, not degradation.

    Offline is the default, so a registry skips such a provider silently. Every other
    ``ProviderUnavailable`` (a package missing, a key that does not work, a language not
    spoken) means the user asked for something they did not get: the job is marked degraded.
    """


class ProviderError(MediaBuddyError):
    """Root of every error a provider raises after it tried (declining is ProviderUnavailable).

    ``permanent`` errors (a bad key, an unknown model, a rejected input) are not retried and
    do not trip a circuit breaker; ``setting`` names the variable a person should fix.
    Each vendor client builds these in one ``from_response()`` place and translates the
    SDK's own errors with ``raise ... from``.
    """

    attempts: int = 1  # how many tries it took (set by server.providers.resilience)

    def __init__(self, provider: str, message: str, *, status: int | None = None, permanent: bool = False,
                 retry_after: float | None = None, setting: str = ""):
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.status = status
        self.permanent = permanent
        self.retry_after = retry_after
        self.setting = setting

    @property
    def hint(self) -> str:
        return f"check {self.setting}" if self.setting else ""


class BudgetExceeded(MediaBuddyError):
    """A paid call would take the job past MEDIABUDDY_MAX_COST_PER_JOB; the job stops before it."""

    def __init__(self, spent: float, estimate: float, limit: float):
        super().__init__(f"the next paid call (about ${estimate:.4f}) would take this job's cost from "
                         f"${spent:.4f} past its limit of ${limit:.4f}")
        self.spent = spent
        self.estimate = estimate
        self.limit = limit
        self.hint = "raise MEDIABUDDY_MAX_COST_PER_JOB, or remove the remote providers from MEDIABUDDY_*_PROVIDERS"
        self.retryable = False


class DocumentSkipped(InvalidDocument):
    """The document asks not to be rendered (front matter ``draft: true``); not a failure."""
