"""The HTTP API through the Flask test client, a real waitress server, on SQLite and PostgreSQL."""

import hashlib
import json

import pytest
import requests

from server.models import Document, Job, JobStatus
from server.extensions import db

pytestmark = pytest.mark.api
ARTICLE = b"---\ntitle: Tiny\n---\n# Tiny\n\nThis small article has enough words to be narrated aloud.\n"


def post(client, body: bytes, headers: dict, filename: str = "notes/tiny.md", content_type: str = "text/markdown"):
    return client.post(f"/api/v1/documents?filename={filename}", data=body,
                       headers={**headers, "Content-Type": content_type})


def test_requests_without_the_token_get_401(client) -> None:
    for method, path in (("get", "/api/v1/jobs"), ("post", "/api/v1/documents"), ("get", "/api/v1/jobs/1")):
        response = getattr(client, method)(path)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_health_and_openapi_need_no_token(client) -> None:
    assert client.get("/api/v1/healthz").json == {"status": "ok"}
    spec = client.get("/api/v1/openapi.json").json
    assert {"/documents", "/jobs", "/jobs/{id}", "/jobs/{id}/retry", "/healthz"} <= set(spec["paths"])


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_same_content_makes_one_job(client, auth, app) -> None:
    key = hashlib.sha256(ARTICLE).hexdigest()
    first = post(client, ARTICLE, {**auth, "Idempotency-Key": key})
    assert first.status_code == 201, first.json
    again = post(client, ARTICLE, {**auth, "Idempotency-Key": key}, filename="other-name.md")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json["job"]["id"] == first.json["job"]["id"]
    with app.app_context():
        assert db.session.query(Document).count() == 1
        assert db.session.query(Job).count() == 1
    job = client.get(f"/api/v1/jobs/{first.json['job']['id']}", headers=auth).json["job"]
    assert job["status"] == "queued" and [s["name"] for s in job["stages"]][0] == "extract"
    assert job["slug"] == "notes-tiny"  # the folder is part of the outbox name


@pytest.mark.parametrize(("body", "filename", "content_type", "status", "code"), [
    (b"", "a.md", "text/markdown", 422, "empty_document"),
    (b"\xff\xfe broken \xc3", "a.md", "text/markdown", 422, "invalid_utf8"),
    (b"\x00\x01\x02binary", "a.md", "text/markdown", 422, "binary_content"),
    (b"```\ncode only\n```\n", "a.md", "text/markdown", 422, "no_prose"),
    (ARTICLE, "a.txt", "text/markdown", 415, "unsupported_type"),
    (ARTICLE, "a.md", "image/png", 415, "unsupported_media_type"),
    (ARTICLE, "../escape.md", "text/markdown", 400, "bad_filename"),
    (ARTICLE, ".hidden.md", "text/markdown", 400, "bad_filename"),
    (ARTICLE, "", "text/markdown", 400, "missing_filename"),
])
def test_bad_documents_get_clear_errors(client, auth, body, filename, content_type, status, code) -> None:
    response = post(client, body, auth, filename=filename, content_type=content_type)
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]


def test_idempotency_key_must_match_the_body(client, auth) -> None:
    response = post(client, ARTICLE, {**auth, "Idempotency-Key": "0" * 64})
    assert response.status_code == 400 and response.json["error"]["code"] == "idempotency_key_mismatch"
    response = post(client, ARTICLE, {**auth, "Idempotency-Key": "not-a-digest"})
    assert response.json["error"]["code"] == "bad_idempotency_key"


