"""Shared fixtures: a fresh home folder and database per test, real servers on loopback ports."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from config import Settings, load_settings

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"  # shared/ sits beside the checkout
assert CORPUS.is_dir(), f"the test corpus is expected at {CORPUS} (shared/ beside the repository)"
POSTGRES_URL = os.environ.get("MEDIABUDDY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _reset_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> str:
    """Every test that touches the database runs on both (as Huey tests every storage backend).

    PostgreSQL is MEDIABUDDY_TEST_POSTGRES (default: the `test` database), emptied per test.
    """
    if request.param == "postgresql":
        _reset_postgres(POSTGRES_URL)
        return POSTGRES_URL
    return f"sqlite:///{tmp_path / 'var' / 'mediabuddy.db'}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(home=tmp_path, database_url=database_url, short_side=240, fps=10,
                         api_token="test-token-0123456789abcdef", stability_seconds=0.3, rescan_seconds=2)


@pytest.fixture(autouse=True)
def _close_worker_apps():
    """The worker caches one app per database; close their connections after each test."""
    yield
    from server import worker
    from server.extensions import db

    for cached in worker._apps.values():
        with cached.app_context():
            db.session.remove()
            db.engine.dispose()
    worker._apps.clear()


@pytest.fixture(autouse=True)
def fresh_breakers():
    """Circuit breakers are process-wide: every test starts with none open (as a fresh process would)."""
    from server.providers import resilience

    resilience.reset_breakers()
    yield
    resilience.reset_breakers()


def dispose_app(application) -> None:  # noqa: ANN001 - a Flask app
    """Close everything an app opened: its session, its engine's pool and the status reader's pool."""
    from server.api.status import close_status_reader
    from server.extensions import db

    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    close_status_reader(application)


@pytest.fixture
def app(settings: Settings):
    from server import create_app, upgrade_database

    application = create_app(settings)
    upgrade_database(application)
    yield application
    dispose_app(application)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": "Bearer test-token-0123456789abcdef"}


def start_waitress(app, port: int | None = None):  # noqa: ANN001, ANN201 - a Flask app; returns (url, stop)
    """The real app under a real waitress server on loopback; ``stop()`` closes every socket.

    The sockets are closed by the server's own thread: ``stop()`` hands waitress's trigger a
    thunk, which its loop runs between two select() calls (what the trigger is for). Closing
    them from the test's thread instead, while the loop's select() waits on those very file
    descriptors, made select() fail now and then with EBADF.
    """
    from waitress import wasyncore
    from waitress.server import create_server

    port = port or free_port()
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, name="waitress-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)

    def stop() -> None:
        server.task_dispatcher.shutdown(timeout=5)  # requests in progress finish first
        # the listening socket, keep-alive channels and the trigger itself; an empty map ends the loop
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=5)
        assert not thread.is_alive(), "waitress's loop did not stop"

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture
def live_server(app):
    """The real app under a real waitress server on a free loopback port."""
    url, stop = start_waitress(app)
    yield url
    stop()


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):  # noqa: ANN001
    """Poll ``predicate`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
