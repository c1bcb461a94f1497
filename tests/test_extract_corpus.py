"""Every corpus article through extraction: no markup leaks, the prose survives, right title and language.

Prose is measured by ``server.providers.extract.quality`` (independently of the extractor).
Run with ``-s`` to see the per-article figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server.providers.extract.markdown import extract
from server.providers.extract.quality import leaked_markup, prose_kept
from tests.conftest import CORPUS

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
def figures(path: Path) -> dict[str, object]:
    source = path.read_text(encoding="utf-8")
    article = extract(source)
    kept = prose_kept(source, article.text)
    return {"article": path.name[:28], "prose_words": kept.source_words, "spoken_words": article.word_count,
            "kept": round(kept.ratio, 3), "leaks": leaked_markup(article.text), "sections": len(article.sections),
            "language": article.language.tag, "title": article.title, "cut": dict(article.cut)}


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: p.name[:20])
def test_corpus_article_is_prose_only_and_keeps_the_prose(path: Path) -> None:
    row = figures(path)
    print(row)
    assert row["leaks"] == []
    title, language = EXPECTED[path.name[:2]]
    assert (row["title"], row["language"]) == (title, language)
    # Most prose words survive; what goes is navigation, link-only lists and sentences built on code.
    assert row["kept"] >= 0.80, row
    text = extract(path.read_text(encoding="utf-8")).text
    headings = [p for p in text.split("\n\n") if p.startswith("## ")]
    assert len(headings) == len(set(headings)), "a heading is spoken twice"
