"""Media Buddy's server: the Flask app factory.

The API, the worker, the CLI and the tests all build the app through ``create_app`` so
they share one database setup and one set of settings.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

from config import Settings, load_settings
from server.extensions import db, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
QUIET_LOGGING = Path(__file__).resolve().parent / "alembic-logging.ini"


def create_app(settings: Settings | None = None) -> Flask:
    """Build a Flask app bound to ``settings`` (read from the environment when omitted)."""
    settings = settings or load_settings()
    settings.ensure_dirs()

    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.effective_database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.effective_database_url),
        MAX_CONTENT_LENGTH=settings.max_document_bytes,
        JSON_SORT_KEYS=False,
    )
    app.extensions["mediabuddy.settings"] = settings

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    _enable_sqlite_foreign_keys(app)

    from server.api import api_blueprint
    from server.api.status import StatusRoute

    app.register_blueprint(api_blueprint, url_prefix="/api/v1")
    app.wsgi_app = StatusRoute(app, app.wsgi_app)  # the status poll, answered before Flask's request setup
    logging.getLogger("mediabuddy").setLevel(settings.log_level)
    return app


def settings_of(app: Flask) -> Settings:
    """The settings an app was built with."""
    return app.extensions["mediabuddy.settings"]


def upgrade_database(app: Flask) -> None:
    """Apply every pending Alembic migration (what ``flask db upgrade`` does), quietly.

    migrations/env.py hands logging to alembic.ini, which replaces the root handlers and
    prints alembic's INFO lines on every command. Here the ini is swapped for one that
    installs nothing, the caller's logging is put back afterwards, and one line is logged
    only when the schema actually changed.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with app.app_context():
        with db.engine.connect() as connection:
            before = MigrationContext.configure(connection).get_current_revision()
        config = app.extensions["migrate"].migrate.get_config(str(MIGRATIONS_DIR))
        config.config_file_name = str(QUIET_LOGGING)
        try:
            command.upgrade(config, "head")
        finally:
            root.handlers[:], root.level = handlers, level
        with db.engine.connect() as connection:
            after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        logging.getLogger("mediabuddy").info("database schema upgraded from %s to %s", before or "empty", after)


def _engine_options(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        # Several processes (API, worker, CLI) share the file: wait for locks instead of failing.
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def _enable_sqlite_foreign_keys(app: Flask) -> None:
    from sqlalchemy import event

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        @event.listens_for(db.engine, "connect")
        def _on_connect(dbapi_connection, _record):  # noqa: ANN001 - DB-API objects
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()
