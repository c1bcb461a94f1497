"""Inline markdown to speakable text, and the repair of sentences where markup was cut.

Links speak their text, emphasis is dropped, images and footnote markers vanish. Inline
code that reads as a word (``fetch()``, ``useMemo``, ``--warmup``, ``<Suspense>``) is
spoken as that word; anything else (``if err != nil``, a bare URL, a value only the site
knows) leaves a ``HOLE``. ``repair`` then removes the smallest piece of the sentence that
makes sense without it — a parenthesis, a trailing appendix after a colon or dash, a short
comma clause — or drops the sentence, so nothing is ever read with a gap in it.
"""

from __future__ import annotations

import re
import unicodedata

from markdown_it.token import Token

from server.providers.extract.templating import HOLE

_URL = re.compile(r"(?:https?|ftp)://[^\s<>\"'()\[\]]*[^\s<>\"'()\[\].,;:!?]|\bwww\.[\w-]+\.[^\s<>\"'()]+|\bmailto:\S+",
                  re.I)
_PATH = re.compile(r"(?<![\w/])(?:\.{0,2}/|~/)[\w.@%+~-]+(?:/[\w.@%+~-]*)+|(?<![\w/])/[\w.@%+~-]+(?=[\s).,;:]|$)")
_HANDLE = re.compile(r"(?<![\w@.])@(?=[A-Za-z][\w-]{0,38}\b)(?![\w.-]*\.[a-z]{2,}\b)")
_FOOTNOTE_LEFTOVER = re.compile(r"\[\^[^\]\s]+\]:?")
_ALERT = re.compile(r"^\s*\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]\s*", re.I)
_HEADING_ATTRS = re.compile(r"\s*{[#.][^{}]*}\s*$")
_JSX_EXPRESSION = re.compile(r"{[^{}\n]*}")
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*(?:[.:][A-Za-z_$][\w$]*)*")
_FLAG = re.compile(r"--?([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")
_TAG = re.compile(r"</?([A-Za-z][\w.-]*)(?:\s[^<>]*)?/?>")
_WORDS = re.compile(r"[A-Za-z][A-Za-z'-]*(?: [A-Za-z][A-Za-z'-]*){0,2}")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\ufe0e\ufe0f"))
_KEPT_SYMBOLS = set("°")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…。！？])|(?<=[.!?…。！？][\"”’)»]))\s+")


def inline_text(children: list[Token]) -> str:
    """Speakable text of one inline token's children; ``HOLE`` where something was cut."""
    parts: list[str] = []
    links: list[int] = []  # where each open link's label starts in ``parts``
    html_code = False
    struck = 0
    for child in children:
        kind = child.type
        if struck and kind not in ("s_open", "s_close"):
            continue
        if kind == "text":
            parts.append(_code_words(child.content) if html_code else child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif kind == "code_inline":
            parts.append(speakable_code(child.content))
        elif kind == "link_open":
            links.append(len(parts))
        elif kind == "link_close" and links:
            start = links.pop()
            label = "".join(parts[start:]).strip()
            if child.markup == "autolink" or _URL.fullmatch(label) or label.upper() == "AUTOTITLE":
                parts[start:] = [HOLE]
            elif not label:
                parts[start:] = [""]  # an image-only link: a badge, a logo
        elif kind == "s_open":
            struck += 1  # struck-out text is what the author took back
        elif kind == "s_close":
            struck = max(0, struck - 1)
        elif kind == "html_inline":
            tag = child.content.strip().lower()
            if tag.startswith("<br"):
                parts.append(" ")
            elif tag.startswith("<code"):
                html_code = True
            elif tag.startswith("</code"):
                html_code = False
        elif kind in ("math_inline", "math_inline_double"):
            parts.append(HOLE)
        # images, footnote references, emphasis markers: nothing to say
    return "".join(parts)


def _code_words(code: str) -> str:
    return speakable_code(code)


def speakable_code(code: str) -> str:
    """Inline code as words when it reads as words, else ``HOLE``."""
    code = code.strip().strip("`").strip()
    if not code:
        return HOLE
    if len(code) == 1 and unicodedata.category(code)[0] in "PS":
        return unicodedata.name(code, "").lower() or HOLE  # `?` → "question mark"
    if code[0] == code[-1] and code[0] in "'\"" and len(code) > 2:
        code = code[1:-1]  # 'same-origin' → same-origin
    tag = _TAG.fullmatch(code)
    if tag:
        return tag.group(1)  # `<Suspense>` → Suspense
    flag = _FLAG.fullmatch(code)
    if flag and (code.startswith("--") or len(flag.group(1)) > 1):
        return flag.group(1)  # `--warmup` → warmup; `-r` says nothing
    call = re.fullmatch(r"(" + _IDENTIFIER.pattern + r")\((.{0,40})\)", code)
    if call:
        return call.group(1)  # `fetch()`, `crypto.timingSafeEqual(a, b)` → the name
    if _IDENTIFIER.fullmatch(code) and len(code) <= 40:
        return code
    if re.fullmatch(r"[\w-]+(?:\.[\w-]+)+", code) and len(code) <= 40:
        return code  # a file or host name: security.txt, go.mod
    if re.fullmatch(r"\d+(?:\.\d+)*", code) or _WORDS.fullmatch(code):
        return code
    return HOLE


def clean(text: str) -> str:
    """Normalise spacing and drop what is never spoken: URLs, paths, emoji, stray markup."""
    text = unicodedata.normalize("NFC", text.translate(_INVISIBLE))
    text = _URL.sub(HOLE, text)
    text = _FOOTNOTE_LEFTOVER.sub("", text)
    text = _ALERT.sub("", text)
    text = _JSX_EXPRESSION.sub(HOLE, text)
    text = _PATH.sub(HOLE, text)
    text = _HANDLE.sub("", text)  # @yaahc → yaahc: a handle is a name, not "at"
    text = re.sub(r"</?[A-Za-z][^<>\n]{0,200}>", "", text)  # an HTML tag markdown-it left as text
    text = "".join(ch for ch in text if _speakable_char(ch))
    text = _SPACES.sub(" ", text)
    return text.strip()


def _speakable_char(ch: str) -> bool:
    if ch == HOLE or ch in _KEPT_SYMBOLS or ch == "\n":
        return True
    category = unicodedata.category(ch)
    return category not in ("So", "Sk", "Cs", "Co", "Cc", "Cf", "Me", "Mn") or (category == "Mn" and ord(ch) < 0x2000)


def heading(text: str) -> str:
    """A heading as spoken: no ``{#anchor}``, no holes, no trailing colon."""
    text = _HEADING_ATTRS.sub("", text)
    # "[ On | No ] syntactic support…", "File [PRODUCTION]": brackets and bars are layout here.
    text = re.sub(r"\s+\|\s+", " or ", text)
    text = re.sub(r"\[\s*([^\[\]]*?)\s*\]", r"(\1)", text)
    text = finish(repair(clean(text), heading=True))
    return text.rstrip(" .:;,-–—").strip()


def repair(text: str, heading: bool = False) -> str:
    """Remove each ``HOLE`` with the least text around it that leaves whole sentences."""
    if HOLE not in text:
        return text
    if heading:
        return text.replace(HOLE, "")
    kept = []
    for sentence in _SENTENCE_END.split(text):
        fixed = _repair_sentence(sentence)
        if fixed:
            kept.append(fixed)
    return " ".join(kept)


def _repair_sentence(sentence: str) -> str:
    if HOLE not in sentence:
        return sentence
    # 1. A parenthesis or bracket holding the hole goes whole: "(`:=`)", "(see [AUTOTITLE](…))".
    sentence = re.sub(r"\s*[(\[][^()\[\]]*" + HOLE + r"[^()\[\]]*[)\]]", "", sentence)
    # 2. Holes that are only joined by punctuation or "and/or" merge: "`-r`/`--runs`" had one spoken half.
    sentence = re.sub(HOLE + r"(?:\s*(?:[,/&]|\band\b|\bor\b)\s*" + HOLE + r")+", HOLE, sentence)
    sentence = re.sub(r"\s*/\s*" + HOLE + "|" + HOLE + r"\s*/\s*", "", sentence)
    # 3. A trailing appendix: "Reference: GDPR - <url>", "Quote from <url>:" lose the appendix.
    sentence = re.sub(r"\s*(?:[:\-–—]|\bat|\bsee|\bvia|\bfrom)\s*[\"“]?" + HOLE + r"[\"”]?\s*([.!?:;]?)\s*$", r"\1",
                      sentence)
    # 4. A short clause between commas: "and explaining `&T`, I had…" keeps its main clause.
    sentence = re.sub(r",[^,;:.!?]{0,60}" + HOLE + r"[^,;:.!?]{0,40},", ",", sentence)
    sentence = re.sub(r"^\s*[\"“]?" + HOLE + r"[\"”]?\s*$", "", sentence)
    if HOLE in sentence:
        return ""  # no smaller cut leaves a whole sentence: the sentence goes
    return sentence.strip()


def finish(text: str) -> str:
    """Tidy the husks cutting leaves: empty brackets, doubled punctuation, spaces before commas."""
    text = text.replace(HOLE, "")
    text = re.sub(r"\(\s*[,;/]?\s*\)|\[\s*\]|[\"“]\s*[\"”]", "", text)
    text = re.sub(r"(?<=\s)[/|](?=\s)", "", text)
    text = _SPACES.sub(" ", text)
    text = re.sub(r"\s+([,.;:!?])(?=\s|$)", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"[,;:]\s*([.!?])", r"\1", text)
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    return text.strip(" -–—|,;")


def as_sentence(text: str) -> str:
    """End ``text`` with terminal punctuation so the narrator pauses there."""
    text = text.strip()
    if not text:
        return text
    closers = "\"”»'’)"
    core = text.rstrip(closers)
    if core.endswith((".", "!", "?", "…", "。", "！", "？")):
        return text
    if text != core and text.endswith(")"):
        return text + "."  # "(see the guide)" closes a clause, not a sentence
    if text != core:
        return text if core.endswith((".", "!", "?")) else text + "."
    stop = "。" if _is_cjk(text[-1]) else "."
    if text.endswith((":", ";", ",")):
        return text[:-1].rstrip() + stop
    return text + stop


def _is_cjk(ch: str) -> bool:
    return "\u3040" <= ch <= "\u30ff" or "\u3400" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af"


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]
