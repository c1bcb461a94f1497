"""Jobs: list (paged, filtered), inspect, retry, cancel."""

from __future__ import annotations

from flask import current_app, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import defer, joinedload

from server import jobs as operations, settings_of
from server.api import api_blueprint
from server.api.paging import cut, parse_instant, read_page
from server.api.serialize import job_json
from server.api.status import MAX_ID, status_answer
from server.errors import ApiError
from server.extensions import db
from server.models import Document, Job, JobStatus, ProviderCall
from server.pipeline.ledger import JobCost

JOB_FILTERS = ("status", "since", "until")
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
    costs = page_costs([job.id for job in jobs])
    response = jsonify({"jobs": [job_json(job, cost=costs[job.id]) for job in jobs], "next": link})
    if link:
        response.headers["Link"] = f'<{link}>; rel="next"'
    return response


@api_blueprint.get("/jobs/<int:job_id>")
def get_job(job_id: int):
    """One job with an ETag; its answer kept up to MEDIABUDDY_STATUS_CACHE_MS (server/api/status.py,
    whose StatusRoute usually answers first)."""
    answer = status_answer(current_app, job_id, request.headers.get("If-None-Match"))
    if answer is None:
        raise ApiError(404, "not_found", f"there is no job {job_id}")
    status, headers, body = answer
    response = current_app.response_class(body, status=status, headers=headers)
    if status == 304:
        response.headers.remove("Content-Length")  # a 304 has no body; its length is not 0 (RFC 9110, 8.6)
    return response


@api_blueprint.get("/jobs/<int:job_id>/storyboard")
def get_storyboard(job_id: int):
    """The timeline and pictures so far (server/storyboard.py); 409 until the timeline exists."""
    from server.storyboard import storyboard_of

    job = _job_or_404(job_id)
    if "timeline" not in job.completed_stages:
        raise ApiError(409, "not_ready", f"job {job_id} has no timeline yet (stage: {job.stage or 'queued'}); "
                       "ask again when the timeline stage is done")
    return jsonify({"storyboard": storyboard_of(job)})


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


def page_costs(job_ids: list[int]) -> dict[int, JobCost]:
    """Every listed job's cost in one grouped query (one per job would be 100 per page).

    The same tally as ``ledger.job_cost``; a test holds the two equal.
    """
    totals = {job_id: [0.0, 0, 0, 0] for job_id in job_ids}  # total, paid, failed, cached
    if job_ids:
        rows = db.session.execute(
            select(ProviderCall.job_id, ProviderCall.cached, ProviderCall.outcome, func.count(),
                   func.coalesce(func.sum(ProviderCall.price_usd), 0.0))
            .where(ProviderCall.job_id.in_(job_ids))
            .group_by(ProviderCall.job_id, ProviderCall.cached, ProviderCall.outcome)).all()
        for job_id, was_cached, outcome, count, price in rows:
            tally = totals[job_id]
            tally[0] += float(price or 0.0)
            tally[3 if was_cached else 1 if outcome == "ok" else 2] += count
    return {job_id: JobCost(total, paid, failed, cached) for job_id, (total, paid, failed, cached) in totals.items()}


def _statuses(value: str) -> list[JobStatus]:
    known = {status.value: status for status in JobStatus}
    wanted = [part.strip() for part in value.split(",")]
    bad = [part for part in wanted if part not in known]
    if bad or not wanted:
        raise ApiError(400, "bad_status", f"status must be one or more of {', '.join(known)}, comma-separated "
                                          f"(got {value[:60]!r})")
    return [known[part] for part in wanted]


def _job_or_404(job_id: int) -> Job:
    job = db.session.get(Job, job_id) if job_id <= MAX_ID else None
    if job is None:
        raise ApiError(404, "not_found", f"there is no job {job_id}")
    return job
