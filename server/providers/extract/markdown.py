"""Markdown to narration text: what a person reading the article aloud would say.

``extract(content)`` returns an ``Article``: the title (front matter, else the first
heading, markdown or HTML, else none — never the file name), the narration as paragraphs
where a paragraph starting with ``## `` is a heading (see ``split_sections`` in
``server/providers/types.py``), the validated front matter with its warnings, and the
language. The steps, each in its own module:

1. ``front_matter``: YAML/TOML front matter split off and validated (``draft: true``
   raises ``DocumentSkipped``; a bad theme or aspect is a warning naming the allowed values);
2. ``templating``: Hugo shortcodes, Liquid, MDN macros and MDX comments resolved first,
   as the sites that own them do;
3. ``blocks``: markdown-it-py (CommonMark, tables, strikethrough, footnotes, definition
   lists) walked into headings, paragraphs and lists; code, tables, footnote bodies and
   navigation cut; prose inside HTML/JSX containers kept;
4. ``inline``: links speak their text, word-like code is spoken, other cut markup leaves a
   hole that is repaired (a parenthesis or clause removed) or the sentence dropped;
5. here: lists read as sentences or series, lead-ins into cut code finished, headings
   spoken once (empty sections and repeats dropped), and nothing narratable refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from server.errors import InvalidDocument
from server.providers.extract import blocks as block_parser
from server.providers.extract import front_matter, inline, language, templating
from server.providers.extract.blocks import Block
from server.providers.extract.front_matter import FrontMatter
from server.providers.types import HEADING_MARK, split_sections

NAME = "markdown"

_CUT = ("code", "table", "skipped")
# A lead-in that ends on one of these cannot stand as a sentence once what follows is cut.
_DANGLING = {"call", "run", "use", "type", "with", "like", "as", "following", "below", "this", "these", "is", "are",
             "to", "the", "a", "an", "execute", "enter", "add", "write", "do", "via", "by", "including", "include",
             "includes", "contains", "then", "and", "or", "of", "for", "from", "in", "on", "at", "into",
             "here", "follows", "syntax", "example", "instance", "e.g", "i.e", "namely", "was", "were", "be", "becomes"}
_SERIES_WORD = {"en": "and", "fr": "et", "de": "und", "es": "y", "it": "e", "pt": "e", "nl": "en", "sv": "och",
                "da": "og", "no": "og", "pl": "i", "ru": "и"}
_TERMINAL = (".", "!", "?", "…", "。", "！", "？", '"', "”", "»", ")")
_SERIES_MAX_ITEMS = 10
_SERIES_MAX_WORDS = 12


@dataclass(frozen=True)
class Article:
    """What the extract stage hands on.

    ``paragraphs`` are the narration in order; heading paragraphs start with ``## ``
    (``HEADING_MARK``) and the first one is the title when there is one. ``text`` joins
    them with blank lines: that string is ``job.narration_text``.
    """

    title: str                          # "" when the article names none
    paragraphs: tuple[str, ...]
    front_matter: FrontMatter
    language: language.Language
    cut: tuple[tuple[str, int], ...] = ()   # what was left out: ("code", 4), ("table", 1)...

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def word_count(self) -> int:
        return language.count_words(self.text.replace(HEADING_MARK, ""))

    @property
    def sections(self) -> list[tuple[str, str]]:
        return split_sections(self.text)

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.front_matter.warnings

    @property
    def metadata(self) -> dict[str, str]:
        """Every scalar front-matter field as text (kept for callers of the first version)."""
        return dict(self.front_matter.raw)


def extract(content: str, fallback_title: str = "", *, default_language: str | None = None) -> Article:
    """Turn markdown into an Article.

    The language is the front matter's, else ``default_language`` (``MEDIABUDDY_LANGUAGE``),
    else detected. Raises ``DocumentSkipped`` for a draft and ``InvalidDocument`` when
    nothing is left to narrate or the front matter cannot be read. ``fallback_title`` is
    accepted for old callers and ignored: a file name is never spoken as a title.
    """
    del fallback_title
    matter, body = front_matter.split(content.lstrip("\ufeff"))  # a byte-order mark would hide "# Title"
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    parsed = block_parser.parse(templating.resolve(body))
    cut = Counter(block.kind for block in parsed if block.kind in _CUT)

    title = block_parser.parse_inline(matter.title) if matter.title else ""
    if not title:
        first = next((b for b in parsed if b.kind == "heading"), None)
        if first is not None:
            title = first.text
            parsed.remove(first)

    prose_text = " ".join(b.text if b.kind != "list" else " ".join(b.items) for b in parsed)
    lang = language.resolve(matter.language, inline.finish(inline.clean(prose_text)), default=default_language)
    paragraphs = _compose(parsed, title, lang.tag)
    spoken = [p for p in paragraphs if not p.startswith(HEADING_MARK)]
    if language.count_words(" ".join(spoken)) < 3:
        found = ", ".join(f"{count} {kind}" for kind, count in sorted(cut.items()))
        if any(b.kind in ("para", "list") for b in parsed):
            found = (found + ", and " if found else "") + "sentences built on code, links or markup that cannot be spoken"
        found = found or "no text"
        raise InvalidDocument("no_prose", f"the document has no prose to narrate (found {found}); "
                                          "add a few sentences of text outside code, tables and markup")
    return Article(title=title, paragraphs=tuple(paragraphs), front_matter=matter, language=lang,
                   cut=tuple(sorted(cut.items())))


def _compose(parsed: list[Block], title: str, lang: str) -> list[str]:
    """Blocks to narration paragraphs: lists read aloud, lead-ins finished, headings once."""
    proper = _proper_nouns(parsed)
    out: list[tuple[str, int, str]] = []   # (kind, level, text); kind is "heading" or "para"
    for index, block in enumerate(parsed):
        following = parsed[index + 1] if index + 1 < len(parsed) else None
        if block.kind == "heading":
            out.append(("heading", block.level, block.text))
        elif block.kind == "para":
            text = _speak(block.text)
            if not text:
                continue
            leads_into_cut = following is None or following.kind in _CUT
            if leads_into_cut and (text.endswith(":") or not text.endswith(_TERMINAL)):
                text = _finish_lead_in(text)
            elif text.endswith(":") and following is not None and following.kind == "list":
                out.append(("lead-in", 0, text))
                continue
            if text:
                # "Furthermore:" before a quoted paragraph keeps its colon: it still leads in.
                keep_colon = text.endswith(":") and following is not None and following.kind == "para"
                out.append(("para", 0, text if keep_colon else inline.as_sentence(text)))
        elif block.kind == "list":
            lead = out.pop()[2] if out and out[-1][0] == "lead-in" else ""
            text = _read_list(lead, block.items, lang, proper)
            if text:
                out.append(("para", 0, text))
    return _headings_once(out, title)


def _speak(raw: str) -> str:
    text = inline.finish(inline.repair(inline.clean(raw)))
    return text if any(ch.isalnum() for ch in text) else ""  # punctuation left from markup says nothing


def _finish_lead_in(text: str) -> str:
    """"You can pass several commands:" before cut code → a sentence; "and then call:" → gone."""
    sentences = inline.split_sentences(text)
    last = sentences.pop() if sentences else text
    words = last.rstrip(":").split()
    if words and words[-1].lower().strip(",;") in _DANGLING:
        # "…use the parameter-scan option and call:" keeps what it said before "and call".
        # Only after "and"/"then": cutting at a comma would leave "For example, to clear caches."
        cut = re.sub(r",?\s+(?:and|or|then|and then)\s+(?:\S+\s+){0,2}\S+\s*:?\s*$", "", last.rstrip(":"))
        words = cut.split() if cut != last.rstrip(":") else []
        last = cut
    if len(words) > 3 and words[-1].lower().strip(",;") not in _DANGLING:
        sentences.append(last.rstrip(":").rstrip() + ".")
    return " ".join(sentences)


def _read_list(lead: str, raw_items: list[str], lang: str, proper: set[str]) -> str:
    items = [_speak(raw) for raw in raw_items]
    # An item that was mostly a URL ("India: https://…") is not worth a sentence of its own.
    items = [item for raw, item in zip(raw_items, items)
             if item and (len(item.split()) > 2 or templating.HOLE not in inline.clean(raw))]
    if not items:
        return inline.as_sentence(lead) if lead and _finish_lead_in(lead) else ""
    conjunction = _SERIES_WORD.get(lang)
    short = all(len(item.split()) <= _SERIES_MAX_WORDS and len(inline.split_sentences(item)) == 1
                and ":" not in item for item in items)  # "Term: description" items stay sentences
    if lead and conjunction and short and 2 <= len(items) <= _SERIES_MAX_ITEMS:
        # "…allows you to: a, b, and c." reads as one sentence, the way a person says it.
        parts = [_lower_first(item.rstrip(".;,:"), proper) for item in items]
        if len(parts) == 2:
            series = f"{parts[0]} {conjunction} {parts[1]}"
        else:  # the serial comma is English usage only
            series = ", ".join(parts[:-1]) + ("," if lang == "en" else "") + f" {conjunction} {parts[-1]}"
        head = lead.rstrip(":").rstrip()
        last_word = head.split()[-1].lower() if head.split() else ""
        return inline.as_sentence(f"{head} {series}" if last_word in _DANGLING else f"{head}: {series}")
    sentences = [inline.as_sentence(item) for item in items]
    if lead:
        sentences.insert(0, lead)
    return " ".join(sentences)


def _lower_first(text: str, proper: set[str]) -> str:
    first = text.split(" ", 1)[0]
    if first[:1].isupper() and first[1:].islower() and first.strip(".,;:!?") not in proper:
        return first[:1].lower() + text[1:]
    return text


def _proper_nouns(parsed: list[Block]) -> set[str]:
    """Capitalised words the article also capitalises mid-sentence: names, not sentence starts."""
    text = " ".join(b.text if b.kind != "list" else " ".join(b.items) for b in parsed)
    names = set()
    for previous, word in zip(text.split(), text.split()[1:]):
        word = word.strip(".,;:!?()\"'“”*_")
        if word[:1].isupper() and previous[-1:] not in ".!?:" and previous[:1].islower():
            names.add(word)
    return names


def _headings_once(out: list[tuple[str, int, str]], title: str) -> list[str]:
    """Headings as ``## `` paragraphs: the title first, none repeated, none over an empty section."""
    paragraphs: list[str] = []
    spoken: set[str] = set()
    if title:
        paragraphs.append(HEADING_MARK + title)
        spoken.add(_key(title))
    pending: list[tuple[int, str]] = []   # headings waiting for their first paragraph
    for kind, level, text in out:
        if kind == "heading":
            # A deeper heading right under an empty one continues it ("Usage: Basic benchmarks");
            # one at the same or a higher level replaces it (the empty section is dropped).
            while pending and pending[-1][0] >= level:
                pending.pop()
            pending.append((level, text))
            continue
        if pending:
            fresh = [t for _, t in pending if _key(t) not in spoken]
            if fresh:
                paragraphs.append(HEADING_MARK + ": ".join(fresh))
                spoken.update(_key(t) for t in fresh)
            pending = []
        paragraphs.append(text)
    return paragraphs


def _key(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\W+", " ", folded).strip()
