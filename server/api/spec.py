"""The OpenAPI 3.0 description served at /api/v1/openapi.json.

Written by hand next to the routes and checked against them by a schemathesis run in the
tests (every response must match the schema given here, and no request may get a 5xx).
"""

from __future__ import annotations

from server.models import JobStatus

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra: object) -> dict[str, object]:
    return {"type": kind, "nullable": True, **extra}


_ERROR_TEXT = {
    "400": "A bad query parameter, filename or header; the message says which",
    "401": "Missing or wrong bearer token",
    "404": "No such resource",
    "409": "The job is not in a state that allows this",
    "413": "Larger than MEDIABUDDY_MAX_DOCUMENT_BYTES",
    "415": "Not markdown, or not UTF-8",
    "422": "Empty, not UTF-8, binary, or no prose to narrate",
    "429": "Too many requests from this client; see Retry-After",
    "503": "The database cannot be reached",
}


def _op(summary: str, ok: dict[str, tuple[str, str]], errors: tuple[str, ...], *, public: bool = False,
        **extra: object) -> dict[str, object]:
    """One operation: ``ok`` maps status → (description, schema name); errors share the Error schema."""
    responses: dict[str, object] = {code: {"description": text, "content": {_JSON: {"schema": _ref(schema)}}}
                                    for code, (text, schema) in ok.items()}
    for code in (*errors, "429") if public else (*errors, "401", "429"):
        responses[code] = {"description": _ERROR_TEXT[code], "content": {_JSON: {"schema": _ref("Error")}}}
    responses["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 1},
                                                   "description": "Seconds to wait"}}
    operation: dict[str, object] = {"summary": summary, **extra, "responses": responses}
    if public:
        operation["security"] = []
    return operation


def _conditional(operation: dict[str, object]) -> dict[str, object]:
    """A read that answers with an ETag and, when If-None-Match still matches it, 304 and no body."""
    etag = {"ETag": {"schema": {"type": "string"}, "description": "Changes whenever the body does"},
            "Cache-Control": {"schema": {"type": "string"}, "description": "no-cache: revalidate every time"}}
    operation["responses"]["200"]["headers"] = etag
    operation["responses"]["304"] = {"description": "Unchanged since the ETag sent in If-None-Match", "headers": etag}
    return operation


_IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
                  "description": "The ETag of the copy the client holds; 304 when the job still matches it"}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
     "description": "Items per page (default MEDIABUDDY_PAGE_SIZE)"},
    {"name": "cursor", "in": "query", "schema": {"type": "string"},
     "description": "Opaque; copy it from the previous page's `next` link"},
]
_JOB_FILTERS = [
    {"name": "status", "in": "query", "schema": {"type": "string"},
     "description": f"One or more of {', '.join(s.value for s in JobStatus)}, comma-separated"},
    {"name": "since", "in": "query", "schema": {"type": "string"},
     "description": "Created at or after this ISO 8601 date or date-time (UTC when no offset)"},
    {"name": "until", "in": "query", "schema": {"type": "string"},
     "description": "Created at or before this ISO 8601 date (the whole day) or date-time"},
]

_STAGE = {"type": "object", "required": ["name", "state"], "properties": {
    "name": {"type": "string"}, "state": {"type": "string", "enum": ["done", "running", "pending"]},
    "seconds": _nullable("number")}}
_SCENE = {"type": "object", "required": ["index", "text"], "properties": {
    "index": {"type": "integer"}, "text": {"type": "string"}, "concept": {"type": "string"},
    "visual": {"type": "string"}, "start_ms": _nullable("integer"), "duration_ms": _nullable("integer")}}
_JOB = {"type": "object", "required": ["id", "document_id", "status", "stages", "slug", "source_path", "attempts",
                                       "degraded", "created_at", "updated_at"], "properties": {
    "id": {"type": "integer"}, "document_id": {"type": "integer"},
    "status": {"type": "string", "enum": [s.value for s in JobStatus]},
    "stage": _nullable("string"), "stages": {"type": "array", "items": _STAGE}, "slug": {"type": "string"},
    "title": _nullable("string"), "source_path": {"type": "string"}, "attempts": {"type": "integer"},
    "degraded": {"type": "boolean"}, "notes": {"type": "array", "items": {"type": "string"}},
    "duration_ms": _nullable("integer"), "error": _nullable("string"),
    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
    "finished_at": _nullable("string", format="date-time"),
    "cost": {"type": "object", "required": ["total_usd", "paid_calls", "failed_calls", "cached_calls"], "properties": {
        "total_usd": {"type": "number", "minimum": 0}, "paid_calls": {"type": "integer", "minimum": 0},
        "failed_calls": {"type": "integer", "minimum": 0}, "cached_calls": {"type": "integer", "minimum": 0}}}}}
_JOB_DETAIL = {"allOf": [_ref("Job"), {"type": "object", "required": ["scenes", "outputs"], "properties": {
    "scenes": {"type": "array", "items": _SCENE},
    "outputs": {"type": "object", "additionalProperties": {"type": "string"}}}}]}
