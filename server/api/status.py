"""The job status read (``GET /jobs/<id>``): the API's hottest request, in one SQL statement.

Clients poll it while a video renders, so its cost sets how many pollers one server
carries. Measured per read in-process (CPU, loaded machine), the ORM's three statements
plus the ledger's sum cost ~230 us on SQLite and ~560 us on PostgreSQL; this read costs
~22 us and ~100 us. What it does differently:

* one statement: the job's shown columns, its document's, its cost (the ledger's tally
  as a grouped sub-select) and its scenes (left-joined, one row per scene), compiled
  once per engine and run on the driver's cursor; the values are converted by the
  columns' own SQLAlchemy types (``result_processor``), so they are what the ORM gives.
  SQLAlchemy's execution context and result objects cost twice the query itself;
* its own small connection pool in autocommit mode and without a ping per checkout: on
  PostgreSQL the ORM pool's BEGIN, ``SELECT 1`` and ROLLBACK are three extra round trips
  per read. A single SELECT is consistent on its own, so no transaction is needed; when
  the database has closed a pooled connection (a restart), the pool is emptied and the
  read made once more, which is safe because a read changes nothing.

**Recent answers are kept** (``AnswerCache``), per job, for ``MEDIABUDDY_STATUS_CACHE_MS``
(1 s by default; 0 turns it off). Pollers ask again and again for the same jobs: on the
2-core machine a bare WSGI answer costs the server ~95 us of CPU, one hand-written SQLite
SELECT and ``json.dumps`` ~150 us, and this read ~320 us, so no read that touches the
database reaches 0.8x the floor (bench/api_load.py). What keeps a kept answer true:

* this process's own writes (an upload, a cancel, a retry, a test's session) drop the
  answers of the jobs they touched the moment they commit: the ORM's flushes name the
  jobs (``Job`` rows, and rows with a ``job_id``); any other write (a bulk ``UPDATE``, a
  Core statement) drops every answer. A read that began before such a commit is not kept
  (a generation counter), so a client sees its own writes at once;
* other processes' writes (a worker's progress, another server's, the CLI's) are seen
  within the kept time, as if the worker had committed that much later: each server's
  answers only move forward in time.

``MEDIABUDDY_STATUS_CACHE_MS=0`` makes every read see the last committed state. The answer
carries an ETag (a digest of the body) and ``Cache-Control: no-cache``, so a poller whose
job has not changed gets a bodiless 304.

``StatusRoute`` answers this one route in front of Flask. Under waitress a Flask
hello-world costs the server ~2.5x the CPU of a bare WSGI answer (bench/api_load.py's
``flask`` row), more than the read itself; the route checks the same rate limit and token
(the same functions) and builds the same answer as the Flask view, and hands everything
else - a missing job, a bad token, a throttled client, HEAD - to Flask, which answers it
as for any route.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from types import SimpleNamespace

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import bindparam, case, func, literal_column, select
from sqlalchemy.orm import Session
from werkzeug.http import parse_etags

from server.api import RATE_CHECKED, guards_of
from server.api.serialize import job_json
from server.auth import bearer_matches
from server.models import Document, Job, ProviderCall, Scene
from server.pipeline.ledger import JobCost

log = logging.getLogger("mediabuddy.api")

_JOB, _DOCUMENT, _SCENE, _CALL = Job.__table__, Document.__table__, Scene.__table__, ProviderCall.__table__
# Exactly what serialize.job_json(detail=True) reads; never the article's texts (they can be megabytes).
_JOB_FIELDS = ("id", "document_id", "status", "stage", "completed_stages", "stage_seconds", "slug", "title",
               "attempts", "degraded", "notes", "duration_ms", "error", "created_at", "updated_at", "finished_at")
_SCENE_FIELDS = ("index", "text", "concept", "visual", "start_ms", "duration_ms")
_ZERO, _ONE = literal_column("0"), literal_column("1")  # literals, so the statement's only parameter is the id
# The ledger's tally (ledger.job_cost groups the same rows in Python; a test holds the two equal).
_COSTS = (select(_CALL.c.job_id,
                 func.coalesce(func.sum(_CALL.c.price_usd), literal_column("0.0")).label("total_usd"),
                 func.sum(case((_CALL.c.cached, _ZERO), (_CALL.c.outcome == literal_column("'ok'"), _ONE),
                               else_=_ZERO)).label("paid_calls"),
                 func.sum(case((_CALL.c.cached, _ZERO), (_CALL.c.outcome == literal_column("'ok'"), _ZERO),
                               else_=_ONE)).label("failed_calls"),
                 func.sum(case((_CALL.c.cached, _ONE), else_=_ZERO)).label("cached_calls"))
          .where(_CALL.c.job_id == bindparam("id"))
          .group_by(_CALL.c.job_id)
          .subquery("costs"))
_COST_FIELDS = ("total_usd", "paid_calls", "failed_calls", "cached_calls")
_DOCUMENT_FIELDS = ("sha256", "source_path", "size_bytes", "created_at")  # serialize.document_json's, with the id
_STATUS = (select(*(_JOB.c[name] for name in _JOB_FIELDS),
                  *(_DOCUMENT.c[name].label(f"document_{name}") for name in _DOCUMENT_FIELDS),
                  *(_COSTS.c[name] for name in _COST_FIELDS),
                  _SCENE.c.id.label("scene_id"), *(_SCENE.c[name].label(f"scene_{name}") for name in _SCENE_FIELDS))
           .join_from(_JOB, _DOCUMENT, _JOB.c.document_id == _DOCUMENT.c.id)
           .outerjoin(_COSTS, _COSTS.c.job_id == _JOB.c.id)
           .outerjoin(_SCENE, _SCENE.c.job_id == _JOB.c.id)
           .where(_JOB.c.id == bindparam("id"))
           .order_by(_SCENE.c.index))


class StatusReader:
    """Reads one job for ``GET /jobs/<id>`` on its own autocommit pool (see the module's docstring)."""

    def __init__(self, url: str, connect_args: dict[str, object], keep_seconds: float = 0.0):
        self.answers = AnswerCache(keep_seconds)
        # In autocommit there is no transaction to roll back when a connection goes back to
        # the pool, so the reset (a round trip on PostgreSQL) is skipped too.
        self.engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=False,
                                       pool_reset_on_return=None, connect_args=connect_args)
        # The statement is compiled once and run on the driver's own cursor: SQLAlchemy's
        # execution context and result objects cost more than the query itself here.
        dialect = self.engine.dialect
        compiled = _STATUS.compile(dialect=dialect)
        self._sql = compiled.string
        self._positions = len(compiled.positiontup) if compiled.positional else None
        self._types = [column.type.dialect_impl(dialect) for column in _STATUS.selected_columns]
        self._names = [column.name for column in _STATUS.selected_columns]
        self._processors: list | None = None  # made from the first result's column types

    def read(self, job_id: int) -> tuple[SimpleNamespace, JobCost] | None:
        """The job as plain values and its cost; None if there is none.

        The job has the attributes ``job_json`` reads, and ``job.document`` those ``document_json`` reads.
        """
        try:
            rows = self._rows(job_id)
        except _Disconnected:
            # The database ended a pooled connection (it restarted): the pool's other
            # connections are as dead, so they are all dropped and the read is made afresh.
            log.warning("status read: the database closed a pooled connection; reading again on a new one")
            self.engine.dispose()
            rows = self._rows(job_id)
        if not rows:
            return None
        first = rows[0]
        scenes = [SimpleNamespace(**{name: row[f"scene_{name}"] for name in _SCENE_FIELDS})
                  for row in rows if row["scene_id"] is not None]
        document = SimpleNamespace(id=first["document_id"],
                                   **{name: first[f"document_{name}"] for name in _DOCUMENT_FIELDS})
        job = SimpleNamespace(**{name: first[name] for name in _JOB_FIELDS}, document=document, scenes=scenes)
        cost = JobCost(float(first["total_usd"] or 0.0), int(first["paid_calls"] or 0),
                       int(first["failed_calls"] or 0), int(first["cached_calls"] or 0))
        return job, cost

    def _rows(self, job_id: int) -> list[dict[str, object]]:
        """The statement's rows as dicts, values converted by the columns' own SQLAlchemy types."""
        params = (job_id,) * self._positions if self._positions is not None else {"id": job_id}
        connection = self.engine.raw_connection()
        cursor = None
        try:
            cursor = connection.cursor()
            cursor.execute(self._sql, params)
            raw = cursor.fetchall()
            if self._processors is None:
                self._processors = [kind.result_processor(self.engine.dialect, described[1])
                                    for kind, described in zip(self._types, cursor.description)]
            cursor.close()
        except self.engine.dialect.loaded_dbapi.Error as error:
            if self.engine.dialect.is_disconnect(error, connection.dbapi_connection, cursor):
                connection.invalidate(error)
                raise _Disconnected from error
            raise
        finally:
            connection.close()
        converters = list(zip(self._names, self._processors))
        return [{name: convert(value) if convert and value is not None else value
                 for (name, convert), value in zip(converters, row)} for row in raw]

    def close(self) -> None:
        self.engine.dispose()


