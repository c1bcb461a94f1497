"""The cost ledger and the budget: the ``Meter`` every paid provider is handed.

One ``Ledger`` serves one stage of one job. ``ledger.call(provider, model, estimate=...)``
opens a paid call: it refuses with ``BudgetExceeded`` *before* the call when what the job
has spent, plus what calls in flight have reserved, plus ``estimate`` would pass
``MEDIABUDDY_MAX_COST_PER_JOB``; on exit it writes one ``ProviderCall`` row in its own short
transaction, whatever the outcome. The provider opens one such call per request the vendor
may charge for (so inside its retried function: each retry is a row, as the vendor counts
it). The price comes from the vendor when it says (``call.cost``), else from the usage and
``MEDIABUDDY_PRICES``; a model with no known price is refused before any call, since its
cost could not be counted.

Rows are written through their own connection, not the stage's session, so the stage must
not hold an uncommitted write while it calls providers (SQLite allows one writer): the
stages call providers first and write their own rows after.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from config import ModelPrice, Settings
from server.errors import BudgetExceeded, ProviderError
from server.models import ProviderCall
from server.providers.types import Usage

_budget_locks: dict[int, threading.Lock] = {}
_budget_locks_guard = threading.Lock()


def _budget_lock(job_id: int) -> threading.Lock:
    with _budget_locks_guard:
        return _budget_locks.setdefault(job_id, threading.Lock())


@dataclass
class CallRecord:
    """A paid call in progress (the ``PaidCall`` a provider fills in) and, after it, what it cost."""

    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    detail: str = ""


def price_of(prices: dict[str, ModelPrice], model: str, usage: Usage) -> float:
    """USD for ``usage`` of ``model`` (tokens per million, images each)."""
    price = prices[model]
    return (usage.input_tokens * price.input + usage.output_tokens * price.output
            + usage.audio_tokens * price.audio_output) / 1_000_000 + usage.images * price.image


class Ledger:
    """The ``Meter`` of one job's stage; safe to share between the stage's threads."""

    def __init__(self, engine: Engine, settings: Settings, job_id: int, stage: str):
        self.engine = engine
        self.job_id = job_id
        self.stage = stage
        self.limit = settings.max_cost_per_job
        self.prices = settings.model_prices
        self._reserved = 0.0

    # The Meter protocol -------------------------------------------------------------------

    def price(self, model: str, usage: Usage) -> float:
        """What ``usage`` of ``model`` costs; for a provider's ``estimate``."""
        self._known(model, provider="ledger")
        return price_of(self.prices, model, usage)

    @contextmanager
    def call(self, provider: str, model: str, *, estimate: float) -> Iterator[CallRecord]:
        self._known(model, provider)
        lock = _budget_lock(self.job_id)
        with lock:
            committed = self.spent()
            if committed + self._reserved + estimate > self.limit + 1e-12:
                raise BudgetExceeded(committed + self._reserved, estimate, self.limit)
            self._reserved += estimate
        record = CallRecord(provider, model)
        started = time.perf_counter()
        outcome = "ok"
        try:
            yield record
        except BaseException as error:
            status = getattr(error, "status", None)
            outcome = f"{type(error).__name__} {status}" if status else type(error).__name__
            raise
        finally:
            cost = record.cost if record.cost is not None else price_of(self.prices, model, record.usage)
            try:
                self._write(record, cost=cost, cached=False, outcome=outcome,
                            duration_ms=int((time.perf_counter() - started) * 1000))
            finally:
                with lock:
                    self._reserved -= estimate

    # Beyond the protocol -----------------------------------------------------------------

    def saved(self, record: CallRecord) -> None:
        """A cache hit stood in for ``record`` (a call made by an earlier run): price 0, cached."""
        if record.cost is not None:
            worth = record.cost
        else:
            worth = price_of(self.prices, record.model, record.usage) if record.model in self.prices else 0.0
        self._write(record, cost=0.0, cached=True, outcome="ok", duration_ms=0,
                    detail=f"cache hit; saved ${worth:.4f}" + (f"; was {record.detail}" if record.detail else ""))

    def spent(self) -> float:
        """USD this job's committed rows cost (every stage, every attempt)."""
        with Session(self.engine) as session:
            total = session.scalar(select(func.coalesce(func.sum(ProviderCall.price_usd), 0.0))
                                   .where(ProviderCall.job_id == self.job_id))
        return float(total or 0.0)

    def scope(self) -> ScopedMeter:
        """A meter that remembers the calls made through it (for the result cache's sidecar)."""
        return ScopedMeter(self)

    def _known(self, model: str, provider: str) -> None:
        if model not in self.prices:
            raise ProviderError(provider, f"no price is known for model {model!r}, so its cost could not be counted",
                                permanent=True, setting="MEDIABUDDY_PRICES")

    def _write(self, record: CallRecord, *, cost: float, cached: bool, outcome: str, duration_ms: int,
               detail: str | None = None) -> None:
        row = ProviderCall(job_id=self.job_id, stage=self.stage, provider=record.provider, model=record.model,
                           input_tokens=record.usage.input_tokens, output_tokens=record.usage.output_tokens,
                           images=record.usage.images, audio_tokens=record.usage.audio_tokens,
                           price_usd=max(0.0, float(cost)), cached=cached, outcome=outcome[:80],
                           duration_ms=duration_ms, detail=(record.detail if detail is None else detail)[:500])
        with Session(self.engine) as session, session.begin():
            session.add(row)