_DOCUMENT = {"type": "object", "required": ["id", "sha256", "source_path", "size_bytes", "created_at"], "properties": {
    "id": {"type": "integer"}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    "source_path": {"type": "string"}, "size_bytes": {"type": "integer", "minimum": 1},
    "created_at": {"type": "string", "format": "date-time"}}}


def _list_of(key: str, item: str) -> dict[str, object]:
    return {"type": "object", "required": [key, "next"], "properties": {
        key: {"type": "array", "items": _ref(item)},
        "next": _nullable("string", description="The next page's URL; null on the last page")}}


def _wrap(key: str, schema: str) -> dict[str, object]:
    return {"type": "object", "required": [key], "properties": {key: _ref(schema)}}


OPENAPI: dict[str, object] = {
    "openapi": "3.0.3",
    "info": {"title": "Media Buddy API", "version": "1",
             "description": "Markdown in, narrated video out. Bearer token from MEDIABUDDY_API_TOKEN or var/api-token."},
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
            "Job": _JOB, "JobDetail": _JOB_DETAIL, "Document": _DOCUMENT,
            "JobList": _list_of("jobs", "Job"), "DocumentList": _list_of("documents", "Document"),
            "JobEnvelope": _wrap("job", "Job"), "JobDetailEnvelope": {
                "type": "object", "required": ["job"], "properties": {"job": _ref("JobDetail")}},
            "Intake": {"type": "object", "required": ["document", "job"],
                       "properties": {"document": _ref("Document"), "job": _ref("Job")}},
            "StoryboardEnvelope": {"type": "object", "required": ["storyboard"], "properties": {"storyboard": {
                "type": "object", "required": ["job", "scenes", "estimated_ms"], "properties": {
                    "job": {"type": "integer"}, "title": {"type": "string"}, "language": {"type": "string"},
                    "theme": {"type": "string"}, "stages_done": {"type": "array", "items": {"type": "string"}},
                    "degraded": {"type": "boolean"}, "notes": {"type": "array", "items": {"type": "string"}},
                    "estimated_ms": {"type": "integer"},
                    "scenes": {"type": "array", "items": {"type": "object", "required": ["index", "text"],
                                                          "properties": {
                        "index": {"type": "integer"}, "text": {"type": "string"}, "words": {"type": "integer"},
                        "concept": {"type": "string"}, "visual": {"type": "string"}, "chapter": {"type": "string"},
                        "estimated_ms": {"type": "integer"}, "duration_ms": _nullable("integer"),
                        "image": _nullable("string"), "image_provider": _nullable("string")}}}}}}},
            "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
            "OpenApiDocument": {"type": "object", "required": ["openapi", "paths"]},
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/documents": {
            "post": _op("Store a markdown document and queue its video",
                        {"201": ("Stored; job queued", "Intake"), "200": ("Same content seen before", "Intake")},
                        ("400", "413", "415", "422"),
                        parameters=[{"name": "filename", "in": "query", "required": True,
                                     "schema": {"type": "string"}, "description": "Inbox-relative path, '/' separated"},
                                    {"name": "Idempotency-Key", "in": "header", "required": False,
                                     "schema": {"type": "string"}, "description": "The body's sha256 (64 hex digits)"}],
                        requestBody={"required": True, "content": {"text/markdown": {"schema": {"type": "string"}}}}),
            "get": _op("List documents, newest first (paged)", {"200": ("Documents", "DocumentList")}, ("400",),
                       parameters=_PAGING),
        },
        "/jobs": {"get": _op("List jobs, newest first (paged, filtered)", {"200": ("Jobs", "JobList")}, ("400",),
                             parameters=[*_PAGING, *_JOB_FILTERS])},
        "/jobs/{id}": {"get": _conditional(_op("One job with its stages and scenes (poll it with If-None-Match)",
                                               {"200": ("The job", "JobDetailEnvelope")}, ("404",),
                                               parameters=[_ID, _IF_NONE_MATCH]))},
        "/jobs/{id}/storyboard": {"get": _op("Scenes, concepts, visuals, pictures and duration estimates so far",
                                             {"200": ("The storyboard", "StoryboardEnvelope")}, ("404", "409"),
                                             parameters=[_ID])},
        "/jobs/{id}/retry": {"post": _op("Run a failed or canceled job again from the stage that failed",
                                         {"202": ("Queued again", "JobEnvelope")}, ("404", "409"), parameters=[_ID])},
        "/jobs/{id}/cancel": {"post": _op("Cancel a queued job, or ask a running one to stop at its next stage",
                                          {"200": ("Canceled", "JobEnvelope"),
                                           "202": ("Running: it stops at its next stage boundary", "JobEnvelope")},
                                          ("404", "409"), parameters=[_ID])},
        "/healthz": {"get": _op("Liveness and database check", {"200": ("Healthy", "Health")}, ("503",),
                                public=True)},
        "/openapi.json": {"get": _op("This description", {"200": ("OpenAPI 3.0 document", "OpenApiDocument")}, (),
                                     public=True)},
    },
}
