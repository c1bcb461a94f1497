"""Front matter the pipeline obeys: title, theme, aspect, voice, language, music, minutes, draft.

python-frontmatter reads YAML (``---``) and TOML (``+++``). Each field we use is checked
here; a value we cannot use is never silently ignored: it becomes a warning naming the
field, the value and what is allowed, and the job's notes carry it. ``draft: true``
raises ``DocumentSkipped``. Fields we do not use (tags, authors, dates...) are left alone:
every site generator has its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import frontmatter

from config import ASPECTS, THEMES
from server.errors import DocumentSkipped, InvalidDocument
from server.providers.extract import language as languages
from server.providers.extract.templating import resolve_inline

MIN_MINUTES, MAX_MINUTES = 0.5, 120.0   # the bounds server/pipeline/length.py accepts
_FIELDS = ("title", "theme", "aspect", "voice", "language", "lang", "music", "minutes", "draft")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


@dataclass(frozen=True)
class FrontMatter:
    """The fields the pipeline uses, validated; ``None`` where the article did not say."""

    title: str = ""
    theme: str | None = None
    aspect: str | None = None
    voice: str | None = None
    language: str | None = None       # BCP 47 primary tag
    music: str | None = None          # a file name in the music folder, or "none"
    minutes: float | None = None
    warnings: tuple[str, ...] = ()
    raw: tuple[tuple[str, str], ...] = ()   # every scalar field as text, for the manifest and tools

    def overrides(self) -> dict[str, object]:
        """What later stages read from ``job.settings``: only the fields the article set."""
        chosen = {"theme": self.theme, "aspect": self.aspect, "voice": self.voice, "language": self.language,
                  "music": self.music, "minutes": self.minutes}
        return {key: value for key, value in chosen.items() if value is not None}


def split(markdown: str) -> tuple[FrontMatter, str]:
    """Separate and validate the front matter; return it with the markdown body."""
    try:
        post = frontmatter.loads(markdown)
    except Exception as error:  # YAML and TOML raise many types; all mean the same to a user
        raise InvalidDocument("invalid_front_matter", f"the front matter could not be parsed: {error}") from error
    meta = {str(key).strip().lower(): value for key, value in post.metadata.items()}
    warnings: list[str] = []
    for name in _FIELDS:
        if isinstance(meta.get(name), (list, dict)):
            warnings.append(f"front matter {name} must be a single value, not {type(meta[name]).__name__} "
                            f"{meta[name]!r}; it was ignored")
            del meta[name]

    if _flag(meta.get("draft"), "draft", warnings):
        raise DocumentSkipped("draft", "the front matter says draft: true, so no video is made; "
                                       "remove it or set draft: false to render this article")

    title = resolve_inline(_text(meta.get("title"))) if "title" in meta else ""
    theme = _choice(meta, "theme", THEMES, warnings)
    aspect = _choice(meta, "aspect", tuple(ASPECTS), warnings)
    voice = _text(meta.get("voice")) or None
    music = _music(meta, warnings)
    minutes = _minutes(meta, warnings)
    tag = None
    if _text(meta.get("language") or meta.get("lang")):
        given = _text(meta.get("language") or meta.get("lang"))
        tag = languages.primary_tag(given)
        if tag is None:
            warnings.append(f"front matter language {given!r} is not a BCP 47 language tag; use a tag such as "
                            "en, fr, de, es or ja; the language was detected from the text instead")
    raw = tuple((key, _text(value)) for key, value in post.metadata.items() if _text(value))
    matter = FrontMatter(title=title, theme=theme, aspect=aspect, voice=voice, language=tag, music=music,
                         minutes=minutes, warnings=tuple(warnings), raw=raw)
    return matter, post.content


def _text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value).strip()
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return ""


def _flag(value: object, name: str, warnings: list[str]) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text not in _FALSE:
        warnings.append(f"front matter {name} {value!r} is not true or false; treated as false")
    return False


def _choice(meta: dict[str, object], name: str, allowed: tuple[str, ...], warnings: list[str]) -> str | None:
    if name not in meta:
        return None
    value = meta[name]
    if name == "aspect" and isinstance(value, int) and not isinstance(value, bool):
        value = f"{value // 60}:{value % 60}"  # YAML 1.1 reads an unquoted 16:9 as sexagesimal 969
    given = _text(value)
    if given.lower() in allowed:
        return given.lower()
    warnings.append(f"front matter {name} {given!r} is not one of {', '.join(allowed)}; the default {name} was used")
    return None


def _music(meta: dict[str, object], warnings: list[str]) -> str | None:
    if "music" not in meta:
        return None
    value = meta["music"]
    if value is False or _text(value).lower() in ("none", "off", "false", "no"):
        return "none"
    given = _text(value)
    if not given or "/" in given or "\\" in given or given.startswith("."):
        warnings.append(f"front matter music {value!r} is not a file name from the music folder or 'none'; "
                        "the default music was used")
        return None
    return given


def _minutes(meta: dict[str, object], warnings: list[str]) -> float | None:
    if "minutes" not in meta:
        return None
    value = meta["minutes"]
    try:
        minutes = float(value) if not isinstance(value, bool) else -1.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        minutes = -1.0
    if MIN_MINUTES <= minutes <= MAX_MINUTES:
        return minutes
    warnings.append(f"front matter minutes {value!r} is not a number of minutes between {MIN_MINUTES:g} and "
                    f"{MAX_MINUTES:g}; "
                    "the default length limit was used")
    return None
