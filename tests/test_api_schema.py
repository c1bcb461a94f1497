"""The OpenAPI description matches the real endpoints: a bounded schemathesis run.

Schemathesis generates requests from /api/v1/openapi.json and sends them to the real app
(in-process WSGI, real database); every answer must match the status codes, headers and
JSON schemas the description gives, and none may be a 5xx. One check is left out:
"positive data acceptance" expects every schema-valid request to succeed, which cannot hold
for opaque cursors, filenames or filter words a JSON schema cannot describe fully; the
answers to those are still checked against the documented 400 and its schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings

from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import dispose_app

pytestmark = pytest.mark.api
ARTICLE = b"# A title\n\nA paragraph with enough words in it to be narrated as a scene.\n"
EXAMPLES = 25  # per operation: bounds the run to ~10 s here


@pytest.fixture
def spec_app(settings, monkeypatch):
    from server import create_app, upgrade_database

    application = create_app(settings.model_copy(update={"rate_limit_per_second": 0.0}))
    upgrade_database(application)
    yield application
    dispose_app(application)


def test_every_operation_answers_as_its_description_says(spec_app, auth) -> None:
    client = spec_app.test_client()
    created = client.post("/api/v1/documents?filename=a/b.md", data=ARTICLE,
                          headers={**auth, "Content-Type": "text/markdown"})
    assert created.status_code == 201  # so /jobs/{id} also answers 200 for id 1
    etag = client.get("/api/v1/jobs/1", headers=auth).headers["ETag"]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", spec_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = client.get("/api/v1/openapi.json").json["paths"]
    described = {(method.upper(), path) for path, item in paths.items() for method in item}
    routed = {(method, rule.rule.removeprefix("/api/v1").replace("<int:job_id>", "{id}"))
              for rule in spec_app.url_map.iter_rules() if rule.rule.startswith("/api/v1")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert described == routed  # nothing routed is undescribed, nothing described is missing
    tried = {}
    for operation in operations:
        statuses: set[int] = set()
        calls: list = []

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # noqa: ANN001 - a schemathesis Case
            calls.append(case)
            if operation.path == "/documents" and operation.method == "post" and len(calls) % 2 == 0:
                # Random filenames and bodies are nearly always refused; give half the uploads a
                # good name, and some a real article, so 201/200/422 are generated and checked too.
                case.query = {**(case.query or {}), "filename": f"gen/{len(calls) % 7}.md"}
                if len(calls) % 4 == 0:
                    case.body = ARTICLE.decode() + f"\nAnd one more sentence, number {len(calls) % 5}.\n"
            if operation.path == "/jobs/{id}" and operation.method == "get" and len(calls) % 2 == 0:
                # Random ids are nearly always missing: half the reads ask for the real job, some of
                # them with its current ETag, so the 200 and the bodiless 304 are checked too.
                case.path_parameters = {"id": 1}
                if len(calls) % 4 == 0:
                    case.headers = {**(case.headers or {}), "If-None-Match": etag}
            response = case.call_and_validate(headers=auth, excluded_checks=[positive_data_acceptance])
            statuses.add(response.status_code)

        check()
        if operation.path == "/documents" and operation.method == "post":
            # The first upload's 201, checked against the description too: generated uploads
            # are mostly refused, and in one run of 12 none of them was accepted.
            operation.validate_response(created)
            statuses.add(created.status_code)
        tried[f"{operation.method.upper()} {operation.path}"] = statuses
    assert tried["GET /jobs"] >= {200, 400}, tried
    assert tried["GET /jobs/{id}"] >= {200, 304, 404} and tried["POST /documents"] >= {201, 400}, tried
