"""Timeline: scenes of 15–25 words, each with one visual concept, from the first timeline provider that can."""

from __future__ import annotations

from server.errors import StageError
from server.extensions import db
from server.models import Scene
from server.pipeline.context import StageContext
from server.providers.types import TimelineRequest


def run(ctx: StageContext) -> None:
    job = ctx.job()
    render = ctx.render_settings()
    request = TimelineRequest(text=job.spoken_text or "", title=job.title or "", language=job.language or "en",
                              theme=render.theme)
    if not request.text.strip():
        raise StageError("timeline", "the spoken text is empty", retryable=False)
    chain = ctx.providers("timeline")
    made = chain.make(request)  # before any write: the ledger commits on its own connection
    specs = made.value.scenes
    if not specs:
        raise StageError("timeline", f"the {made.provider} timeline provider returned no scenes", retryable=False)
    for spec in specs:
        if not spec.text.strip() or not spec.concept.strip():
            raise StageError("timeline", f"the {made.provider} timeline provider returned scene {spec.index} "
                             "without text or concept", retryable=False)
    ctx.record_providers(chain, *made.value.notes)
    job = ctx.job()
    for scene in list(job.scenes):  # a re-run replaces the timeline, and with it its assets
        db.session.delete(scene)
    db.session.flush()
    for index, spec in enumerate(specs):
        db.session.add(Scene(job_id=job.id, index=index, text=spec.text, concept=spec.concept,
                             visual=spec.visual, word_count=spec.word_count, chapter=spec.chapter or None))
