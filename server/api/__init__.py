"""HTTP API under /api/v1: JSON everywhere, errors as {"error": {"code", "message"}}."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from server.api.ratelimit import RateLimiter
from server.auth import bearer_matches, ensure_token
from server.errors import ApiError

log = logging.getLogger("mediabuddy.api")

api_blueprint = Blueprint("api", __name__)
PUBLIC_ENDPOINTS = {"api.healthz", "api.openapi"}
RATE_CHECKED = "mediabuddy.rate_checked"  # WSGI environ key: the limiter has counted this request


@api_blueprint.record_once
def _json_as_built(state) -> None:  # noqa: ANN001 - Flask's BlueprintSetupState
    # Flask sorts every JSON object's keys by default; our dicts are already in a readable
    # order, and sorting costs time on the hottest read.
    state.app.json.sort_keys = False


@api_blueprint.before_request
def guard() -> None:
    """Rate limit first (a flood without a token is throttled too), then the bearer token.

    A client presenting the token and one without it count against separate limits (see
    ``Guards``), so a scan is refused early while the owner's tools are not."""
    guards = guards_of(current_app)
    authorized = bearer_matches(request.headers.get("Authorization"), guards.token)
    if not request.environ.get(RATE_CHECKED):  # server/api/status.py's route may have charged this request already
        wait = guards.check(request.remote_addr or "unknown", authorized)
        if wait is not None:
            raise ApiError(429, "rate_limited", f"too many requests from this client; retry in {wait:.1f} s",
                           headers={"Retry-After": RateLimiter.retry_after_header(wait)})
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    if not authorized:
        raise ApiError(401, "unauthorized", "a valid 'Authorization: Bearer <token>' header is required",
                       headers={"WWW-Authenticate": 'Bearer realm="mediabuddy"'})


@dataclass(frozen=True)
class Guards:
    """The API token and the two rate limits: per address for requests without the token (a
    scan or a flood: a low limit, refused before it costs anything) and per address for
    requests with it (the owner's daemon, CLI and pollers: a limit above what one server
    answers, which stops only a runaway loop)."""

    token: str
    anonymous: RateLimiter
    authorized: RateLimiter

    def check(self, client: str, authorized: bool) -> float | None:
        """None when ``client`` may go on, else the seconds it must wait."""
        return (self.authorized if authorized else self.anonymous).check(client)


def guards_of(app: Flask) -> Guards:
    """The app's token and rate limits, made on first use (the token file may be created then)."""
    guards = app.extensions.get("mediabuddy.guards")
    if guards is None:
        from server import settings_of

        settings = settings_of(app)
        guards = app.extensions["mediabuddy.guards"] = Guards(
            ensure_token(settings),
            RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            RateLimiter(settings.token_rate_limit_per_second, settings.token_rate_limit_burst))
    return guards


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
