"""A hostile client gets clean 4xx and changes nothing; names never leave the outbox."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from config import SettingsError, load_settings
from server.extensions import db
from server.intake import outbox_file
from server.models import Document, Job
from tests.conftest import dispose_app

pytestmark = pytest.mark.api
ARTICLE = b"# Notes\n\nThis small article has enough words to be narrated aloud by the voice.\n"
ROOT = Path(__file__).resolve().parents[1]


def post(client, auth, filename: str, body: bytes = ARTICLE, content_type: str = "text/markdown", **environ):
    return client.post("/api/v1/documents", query_string={"filename": filename}, data=body,
                       headers={**auth, "Content-Type": content_type}, environ_base=environ or {})


@pytest.fixture
def throttled_app(settings):
    from server import create_app, upgrade_database

    application = create_app(settings.model_copy(update={"rate_limit_per_second": 2.0, "rate_limit_burst": 3,
                                                         "token_rate_limit_per_second": 2.0,
                                                         "token_rate_limit_burst": 3}))
    upgrade_database(application)
    yield application
    dispose_app(application)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # validation only: one database is enough
def test_a_flood_gets_429_with_retry_after_per_client(throttled_app, auth) -> None:
    client = throttled_app.test_client()
    answers = [client.get("/api/v1/jobs").status_code for _ in range(3)]
    assert answers == [401, 401, 401]  # the burst of a client without the token
    flooded = client.get("/api/v1/jobs")  # throttled before the query is even looked at
    assert flooded.status_code == 429
    assert flooded.json["error"]["code"] == "rate_limited"
    assert int(flooded.headers["Retry-After"]) >= 1
    other = client.get("/api/v1/jobs", environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert other.status_code == 401  # another client has its own bucket
    # The owner's requests, from the same address, count against their own (higher) limit.
    assert [client.get("/api/v1/jobs", headers=auth).status_code for _ in range(3)] == [200, 200, 200]
    assert client.get("/api/v1/jobs", headers=auth).status_code == 429   # ... which holds too (here 3)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # validation only: one database is enough
def test_the_owner_is_not_throttled_by_the_limit_for_clients_without_the_token(settings, auth) -> None:
    """A client without the token is refused after its burst; polling with the token at a
    rate far above it (a dashboard, a load test, the daemon) is never refused under the
    token's default limit. (The strangers' limit refills slowly here: at the default 50/s,
    a slow machine's 120 requests took long enough for it to refill, and the last was a 401.)"""
    from server import create_app, upgrade_database

    settings = settings.model_copy(update={"rate_limit_per_second": 0.05})
    app = create_app(settings)
    upgrade_database(app)
    try:
        client = app.test_client()
        job = post(client, auth, "a.md").json["job"]["id"]
        owner = {client.get(f"/api/v1/jobs/{job}", headers=auth).status_code
                 for _ in range(settings.rate_limit_burst * 3)}
        stranger = [client.get(f"/api/v1/jobs/{job}").status_code for _ in range(settings.rate_limit_burst + 20)]
    finally:
        dispose_app(app)
    assert owner == {200}
    assert set(stranger) == {401, 429} and stranger[0] == 401 and stranger[-1] == 429


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # validation only: one database is enough
def test_status_polls_are_throttled_too_and_each_request_counts_once(settings, auth) -> None:
    from server import create_app, upgrade_database

    # a token every 20 s: nothing refills during the test, so the count is exact
    slow = create_app(settings.model_copy(update={"rate_limit_per_second": 0.05, "rate_limit_burst": 4,
                                                  "token_rate_limit_per_second": 0.05, "token_rate_limit_burst": 4}))
    upgrade_database(slow)
    try:
        client = slow.test_client()
        created = post(client, auth, "a.md").json["job"]["id"]  # the first of the burst's four
        # a found job (answered before Flask), a missing one and a bad token (both handed on to
        # Flask) must each take one token, not two (a bad token from the bucket of clients without one)
        wrong = {"Authorization": "Bearer wrong"}
        answers = [client.get(f"/api/v1/jobs/{created + 50}", headers=auth),
                   *[client.get(f"/api/v1/jobs/{created}", headers=wrong) for _ in range(5)],
                   client.get(f"/api/v1/jobs/{created}", headers=auth),
                   client.get(f"/api/v1/jobs/{created}", headers=auth),
                   client.get(f"/api/v1/jobs/{created}", headers=auth)]
    finally:
        dispose_app(slow)
    assert [r.status_code for r in answers] == [404, 401, 401, 401, 401, 429, 200, 200, 429]
    assert answers[-1].json["error"]["code"] == "rate_limited" and int(answers[-1].headers["Retry-After"]) >= 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # validation only: one database is enough
