"""The cost ledger and the budget on a real database (SQLite and PostgreSQL), with real threads."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from config import ModelPrice
from server.errors import BudgetExceeded, ProviderError
from server.extensions import db
from server.intake import accept
from server.models import ProviderCall
from server.pipeline.ledger import CallRecord, Ledger, job_cost
from server.providers.types import Usage

pytestmark = pytest.mark.pipeline
BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def job_id(app, settings) -> int:
    with app.app_context():
        return accept(b"# Prices\n\nA short article about what things cost.\n", "prices.md", None, settings).job_id


def ledger_for(app, settings, job_id: int, **overrides) -> Ledger:
    with app.app_context():
        return Ledger(db.engine, settings.model_copy(update=overrides), job_id, "images")


def rows(app, job_id: int) -> list[ProviderCall]:
    with app.app_context():
        return list(db.session.scalars(sa.select(ProviderCall).where(ProviderCall.job_id == job_id)
                                       .order_by(ProviderCall.id)))


def test_default_prices_follow_the_vendors(settings):
    prices = settings.model_prices
    ledger = Ledger(None, settings, 0, "x")  # price() needs no database
    assert ledger.price("gemini-3.8-flash", Usage(input_tokens=1_000_000, output_tokens=1_000_000)) == pytest.approx(4.5)
    assert ledger.price("gemini-3.5-flash-lite", Usage(input_tokens=2000, output_tokens=500)) == pytest.approx(0.00185)
    assert ledger.price("gemini-3.8-flash-tts", Usage(input_tokens=100, audio_tokens=10_000)) == pytest.approx(0.09005)
    assert ledger.price("black-forest-labs/flux-schnell", Usage(images=4)) == pytest.approx(0.012)
    assert prices["black-forest-labs/flux-1.1-pro"].image == 0.04
    custom = settings.model_copy(update={"prices": {"black-forest-labs/flux-schnell": ModelPrice(image=0.01)}})
    assert Ledger(None, custom, 0, "x").price("black-forest-labs/flux-schnell", Usage(images=2)) == 0.02


@BOTH
def test_every_call_is_a_row_at_once_with_its_outcome(app, settings, job_id):
    ledger = ledger_for(app, settings, job_id)
    with ledger.call("replicate", "black-forest-labs/flux-schnell", estimate=0.003) as call:
        call.usage = Usage(images=1)
        call.detail = "prediction abc123"
    assert [(r.provider, r.images, r.price_usd, r.outcome, r.cached, r.detail) for r in rows(app, job_id)] == [
        ("replicate", 1, pytest.approx(0.003), "ok", False, "prediction abc123")]
    with pytest.raises(ProviderError):
        with ledger.call("gemini", "gemini-3.8-flash", estimate=0.01):
            raise ProviderError("gemini", "model is overloaded", status=503)
    with ledger.call("gemini", "gemini-3.8-flash", estimate=0.01) as call:
        call.usage = Usage(input_tokens=1000, output_tokens=100)
        call.cost = 0.5  # the vendor said exactly
    found = rows(app, job_id)
    assert [(r.outcome, r.price_usd) for r in found[1:]] == [("ProviderError 503", 0.0), ("ok", 0.5)]
    assert all(r.stage == "images" and r.duration_ms >= 0 and r.created_at for r in found)
    with app.app_context():
        assert job_cost(db.session, job_id).as_dict() == {"total_usd": 0.503, "paid_calls": 2, "failed_calls": 1,
                                                          "cached_calls": 0}


def test_rows_are_committed_while_the_stage_still_holds_its_session(app, settings, job_id):
    ledger = ledger_for(app, settings, job_id)
    with app.app_context():
        db.session.execute(sa.select(ProviderCall)).all()  # the stage's session has a transaction open
        with ledger.call("replicate", "black-forest-labs/flux-schnell", estimate=0.003) as call:
            call.usage = Usage(images=1)
        other = sa.create_engine(settings.effective_database_url)
        with other.connect() as connection:  # another process would see it now
            assert connection.execute(sa.text("SELECT count(*) FROM provider_calls")).scalar() == 1
        other.dispose()


def test_the_budget_stops_a_call_before_it_is_made(app, settings, job_id):
    ledger = ledger_for(app, settings, job_id, max_cost_per_job=0.01)
    made = []
    for _ in range(5):
        try:
            with ledger.call("replicate", "black-forest-labs/flux-dev", estimate=0.025):
                made.append(1)
        except BudgetExceeded as error:
            assert error.limit == 0.01 and error.estimate == 0.025 and not error.retryable
            assert "MEDIABUDDY_MAX_COST_PER_JOB" in error.hint
    assert made == [] and rows(app, job_id) == []


def test_the_budget_counts_earlier_stages_and_attempts(app, settings, job_id):
    first = ledger_for(app, settings, job_id, max_cost_per_job=0.05)
    with first.call("gemini", "gemini-3.8-flash", estimate=0.01) as call:
        call.cost = 0.04
    later = ledger_for(app, settings, job_id, max_cost_per_job=0.05)
    with pytest.raises(BudgetExceeded) as caught:
        with later.call("replicate", "black-forest-labs/flux-schnell", estimate=0.02):
            pass
    assert caught.value.spent == pytest.approx(0.04)


def test_the_budget_holds_across_threads(app, settings, job_id):
    ledger = ledger_for(app, settings, job_id, max_cost_per_job=0.10)
    made, refused = [], []
    start = threading.Barrier(8, timeout=5)

    def draw() -> None:
        start.wait()
        try:
            with ledger.call("replicate", "black-forest-labs/flux-1.1-pro", estimate=0.04) as call:
                time.sleep(0.05)  # in flight: its estimate is reserved
                call.usage = Usage(images=1)
                made.append(1)
        except BudgetExceeded:
            refused.append(1)

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert (len(made), len(refused)) == (2, 6)
    with app.app_context():
        assert job_cost(db.session, job_id).total_usd == pytest.approx(0.08)


def test_a_model_without_a_price_is_refused_before_the_call(app, settings, job_id):
    ledger = ledger_for(app, settings, job_id)
    with pytest.raises(ProviderError) as caught:
        with ledger.call("gemini", "gemini-9-ultra", estimate=0.0):
            pass
    assert caught.value.permanent and caught.value.setting == "MEDIABUDDY_PRICES"
    assert rows(app, job_id) == []


def test_saved_calls_cost_nothing_and_say_what_they_saved(app, settings, job_id):
    ledger = ledger_for(app, settings, job_id)
    ledger.saved(CallRecord("replicate", "black-forest-labs/flux-dev", Usage(images=1), detail="prediction p1"))
    (row,) = rows(app, job_id)
    assert (row.cached, row.price_usd, row.images) == (True, 0.0, 1)
    assert row.detail == "cache hit; saved $0.0250; was prediction p1"
    with app.app_context():
        assert job_cost(db.session, job_id).as_dict()["cached_calls"] == 1


@BOTH
def test_the_migration_matches_the_model_and_goes_both_ways(app, settings):
    from flask_migrate import downgrade, upgrade

    from server import MIGRATIONS_DIR

    with app.app_context():
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert [d for d in diff if "provider_calls" in repr(d)] == []
        assert "ix_provider_calls_job_id" in {i["name"] for i in sa.inspect(db.engine).get_indexes("provider_calls")}
        downgrade(directory=str(MIGRATIONS_DIR), revision="0002")
        assert "provider_calls" not in sa.inspect(db.engine).get_table_names()
        upgrade(directory=str(MIGRATIONS_DIR))
        assert "provider_calls" in sa.inspect(db.engine).get_table_names()
