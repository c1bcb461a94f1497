"""The extract stage on a real database: language, title, front-matter overrides and warnings on the job."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import load_settings
from server import create_app, upgrade_database
from server.extensions import db
from server.intake import accept
from server.models import Job
from server.pipeline.runner import run_job

pytestmark = pytest.mark.pipeline

FRENCH = """---
title: Le modèle de boîte
theme: midnite
aspect: "1:1"
voice: siwis
music: none
minutes: 2
---
Chaque boîte est composée de quatre parties, définies par leurs bords respectifs.
Le bord du contenu, le bord du remplissage, le bord de la bordure et le bord de la marge.
""".encode()


def _extract(app, settings, body: bytes, name: str) -> Job:  # noqa: ANN001
    with app.app_context():
        job_id = accept(body, name, None, settings).job_id
    run_job(app, job_id, stages=("extract",))
    with app.app_context():
        job = db.session.get(Job, job_id)
        db.session.expunge(job)
        return job


def test_language_title_overrides_and_warnings_land_on_the_job(app, settings) -> None:
    job = _extract(app, settings, FRENCH, "boite.md")
    assert job.language == "fr" and job.title == "Le modèle de boîte"
    assert job.narration_text.startswith("## Le modèle de boîte\n\nChaque boîte est composée de quatre parties")
    assert job.settings["aspect"] == "1:1" and job.settings["width"] == job.settings["height"] == 240
    assert (job.settings["voice"], job.settings["music"], job.settings["minutes"]) == ("siwis", "none", 2.0)
    assert job.settings["language"] == "fr" and job.settings["theme"] == settings.theme  # the bad theme was not used
    assert any("theme 'midnite'" in note and "midnight, paper" in note for note in job.notes), job.notes


def test_no_title_means_none_never_the_file_name(app, settings) -> None:
    job = _extract(app, settings, b"Just a few plain words, spoken as they are.\n", "one-liner.md")
    assert job.title is None and "one liner" not in job.narration_text.lower()
    assert job.language == "en" and not any("language" in note for note in job.notes)


def test_too_little_text_to_tell_the_language_is_said(app, settings) -> None:
    job = _extract(app, settings, b"# Hi\n\nOK, go now.\n", "short.md")
    assert job.language == "en"
    assert any("too little text to tell the language" in note for note in job.notes), job.notes


def test_the_language_setting_applies_when_front_matter_is_silent(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, language="de", short_side=240, api_token="test-token-0123456789abcdef")
    app = create_app(settings)
    upgrade_database(app)
    try:
        job = _extract(app, settings, b"Short words here, whatever they are.\n", "kurz.md")
        assert job.language == "de" and job.settings["language"] == "de"
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
