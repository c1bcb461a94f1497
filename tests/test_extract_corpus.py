"""Every corpus article through extraction: no markup leaks, the prose survives, right title and language.

"Prose words" are counted independently of the extractor: the words of markdown-it's plain
text tokens in paragraphs, headings and list items (not code, tables, HTML or URLs),
minus template syntax. Run with ``-s`` to see the per-article figures.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from server.providers.extract.markdown import extract
from tests.conftest import CORPUS
from tests.test_extract import leaks

pytestmark = pytest.mark.pipeline
ARTICLES = sorted((CORPUS / "articles").glob("*.md"))
EXPECTED = {
    "01": ("How we measure the success of coaching engagements", "en"),
    "02": ("Fetch API", "en"),
    "03": ("About GitHub and Git", "en"),
    "04": ("hyperfine", "en"),
    "05": ("Imposter Syndrome", "en"),
    "06": ("Introduction au modèle de boîte CSS", "fr"),
    "07": ("Common Node.js security best practices", "en"),
    "08": ("(On or No) syntactic support for error handling", "en"),
}
_WORD = re.compile(r"[^\W\d_]{3,}")
_TEMPLATE = re.compile(r"{{.*?}}|{%.*?%}|https?://\S+", re.S)


def prose_words(markdown: str) -> Counter[str]:
    """Words of the source's prose, from markdown-it's text tokens outside tables."""
    body = re.sub(r"^(---|\+\+\+)\n.*?\n\1\n", "", markdown, flags=re.S)
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
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


def figures(path: Path) -> dict[str, object]:
    source = path.read_text(encoding="utf-8")
    article = extract(source)
    said = Counter(w.lower() for w in _WORD.findall(article.text))
    prose = prose_words(source)
    kept = sum(min(count, said[word]) for word, count in prose.items())
    return {"article": path.name[:28], "prose_words": sum(prose.values()), "spoken_words": article.word_count,
            "kept": round(kept / max(1, sum(prose.values())), 3), "leaks": len(leaks(article.text)),
            "headings": len(article.sections), "language": article.language.tag, "title": article.title,
            "cut": dict(article.cut)}


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: p.name[:20])
def test_corpus_article_is_prose_only_and_keeps_the_prose(path: Path) -> None:
    row = figures(path)
    print(row)
    assert row["leaks"] == 0
    title, language = EXPECTED[path.name[:2]]
    assert (row["title"], row["language"]) == (title, language)
    # Most prose words survive; what goes is navigation, link-only lists and sentences built on code.
    assert row["kept"] >= 0.80, row
    text = extract(path.read_text(encoding="utf-8")).text
    headings = [p for p in text.split("\n\n") if p.startswith("## ")]
    assert len(headings) == len(set(headings)), "a heading is spoken twice"
