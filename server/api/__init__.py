"""HTTP API under /api/v1: JSON everywhere, errors as {"error": {"code", "message"}}."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from server.auth import ensure_token, token_matches
from server.errors import ApiError

log = logging.getLogger("mediabuddy.api")

api_blueprint = Blueprint("api", __name__)
PUBLIC_ENDPOINTS = {"api.healthz", "api.openapi"}


@api_blueprint.before_request
def require_token() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    from server import settings_of

    expected = current_app.extensions.get("mediabuddy.token")
    if expected is None:
        expected = current_app.extensions["mediabuddy.token"] = ensure_token(settings_of(current_app))
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented or not token_matches(presented.strip(), expected):
        raise ApiError(401, "unauthorized", "a valid 'Authorization: Bearer <token>' header is required",
                       headers={"WWW-Authenticate": 'Bearer realm="mediabuddy"'})


@api_blueprint.errorhandler(ApiError)
def _api_error(error: ApiError):
    return error_response(error.status, error.code, error.message, error.headers)


@api_blueprint.app_errorhandler(HTTPException)
def _http_error(error: HTTPException):
    code = (error.name or "error").lower().replace(" ", "_")
    message = error.description or error.name
    if error.code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"the document is larger than the server's limit of {limit} bytes"
    return error_response(error.code or 500, code, message)


@api_blueprint.app_errorhandler(Exception)
def _unexpected(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "the server hit an unexpected error; see its log")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


from server.api import documents, jobs, meta  # noqa: E402,F401  (routes register on import)