def test_oversized_documents_get_413(client, auth, settings) -> None:
    response = post(client, b"word " * (settings.max_document_bytes // 4), auth)
    assert response.status_code == 413
    assert "limit" in response.json["error"]["message"]


def test_jobs_listing_retry_and_missing(client, auth) -> None:
    created = post(client, ARTICLE, auth).json["job"]["id"]
    assert [j["id"] for j in client.get("/api/v1/jobs", headers=auth).json["jobs"]] == [created]
    assert client.get("/api/v1/jobs?status=bogus", headers=auth).status_code == 400
    assert client.get("/api/v1/jobs?limit=0", headers=auth).status_code == 400
    assert client.get("/api/v1/jobs/999", headers=auth).status_code == 404
    assert client.post(f"/api/v1/jobs/{created}/retry", headers=auth).status_code == 409


def test_real_waitress_server_speaks_the_same_api(live_server, auth) -> None:
    assert requests.post(f"{live_server}/api/v1/documents?filename=x.md", data=ARTICLE, timeout=5).status_code == 401
    response = requests.post(f"{live_server}/api/v1/documents?filename=x.md", data=ARTICLE, timeout=5,
                             headers={**auth, "Content-Type": "text/markdown; charset=utf-8",
                                      "Idempotency-Key": hashlib.sha256(ARTICLE).hexdigest()})
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert requests.get(f"{live_server}/api/v1/nope", headers=auth, timeout=5).json()["error"]["code"] == "not_found"
    with requests.Session() as poller:  # one keep-alive connection: a bodiless 304 must not desynchronise it
        job = f"{live_server}/api/v1/jobs/{response.json()['job']['id']}"
        first = poller.get(job, headers=auth, timeout=5)
        again = poller.get(job, headers={**auth, "If-None-Match": first.headers["ETag"]}, timeout=5)
        assert (again.status_code, again.content, "Content-Length" in again.headers) == (304, b"", False)
        assert poller.get(job, headers=auth, timeout=5).json() == first.json()


def test_cancel_and_retry_through_the_api(client, auth, app) -> None:
    created = post(client, ARTICLE, auth).json["job"]["id"]
    canceled = client.post(f"/api/v1/jobs/{created}/cancel", headers=auth)
    assert canceled.status_code == 200 and canceled.json["job"]["status"] == "canceled"
    assert client.post(f"/api/v1/jobs/{created}/cancel", headers=auth).status_code == 200  # already: same answer
    listed = client.get("/api/v1/jobs?status=canceled", headers=auth).json["jobs"]
    assert [j["id"] for j in listed] == [created]
    retried = client.post(f"/api/v1/jobs/{created}/retry", headers=auth)
    assert retried.status_code == 202 and retried.json["job"]["status"] == "queued"
    with app.app_context():
        db.session.get(Job, created).status = JobStatus.SUCCEEDED
        db.session.commit()
    refused = client.post(f"/api/v1/jobs/{created}/cancel", headers=auth)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "not_cancelable"
    assert client.post(f"/api/v1/jobs/{2**31}/cancel", headers=auth).status_code == 404
    assert client.post("/api/v1/jobs/999/retry", headers=auth).status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_fast_status_read_matches_the_orm_view_of_the_job(client, auth, app) -> None:
    from server.api.serialize import job_json
    from server.models import Scene

    created = post(client, ARTICLE, auth).json["job"]["id"]
    with app.app_context():
        job = db.session.get(Job, created)
        job.completed_stages, job.stage, job.stage_seconds = ["extract", "voice"], "timeline", {"extract": 0.5}
        job.scenes = [Scene(index=i, text=f"Scene {i} text.", concept=f"c{i}", visual=f"v{i}", word_count=3,
                            start_ms=i * 1000, duration_ms=1000) for i in (2, 0, 1)]
        db.session.commit()
        expected = job_json(db.session.get(Job, created), detail=True)
        assert expected["cost"] == {"total_usd": 0.0, "paid_calls": 0, "failed_calls": 0, "cached_calls": 0}
    body = client.get(f"/api/v1/jobs/{created}", headers=auth).json["job"]
    assert body == json.loads(json.dumps(expected))
    assert [s["index"] for s in body["scenes"]] == [0, 1, 2]
    assert [s["state"] for s in body["stages"]][:3] == ["done", "done", "running"]
    without = post(client, ARTICLE + b"\nMore words here.\n", auth, filename="b.md").json["job"]["id"]
    assert client.get(f"/api/v1/jobs/{without}", headers=auth).json["job"]["scenes"] == []


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_polled_job_is_fresh_after_each_change_and_304_only_while_unchanged(client, auth, app) -> None:
    from server.models import ProviderCall

    created = post(client, ARTICLE, auth).json["job"]["id"]
    url = f"/api/v1/jobs/{created}"
    first = client.get(url, headers=auth)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache" and etag.startswith('"')
    unchanged = client.get(url, headers={**auth, "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.data == b"" and unchanged.headers["ETag"] == etag
    assert client.get(url, headers={**auth, "If-None-Match": '"another"'}).status_code == 200

    seen = {etag}
    changes = [lambda job: setattr(job, "status", JobStatus.RUNNING),  # what a worker commits, stage by stage
               lambda job: setattr(job, "stage", "voice"),
               lambda job: setattr(job, "completed_stages", ["extract"]),
               lambda job: db.session.add(ProviderCall(job_id=job.id, stage="voice", provider="p", model="m",
                                                       outcome="ok", price_usd=0.25))]
    for change in changes:
        with app.app_context():
            change(db.session.get(Job, created))
            db.session.commit()
        after = client.get(url, headers={**auth, "If-None-Match": etag})
        assert after.status_code == 200, "a changed job must not be answered 304"
        etag = after.headers["ETag"]
        assert etag not in seen
        seen.add(etag)
    body = after.json["job"]
    assert (body["status"], body["stage"], body["stages"][0]["state"]) == ("running", "voice", "done")
    assert body["cost"]["total_usd"] == 0.25 and body["cost"]["paid_calls"] == 1


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_status_read_is_one_sql_statement_on_its_own_pool(client, auth, app, database_url) -> None:
    from sqlalchemy import event

    from server.api.status import status_reader

    created = post(client, ARTICLE, auth).json["job"]["id"]
    status_reader(app).answers.keep_seconds = 0   # every read goes to the database (kept answers: the next test)
    with app.app_context():
        pools = {"status": status_reader(app).engine, "orm": db.engine}
    checkouts = {name: 0 for name in pools}
    statements: list[str] = []

    def count(name: str):  # noqa: ANN202
        def checked_out(dbapi_connection, record, proxy) -> None:  # noqa: ANN001 - pool event arguments
            checkouts[name] += 1
            if database_url.startswith("sqlite"):  # every statement the driver runs, BEGIN and PRAGMA too
                dbapi_connection.set_trace_callback(statements.append)
        return checked_out

    listeners = {name: count(name) for name in pools}
    for name, engine in pools.items():
        event.listen(engine, "checkout", listeners[name])
    try:
        for _ in range(3):
            assert client.get(f"/api/v1/jobs/{created}", headers=auth).status_code == 200
    finally:
        for name, engine in pools.items():
            event.remove(engine, "checkout", listeners[name])
    assert checkouts == {"status": 3, "orm": 0}  # one connection per read, none from the ORM's pool
    if database_url.startswith("sqlite"):
        assert len(statements) == 3 and all(sql.lstrip().upper().startswith("SELECT") for sql in statements)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_pollers_get_kept_answers_and_this_servers_own_writes_at_once(client, auth, app, database_url) -> None:
    """A job's answer is kept for MEDIABUDDY_STATUS_CACHE_MS (1 s): a second poll costs no
    database read. A write made in this process (a cancel through the API, a session's
    commit, a Core statement) is seen by the very next read; a write by another process (a
    worker) only once the kept answer has expired."""
    import time

    import sqlalchemy as sa
    from sqlalchemy import event

    from server.api.status import status_reader

    first = post(client, ARTICLE, auth).json["job"]["id"]
    second = post(client, ARTICLE + b"\nAnother line for a second job.\n", auth, filename="b.md").json["job"]["id"]
    reader = status_reader(app)
    assert reader.answers.keep_seconds == 1.0
    reads = []
    event.listen(reader.engine, "checkout", lambda *_: reads.append(1))

    def status(job_id: int) -> str:
        answer = client.get(f"/api/v1/jobs/{job_id}", headers=auth)
        assert answer.status_code == 200
        return answer.json["job"]["status"]

    assert [status(first) for _ in range(3)] == ["queued"] * 3 and len(reads) == 1   # kept
    assert client.post(f"/api/v1/jobs/{first}/cancel", headers=auth).status_code in (200, 202)
    assert status(first) == "canceled" and len(reads) == 2          # the API's own write: seen at once
    assert status(second) == "queued" and len(reads) == 3
    with app.app_context():                                         # a session's commit in this process
        db.session.get(Job, second).status = JobStatus.FAILED
        db.session.commit()
    assert status(second) == "failed" and status(first) == "canceled" and len(reads) == 4   # only its job dropped
    with app.app_context(), db.engine.begin() as connection:      # a Core statement: every answer dropped
        connection.execute(sa.update(Job.__table__).where(Job.id == second).values(status="queued"))
    assert status(second) == "queued" and len(reads) == 5
    with app.app_context():                                         # SQL text through the session: the same
        db.session.execute(sa.text("UPDATE jobs SET status = 'failed' WHERE id = :id"), {"id": second})
        db.session.commit()
    assert status(second) == "failed" and len(reads) == 6
    with app.app_context():
        db.session.execute(sa.text("UPDATE jobs SET status = 'queued' WHERE id = :id"), {"id": second})
        db.session.commit()
    assert status(second) == "queued" and len(reads) == 7
    # Another process's write (a raw connection the events cannot see, as a worker's would be).
    other = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=sa.pool.NullPool)
    with other.connect() as raw:
        cursor = raw.connection.dbapi_connection.cursor()
        cursor.execute(f"UPDATE jobs SET status = 'failed' WHERE id = {int(second)}")
        raw.connection.dbapi_connection.commit()
    other.dispose()
    assert status(second) == "queued"                                  # still the kept answer
    time.sleep(1.05)
    assert status(second) == "failed"


def test_an_answer_read_before_a_write_is_not_kept() -> None:
    """A read that began before a write's commit and finished after its forget is not kept:
    otherwise the old answer would be served for the whole kept time."""
    from server.api.status import AnswerCache, forget_jobs

    cache = AnswerCache(60)
    began = cache.generation
    forget_jobs([7])                       # a write committed while the read was under way
    cache.put(7, began, b"old", '"e1"')
    assert cache.get(7) is None
    cache.put(7, cache.generation, b"new", '"e2"')
    assert cache.get(7) == (b"new", '"e2"')
    forget_jobs([8])
    assert cache.get(7) == (b"new", '"e2"')   # another job's write leaves it
    forget_jobs(None)
    assert cache.get(7) is None


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_status_route_in_front_of_flask_answers_exactly_as_the_flask_view(client, auth, app) -> None:
    from server.api.status import StatusRoute

    created = post(client, ARTICLE, auth).json["job"]["id"]
    etag = client.get(f"/api/v1/jobs/{created}", headers=auth).headers["ETag"]
    requests_ = [(f"/api/v1/jobs/{created}", auth), (f"/api/v1/jobs/{created}", {**auth, "If-None-Match": etag}),
                 (f"/api/v1/jobs/{created}", {**auth, "If-None-Match": 'W/"old", ' + etag}),
                 (f"/api/v1/jobs/{created + 7}", auth), (f"/api/v1/jobs/{2**31}", auth), (f"/api/v1/jobs/0", auth),
                 (f"/api/v1/jobs/{created}", {}), (f"/api/v1/jobs/{created}", {"Authorization": "Bearer wrong"}),
                 (f"/api/v1/jobs/{created}?unused=1", auth)]

    def answers() -> list[tuple[int, dict[str, str], bytes]]:
        return [(r.status_code, dict(r.headers.items()), r.data)
                for r in (client.get(path, headers=headers) for path, headers in requests_)]

    assert isinstance(app.wsgi_app, StatusRoute)
    fast = answers()
    route, app.wsgi_app = app.wsgi_app, app.wsgi_app.wsgi_app  # Flask alone
    try:
        assert answers() == fast
    finally:
        app.wsgi_app = route
    assert [status for status, _, _ in fast] == [200, 304, 304, 404, 404, 404, 401, 401, 200]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_status_read_survives_the_database_dropping_its_pooled_connection(client, auth, app, caplog) -> None:
    import sqlalchemy as sa

    from server.api.status import status_reader

    created = post(client, ARTICLE, auth).json["job"]["id"]
    status_reader(app).answers.keep_seconds = 0   # the second read must go to the database
    assert client.get(f"/api/v1/jobs/{created}", headers=auth).status_code == 200  # a connection is now pooled
    with status_reader(app).engine.connect() as pooled:  # the same connection goes back to the pool after
        backend = pooled.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    with app.app_context():  # what a database restart does to every connection: the server ends it
        db.session.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        db.session.commit()
    answer = client.get(f"/api/v1/jobs/{created}", headers=auth)
    assert answer.status_code == 200 and answer.json["job"]["id"] == created
    assert "reading again on a new one" in caplog.text


def test_an_mdx_post_is_accepted_and_named_like_any_article(client, auth, tmp_path) -> None:
    from daemon.filters import is_article

    mdx = b"import Note from './note'\n\n# Shipping MDX\n\n<Note variant=\"join\">Components hold prose.</Note>\n\n" \
          b"An MDX post is markdown with components, and it is read out like any other article.\n"
    response = post(client, mdx, auth, filename="blog/shipping.mdx")
    assert response.status_code == 201, response.json
    assert response.json["job"]["slug"] == "blog-shipping"
    (tmp_path / "shipping.mdx").write_bytes(mdx)
    assert is_article(tmp_path / "shipping.mdx", tmp_path)  # the daemon delivers what the server accepts


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_an_app_dropped_without_closing_closes_its_status_pool(settings) -> None:
    """A short-lived app (a CLI command, a test) that served a status read and was simply
    dropped must not leave pooled connections for the driver to find open (psycopg warns,
    and with warnings as errors a whole run failed at exit)."""
    import gc

    from server import create_app, upgrade_database
    from server.api.status import status_reader

    app = create_app(settings)
    upgrade_database(app)
    assert status_reader(app).read(1) is None   # opens the reader's pool
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    del app
    gc.collect()   # an open connection collected here is a ResourceWarning, an error in this suite