def test_the_rate_limit_is_enforced_by_the_real_server(throttled_app, auth) -> None:
    from tests.conftest import start_waitress

    url, stop = start_waitress(throttled_app)
    try:
        with requests.Session() as session:
            codes = [session.get(f"{url}/api/v1/healthz", timeout=5).status_code for _ in range(8)]
    finally:
        stop()
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # validation only: one database is enough
@pytest.mark.parametrize("filename", [
    "../escape.md", "a/../../escape.md", "/etc/passwd.md", "//server/share/x.md", "C:/Windows/x.md", "C:x.md",
    "a\\..\\..\\x.md", "nul\x00.md", "line\nbreak.md", "tab\tname.md", ".hidden/x.md", "a/.git/x.md", "a/" + "x" * 300 + ".md",
    "x" * 1100 + ".md",
])
def test_traversal_and_unsafe_names_are_refused_and_store_nothing(client, auth, app, settings, filename) -> None:
    response = post(client, auth, filename)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "bad_filename"
    with app.app_context():
        assert db.session.query(Document).count() == 0 and db.session.query(Job).count() == 0
    assert list(settings.outbox_dir.iterdir()) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # validation only: one database is enough
@pytest.mark.parametrize(("content_type", "code"), [
    ("text/markdown; charset=latin-1", "unsupported_charset"),
    ("text/markdown; charset=utf-16", "unsupported_charset"),
    ("application/json", "unsupported_media_type"),
    ("multipart/form-data; boundary=x", "unsupported_media_type"),
])
def test_wrong_content_types_and_charsets_get_415(client, auth, app, content_type, code) -> None:
    response = post(client, auth, "ok.md", content_type=content_type)
    assert response.status_code == 415 and response.json["error"]["code"] == code
    with app.app_context():
        assert db.session.query(Document).count() == 0


def test_utf8_charset_is_accepted(client, auth) -> None:
    assert post(client, auth, "ok.md", content_type="text/markdown; charset=UTF-8").status_code == 201


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_outbox_names_are_unique_per_source_path_and_predictable(client, auth) -> None:
    def slug(filename: str, extra: str = "") -> str:
        response = post(client, auth, filename, body=ARTICLE + extra.encode())
        assert response.status_code == 201, response.json
        return response.json["job"]["slug"]

    assert slug("post.md") == "post"
    assert slug("a/post.md", "a") == "a-post"
    assert slug("b/post.md", "b") == "b-post"  # same file name, other folder: another output
    assert slug("a/b/post.md", "ab") == "a-b-post"
    clash = slug("a-b/post.md", "clash")  # flattens like a/b/post.md: the path's hash keeps them apart
    assert clash.startswith("a-b-post-") and len(clash) == len("a-b-post-") + 8
    assert slug("a-b/post.md", "clash, edited") == clash  # a new version keeps its name (and replaces its video)
    assert slug("a/post.md", "a, edited") == "a-post"
    assert slug("Post.md", "capital") != "post"  # one name on a case-insensitive disk
    assert slug("con.md", "reserved") == "con-article"  # con.mp4 cannot exist on Windows
    assert slug("日本語/記事.md", "unicode") == "article"


@pytest.mark.parametrize("slug", ["../x", "a/b", "/abs", "con", "", "A", "x\x00", "..", "a--b", "-a"])
def test_outbox_file_refuses_any_name_that_could_leave_the_outbox(tmp_path: Path, slug: str) -> None:
    with pytest.raises(ValueError, match="refusing"):
        outbox_file(tmp_path, slug, ".mp4")
    assert outbox_file(tmp_path, "a-post", ".error.txt") == tmp_path.resolve() / "a-post.error.txt"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # validation only: one database is enough
def test_no_secret_in_error_bodies_or_logs(client, app, caplog) -> None:
    secret = "test-token-0123456789abcdef"  # the fixture's real token
    near = secret[:-1] + "X"
    caplog.set_level(logging.DEBUG)
    bodies = [client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {near}"}).get_data(as_text=True),
              client.get("/api/v1/jobs", headers={"Authorization": near}).get_data(as_text=True),
              client.get(f"/api/v1/jobs?cursor={near}", headers={"Authorization": f"Bearer {secret}"}).get_data(as_text=True),
              client.post(f"/api/v1/documents?filename={near}.txt", data=ARTICLE,
                          headers={"Authorization": f"Bearer {secret}", "Content-Type": "text/markdown"}
                          ).get_data(as_text=True)]
    assert all('"error"' in body for body in bodies)
    for text in [*bodies, caplog.text]:
        assert secret not in text and near not in text


