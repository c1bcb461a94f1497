"""Keyset paging for every list: ``?limit=&cursor=``, newest first, a ``next`` link.

A cursor is opaque to clients: base64url over ``v1:<last id>:<fingerprint of the filters>``.
Paging by id (not by offset) means a page never repeats or skips an item while new ones
arrive, and every page costs one indexed range query however deep it is. A cursor made
under other filters is refused, so a client cannot silently mix two listings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from urllib.parse import urlencode

from flask import request

from server.errors import ApiError

MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    limit: int
    after_id: int | None  # items with a smaller id come next; None: the first page
    filters: dict[str, str]  # the query's filters as given, carried into the next link


def read_page(default_limit: int, filter_names: tuple[str, ...]) -> Page:
    """Read ``limit`` and ``cursor`` from the query string; 400 with a clear message when bad."""
    unknown = sorted(set(request.args) - {"limit", "cursor", *filter_names})
    if unknown:
        allowed = ", ".join(("limit", "cursor", *filter_names))
        raise ApiError(400, "unknown_parameter", f"unknown query parameter(s) {', '.join(unknown)}; allowed: {allowed}")
    raw_limit = request.args.get("limit", str(default_limit))
    if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise ApiError(400, "bad_limit", f"limit must be a whole number from 1 to {MAX_LIMIT} (got {raw_limit[:40]!r})")
    filters = {name: request.args[name] for name in filter_names if name in request.args}
    cursor = request.args.get("cursor")
    return Page(int(raw_limit), _decode(cursor, filters) if cursor is not None else None, filters)


def cut(page: Page, rows: list) -> tuple[list, str | None]:
    """Rows of a query run with ``limit(page.limit + 1)``: this page's rows and the next page's URL.

    The one extra row says whether another page exists, so the last page carries no link
    (and no client has to fetch an empty page to learn that it is done).
    """
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[:page.limit]
    cursor = encode_cursor(rows[-1].id, page.filters)
    return rows, f"{request.script_root}{request.path}?{urlencode({**page.filters, 'limit': page.limit, 'cursor': cursor})}"


def encode_cursor(last_id: int, filters: dict[str, str]) -> str:
    raw = f"v1:{last_id}:{_fingerprint(filters)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, filters: dict[str, str]) -> int:
    bad = ApiError(400, "bad_cursor", "cursor is not one this server gave out; start again without it")
    if len(cursor) > 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise bad from None
    version, _, rest = raw.partition(":")
    last_id, _, fingerprint = rest.partition(":")
    if version != "v1" or not last_id.isdigit() or len(last_id) > 18:
        raise bad
    if fingerprint != _fingerprint(filters):
        raise ApiError(400, "cursor_filter_mismatch",
                       "this cursor belongs to a listing with other filters; repeat the filters it was made with")
    return int(last_id)


def _fingerprint(filters: dict[str, str]) -> str:
    text = "&".join(f"{name}={value}" for name, value in sorted(filters.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_instant(name: str, value: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime; a bare date is its whole day."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=timezone.utc)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"bad_{name}", f"{name} must be an ISO 8601 date or date-time such as 2026-11-30 "
                                           f"or 2026-11-30T14:00:00Z (got {value[:40]!r})") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
