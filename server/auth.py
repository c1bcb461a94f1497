"""The API's bearer token: generated into var/ on first start, read by the daemon."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from config import Settings


def ensure_token(settings: Settings) -> str:
    """Return the API token, creating ``var/api-token`` (mode 0600) on first use."""
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    path = settings.token_file
    if path.exists():
        return read_token_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temp, path)  # atomic and fails if another process won the race
    except FileExistsError:
        pass
    finally:
        temp.unlink(missing_ok=True)
    return read_token_file(path)


def read_token_file(path: Path) -> str:
    token = path.read_text(encoding="ascii").strip()
    if len(token) < 16:
        raise ValueError(f"API token file {path} is empty or truncated; delete it to make a new one")
    return token


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison, so timing does not leak the token."""
    return hmac.compare_digest(presented.encode(), expected.encode())


def bearer_matches(authorization: str | None, expected: str) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <the expected token>``."""
    scheme, _, presented = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and bool(presented.strip()) and token_matches(presented.strip(), expected)
