"""Health check and the OpenAPI description."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import text

from server.api import api_blueprint, error_response
from server.api.spec import OPENAPI
from server.extensions import db

@api_blueprint.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means the same thing here: not healthy
        return error_response(503, "database_unavailable", "the database cannot be reached")
    return jsonify({"status": "ok"})


@api_blueprint.get("/openapi.json")
def openapi():
    return jsonify(OPENAPI)
