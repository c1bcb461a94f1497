"""Voice: the text as it will be spoken, from the first voice provider that can (see the registry)."""

from __future__ import annotations

from server.errors import StageError
from server.pipeline.context import StageContext
from server.providers.types import VoiceRequest


def run(ctx: StageContext) -> None:
    job = ctx.job()
    request = VoiceRequest(text=job.narration_text or "", title=job.title or "", language=job.language or "en")
    chain = ctx.providers("voice")
    made = chain.make(request)  # before any write: the ledger commits on its own connection
    if not made.value.text.strip():
        raise StageError("voice", f"the {made.provider} voice provider returned no text", retryable=False)
    ctx.record_providers(chain, *made.value.notes)
    ctx.job().spoken_text = made.value.text
