"""The pipeline on real parts: piper or espeak-ng, Pillow, real ffmpeg, a real SQLite file."""

import json
import wave
from pathlib import Path

import pytest

from server.extensions import db
from server.intake import accept
from server.models import Job, JobStatus, Scene
from server.pipeline.ffmpeg import probe
from server.pipeline.runner import JobFailed, run_job
from server.providers.narration import piper_voice
from server.providers.narration.base import narrate

pytestmark = pytest.mark.pipeline
ARTICLE = ("---\ntitle: The Lighthouse Keeper\ntheme: ocean\n---\n"
           "# The Lighthouse Keeper\n\nEvery evening the keeper climbed the spiral stairs to light the lamp. "
           "Ships passing in the dark trusted that steady beam more than any chart they carried. "
           "When the storm came in November, the lamp stayed lit for three nights without rest.\n\n"
           "```sh\nrm -rf /\n```\n\nRead more at https://example.com/lighthouse today.\n").encode()


def test_bundled_voice_is_verified_and_speaks(tmp_path: Path) -> None:
    narrator = piper_voice.PiperNarrator(piper_voice.bundled_voice())
    clip = narrate(narrator, "Hello there. This is a test of the voice.", tmp_path / "a.wav", pause_ms=200)
    with wave.open(str(clip.path)) as audio:
        assert audio.getframerate() == 22050 and audio.getnframes() > 22050
    assert clip.duration_ms == pytest.approx(audio.getnframes() * 1000 / 22050, abs=2)
    ends = [c.end_ms for c in clip.captions]
    assert ends == sorted(ends) and ends[-1] <= clip.duration_ms
    assert " ".join(c.text for c in clip.captions) == "Hello there. This is a test of the voice."


def test_a_broken_piper_voice_falls_back_to_espeak_and_says_so(app, settings, tmp_path: Path) -> None:
    voice = tmp_path / "broken.onnx"
    voice.write_bytes(b"not an onnx model")
    Path(f"{voice}.json").write_bytes(Path(f"{piper_voice.bundled_voice()}.json").read_bytes())
    broken = settings.model_copy(update={"piper_voice": voice})
    app.extensions["mediabuddy.settings"] = broken
    job_id = _job(app, broken)
    run_job(app, job_id)
    manifest = json.loads((broken.outbox_dir / "lighthouse.json").read_text())
    assert "espeak" in manifest["providers"] and "piper" not in manifest["providers"]
    assert manifest["degraded"] is True
    note = next(n for n in manifest["notes"] if n.startswith("narration: piper"))
    assert "piper could not load broken.onnx" in note and "used espeak instead" in note


def _job(app, settings, body: bytes = ARTICLE, name: str = "lighthouse.md") -> int:
    with app.app_context():
        return accept(body, name, None, settings).job_id


def test_a_job_runs_every_stage_and_publishes_atomically(app, settings) -> None:
    job_id = _job(app, settings)
    run_job(app, job_id)
    outbox = settings.outbox_dir
    assert sorted(p.name for p in outbox.iterdir()) == ["lighthouse.jpg", "lighthouse.json", "lighthouse.mp4",
                                                         "lighthouse.srt"]
    facts = probe(outbox / "lighthouse.mp4")
    assert (facts.video_codec, facts.audio_codec) == ("h264", "aac")
    assert (facts.width, facts.height) == settings.video_size
    manifest = json.loads((outbox / "lighthouse.json").read_text())
    assert manifest["video"]["theme"] == "ocean"  # from front matter
    assert facts.duration_s == pytest.approx(manifest["video"]["duration_ms"] / 1000, rel=0.05)
    spoken = " ".join(s["text"] for s in manifest["scenes"])
    # The sentence that held the URL is dropped whole: never "Read more at today."
    assert "rm -rf" not in spoken and "example.com" not in spoken and "Read more" not in spoken
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.status == JobStatus.SUCCEEDED and len(job.completed_stages) == 7


def test_a_restarted_job_resumes_at_the_first_unfinished_stage(app, settings) -> None:
    job_id = _job(app, settings)
    run_job(app, job_id, stages=("extract", "voice", "timeline"))
    with app.app_context():
        scene_ids = [s.id for s in db.session.query(Scene).filter_by(job_id=job_id)]
        db.session.get(Job, job_id).status = JobStatus.QUEUED
        db.session.commit()
    run_job(app, job_id)
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert [s.id for s in job.scenes] == scene_ids  # the timeline was not recomputed
        assert job.status == JobStatus.SUCCEEDED


def test_a_job_that_finally_fails_leaves_an_error_file(app, settings) -> None:
    job_id = _job(app, settings)
    with app.app_context():
        db.session.get(Job, job_id).document.content = "```\nonly code now\n```\n"
        db.session.commit()
    with pytest.raises(JobFailed) as caught:
        run_job(app, job_id)
    assert caught.value.retryable is False
    text = (settings.outbox_dir / "lighthouse.error.txt").read_text()
    assert "extract stage" in text and "What to do:" in text
    with app.app_context():
        assert db.session.get(Job, job_id).status == JobStatus.FAILED
