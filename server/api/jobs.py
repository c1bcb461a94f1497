"""Jobs: list (paged, filtered), inspect, retry, cancel."""

from __future__ import annotations

from flask import current_app, jsonify
from sqlalchemy.orm import defer, joinedload, selectinload

from server import jobs as operations, settings_of
from server.api import api_blueprint
from server.api.paging import cut, parse_instant, read_page
from server.api.serialize import job_json
from server.errors import ApiError
from server.extensions import db
from server.models import Document, Job, JobStatus

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
    """Queue a failed or canceled job again; it resumes at the stage that failed."""
    job = _operate(operations.retry_job, job_id)
    response = jsonify({"job": job_json(job)})
    response.status_code = 202
    return response


@api_blueprint.post("/jobs/<int:job_id>/cancel")
def cancel_job(job_id: int):
    """Cancel a queued job now; a running one stops at its next stage boundary (202 until then)."""
    job = _operate(operations.cancel_job, job_id)
    response = jsonify({"job": job_json(job)})
    response.status_code = 200 if job.status == JobStatus.CANCELED else 202
    return response


def _operate(operation, job_id: int) -> Job:  # noqa: ANN001 - one of server.jobs' operations
    if job_id > MAX_ID:
        raise ApiError(404, "not_found", f"there is no job {job_id}")
    try:
        return operation(job_id)
    except operations.JobNotFound as error:
        raise ApiError(404, "not_found", str(error)) from None
    except operations.JobStateConflict as error:
        code = "not_retryable" if error.action == "retried" else "not_cancelable"
        raise ApiError(409, code, str(error)) from None


def _statuses(value: str) -> list[JobStatus]:
    known = {status.value: status for status in JobStatus}
    wanted = [part.strip() for part in value.split(",")]
    bad = [part for part in wanted if part not in known]
    if bad or not wanted:
        raise ApiError(400, "bad_status", f"status must be one or more of {', '.join(known)}, comma-separated "
                                          f"(got {value[:60]!r})")
    return [known[part] for part in wanted]
