"""The storyboard: a job's timeline and pictures, for review before render time or money is spent.

``storyboard_of(job)`` is the JSON the API serves at ``GET /api/v1/jobs/<id>/storyboard``
and ``mediabuddy storyboard FILE.md`` writes beside a contact sheet (``contact_sheet``):
every scene with its text, concept, visual description, chapter, picture and an estimated
duration. The estimate is the narration's length at a steady speaking rate (2.5 words a
second; Japanese and Chinese 7 characters a second) plus the pause between scenes; the
real duration comes from the audio, later.
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from config import Settings
from server.errors import MediaBuddyError
from server.models import AssetKind, Job
from server.providers.images.pillow_card import face_for, wrap_any
from server.providers.images.theme import PALETTES, font
from server.providers.timeline.nlp import is_cjk
from server.providers.timeline.rules import bounds_for, measure

WORDS_PER_SECOND = 2.5
CHARACTERS_PER_SECOND = 7.0
PAUSE_MS = 350
STORYBOARD_STAGES: tuple[str, ...] = ("extract", "voice", "timeline", "images")


class StoryboardError(MediaBuddyError):
    """The storyboard could not be made; the message says why."""


def estimate_ms(text: str, language: str = "en") -> int:
    """How long a scene's narration should take, before any audio exists."""
    bounds = bounds_for(text, language)
    rate = CHARACTERS_PER_SECOND if bounds.unit == "characters" else WORDS_PER_SECOND
    return int(round(measure(text, bounds) / rate * 1000)) + PAUSE_MS


def storyboard_of(job: Job) -> dict[str, object]:
    """The job's storyboard as plain JSON-ready values."""
    language = job.language or "en"
    images = {asset.scene_id: asset for asset in job.assets if asset.kind == AssetKind.IMAGE and asset.scene_id}
    scenes = []
    for scene in job.scenes:
        image = images.get(scene.id)
        scenes.append({
            "index": scene.index, "text": scene.text, "words": scene.word_count, "concept": scene.concept,
            "visual": scene.visual, "chapter": scene.chapter or "",
            "estimated_ms": estimate_ms(scene.text, language),
            "duration_ms": scene.duration_ms,
            "image": str(image.path) if image else None,
            "image_provider": image.provider if image else None,
        })
    return {
        "job": job.id, "title": job.title or "", "language": language,
        "theme": (job.settings or {}).get("theme", ""),
        "stages_done": list(job.completed_stages), "degraded": job.degraded, "notes": list(job.notes),
        "estimated_ms": sum(s["estimated_ms"] for s in scenes), "scenes": scenes,
    }


