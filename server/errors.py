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