def test_binding_beyond_loopback_needs_a_strong_explicit_token(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "127.0.0.5", "::1", "localhost"):
        assert load_settings(home=tmp_path, host=host).host == host
    for host, token in (("0.0.0.0", None), ("192.168.1.4", "short-secret"), ("::", None), ("example.org", None)):
        with pytest.raises(SettingsError, match="MEDIABUDDY_HOST=.* is not a loopback address") as caught:
            load_settings(home=tmp_path, host=host, api_token=token)
        assert "MEDIABUDDY_API_TOKEN" in str(caught.value)
        assert token is None or token not in str(caught.value)
    assert load_settings(home=tmp_path, host="0.0.0.0", api_token="s" * 32).host == "0.0.0.0"


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "cli", "serve"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                             "MEDIABUDDY_HOME": str(tmp_path), "MEDIABUDDY_HOST": "0.0.0.0"})
    assert result.returncode == 2
    assert "MEDIABUDDY_HOST=0.0.0.0 is not a loopback address" in result.stderr
    assert not (tmp_path / "var").exists()  # refused before anything was created


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_hostile_client_of_the_real_server_gets_clean_4xx_and_changes_nothing(settings, auth) -> None:
    """The issue's list, over real HTTP: no token, wrong token, huge body, traversal names,
    wrong content types, a flood. Every answer is a JSON 4xx, and the database, outbox and
    inbox are as they were."""
    from server import create_app, upgrade_database
    from tests.conftest import start_waitress

    app = create_app(settings.model_copy(update={"rate_limit_per_second": 1.0, "rate_limit_burst": 40}))
    upgrade_database(app)
    url, stop = start_waitress(app)
    try:
        with requests.Session() as session:
            def send(method: str, path: str, body: bytes | None = None, **headers: str) -> requests.Response:
                return session.request(method, f"{url}/api/v1{path}", data=body, headers=headers, timeout=30)

            good = {**auth, "Content-Type": "text/markdown"}
            job = send("POST", "/documents?filename=mine.md", ARTICLE, **good).json()["job"]["id"]
            with app.app_context():
                before = (db.session.query(Document).count(), db.session.query(Job).count(),
                          db.session.get(Job, job).status, db.session.get(Job, job).attempts)
            answers = [
                send("POST", "/documents?filename=a.md", ARTICLE, **{"Content-Type": "text/markdown"}),  # no token
                send("POST", "/documents?filename=a.md", ARTICLE, Authorization="Bearer not-the-token",
                     **{"Content-Type": "text/markdown"}),
                send("POST", f"/jobs/{job}/cancel", Authorization="Basic dXNlcjpwYXNz"),
                send("POST", f"/jobs/{job}/retry"),
                send("GET", f"/jobs/{job}", Authorization="Bearer " + auth["Authorization"][7:-1]),  # one char short
                send("POST", "/documents?filename=big.md", b"word " * (settings.max_document_bytes // 2), **good),
                send("POST", "/documents?filename=../../escape.md", ARTICLE, **good),
                send("POST", "/documents?filename=%2Fetc%2Fcron.d%2Fx.md", ARTICLE, **good),
                send("POST", "/documents?filename=a%5C..%5C..%5Cx.md", ARTICLE, **good),
                send("POST", "/documents?filename=a.md", ARTICLE, **{**auth, "Content-Type": "application/json"}),
                send("POST", "/documents?filename=a.md", "# Titre\n\nÉté.".encode("latin-1"),
                     **{**auth, "Content-Type": "text/markdown; charset=latin-1"}),
                send("POST", "/documents?filename=a.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", **good),
            ]
            flood = [send("GET", f"/jobs/{job}") for _ in range(60)]  # no token, and far past the burst
    finally:
        stop()
    statuses = [r.status_code for r in answers]
    assert statuses == [401, 401, 401, 401, 401, 413, 400, 400, 400, 415, 415, 422], statuses
    assert {r.status_code for r in flood} == {401, 429}
    throttled = [r for r in flood if r.status_code == 429]
    assert all(int(r.headers["Retry-After"]) >= 1 for r in throttled)
    for response in answers + flood:
        assert response.headers["Content-Type"] == "application/json" and response.json()["error"]["code"]
    try:
        with app.app_context():
            after = (db.session.query(Document).count(), db.session.query(Job).count(),
                     db.session.get(Job, job).status, db.session.get(Job, job).attempts)
    finally:
        dispose_app(app)
    assert after == before
    assert [p.name for p in settings.outbox_dir.iterdir()] == []
    assert not any(settings.inbox_dir.rglob("*")) and not (settings.home / "escape.md").exists()
