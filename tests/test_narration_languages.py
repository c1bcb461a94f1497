"""Each language gets a voice that speaks it, or a clear refusal: never English reading Japanese."""

from __future__ import annotations

import pytest

from server.extensions import db
from server.intake import accept
from server.models import AssetKind, Job, JobStatus
from server.pipeline.runner import JobFailed, run_job
from server.providers.narration.espeak import PROVIDER as Espeak

pytestmark = pytest.mark.pipeline

JAPANESE = ("---\ntitle: 猫\n---\n\n吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
            "何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。\n").encode()
FRENCH = ("---\ntitle: Le modèle de boîte\n---\n\nLorsqu'un navigateur affiche un document, chaque élément est "
          "représenté par une boîte rectangulaire. Le modèle de boîte décrit la taille de ces boîtes et la "
          "façon dont elles se placent les unes par rapport aux autres sur la page.\n").encode()


def _narrate(app, settings, body: bytes, name: str) -> Job:
    app.extensions["mediabuddy.settings"] = settings
    with app.app_context():
        job_id = accept(body, name, None, settings).job_id
    try:
        run_job(app, job_id, stages=("extract", "voice", "timeline", "narration"))
    except JobFailed:
        pass
    with app.app_context():
        job = db.session.get(Job, job_id)
        providers = {a.provider for a in job.assets if a.kind == AssetKind.NARRATION}
        db.session.expunge(job)
        job.narrators = providers  # type: ignore[attr-defined]
        return job


def test_espeak_speaks_many_languages_but_not_japanese(settings):
    espeak = Espeak(settings)
    assert espeak.speaks("fr") and espeak.speaks("de") and espeak.speaks("en-GB") and espeak.speaks("zh")
    assert not espeak.speaks("ja")


def test_japanese_is_narrated_by_the_japanese_voice(app, settings):
    job = _narrate(app, settings, JAPANESE, "neko.md")
    assert job.language == "ja" and job.narrators == {"kokoro"}
    assert not job.degraded, job.notes  # piper and espeak were skipped as information, not failures


def test_japanese_without_a_japanese_voice_is_refused_clearly(app, settings):
    job = _narrate(app, settings.model_copy(update={"narration_providers": "piper,espeak"}), JAPANESE, "neko.md")
    assert job.status == JobStatus.FAILED and job.stage == "narration"
    assert "ja" in job.error and not job.narrators


def test_french_falls_back_to_espeak_and_says_so(app, settings):
    job = _narrate(app, settings, FRENCH, "boite.md")
    assert job.language == "fr" and job.narrators == {"espeak"}
    assert job.degraded and any("narration" in n and "fr" in n for n in job.notes)
