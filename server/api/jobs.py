"""Jobs: list (paged, filtered), inspect, retry."""

from __future__ import annotations

from flask import current_app, jsonify
from sqlalchemy.orm import defer, joinedload, load_only, selectinload

from server import settings_of
from server.api import api_blueprint
from server.api.paging import cut, parse_instant, read_page
from server.api.serialize import job_json
from server.errors import ApiError
from server.extensions import db
from server.models import Document, Job, JobStatus
from server.worker import enqueue_job

JOB_FILTERS = ("status", "since", "until")
MAX_ID = 2**31 - 1  # ids are 32-bit INTEGER columns: a larger one cannot exist (and PostgreSQL would refuse it)
# Columns a job's JSON never shows: the article and its rewritten text can be megabytes.
_UNSHOWN = (defer(Job.narration_text), defer(Job.spoken_text))
_SOURCE_ONLY = joinedload(Job.document).load_only(Document.source_path)


@api_blueprint.get("/jobs")
def list_jobs():
    page = read_page(settings_of(current_app).page_size, JOB_FILTERS)
    query = db.session.query(Job).options(*_UNSHOWN, _SOURCE_ONLY).order_by(Job.id.desc())
    if "status" in page.filters:
        query = query.filter(Job.status.in_(_statuses(page.filters["status"])))
    if "since" in page.filters:
        query = query.filter(Job.created_at >= parse_instant("since", page.filters["since"]))
    if "until" in page.filters:
        query = query.filter(Job.created_at <= parse_instant("until", page.filters["until"], end_of_day=True))
    if page.after_id is not None:
        query = query.filter(Job.id < page.after_id)
    jobs, link = cut(page, query.limit(page.limit + 1).all())
    response = jsonify({"jobs": [job_json(job) for job in jobs], "next": link})
    if link:
        response.headers["Link"] = f'<{link}>; rel="next"'
    return response


@api_blueprint.get("/jobs/<int:job_id>")
def get_job(job_id: int):
    # One round trip for the job and its file name, one for the scenes: status polling is the
    # hottest read the API has.
    job = db.session.get(Job, job_id, options=[*_UNSHOWN, _SOURCE_ONLY, selectinload(Job.scenes)]) \
        if job_id <= MAX_ID else None
    if job is None:
        raise ApiError(404, "not_found", f"there is no job {job_id}")
    return jsonify({"job": job_json(job, detail=True)})


@api_blueprint.post("/jobs/<int:job_id>/retry")
def retry_job(job_id: int):
    job = _job_or_404(job_id)
    if job.status != JobStatus.FAILED:
        raise ApiError(409, "not_failed", f"job {job_id} is {job.status.value}; only failed jobs can be retried")
    job.status, job.error, job.finished_at = JobStatus.QUEUED, None, None
    db.session.commit()
    enqueue_job(settings_of(current_app), job.id)
    response = jsonify({"job": job_json(job)})
    response.status_code = 202
    return response


def _statuses(value: str) -> list[JobStatus]:
    known = {status.value: status for status in JobStatus}
    wanted = [part.strip() for part in value.split(",")]
    bad = [part for part in wanted if part not in known]
    if bad or not wanted:
        raise ApiError(400, "bad_status", f"status must be one or more of {', '.join(known)}, comma-separated "
                                          f"(got {value[:60]!r})")
    return [known[part] for part in wanted]


def _job_or_404(job_id: int) -> Job:
    job = db.session.get(Job, job_id, options=[_SOURCE_ONLY]) if job_id <= MAX_ID else None
    if job is None:
        raise ApiError(404, "not_found", f"there is no job {job_id}")
    return job
