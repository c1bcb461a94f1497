"""Documents: POST (the daemon's one way in) and a paged list."""

from __future__ import annotations

import logging

from flask import current_app, jsonify, request
from sqlalchemy.orm import load_only

from server import settings_of
from server.api import api_blueprint
from server.api.paging import cut, read_page
from server.api.serialize import document_json, job_json
from server.api.status import status_reader
from server.errors import ApiError
from server.extensions import db
from server.intake import accept
from server.models import Document
from server.worker import enqueue_job

log = logging.getLogger("mediabuddy.api")
ACCEPTED_TYPES = ("text/markdown", "text/x-markdown", "text/plain", "application/octet-stream")
ACCEPTED_CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")


@api_blueprint.post("/documents")
def create_document():
    """Store a markdown document and queue its video. Body: the raw file; ?filename=relative/path.md."""
    mimetype = (request.mimetype or "").lower()
    if mimetype not in ACCEPTED_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"send the markdown as the raw body with Content-Type: text/markdown (got {mimetype[:60] or 'none'})")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ACCEPTED_CHARSETS:
        raise ApiError(415, "unsupported_charset", f"documents must be UTF-8 (the Content-Type says {charset[:40]}); "
                                                   "convert the file to UTF-8 and send it again")
    settings = settings_of(current_app)
    raw = request.get_data(cache=False)
    intake = accept(raw, request.args.get("filename", ""), request.headers.get("Idempotency-Key"), settings)
    if intake.created:
        enqueue_job(settings, intake.job_id)
        log.info("document %s stored, job %s queued", intake.document_id, intake.job_id)
    # The answer is read like a status poll: one statement (job, document, cost) instead of the
    # ORM's three; this halves the CPU the answer costs (~0.7 -> ~0.35 ms on SQLite).
    job, cost = status_reader(current_app).read(intake.job_id)
    response = jsonify({"document": document_json(job.document), "job": job_json(job, cost=cost)})
    response.status_code = 201 if intake.created else 200
    response.headers["Location"] = f"{request.script_root}/api/v1/jobs/{job.id}"
    if not intake.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@api_blueprint.get("/documents")
def list_documents():
    """Stored documents, newest first, without their text."""
    page = read_page(settings_of(current_app).page_size, ())
    query = db.session.query(Document).options(load_only(*_LISTED)).order_by(Document.id.desc())
    if page.after_id is not None:
        query = query.filter(Document.id < page.after_id)
    documents, link = cut(page, query.limit(page.limit + 1).all())
    response = jsonify({"documents": [document_json(d) for d in documents], "next": link})
    if link:
        response.headers["Link"] = f'<{link}>; rel="next"'
    return response


_LISTED = (Document.id, Document.sha256, Document.source_path, Document.size_bytes, Document.created_at)
