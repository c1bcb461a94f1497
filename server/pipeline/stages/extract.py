"""Extract: markdown → title, narration text, language, and the front matter's overrides.

The article's own choices (theme, aspect, voice, music, minutes, language) go into
``job.settings`` for the later stages; a value that could not be used is a note on the
job naming what is allowed, never silently dropped. A draft raises ``DocumentSkipped``.
"""

from __future__ import annotations

from config import video_size
from server.pipeline.context import StageContext
from server.providers.extract import markdown


def run(ctx: StageContext) -> None:
    job = ctx.job()
    article = markdown.extract(job.document.content, default_language=ctx.settings.language)
    job.title = article.title[:500] or None   # no title is better than the file name spoken
    job.narration_text = article.text
    job.language = article.language.tag
    settings = dict(job.settings)
    overrides = article.front_matter.overrides()
    settings.update(overrides)
    settings["language"] = article.language.tag
    if "aspect" in overrides:
        settings["width"], settings["height"] = video_size(str(overrides["aspect"]), int(settings["short_side"]))
    job.settings = settings
    notes = [f"extract: {w}" for w in article.warnings]
    if article.language.source == "default":
        notes.append(f"extract: too little text to tell the language; {article.language.tag} was assumed "
                     "(set language: in the front matter, or MEDIABUDDY_LANGUAGE)")
    job.notes = list(job.notes) + [note for note in notes if note not in job.notes]
