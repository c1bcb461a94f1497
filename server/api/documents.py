"""POST /documents: the daemon's one way in."""

from __future__ import annotations

import logging

from flask import current_app, jsonify, request

from server import settings_of
from server.api import api_blueprint
from server.api.serialize import document_json, job_json
from server.errors import ApiError
from server.extensions import db
from server.intake import accept
from server.models import Document, Job
from server.worker import enqueue_job

log = logging.getLogger("mediabuddy.api")
ACCEPTED_TYPES = ("text/markdown", "text/x-markdown", "text/plain", "application/octet-stream")


@api_blueprint.post("/documents")
def create_document():
    """Store a markdown document and queue its video. Body: the raw file; ?filename=relative/path.md."""
    mimetype = (request.mimetype or "").lower()
    if mimetype not in ACCEPTED_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"send the markdown as the raw body with Content-Type: text/markdown (got {mimetype or 'none'})")
    settings = settings_of(current_app)
    raw = request.get_data(cache=False)
    intake = accept(raw, request.args.get("filename", ""), request.headers.get("Idempotency-Key"), settings)
    if intake.created:
        enqueue_job(settings, intake.job_id)
        log.info("document %s stored, job %s queued", intake.document_id, intake.job_id)
    document = db.session.get(Document, intake.document_id)
    job = db.session.get(Job, intake.job_id)
    response = jsonify({"document": document_json(document), "job": job_json(job)})
    response.status_code = 201 if intake.created else 200
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    if not intake.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response
