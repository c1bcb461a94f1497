"""Voice: the text as it will be spoken. Offline this is the spoken-form normaliser only."""

from __future__ import annotations

from server.pipeline.context import StageContext
from server.providers.voice import normalizer


def run(ctx: StageContext) -> None:
    job = ctx.job()
    job.spoken_text = normalizer.to_spoken_form(job.narration_text or "")
