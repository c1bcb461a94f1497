"""Prose out of raw HTML and JSX blocks, with the stdlib's tolerant HTML parser.

Containers of prose (``<p>``, ``<div>``, ``<aside>``, ``<details>``, ``<Note>``, any
component) keep their text; attributes are never text to begin with; elements that hold
code, media, styling or tabular data drop everything inside them. The state lives on the
instance, so a ``<table>`` or ``<details>`` opened in one markdown HTML block and closed
in a later one is still understood (CommonMark cuts HTML blocks at blank lines).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

# Their content is never narrated.
SKIPPED = {"script", "style", "pre", "code", "kbd", "samp", "var", "svg", "math", "table", "picture", "video", "audio",
           "iframe", "object", "embed", "canvas", "noscript", "template", "select", "textarea", "button", "nav",
           "caption", "figure", "img", "source", "map", "head", "title", "sup", "sub", "input", "form"}
# Their edges are paragraph breaks.
BLOCKS = {"p", "div", "section", "article", "aside", "details", "summary", "blockquote", "li", "ul", "ol", "dl", "dt",
          "dd", "header", "footer", "main", "center", "figcaption", "br", "hr", "tr", "td", "th"}
_CODE_COMPONENT_WORDS = ("code", "console", "terminal", "sandpack", "snippet", "playground", "diagram", "chart",
                         "mermaid", "shell", "repl", "embed", "video", "iframe", "image", "figure", "icon", "svg",
                         "tweet", "youtube", "demo", "example")
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6", "summary"}   # a <details> summary titles what it hides
_CODE_SPAN = re.compile(r"(`+)[^`\n]+?\1")
VOID = {"br", "hr", "img", "source", "input", "meta", "link", "wbr", "area", "base", "col", "embed", "param", "track"}


@dataclass
class HtmlChunk:
    """A run of text found in HTML: a heading, or markdown-ish prose to parse further."""

    text: str
    heading_level: int = 0


class HtmlProse(HTMLParser):
    """Feed HTML (or JSX) text; take the chunks of prose it held with ``take()``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_depth = 0
        self.chunks: list[HtmlChunk] = []
        self._buffer: list[str] = []
        self._heading = 0
        self._stack: list[str] = []

    @property
    def skipping(self) -> bool:
        return self.skip_depth > 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag, self_closing=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag, self_closing=True)

    def _open(self, tag: str, self_closing: bool) -> None:
        name = tag.lower()
        void = self_closing or name in VOID
        if (name in SKIPPED or _holds_code(name)) and not void:
            self.skip_depth += 1
            self._stack.append(name)
            return
        if self.skipping:
            if not void:
                self._stack.append(name)
            return
        if name in HEADINGS or name in BLOCKS:
            self._flush()
        if name in HEADINGS:
            self._heading = int(name[1]) if name[0] == "h" else 6
        if not void:
            self._stack.append(name)

    def handle_endtag(self, tag: str) -> None:
        name = tag.lower()
        if name not in self._stack:
            return  # a stray closing tag (its opener was in markdown or never existed)
        while self._stack:
            opened = self._stack.pop()
            if opened in SKIPPED or _holds_code(opened):
                self.skip_depth = max(0, self.skip_depth - 1)
            if opened == name:
                break
        if self.skipping:
            return
        if name in HEADINGS or name in BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            # Re-escaped: the text is parsed as markdown next, where "&lt;Suspense&gt;" must stay text.
            # (Code spans keep their characters: markdown does not decode entities inside them.)
            escaped = html.escape(data, quote=False)
            self._buffer.append(_CODE_SPAN.sub(lambda m: html.unescape(m.group(0)), escaped))

    def handle_comment(self, data: str) -> None:
        pass  # comments are never narrated

    def _flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer.clear()
        if text.strip():
            if self._heading:
                self.chunks.append(HtmlChunk(" ".join(text.split()), self._heading))
            else:
                # Keep line breaks: the text may be markdown (a list, a paragraph) inside a JSX container.
                self.chunks.append(HtmlChunk(_dedent(text)))
        self._heading = 0

    def take(self, markup: str) -> list[HtmlChunk]:
        """Parse one more piece of HTML and return the chunks completed by it."""
        # Markdown code spans inside a JSX container ("the `<Suspense>` tag") are text, not tags.
        try:
            self.feed(_CODE_SPAN.sub(lambda m: m.group(0).replace("<", "&lt;").replace(">", "&gt;"), markup))
        except (AssertionError, ValueError):
            # The stdlib parser gives up on some broken declarations ("<![ *"): this block is not
            # prose anyone could read, so it is dropped and the parser starts clean for the next.
            self.reset()
            self._buffer.clear()
            self._stack.clear()
            self.skip_depth = 0
            return []
        self._flush_pending()
        taken, self.chunks = self.chunks, []
        return taken

    def _flush_pending(self) -> None:
        # The parser holds back an incomplete tag; text before it is complete.
        self._flush()


def _holds_code(name: str) -> bool:
    """JSX components named for code or media (<Sandpack>, <ConsoleBlock>, <TerminalBlock>)."""
    return any(word in name for word in _CODE_COMPONENT_WORDS)


def _dedent(text: str) -> str:
    lines = [line.strip() for line in text.split("\n")]
    return "\n".join(lines).strip()
