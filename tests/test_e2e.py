"""End to end with the real processes: `mediabuddy up` (server, worker, daemon) on a temp home."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest
import requests

from server.pipeline.ffmpeg import ffmpeg_exe, probe
from tests.conftest import CORPUS, free_port, wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


def _srt_cues(text: str) -> list[tuple[float, float]]:
    def seconds(stamp: str) -> float:
        h, m, rest = stamp.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000
    return [(seconds(a), seconds(b)) for a, b in re.findall(r"(\S+) --> (\S+)", text)]


def test_a_dropped_article_becomes_a_video(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIABUDDY_", "DATABASE_URL"))}
    env.update(MEDIABUDDY_HOME=str(tmp_path), MEDIABUDDY_PORT=str(port), MEDIABUDDY_SHORT_SIDE="480",
               MEDIABUDDY_STABILITY_SECONDS="0.5", PYTHONPATH=str(ROOT))
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen([sys.executable, "-m", "cli", "up"], cwd=tmp_path, env=env, stdout=log,
                          stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        wait_for(lambda: _healthy(base), timeout=60)
        assert requests.get(f"{base}/jobs", timeout=5).status_code == 401

        source = CORPUS / "articles" / "03-github-docs-about-github-and-git.md"
        shutil.copyfile(source, tmp_path / "inbox" / "about-git.md")
        video = tmp_path / "outbox" / "about-git.mp4"
        wait_for(video.exists, timeout=240, interval=0.5)

        facts = probe(video)
        assert (facts.video_codec, facts.audio_codec, facts.width, facts.height) == ("h264", "aac", 480, 852)
        decoded = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(video), "-f", "null", "-"],
                                 capture_output=True, text=True, timeout=120)
        assert decoded.returncode == 0 and not decoded.stderr.strip()

        narration = next((tmp_path / "var" / "jobs").glob("*/narration.wav"))
        with wave.open(str(narration)) as audio:
            narration_s = audio.getnframes() / audio.getframerate()
        assert facts.duration_s == pytest.approx(narration_s, rel=0.15)
        manifest = json.loads((tmp_path / "outbox" / "about-git.json").read_text(encoding="utf-8"))
        title_s = manifest["video"]["title_card_ms"] / 1000   # the narration track starts with the title card
        cues = _srt_cues((tmp_path / "outbox" / "about-git.srt").read_text(encoding="utf-8"))
        assert cues[0][0] < title_s + 1.0 and narration_s - 2.0 < cues[-1][1] <= narration_s
        assert all(a < b for a, b in cues) and all(cues[i][1] <= cues[i + 1][0] + 0.001 for i in range(len(cues) - 1))
        assert manifest["title"] == "About GitHub and Git" and (tmp_path / "outbox" / "about-git.jpg").exists()

        status = subprocess.run([sys.executable, "-m", "cli", "status", "--json"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        report = json.loads(status.stdout)
        job = report["jobs"][0]
        assert job["status"] == "succeeded" and job["source_path"] == "about-git.md"
        assert [s["state"] for s in job["stages"]] == ["done"] * 7
        assert report["daemon"]["dead_lettered"] == 0
    finally:
        started = time.monotonic()
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=30)
        log.close()
    assert code == 0, (tmp_path / "up.log").read_text()
    assert time.monotonic() - started < 20


def _healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).ok
    except requests.RequestException:
        return False
