"""Health check and the OpenAPI description."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import text

from server.api import api_blueprint, error_response
from server.extensions import db

_ERROR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, responses: dict[str, str], **extra: object) -> dict[str, object]:
    return {"summary": summary, **extra,
            "responses": {code: {"description": text_, "content": {"application/json": {"schema": _ERROR}}}
                          if code[0] in "45" else {"description": text_} for code, text_ in responses.items()}}


OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Media Buddy API", "version": "1"},
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/documents": {"post": _op(
            "Store a markdown document and queue its video",
            {"201": "Stored; job queued", "200": "Same content seen before; the existing job",
             "400": "Bad filename or Idempotency-Key", "401": "Missing or wrong token", "413": "Too large",
             "415": "Not markdown", "422": "Empty, not UTF-8, binary or no prose"},
            parameters=[{"name": "filename", "in": "query", "required": True, "schema": {"type": "string"}},
                        {"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}],
            requestBody={"required": True, "content": {"text/markdown": {"schema": {"type": "string"}}}})},
        "/jobs": {"get": _op("List jobs, newest first", {"200": "Jobs", "400": "Bad filter", "401": "Unauthorized"},
                             parameters=[{"name": "status", "in": "query", "schema": {"type": "string"}},
                                         {"name": "limit", "in": "query", "schema": {"type": "integer"}}])},
        "/jobs/{id}": {"get": _op("One job with its stages and scenes", {"200": "The job", "404": "No such job",
                                                                          "401": "Unauthorized"},
                                  parameters=[{"name": "id", "in": "path", "required": True,
                                               "schema": {"type": "integer"}}])},
        "/jobs/{id}/retry": {"post": _op("Run a failed job again", {"202": "Queued", "404": "No such job",
                                                                      "409": "Not failed", "401": "Unauthorized"},
                                         parameters=[{"name": "id", "in": "path", "required": True,
                                                      "schema": {"type": "integer"}}])},
        "/jobs/{id}/storyboard": {"get": _op("Scenes, concepts, visuals, pictures and duration estimates so far",
                                             {"200": "The storyboard", "404": "No such job",
                                              "409": "No timeline yet", "401": "Unauthorized"},
                                             parameters=[{"name": "id", "in": "path", "required": True,
                                                          "schema": {"type": "integer"}}])},
        "/healthz": {"get": _op("Liveness and database check", {"200": "Healthy", "503": "Database unreachable"},
                                security=[])},
    },
}


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
