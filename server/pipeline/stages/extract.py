"""Extract: markdown → title and speakable prose; front matter may set theme and aspect."""

from __future__ import annotations

from pathlib import PurePosixPath

from config import ASPECTS, THEMES, video_size
from server.pipeline.context import StageContext
from server.providers.extract import markdown


def run(ctx: StageContext) -> None:
    job = ctx.job()
    fallback = PurePosixPath(job.document.source_path).stem.replace("-", " ").replace("_", " ").strip() or "Untitled"
    article = markdown.extract(job.document.content, fallback_title=fallback)
    job.title = article.title[:500]
    job.narration_text = article.text
    settings = dict(job.settings)
    theme = article.metadata.get("theme", "").lower()
    if theme in THEMES:
        settings["theme"] = theme
    aspect = article.metadata.get("aspect", "")
    if aspect in ASPECTS:
        settings["aspect"] = aspect
        settings["width"], settings["height"] = video_size(aspect, int(settings["short_side"]))
    job.settings = settings
