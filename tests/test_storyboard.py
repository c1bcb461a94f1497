"""The storyboard: `mediabuddy storyboard FILE.md` as a real process, and GET /jobs/<id>/storyboard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from server.extensions import db
from server.models import Job
from server.pipeline.runner import run_job
from server.storyboard import STORYBOARD_STAGES, estimate_ms, storyboard_of
from tests.conftest import CORPUS

ARTICLE = CORPUS / "articles" / "02-mdn-fetch-api.md"
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
def test_the_command_writes_the_timeline_and_a_contact_sheet_and_nothing_else(tmp_path: Path) -> None:
    work = tmp_path / "here"
    work.mkdir()
    # No MEDIABUDDY_HOME: the caches go to the user's cache folder (here a temporary one), never
    # to inbox/, outbox/ and var/ in the current folder.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIABUDDY_")}
    env.update(PYTHONPATH=str(REPO), XDG_CACHE_HOME=str(tmp_path / "cache"), MEDIABUDDY_SHORT_SIDE="240")
    env.pop("GEMINI_API_KEY", None), env.pop("GOOGLE_API_KEY", None), env.pop("REPLICATE_API_TOKEN", None)
    done = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "storyboard", str(ARTICLE)], cwd=work,
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in work.iterdir()) == ["02-mdn-fetch-api.storyboard.json",
                                                       "02-mdn-fetch-api.storyboard.png"]
    assert (tmp_path / "cache" / "mediabuddy").is_dir()
    board = json.loads((work / "02-mdn-fetch-api.storyboard.json").read_text(encoding="utf-8"))
    assert board["title"] == "Fetch API" and board["language"]
    scenes = board["scenes"]
    assert len(scenes) >= 20 and [s["index"] for s in scenes] == list(range(len(scenes)))
    for scene in scenes:
        assert scene["concept"] and scene["visual"].endswith(".")
        assert scene["estimated_ms"] == estimate_ms(scene["text"])
        assert Path(scene["image"]).is_file() and scene["image_provider"]
    assert board["estimated_ms"] == sum(s["estimated_ms"] for s in scenes)
    assert "narration" not in board["stages_done"]   # nothing was rendered or spoken

    with Image.open(work / "02-mdn-fetch-api.storyboard.png") as sheet:
        columns, rows = 3, -(-len(scenes) // 3)
        assert sheet.size == (columns * 640 + 24, 110 + rows * 400 + 24)
        pixels = np.asarray(sheet.convert("RGB")).astype(np.int16)
    # The first cell shows the first scene's picture, scaled down.
    with Image.open(scenes[0]["image"]) as first:
        thumb = first.convert("RGB")
        thumb.thumbnail((220, 352))
        expected = np.asarray(thumb).astype(np.int16)
    x, y = 24 + 12, 110 + 12
    shown = pixels[y:y + expected.shape[0], x:x + expected.shape[1]]
    assert np.abs(shown - expected).mean() < 2


@pytest.mark.api
def test_the_api_serves_the_storyboard_once_the_timeline_exists(app, client, auth) -> None:
    body = ARTICLE.read_bytes()
    created = client.post("/api/v1/documents?filename=fetch.md", data=body,
                          headers={**auth, "Content-Type": "text/markdown"})
    assert created.status_code in (201, 202), created.json
    job_id = created.json["job"]["id"]
    early = client.get(f"/api/v1/jobs/{job_id}/storyboard", headers=auth)
    assert early.status_code == 409 and early.json["error"]["code"] == "not_ready"
    assert client.get("/api/v1/jobs/999999/storyboard", headers=auth).status_code == 404
    assert client.get(f"/api/v1/jobs/{job_id}/storyboard").status_code == 401

    run_job(app, job_id, stages=STORYBOARD_STAGES)
    response = client.get(f"/api/v1/jobs/{job_id}/storyboard", headers=auth)
    assert response.status_code == 200
    board = response.json["storyboard"]
    with app.app_context():
        assert board == json.loads(json.dumps(storyboard_of(db.session.get(Job, job_id))))
    assert all(Path(s["image"]).is_file() for s in board["scenes"])
    assert "/jobs/{id}/storyboard" in client.get("/api/v1/openapi.json").json["paths"]
    assert [s["index"] for s in board["scenes"]] == list(range(len(board["scenes"])))


def test_japanese_scene_text_wraps_between_characters_within_the_card() -> None:
    from server.providers.images.pillow_card import face_for
    from server.storyboard import _wrap

    text = "雨の日になると、私は駅の近くの小さな図書館へ行く。 窓の外で雨の音が続くあいだ、古い本のページをゆっくりめくるのが好きだ。"
    face = face_for(text, "regular", 20)
    lines = _wrap(text, face, 300)
    assert len(lines) > 2 and all(face.getlength(line) <= 300 for line in lines)
    assert "".join(lines) == text.replace("。 ", "。")   # every character kept, the space between sentences dropped
