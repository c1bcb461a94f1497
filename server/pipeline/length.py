"""How long the narration will be, and what happens when it is longer than allowed.

Measured before any heavy work (the voice stage runs before the timeline, pictures, speech
and video): today a 1,500-word post became a 9-minute video and a Japanese essay planned 51
minutes, which then exhausted the machine's memory in compose.

The limit is front matter ``minutes:`` (stored in the job's settings by extraction), else
``MEDIABUDDY_MAX_MINUTES``. Speech rates are those measured for our voices: piper's joe
voice about 160 words a minute with our pauses; Japanese (Kokoro) about 360 characters a
minute; other CJK text by characters too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from server.errors import StageError
from server.providers.types import join_sections, split_sections

WORDS_PER_MINUTE = 160
CJK_CHARS_PER_MINUTE = 360
CJK_LANGUAGES = frozenset({"ja", "zh", "ko"})


def is_cjk(language: str) -> bool:
    return language.split("-")[0].lower() in CJK_LANGUAGES


def units(text: str, language: str) -> int:
    """Words, or for CJK languages the characters that are not spaces or punctuation."""
    if is_cjk(language):
        return sum(1 for ch in text if ch.isalnum())
    return len(text.split())


def minutes_of(text: str, language: str) -> float:
    rate = CJK_CHARS_PER_MINUTE if is_cjk(language) else WORDS_PER_MINUTE
    return units(text, language) / rate


def budget_units(limit_minutes: float, language: str) -> int:
    """The most words (or CJK characters) that fit in ``limit_minutes``."""
    rate = CJK_CHARS_PER_MINUTE if is_cjk(language) else WORDS_PER_MINUTE
    return int(limit_minutes * rate)


@dataclass(frozen=True)
class LengthLimit:
    minutes: float
    source: str  # which setting set it, for messages


def limit_for(job_settings: dict[str, object], max_minutes: float) -> LengthLimit:
    raw = job_settings.get("minutes")
    try:
        value = float(raw) if raw not in (None, "") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = None
    if value is not None and 0.5 <= value <= 120:
        return LengthLimit(value, "front matter `minutes:`")
    return LengthLimit(max_minutes, "MEDIABUDDY_MAX_MINUTES")


def trim_to_sections(text: str, language: str, limit: LengthLimit) -> tuple[str, str]:
    """The longest run of whole sections from the start that fits, and a note saying what was cut.

    The first section is always kept (cut at a paragraph boundary if it alone is too long)."""
    budget = budget_units(limit.minutes, language)
    kept: list[tuple[str, str]] = []
    used = 0
    sections = split_sections(text)
    for heading, body in sections:
        size = units(f"{heading} {body}", language)
        if used + size > budget:
            if not kept:
                paragraphs, room = [], budget - units(heading, language)
                for paragraph in body.split("\n\n"):
                    if units(paragraph, language) > room and paragraphs:
                        break
                    paragraphs.append(paragraph)
                    room -= units(paragraph, language)
                kept.append((heading, "\n\n".join(paragraphs)))
            break
        kept.append((heading, body))
        used += size
    dropped = len(sections) - len(kept)
    note = (f"length: the article runs about {minutes_of(text, language):.1f} minutes, over the "
            f"{limit.minutes:g}-minute limit ({limit.source}); cut after {len(kept)} of {len(sections)} sections"
            + (f" ({dropped} left out)" if dropped else " (the first section shortened)"))
    return join_sections(kept), note


def refuse(text: str, language: str, limit: LengthLimit) -> StageError:
    estimate = minutes_of(text, language)
    return StageError(
        "voice",
        f"the narration would run about {estimate:.1f} minutes ({units(text, language)} "
        f"{'characters' if is_cjk(language) else 'words'}), over the {limit.minutes:g}-minute limit "
        f"({limit.source})",
        hint=(f"raise MEDIABUDDY_MAX_MINUTES (or `minutes:` in the front matter) to at least "
              f"{math.ceil(estimate)}, set MEDIABUDDY_TRIM_TO_LENGTH=true to cut at a section boundary, or "
              "configure GEMINI_API_KEY so the narration is condensed to fit"),
        retryable=False)
