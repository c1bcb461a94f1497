"""Measures of an extraction, for tests and the storyboard quality report.

``leaked_markup(text)`` lists the markup patterns found in narration text (must be none);
``prose_kept(markdown, text)`` compares the source's prose words with the words spoken.
The source's prose is counted independently of the extractor: the words of markdown-it's
plain text tokens in paragraphs, headings and list items — not code, tables, HTML, URLs
or template tags.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from markdown_it import MarkdownIt

from server.providers.types import HEADING_MARK

# Markup that must never reach the narration, whatever the source.
LEAK_PATTERNS = {
    "url": r"https?://|www\.", "liquid or macro": r"\{\{|\}\}|\{%|%\}", "mdx comment": r"\{/\*",
    "html tag": r"<[A-Za-z/!]", "code tick": r"`", "link syntax": r"\]\(|!\[|\]:", "table rule": r"\|\s*-{3}",
    "footnote": r"\[\^", "attribute": r"\w+=\"[^\"]*\"|\w+=\{", "import or export": r"\bimport\s+\{|\bexport const\b",
    "list marker": r"(?m)^\s*[-*+]\s", "quote marker": r"(?m)^\s*>", "emphasis": r"\*\*|__",
    "heading marker": r"(?m)^#{1,6}\s",
    "hole": "\ue000",
}
_WORD = re.compile(r"[^\W\d_]{3,}")
_TEMPLATE = re.compile(r"{{.*?}}|{%.*?%}|https?://\S+", re.S)
_FRONT_MATTER = re.compile(r"^(---|\+\+\+)\n.*?\n\1\n", re.S)
_md = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True)
class ProseKept:
    """How much of the source's prose is spoken."""

    source_words: int     # prose words (3+ letters) in the source
    kept_words: int       # of those, how many the narration says
    spoken_words: int     # words (3+ letters) in the narration

    @property
    def ratio(self) -> float:
        return self.kept_words / self.source_words if self.source_words else 1.0


def leaked_markup(text: str) -> list[str]:
    """Names of the markup kinds found in narration text (heading marks excepted)."""
    body = "\n".join(p.removeprefix(HEADING_MARK) for p in text.split("\n\n"))
    return [name for name, pattern in LEAK_PATTERNS.items() if re.search(pattern, body)]


def prose_words(markdown: str) -> Counter[str]:
    """Words of the source's prose, lower case, from markdown-it's text tokens outside tables."""
    tokens = _md.parse(_FRONT_MATTER.sub("", markdown, count=1))
    words: Counter[str] = Counter()
    in_table = 0
    for token in tokens:
        in_table += token.type == "table_open"
        in_table -= token.type == "table_close"
        if token.type != "inline" or in_table:
            continue
        text = " ".join(c.content for c in token.children or [] if c.type == "text")
        words.update(w.lower() for w in _WORD.findall(_TEMPLATE.sub(" ", text)))
    return words


def prose_kept(markdown: str, narration: str) -> ProseKept:
    """Compare the source's prose words with the narration's (as multisets)."""
    source = prose_words(markdown)
    said = Counter(w.lower() for w in _WORD.findall(narration))
    kept = sum(min(count, said[word]) for word, count in source.items())
    return ProseKept(source_words=sum(source.values()), kept_words=kept, spoken_words=sum(said.values()))