class _Disconnected(Exception):
    """The database had closed the pooled connection a read was given."""


_creating = threading.Lock()


def status_reader(app: Flask) -> StatusReader:
    """The app's reader, made on first use (processes that never serve status reads open no pool)."""
    reader = app.extensions.get("mediabuddy.status_reader")
    if reader is None:
        with _creating:
            reader = app.extensions.get("mediabuddy.status_reader")
            if reader is None:
                from server import settings_of

                options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
                reader = StatusReader(app.config["SQLALCHEMY_DATABASE_URI"], dict(options.get("connect_args", {})),
                                      settings_of(app).status_cache_ms / 1000)
                app.extensions["mediabuddy.status_reader"] = reader
                # An app dropped without close_status_reader (a short-lived app in a CLI
                # command or a test) still closes its pooled connections when it is collected,
                # instead of leaving the database driver to find them open.
                owner = app._get_current_object() if hasattr(app, "_get_current_object") else app  # not current_app's proxy
                weakref.finalize(owner, reader.close)
    return reader


def close_status_reader(app: Flask) -> None:
    """Close the reader's pooled connections (tests and short-lived apps; a server simply exits)."""
    reader = app.extensions.pop("mediabuddy.status_reader", None)
    if reader is not None:
        reader.close()


MAX_ID = 2**31 - 1  # ids are 32-bit INTEGER columns: a larger one cannot exist (and PostgreSQL would refuse it)


