"""Timeline: scenes of 15–25 words, each with one visual concept."""

from __future__ import annotations

from server.errors import StageError
from server.extensions import db
from server.models import Scene
from server.pipeline.context import StageContext
from server.providers.timeline import segmenter


def run(ctx: StageContext) -> None:
    job = ctx.job()
    specs = segmenter.plan_scenes(job.spoken_text or "", theme=ctx.render_settings().theme)
    if not specs:
        raise StageError("timeline", "the spoken text is empty", retryable=False)
    for scene in list(job.scenes):  # a re-run replaces the timeline, and with it its assets
        db.session.delete(scene)
    db.session.flush()
    for spec in specs:
        db.session.add(Scene(job_id=job.id, index=spec.index, text=spec.text, concept=spec.concept,
                             visual=spec.visual, word_count=spec.word_count))
