"""The length limit is enforced before heavy work: refused with the estimate, or trimmed when allowed."""

from __future__ import annotations

import pytest

from server.extensions import db
from server.intake import accept
from server.models import Job, JobStatus
from server.pipeline import length
from server.pipeline.runner import JobFailed, run_job
from server.providers.types import split_sections

pytestmark = pytest.mark.pipeline

PARAGRAPH = ("The keeper climbed the stairs each evening and lit the lamp above the harbour, and the ships "
             "that passed trusted the beam more than any chart they carried. ")  # 28 words


def _article(sections: int, paragraphs: int = 4, minutes: str = "") -> bytes:
    front = f"---\ntitle: Harbour\n{minutes}---\n\n"
    body = "".join(f"## Part {i + 1}\n\n" + "".join(PARAGRAPH + "\n\n" for _ in range(paragraphs))
                   for i in range(sections))
    return (front + body).encode()


def test_units_count_words_or_cjk_characters():
    assert length.units("one two three", "en") == 3
    assert length.units("吾輩は猫である。名前はまだ無い。", "ja") == 14
    assert length.minutes_of("word " * 320, "en") == pytest.approx(2.0)
    assert length.budget_units(2, "ja") == 720


def test_front_matter_minutes_win_over_the_setting_when_sensible():
    assert length.limit_for({"minutes": "3"}, 5).minutes == 3
    assert length.limit_for({"minutes": "lots"}, 5).source == "MEDIABUDDY_MAX_MINUTES"
    assert length.limit_for({}, 5).minutes == 5


def test_trim_keeps_whole_sections_from_the_start():
    text = "\n\n".join(f"## Part {i}\n\n{PARAGRAPH * 3}" for i in range(1, 6))  # about 85 words a section
    trimmed, note = length.trim_to_sections(text, "en", length.LengthLimit(1.2, "MEDIABUDDY_MAX_MINUTES"))
    assert [h for h, _ in split_sections(trimmed)] == ["Part 1", "Part 2"]
    assert "cut after 2 of 5 sections (3 left out)" in note and "1.2-minute limit" in note


def _run_voice(app, settings, body: bytes) -> int:
    app.extensions["mediabuddy.settings"] = settings
    with app.app_context():
        job_id = accept(body, "harbour.md", None, settings).job_id
    try:
        run_job(app, job_id, stages=("extract", "voice"))
    except JobFailed:
        pass
    return job_id


def test_an_over_long_article_is_refused_offline_before_heavy_work(app, settings):
    tight = settings.model_copy(update={"max_minutes": 1.0})
    job_id = _run_voice(app, tight, _article(sections=3))  # about 340 words: over two minutes
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.status == JobStatus.FAILED and job.completed_stages == ["extract"]
        assert "over the 1-minute limit (MEDIABUDDY_MAX_MINUTES)" in job.error
    error_file = (tight.outbox_dir / "harbour.error.txt").read_text()
    assert "MEDIABUDDY_TRIM_TO_LENGTH=true" in error_file and "raise MEDIABUDDY_MAX_MINUTES" in error_file


def test_front_matter_minutes_and_trimming_cut_at_a_section_and_say_so(app, settings):
    allowed = settings.model_copy(update={"trim_to_length": True})
    job_id = _run_voice(app, allowed, _article(sections=4, minutes="minutes: 1.5\n"))
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.status != JobStatus.FAILED and job.degraded
        assert length.minutes_of(job.spoken_text, "en") <= 1.5
        headings = [h for h, _ in split_sections(job.spoken_text) if h.startswith("Part")]
        assert headings == ["Part one", "Part two"]  # the spoken form of the headings
        assert any("front matter `minutes:`" in n and "left out" in n for n in job.notes)


def test_offline_the_authors_rhythm_splits_sentences_longer_than_they_write(app, settings):
    from server.providers.voice.local import split_long_sentences

    long = ("The keeper climbed the long spiral stairs every evening without fail to light the great lamp; "
            "the ships that passed in the dark trusted its steady beam more than any chart they carried.")
    assert split_long_sentences(long, 20).count(". ") == 1
    assert split_long_sentences(long, 40) == long  # within the author's habit: untouched
    assert split_long_sentences("## A heading; with a semicolon that is long enough to split maybe", 3).startswith("## ")
