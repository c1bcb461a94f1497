"""The article rewritten for narration by Gemini, in the author's own voice (name ``gemini``).

Style comes from the author's profile and a few excerpts of their samples (see
``style.py``), never from the article; the content comes only from the article. The rewrite
is checked (``checks.py``: no invented numbers or names, length within bounds, no markup,
headings kept); a failed check re-prompts once with the reasons, and a second failure is a
``ProviderError``, so the registry falls back to the local normaliser and marks the job
degraded with the reason. With ``max_words`` set the rewrite also condenses the article to
fit the target length.

With writing samples, Gemini first writes a style guide from the measured profile and the
excerpts: one call per samples' content and model, cached, so it is never paid for twice.
"""

from __future__ import annotations

import json
from typing import ClassVar

import pydantic

from config import Settings
from server.errors import ProviderError
from server.pipeline.cache import ResultCache, digest
from server.providers.base import Meter
from server.providers.clients.gemini import GeminiClient
from server.providers.types import VoiceRequest, VoiceResult, join_sections, split_sections
from server.providers.voice import checks, normalizer

SYSTEM = (
    "You adapt written articles into narration for a short video. You change how things are said, never "
    "what is claimed: keep every fact, number and name exactly as the article has them and add none. Write "
    "plain spoken prose: no markdown, lists, links, code or URLs; spell out symbols a narrator would not say. "
    "Keep each section's heading exactly as given."
)
GUIDE_SYSTEM = ("You are an editor who describes writers' styles precisely, so another writer can imitate the "
                "style on a different subject. Describe style only: never the subject matter.")


class Section(pydantic.BaseModel):
    heading: str = ""
    text: str = pydantic.Field(min_length=1)


class Rewrite(pydantic.BaseModel):
    sections: list[Section] = pydantic.Field(min_length=1)


class GeminiVoice:
    """VoiceProvider backed by the Gemini text model."""

    kind: ClassVar[str] = "voice"
    name: ClassVar[str] = "gemini"
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        self.client = GeminiClient(settings)  # declines with NotConfigured when there is no key
        self.settings = settings

    def fingerprint(self) -> str:
        return f"{self.settings.gemini_model}:{normalizer.NAME}"

    def rewrite(self, request: VoiceRequest, meter: Meter) -> VoiceResult:
        guide = self._style_guide(request, meter) if request.style_guide else ""
        prompt = self._prompt(request, guide)
        checked = self.client.generate_checked(
            prompt, Rewrite, lambda reply: self._checked(reply, request),
            lambda reasons: (f"Your previous version could not be used: {'; '.join(reasons)}. "
                             "Write it again, fixing exactly these problems."),
            meter=meter, system=SYSTEM, temperature=0.4)
        if checked.problems:
            raise ProviderError(self.name, f"the rewrite failed its checks twice ({'; '.join(checked.problems)}); "
                                           "narrating the article's own words instead", permanent=True)
        text = checked.value
        notes = ("rewritten by Gemini in the author's voice" if guide else "rewritten by Gemini for narration",)
        return VoiceResult(text=normalizer.to_spoken_form(text, request.language), rewritten=True, notes=notes)

    @staticmethod
    def _checked(reply: Rewrite, request: VoiceRequest) -> tuple[str, list[str]]:
        """The rewrite as narration text, and what its checks find wrong with it."""
        text = join_sections([(s.heading.strip(), s.text.strip()) for s in reply.sections])
        return text, checks.problems(request.text, text, max_words=request.max_words)

    def _prompt(self, request: VoiceRequest, guide: str) -> str:
        sections = [{"heading": h, "text": t} for h, t in split_sections(request.text)]
        parts = [f"Language of the narration: {request.language} (the article's own language)."]
        if request.title:
            parts.append(f"Article title: {request.title}")
        if guide:
            parts.append(f"Write in this author's voice. Their style guide:\n{guide}")
        if request.style_excerpts:
            parts.append("Passages by the author, for their voice only (do not use their content):\n"
                         + "\n---\n".join(request.style_excerpts))
        if request.max_words:
            parts.append(f"Condense the narration to at most {request.max_words} words in all, keeping the "
                         "main points of every section.")
        else:
            parts.append("Keep the narration about as long as the article.")
        parts.append("The article, as JSON sections (answer with the same sections, same headings, same order):\n"
                     + json.dumps({"sections": sections}, ensure_ascii=False))
        return "\n\n".join(parts)

    def _style_guide(self, request: VoiceRequest, meter: Meter) -> str:
        """Gemini's written guide from the measured profile and excerpts, cached by both and the model."""
        cache = ResultCache(self.settings.var_dir / "cache")
        key = digest("style-guide", self.version, self.settings.gemini_model, request.style_guide,
                     request.style_excerpts)

        def produce() -> dict[str, str]:
            prompt = ("Measured features of the writer's style:\n" + request.style_guide
                      + "\n\nPassages by the writer:\n" + "\n---\n".join(request.style_excerpts)
                      + "\n\nWrite a style guide of at most 150 words: sentence rhythm, diction, tone, humour, "
                        "habits of punctuation and address, favourite turns of phrase.")
            return {"guide": self.client.generate_text(prompt, meter=meter, system=GUIDE_SYSTEM).text.strip()}

        value, _hit = cache.json("style", key, produce)
        return str(value["guide"]) or request.style_guide


PROVIDER = GeminiVoice
