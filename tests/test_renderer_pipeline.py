"""Compose and publish through the real pipeline: chapters, thumbnail, manifest, cache reuse."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from server.extensions import db
from server.intake import accept
from server.models import STAGES, Job
from server.pipeline.ffmpeg import ffmpeg_exe
from server.pipeline.runner import run_job

pytestmark = pytest.mark.pipeline
ARTICLE = ("---\ntitle: The Lighthouse Keeper\n---\n"
           "Every evening the keeper climbed the spiral stairs to light the lamp. "
           "Ships passing in the dark trusted that steady beam more than any chart they carried.\n\n"
           "When the storm came in November, the lamp stayed lit for three nights without rest. "
           "The keeper slept in short turns and trimmed the wick by hand every hour.\n\n"
           "In spring the village thanked him with a new bell and a painted door for the tower.\n").encode()


def test_compose_and_publish_chapters_thumbnail_and_reuse(app, settings) -> None:  # noqa: ANN001
    settings = settings.model_copy(update={"tts_engine": "espeak"})   # the fast narrator; piper is tested apart
    app.extensions["mediabuddy.settings"] = settings
    with app.app_context():
        job_id = accept(ARTICLE, "lighthouse.md", None, settings).job_id
    run_job(app, job_id, stages=STAGES[:5])   # up to narration
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert len(job.scenes) >= 3
        # The storyboard stage names chapters from headings; here two scenes start one.
        job.scenes[1].chapter = "The storm"
        job.scenes[-1].chapter = "Spring"
        job.status = job.status.QUEUED   # run_job marked the partial run succeeded
        db.session.commit()
    run_job(app, job_id)
    outbox = settings.outbox_dir
    names = sorted(p.name for p in outbox.iterdir())
    assert names == ["lighthouse.chapters.txt", "lighthouse.jpg", "lighthouse.json", "lighthouse.mp4",
                     "lighthouse.srt"]
    manifest = json.loads((outbox / "lighthouse.json").read_text(encoding="utf-8"))
    chapters = manifest["chapters"]
    assert [c["title"] for c in chapters] == ["The Lighthouse Keeper", "The storm", "Spring"]
    scenes = manifest["scenes"]
    assert scenes[0]["start_ms"] == manifest["video"]["title_card_ms"] > 0
    assert chapters[1]["start_ms"] == scenes[1]["start_ms"] and chapters[2]["start_ms"] == scenes[-1]["start_ms"]
    listing = (outbox / "lighthouse.chapters.txt").read_text(encoding="utf-8").splitlines()
    assert listing[0] == "0:00 The Lighthouse Keeper" and listing[1].endswith(" The storm")
    assert manifest["readability"]["min_ratio"] >= 4.5
    meta = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(outbox / "lighthouse.mp4"), "-f", "ffmetadata", "-"],
                          capture_output=True, text=True, timeout=60).stdout
    assert re.findall(r"\[CHAPTER\][^\[]*?title=([^\n]*)", meta) == ["The Lighthouse Keeper", "The storm", "Spring"]

    # The thumbnail is a real frame of the title card: the first picture blurred and dimmed,
    # with the title in white letters across the middle.
    width, height = manifest["video"]["width"], manifest["video"]["height"]
    with Image.open(outbox / "lighthouse.jpg") as thumb:
        assert thumb.size == (width // 2, height // 2)
        pixels = np.asarray(thumb.convert("L"), dtype=np.float64)
    middle = pixels[int(pixels.shape[0] * 0.4):int(pixels.shape[0] * 0.6)]
    assert (middle > 220).sum() > 30

    # SRT cues are the burned phrases: every cue starts after the title card and in order.
    srt = (outbox / "lighthouse.srt").read_text(encoding="utf-8")
    starts = [int(h) * 3600000 + int(m) * 60000 + int(s) * 1000 + int(ms)
              for h, m, s, ms in re.findall(r"(\d+):(\d+):(\d+),(\d+) -->", srt)]
    assert starts == sorted(starts) and starts[0] >= manifest["video"]["title_card_ms"]

    # Compose again (a retried job): every segment comes from the cache.
    with app.app_context():
        job = db.session.get(Job, job_id)
        job.completed_stages = [s for s in job.completed_stages if s not in ("compose", "publish")]
        job.status = job.status.QUEUED
        db.session.commit()
    run_job(app, job_id)
    again = json.loads((outbox / "lighthouse.json").read_text(encoding="utf-8"))
    assert again["video"]["segments"] == {"rendered": 0, "reused": manifest["video"]["segments"]["rendered"]}


def _published(app, settings, **changes):  # noqa: ANN001, ANN202
    """The ARTICLE through the whole pipeline with espeak and ``changes`` to the settings:
    (its published manifest, the settings used)."""
    settings = settings.model_copy(update={"tts_engine": "espeak", **changes})
    app.extensions["mediabuddy.settings"] = settings
    with app.app_context():
        job_id = accept(ARTICLE, "lighthouse.md", None, settings).job_id
    run_job(app, job_id)
    return json.loads((settings.outbox_dir / "lighthouse.json").read_text(encoding="utf-8")), settings


def test_music_that_cannot_be_read_costs_the_music_not_the_video(app, settings, tmp_path) -> None:  # noqa: ANN001
    music = tmp_path / "music"
    music.mkdir()
    (music / "broken.mp3").write_bytes(b"ID3 this is not really an mp3 file" * 50)
    manifest, _ = _published(app, settings, music_dir=music)
    assert manifest["video"]["music"] is None
    assert any("broken.mp3 could not be mixed" in note for note in manifest["notes"])


def test_a_draft_is_half_the_size_with_lighter_sound(app, settings) -> None:  # noqa: ANN001
    """``--draft`` (``MEDIABUDDY_RENDER_DRAFT``): half the frame, the fastest preset, and the
    sound at the draft's bitrate, still stereo AAC at 48 kHz on target loudness."""
    manifest, settings = _published(app, settings, render_draft=True)
    video = manifest["video"]
    assert video["draft"] is True and video["preset"] == "ultrafast" and video["audio_bitrate"] == "96k"
    assert video["width"] == settings.short_side // 4 * 2 and abs(video["height"] / video["width"] - 16 / 9) < 0.03
    assert abs(video["loudness"]["integrated_lufs"] - video["loudness"]["target_lufs"]) <= 0.5
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(settings.outbox_dir / "lighthouse.mp4")],
                           capture_output=True, text=True, timeout=60).stderr
    audio = re.search(r"Audio: aac \(LC\).*?, 48000 Hz, stereo, fltp, (\d+) kb/s", probe)
    assert audio and int(audio.group(1)) < 130, probe   # about 170 kb/s in a final render
    # (ultrafast turns off CABAC and 8x8 transforms, so x264 writes Main profile: a preview)
    assert re.search(rf"Video: h264 .*?, {video['width']}x{video['height']}\b", probe), probe
