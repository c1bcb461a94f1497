"""A ``Meter`` (the ledger's protocol) that keeps its rows in memory, for provider tests without a database.

Each ``call`` appends a row; the provider fills in usage and cost as the real ledger's
``CallRecord``; ``outcome`` names the exception that left the call, or "ok".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator

from server.providers.types import Usage


@dataclass
class Row:
    provider: str
    model: str
    estimate: float
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    detail: str = ""
    outcome: str = "ok"


class RecordingMeter:
    """The Meter protocol, keeping rows in memory so they can be compared with a fake's count."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    @contextlib.contextmanager
    def call(self, provider: str, model: str, *, estimate: float) -> Iterator[Row]:
        row = Row(provider, model, estimate)
        self.rows.append(row)
        try:
            yield row
        except BaseException as error:
            row.outcome = type(error).__name__
            raise