def contact_sheet(board: dict[str, object], out: Path, *, theme: str = "paper", columns: int = 3) -> Path:
    """Draw every scene (picture, number, estimate, concept, text) on one PNG at ``out``."""
    palette = PALETTES.get(theme, PALETTES["paper"])
    scenes: list[dict] = list(board["scenes"])  # type: ignore[arg-type]
    cell_w, cell_h, pad = 640, 400, 24
    thumb_box = (220, cell_h - 2 * pad)
    header = 110
    rows = max(1, math.ceil(len(scenes) / columns))
    sheet = Image.new("RGB", (columns * cell_w + pad, header + rows * cell_h + pad), palette.top)
    draw = ImageDraw.Draw(sheet)
    small = font("semibold", 20)
    total = int(board.get("estimated_ms", 0)) // 1000  # type: ignore[arg-type]
    title = str(board.get("title") or "Untitled")
    draw.text((pad, pad), title, font=face_for(title, "black", 44), fill=palette.text)
    draw.text((pad, pad + 56), f"{len(scenes)} scenes · about {total // 60} min {total % 60:02d} s · "
              f"language {board.get('language')}", font=small, fill=palette.muted)
    for position, scene in enumerate(scenes):
        x = pad + (position % columns) * cell_w
        y = header + (position // columns) * cell_h
        draw.rounded_rectangle((x, y, x + cell_w - pad, y + cell_h - pad), radius=14,
                               fill=tuple(min(255, c + 10) for c in palette.top), outline=palette.muted)
        image_path = scene.get("image")
        if image_path and Path(image_path).exists():
            with Image.open(image_path) as picture:
                picture = picture.convert("RGB")
                picture.thumbnail(thumb_box)
                sheet.paste(picture, (x + pad // 2, y + pad // 2))
        else:
            draw.rectangle((x + pad // 2, y + pad // 2, x + pad // 2 + thumb_box[0], y + pad // 2 + thumb_box[1]),
                           outline=palette.muted)
            draw.text((x + pad, y + pad), "no picture yet", font=small, fill=palette.muted)
        tx, text_w = x + thumb_box[0] + pad, cell_w - thumb_box[0] - 3 * pad
        ty = y + pad // 2
        seconds = int(scene.get("estimated_ms") or 0) / 1000
        bounds = bounds_for(str(scene["text"]), str(board.get("language") or "en"))
        size = f"{measure(str(scene['text']), bounds)} {bounds.unit}"   # Japanese counts characters
        draw.text((tx, ty), f"#{int(scene['index']) + 1}  ·  {seconds:.1f} s  ·  {size}",
                  font=small, fill=palette.accent)
        ty += 30
        if scene.get("chapter"):
            chapter = f"§ {scene['chapter']}"[:48]
            draw.text((tx, ty), chapter, font=face_for(chapter, "semibold", 20), fill=palette.muted)
            ty += 28
        concept_face = face_for(str(scene["concept"]), "bold", 24)
        for line in wrap_any(str(scene["concept"]), concept_face, text_w)[:2]:
            draw.text((tx, ty), line, font=concept_face, fill=palette.text)
            ty += 30
        ty += 6
        limit = (y + cell_h - pad - ty) // 25
        lines = _wrap(str(scene["text"]), face_for(str(scene["text"]), "regular", 20), text_w)
        if len(lines) > limit:
            lines = lines[:max(0, limit - 1)] + [lines[limit - 1].rstrip() + " …"] if limit > 0 else []
        for line in lines:
            draw.text((tx, ty), line, font=face_for(line, "regular", 20), fill=palette.text)
            ty += 25
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="PNG", optimize=False, compress_level=6)
    return out


def _wrap(text: str, face, width: int) -> list[str]:  # noqa: ANN001 - a Pillow font
    """Wrap a scene's text; Japanese and Chinese (spaces only between sentences) wrap between characters."""
    if not is_cjk(text):
        return wrap_any(text, face, width)
    lines, current = [], ""
    for character in re.sub(r"(?<=[。！？、])\s+", "", text):
        if current and face.getlength(current + character) > width:
            lines.append(current)
            current = ""
        current += "" if (character.isspace() and not current) else character
    return lines + ([current] if current else [])


def storyboard_file(settings: Settings, source: Path, out_base: Path) -> tuple[Path, Path]:
    """Run ``source`` through the stages up to images and write ``<base>.json`` and ``<base>.png``."""
    import json

    from server import create_app, upgrade_database
    from server.errors import ApiError
    from server.extensions import db
    from server.intake import ALLOWED_SUFFIXES, accept
    from server.pipeline.runner import run_job
    from server.render import work_home

    out_base = out_base.resolve()
    # Like `mediabuddy render`: nothing in the current folder but the two files asked for (the
    # caches, shared with render, in the user's cache folder unless MEDIABUDDY_HOME is set).
    home = settings.home if settings.home_given else work_home()
    with tempfile.TemporaryDirectory(prefix="mediabuddy-storyboard-") as scratch:
        local = settings.model_copy(update={"home": home,
                                            "database_url": f"sqlite:///{Path(scratch) / 'storyboard.db'}"})
        app = create_app(local)
        upgrade_database(app)
        with app.app_context():
            try:
                name = source.name if source.suffix.lower() in ALLOWED_SUFFIXES else f"{source.stem}.md"
                intake = accept(source.read_bytes(), name, None, local)
            except ApiError as error:
                raise StoryboardError(f"{source}: {error.message}") from error
        run_job(app, intake.job_id, stages=STORYBOARD_STAGES)
        with app.app_context():
            job = db.session.get(Job, intake.job_id)
            if job is None or not set(STORYBOARD_STAGES) <= set(job.completed_stages):
                reason = job.error if job is not None else "the job vanished"
                raise StoryboardError(f"{source}: the storyboard stopped early: {reason}")
            board = storyboard_of(job)
            theme = str(board.get("theme") or "paper")
            db.session.remove()
            db.engine.dispose()
    json_path, sheet_path = out_base.with_name(out_base.name + ".json"), out_base.with_name(out_base.name + ".png")
    temp = json_path.with_name(f".{json_path.name}.tmp")
    temp.write_text(json.dumps(board, ensure_ascii=False, indent=2), encoding="utf-8")
    temp.replace(json_path)
    contact_sheet(board, sheet_path, theme=theme if theme in PALETTES else "paper")
    return json_path, sheet_path
