"""Voice: the text as it will be spoken, from the first voice provider that can (see the registry).

With writing samples (``MEDIABUDDY_VOICE_SAMPLES``) the request carries the author's style
profile and excerpts, so a rewriting provider (Gemini) writes in that voice. The length is
checked here, before any heavy work: an article over the limit is condensed by a rewriting
provider, else trimmed at a section boundary when allowed, else refused with the estimate.
"""

from __future__ import annotations

from server.errors import StageError
from server.pipeline import length
from server.pipeline.context import StageContext
from server.providers.types import VoiceRequest
from server.providers.voice import style


def run(ctx: StageContext) -> None:
    job = ctx.job()
    language = job.language or "en"
    text = job.narration_text or ""
    limit = length.limit_for(job.settings, ctx.settings.max_minutes)
    over = length.minutes_of(text, language) > limit.minutes
    guide, excerpts, limit_words, notes = _style(ctx)
    request = VoiceRequest(text=text, title=job.title or "", language=language, style_guide=guide,
                           style_excerpts=excerpts, sentence_limit=limit_words,
                           max_words=length.budget_units(limit.minutes, language) if over else None)
    chain = ctx.providers("voice")
    made = chain.make(request)  # before any write: the ledger commits on its own connection
    spoken = made.value.text
    if not spoken.strip():
        raise StageError("voice", f"the {made.provider} voice provider returned no text", retryable=False)
    notes += list(made.value.notes)
    if not made.value.rewritten:
        notes.append("no rewrite was done: the narration is the article's own words, made speakable"
                     + (" (the author's style only set where over-long sentences are split)"
                        if guide else ""))
    degraded = False
    if length.minutes_of(spoken, language) > limit.minutes * 1.05:
        if not ctx.settings.trim_to_length:
            raise length.refuse(spoken, language, limit)
        spoken, note = length.trim_to_sections(spoken, language, limit)
        notes.append(note)
        degraded = True
    ctx.record_providers(chain, *notes)
    job = ctx.job()
    job.degraded = job.degraded or degraded
    job.spoken_text = spoken


def _style(ctx: StageContext) -> tuple[str, tuple[str, ...], int | None, list[str]]:
    """The author's style guide and excerpts, or nothing when no samples are configured."""
    samples = ctx.settings.voice_samples
    if samples is None:
        return "", (), None, []
    try:
        profile, excerpts = style.load_profile(samples, ctx.cache_dir)
    except (style.SamplesError, OSError) as error:
        return "", (), None, [f"the writing samples could not be used ({error}); narrating without a style"]
    notes = []
    size = sum(p.stat().st_size for p in style.sample_files(samples))
    if size < style.RECOMMENDED_BYTES:
        notes.append(f"the writing samples are {size:,} bytes; {style.RECOMMENDED_BYTES:,}+ are recommended for "
                     "a faithful style (MEDIABUDDY_VOICE_SAMPLES)")
    return profile.guide(), excerpts, int(profile.sentence_p90), notes
