"""Paged lists: every job reachable through `next` links, filters validated, cursors opaque."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import insert, select

from server.extensions import db
from server.models import Document, Job, JobStatus

pytestmark = pytest.mark.api
START = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
STATUSES = [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED]


def seed(app, count: int, first: int = 0) -> list[int]:
    """``count`` documents with a job each, one hour apart from START, statuses in turn."""
    documents = [{"sha256": hashlib.sha256(f"doc {n}".encode()).hexdigest(), "source_path": f"folder/{n}.md",
                  "size_bytes": 10, "content": f"doc {n}", "created_at": START + timedelta(hours=n)}
                 for n in range(first, first + count)]
    with app.app_context():
        db.session.execute(insert(Document), documents)
        ids = dict(db.session.execute(select(Document.sha256, Document.id)).all())
        jobs = [{"document_id": ids[d["sha256"]], "slug": f"folder-{n}", "status": STATUSES[n % len(STATUSES)],
                 "completed_stages": [], "stage_seconds": {}, "settings": {}, "notes": [], "attempts": 0,
                 "degraded": False, "created_at": d["created_at"], "updated_at": d["created_at"]}
                for n, d in zip(range(first, first + count), documents)]
        db.session.execute(insert(Job), jobs)
        db.session.commit()
        return [row for (row,) in db.session.execute(select(Job.id).order_by(Job.id.desc()))]


def walk(client, auth, url: str) -> tuple[list[int], int]:
    """Follow `next` links from ``url``; return every job id in order and the number of pages."""
    seen, pages = [], 0
    while url:
        response = client.get(url, headers=auth)
        assert response.status_code == 200, response.json
        body = response.json
        seen += [job["id"] for job in body["jobs"]]
        pages += 1
        if body["next"]:
            assert response.headers["Link"] == f'<{body["next"]}>; rel="next"'
        url = body["next"]
    return seen, pages


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_three_thousand_jobs_are_listed_completely_through_the_pages(client, auth, app) -> None:
    expected = seed(app, 3000)
    seen, pages = walk(client, auth, "/api/v1/jobs?limit=250")
    assert seen == expected  # newest first, nothing repeated, nothing skipped
    assert pages == 12  # the last page has no `next`: nobody fetches an empty page
    seen, pages = walk(client, auth, "/api/v1/jobs")
    assert seen == expected and pages == 30  # the default page size is 100


def test_jobs_arriving_while_paging_neither_repeat_nor_hide_older_ones(client, auth, app) -> None:
    expected = seed(app, 120)
    first = client.get("/api/v1/jobs?limit=50", headers=auth).json
    seed(app, 30, first=1000)  # newer jobs: they belong before page one, not in the middle
    rest, _ = walk(client, auth, first["next"])
    assert [j["id"] for j in first["jobs"]] + rest == expected


def test_filters_by_status_and_date_follow_through_the_pages(client, auth, app) -> None:
    seed(app, 200)
    failed, _ = walk(client, auth, "/api/v1/jobs?status=failed&limit=7")
    with app.app_context():
        assert failed == [j for (j,) in db.session.execute(
            select(Job.id).where(Job.status == JobStatus.FAILED).order_by(Job.id.desc()))]
    assert len(failed) == 50
    both, _ = walk(client, auth, "/api/v1/jobs?status=failed,succeeded&limit=30")
    assert len(both) == 100
    day, _ = walk(client, auth, "/api/v1/jobs?since=2026-11-02&until=2026-11-02&limit=5")
    assert len(day) == 24  # hours 12..35 from START fall on Nov 2 (UTC)
    window, _ = walk(client, auth, "/api/v1/jobs?since=2026-11-01T15:00:00Z&until=2026-11-01T17:00:00%2B00:00")
    assert len(window) == 3
    naive, _ = walk(client, auth, "/api/v1/jobs?since=2026-11-01T15:00:00&until=2026-11-01T16:30:00")
    assert len(naive) == 2  # no offset means UTC


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # validation only: one database is enough
@pytest.mark.parametrize(("query", "code", "words"), [
    ("status=bogus", "bad_status", "queued"),
    ("status=", "bad_status", "queued"),
    ("since=yesterday", "bad_since", "ISO 8601"),
    ("until=2026-13-01", "bad_until", "ISO 8601"),
    ("limit=0", "bad_limit", "1 to 1000"),
    ("limit=1001", "bad_limit", "1 to 1000"),
    ("limit=ten", "bad_limit", "1 to 1000"),
    ("limit=%C2%B2", "bad_limit", "1 to 1000"),  # a superscript two is a digit to str.isdigit, not to int()
    ("cursor=not-a-cursor", "bad_cursor", "start again"),
    ("cursor=" + "A" * 300, "bad_cursor", "start again"),
    ("sort=id", "unknown_parameter", "allowed: limit"),
])
def test_bad_list_parameters_get_400_naming_the_problem(client, auth, query, code, words) -> None:
    response = client.get(f"/api/v1/jobs?{query}", headers=auth)
    assert response.status_code == 400
    assert response.json["error"]["code"] == code
    assert words in response.json["error"]["message"]


def test_a_cursor_works_only_with_the_filters_it_was_made_with(client, auth, app) -> None:
    seed(app, 30)
    link = client.get("/api/v1/jobs?status=queued&limit=2", headers=auth).json["next"]
    cursor = parse_qs(urlsplit(link).query)["cursor"][0]
    assert str(30) not in cursor  # opaque: not the raw id
    response = client.get(f"/api/v1/jobs?status=failed&limit=2&cursor={cursor}", headers=auth)
    assert response.status_code == 400 and response.json["error"]["code"] == "cursor_filter_mismatch"
    assert client.get(link, headers=auth).status_code == 200


def test_documents_are_paged_too_and_never_carry_their_text(client, auth, app) -> None:
    seed(app, 25)
    url, seen = "/api/v1/documents?limit=10", []
    while url:
        body = client.get(url, headers=auth).json
        assert all("content" not in d for d in body["documents"])
        seen += [d["source_path"] for d in body["documents"]]
        url = body["next"]
    assert seen == [f"folder/{n}.md" for n in reversed(range(25))]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_listed_costs_equal_the_ledgers_own_sum(client, auth, app) -> None:
    from server.models import ProviderCall
    from server.pipeline.ledger import job_cost

    ids = seed(app, 4)
    calls = [(ids[0], False, "ok", 0.01), (ids[0], False, "ok", 0.02), (ids[0], True, "ok", 0.0),
             (ids[0], False, "RateLimited(429)", 0.0), (ids[1], True, "ok", 0.0), (ids[2], False, "ok", 0.003)]
    with app.app_context():
        db.session.add_all([ProviderCall(job_id=job, stage="images", provider="replicate", model="flux",
                                         cached=cached, outcome=outcome, price_usd=price)
                            for job, cached, outcome, price in calls])
        db.session.commit()
        expected = {job: job_cost(db.session, job).as_dict() for job in ids}
    listed = {job["id"]: job["cost"] for job in client.get("/api/v1/jobs", headers=auth).json["jobs"]}
    assert listed == expected
    assert listed[ids[0]] == {"total_usd": 0.03, "paid_calls": 2, "failed_calls": 1, "cached_calls": 1}
    for job in ids:
        assert client.get(f"/api/v1/jobs/{job}", headers=auth).json["job"]["cost"] == expected[job]