class ScopedMeter:
    """Delegates to a ``Ledger`` and keeps the successful calls made through it."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.calls: list[CallRecord] = []

    def price(self, model: str, usage: Usage) -> float:
        return self.ledger.price(model, usage)

    @contextmanager
    def call(self, provider: str, model: str, *, estimate: float) -> Iterator[CallRecord]:
        with self.ledger.call(provider, model, estimate=estimate) as record:
            yield record
        self.calls.append(record)

    def as_json(self) -> list[dict[str, object]]:
        return [{"provider": c.provider, "model": c.model, "usage": asdict(c.usage), "cost": c.cost,
                 "detail": c.detail} for c in self.calls]


def records_from_json(raw: object) -> list[CallRecord]:
    """The calls stored in a cache sidecar by ``ScopedMeter.as_json``; damaged entries are skipped."""
    records: list[CallRecord] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            records.append(CallRecord(provider=str(item["provider"]), model=str(item["model"]),
                                      usage=Usage(**{k: int(v) for k, v in dict(item["usage"]).items()}),
                                      cost=None if item.get("cost") is None else float(item["cost"]),
                                      detail=str(item.get("detail", ""))))
        except (KeyError, TypeError, ValueError):
            continue
    return records


@dataclass(frozen=True)
class JobCost:
    """What a job cost, for the manifest, the API and ``mediabuddy status``."""

    total_usd: float
    paid_calls: int     # calls that reached a paid service and succeeded
    failed_calls: int   # calls that reached it and failed (usually free, but counted by the vendor)
    cached_calls: int   # calls a cache hit saved

    def as_dict(self) -> dict[str, object]:
        return {"total_usd": round(self.total_usd, 6), "paid_calls": self.paid_calls,
                "failed_calls": self.failed_calls, "cached_calls": self.cached_calls}


def job_cost(session: Session, job_id: int) -> JobCost:
    """Sum a job's ledger."""
    rows = session.execute(
        select(ProviderCall.cached, ProviderCall.outcome, func.count(), func.coalesce(func.sum(ProviderCall.price_usd), 0.0))
        .where(ProviderCall.job_id == job_id)
        .group_by(ProviderCall.cached, ProviderCall.outcome)).all()
    total, paid, failed, cached = 0.0, 0, 0, 0
    for was_cached, outcome, count, price in rows:
        total += float(price or 0.0)
        if was_cached:
            cached += count
        elif outcome == "ok":
            paid += count
        else:
            failed += count
    return JobCost(total, paid, failed, cached)