def status_answer(app: Flask, job_id: int, if_none_match: str | None) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """(status, headers, body) for ``GET /jobs/<job_id>``: 200 with the job, or 304; None when there is no job."""
    reader = status_reader(app)
    kept = reader.answers.get(job_id)
    if kept is not None:
        body, etag = kept
    else:
        generation = reader.answers.generation
        found = reader.read(job_id) if job_id <= MAX_ID else None
        if found is None:
            return None   # not kept: a job about to be created must be found as soon as it is
        job, cost = found
        body = json.dumps({"job": job_json(job, detail=True, cost=cost)}, separators=(",", ":")).encode()
        # The ETag changes exactly when the body does. no-cache: a client or proxy may keep the body
        # but must ask again each time; an unchanged job is then answered 304 with no body.
        etag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
        reader.answers.put(job_id, generation, body, etag)
    headers = [("ETag", etag), ("Cache-Control", "no-cache")]
    if if_none_match and (if_none_match == etag or parse_etags(if_none_match).contains_weak(etag[1:-1])):
        return 304, headers, b""
    return 200, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers], body


class AnswerCache:
    """Status answers (body, ETag) per job, each kept ``keep_seconds`` (see the module's
    docstring); ``forget`` drops answers a write in this process made untrue."""

    MAX_JOBS = 10_000   # more jobs polled at once than this: start again (memory stays bounded)

    def __init__(self, keep_seconds: float):
        self.keep_seconds = keep_seconds
        self.generation = 0    # bumped by every forget: an answer read before one is not kept
        self._answers: dict[int, tuple[float, bytes, str]] = {}
        self._lock = threading.Lock()
        _CACHES.add(self)

    def get(self, job_id: int) -> tuple[bytes, str] | None:
        kept = self._answers.get(job_id)
        if kept is None or kept[0] <= time.monotonic():
            return None
        return kept[1], kept[2]

    def put(self, job_id: int, generation: int, body: bytes, etag: str) -> None:
        """Keep an answer read when ``generation`` was current, unless a write has been forgotten since."""
        if self.keep_seconds <= 0:
            return
        with self._lock:
            if generation != self.generation:
                return
            if len(self._answers) >= self.MAX_JOBS:
                self._answers.clear()
            self._answers[job_id] = (time.monotonic() + self.keep_seconds, body, etag)

    def forget(self, job_ids: Iterable[int] | None) -> None:
        """Drop the answers of ``job_ids`` (None: every answer)."""
        with self._lock:
            self.generation += 1
            if job_ids is None:
                self._answers.clear()
            else:
                for job_id in job_ids:
                    self._answers.pop(job_id, None)


