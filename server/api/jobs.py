"""Jobs: list, inspect, retry."""

from __future__ import annotations

from flask import current_app, jsonify, request

from server import settings_of
from server.api import api_blueprint
from server.api.serialize import job_json
from server.errors import ApiError
from server.extensions import db
from server.models import Job, JobStatus
from server.worker import enqueue_job


@api_blueprint.get("/jobs")
def list_jobs():
    query = db.session.query(Job).order_by(Job.id.desc())
    status = request.args.get("status")
    if status:
        try:
            query = query.filter(Job.status == JobStatus(status))
        except ValueError:
            raise ApiError(400, "bad_status", f"status must be one of {', '.join(s.value for s in JobStatus)}") from None
    try:
        limit = int(request.args.get("limit", "50"))
    except ValueError:
        raise ApiError(400, "bad_limit", "limit must be a whole number between 1 and 500") from None
    if not 1 <= limit <= 500:
        raise ApiError(400, "bad_limit", "limit must be a whole number between 1 and 500")
    return jsonify({"jobs": [job_json(job) for job in query.limit(limit)]})


@api_blueprint.get("/jobs/<int:job_id>")
def get_job(job_id: int):
    return jsonify({"job": job_json(_job_or_404(job_id), detail=True)})


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
    job = _job_or_404(job_id)
    if job.status != JobStatus.FAILED:
        raise ApiError(409, "not_failed", f"job {job_id} is {job.status.value}; only failed jobs can be retried")
    job.status, job.error, job.finished_at = JobStatus.QUEUED, None, None
    db.session.commit()
    enqueue_job(settings_of(current_app), job.id)
    response = jsonify({"job": job_json(job)})
    response.status_code = 202
    return response


def _job_or_404(job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None:
        raise ApiError(404, "not_found", f"there is no job {job_id}")
    return job