_CACHES: weakref.WeakSet[AnswerCache] = weakref.WeakSet()
_TOUCHED, _TOUCHED_ALL, _CORE_WRITE = "mediabuddy.status_touched", "mediabuddy.status_touched_all", "mediabuddy.core_write"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "DROP", "ALTER", "TRUNCATE")
_SESSIONS_CONNECTIONS: weakref.WeakSet[sa.engine.Connection] = weakref.WeakSet()   # their writes: the session events below


def forget_jobs(job_ids: Iterable[int] | None) -> None:
    """Drop kept answers in every cache of this process (ids are not told apart by database:
    dropping one too many only costs a read)."""
    job_ids = None if job_ids is None else tuple(job_ids)
    for cache in list(_CACHES):
        cache.forget(job_ids)


@sa.event.listens_for(Session, "after_begin")
def _session_connection(_session: Session, _transaction: object, connection: sa.engine.Connection) -> None:
    _SESSIONS_CONNECTIONS.add(connection)


@sa.event.listens_for(Session, "after_flush")
def _note_touched(session: Session, _context: object) -> None:
    """The jobs a flush wrote (its new, changed and deleted rows are still listed here)."""
    touched = session.info.setdefault(_TOUCHED, set())
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, Job):
            touched.add(row.id)
        elif getattr(row, "job_id", None) is not None:
            touched.add(row.job_id)
        elif isinstance(row, Document) and row in session.deleted:
            session.info[_TOUCHED_ALL] = True   # its jobs go with it


@sa.event.listens_for(Session, "do_orm_execute")
def _note_bulk_write(state: sa.orm.ORMExecuteState) -> None:
    textual_write = isinstance(state.statement, sa.TextClause) and \
        state.statement.text.lstrip()[:8].upper().startswith(_WRITES)
    if state.is_insert or state.is_update or state.is_delete or textual_write:
        state.session.info[_TOUCHED_ALL] = True   # which rows, only the database knows


@sa.event.listens_for(Session, "after_commit")
def _session_committed(session: Session) -> None:
    touched, everything = session.info.pop(_TOUCHED, None), session.info.pop(_TOUCHED_ALL, False)
    if everything:
        forget_jobs(None)
    elif touched:
        forget_jobs(touched)


@sa.event.listens_for(Session, "after_rollback")
def _session_rolled_back(session: Session) -> None:
    session.info.pop(_TOUCHED, None)
    session.info.pop(_TOUCHED_ALL, None)


@sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
def _note_core_write(connection: sa.engine.Connection, _cursor: object, statement: str, *_args: object) -> None:
    """A write on a connection no session holds (a Core statement): every kept answer is
    dropped now and again when the connection goes back to the pool (after its commit)."""
    if statement.lstrip()[:8].upper().startswith(_WRITES) and connection not in _SESSIONS_CONNECTIONS:
        connection.info[_CORE_WRITE] = True
        forget_jobs(None)


@sa.event.listens_for(sa.pool.Pool, "checkin")
def _connection_returned(_dbapi_connection: object, record: object) -> None:
    if record is not None and record.info.pop(_CORE_WRITE, False):
        forget_jobs(None)


_STATUS_PATH = re.compile(r"/api/v1/jobs/([1-9][0-9]{0,9})")
_REASONS = {200: "200 OK", 304: "304 Not Modified"}


class StatusRoute:
    """WSGI middleware answering ``GET /api/v1/jobs/<id>`` without Flask's request machinery."""

    def __init__(self, app: Flask, wsgi_app: Callable):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = _STATUS_PATH.fullmatch(environ.get("PATH_INFO", "")) if environ["REQUEST_METHOD"] == "GET" else None
        if match is None:
            return self.wsgi_app(environ, start_response)
        guards = guards_of(self.app)
        authorized = bearer_matches(environ.get("HTTP_AUTHORIZATION"), guards.token)
        if guards.check(environ.get("REMOTE_ADDR") or "unknown", authorized) is not None:
            return self.wsgi_app(environ, start_response)  # Flask answers 429 (a refusal takes no token)
        environ[RATE_CHECKED] = True
        if not authorized:
            return self.wsgi_app(environ, start_response)  # Flask answers 401
        try:
            answer = status_answer(self.app, int(match.group(1)), environ.get("HTTP_IF_NONE_MATCH"))
        except Exception:  # noqa: BLE001 - handed on: Flask reads again, and answers (or logs) as for any route
            log.warning("status read of %s failed here; handing it to Flask", match.group(1), exc_info=True)
            return self.wsgi_app(environ, start_response)
        if answer is None:
            return self.wsgi_app(environ, start_response)  # Flask answers 404
        status, headers, body = answer
        start_response(_REASONS[status], headers)
        return [body]
