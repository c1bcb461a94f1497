"""The author's style, measured apart from what they write about.

A style profile is computed from the writing samples named by ``MEDIABUDDY_VOICE_SAMPLES``
(a file, or a folder of ``.txt``/``.md`` files) once, and cached by the samples' sha256:

- **rhythm**: sentence length in words (mean, median, spread, 90th percentile) and the share
  of short (≤ 8 words) and long (≥ 30 words) sentences;
- **vocabulary**: mean word length, moving-average type/token ratio (500-word windows, so
  it does not fall with the samples' length) and the share of rare words (Zipf < 3 in
  wordfreq's general English), i.e. the register;
- **punctuation habits** per 1,000 words: commas, semicolons, colons, dashes, exclamation
  and question marks, parentheses, quotation marks;
- **function-word frequencies** (the 60 most common English words): the classic
  stylometric fingerprint (Burrows' Delta), independent of topic;
- **signature phrases**: 2–4-word phrases the author uses far more often than general
  English predicts (pointwise mutual information against wordfreq's unigram baseline),
  made only of common words and found in at least two parts of the samples, so that
  topic words ("Wagner", "Switzerland") never pass as style.

Everything here is deterministic; ``distance()`` compares two profiles (a Delta-style mean
of standardised differences), so "visibly different from another author" is a number.
"""

from __future__ import annotations

import hashlib
import math
import re
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

SAMPLE_SUFFIXES = (".txt", ".md", ".markdown")
RECOMMENDED_BYTES = 70_000
VERSION = "1"  # bump when the measures change, so cached profiles are recomputed

_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_PUNCTUATION = {
    "comma": ",", "semicolon": ";", "colon": ":", "dash": ("—", "--", " – "), "exclamation": "!",
    "question": "?", "parenthesis": "(", "quotation": ('"', "“"),
}


@dataclass(frozen=True)
class StyleProfile:
    """How an author writes; see the module docstring for each measure."""

    samples_sha256: str
    words: int
    sentences: int
    sentence_mean: float
    sentence_median: float
    sentence_stdev: float
    sentence_p90: float
    short_share: float
    long_share: float
    word_length: float
    mattr: float
    rare_share: float
    punctuation: dict[str, float] = field(default_factory=dict)
    function_words: dict[str, float] = field(default_factory=dict)
    signature_phrases: tuple[str, ...] = ()

    def features(self) -> dict[str, float]:
        """The numeric measures, by name, for comparing profiles."""
        values = {"sentence_mean": self.sentence_mean, "sentence_stdev": self.sentence_stdev,
                  "short_share": self.short_share * 100, "long_share": self.long_share * 100,
                  "word_length": self.word_length * 10, "mattr": self.mattr * 100, "rare_share": self.rare_share * 100}
        values.update({f"p:{k}": v for k, v in self.punctuation.items()})
        values.update({f"w:{k}": v for k, v in self.function_words.items()})
        return values

    def distance(self, other: StyleProfile) -> float:
        """Mean absolute difference of the measures, each scaled by the pair's mean magnitude
        (0: the same style; measured on the corpus: 0.34 between two halves of one author,
        0.60 between that author and the corpus articles)."""
        mine, theirs = self.features(), other.features()
        names = sorted(set(mine) | set(theirs))
        diffs = []
        for name in names:
            a, b = mine.get(name, 0.0), theirs.get(name, 0.0)
            scale = (abs(a) + abs(b)) / 2
            if scale > 1e-9:
                diffs.append(abs(a - b) / scale)
        return sum(diffs) / len(diffs) if diffs else 0.0

    def guide(self) -> str:
        """A written style guide from the measures, for a rewrite prompt or a person."""
        rhythm = ("short, punchy sentences" if self.sentence_mean < 14 else
                  "long, winding sentences" if self.sentence_mean > 24 else "sentences of middling length")
        lines = [
            f"Write in {rhythm}: about {self.sentence_mean:.0f} words on average (median "
            f"{self.sentence_median:.0f}, often up to {self.sentence_p90:.0f}); "
            f"{self.short_share:.0%} are 8 words or fewer and {self.long_share:.0%} run to 30 or more.",
            f"Vocabulary: words average {self.word_length:.1f} letters; type/token ratio {self.mattr:.2f}; "
            f"{self.rare_share:.0%} of words are uncommon in everyday English.",
        ]
        habits = sorted(self.punctuation.items(), key=lambda item: -item[1])
        lines.append("Punctuation per 1,000 words: " + ", ".join(f"{name} {rate:.1f}" for name, rate in habits) + ".")
        if self.signature_phrases:
            lines.append("Turns of phrase this author favours (use sparingly, where they fit): "
                         + "; ".join(f'"{p}"' for p in self.signature_phrases) + ".")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "signature_phrases": list(self.signature_phrases)}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> StyleProfile:
        values = dict(data)
        values["signature_phrases"] = tuple(values.get("signature_phrases") or ())  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


class SamplesError(ValueError):
    """The writing samples cannot be read or are too small to say anything."""


def sample_files(path: Path) -> list[Path]:
    """The sample files under ``path`` (itself, if it is a file), in a stable order."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SAMPLE_SUFFIXES
                   and not p.name.startswith("."))
    if not files:
        raise SamplesError(f"{path} holds no {', '.join(SAMPLE_SUFFIXES)} files (MEDIABUDDY_VOICE_SAMPLES)")
    return files


def read_samples(path: Path) -> tuple[list[str], str]:
    """The samples' texts and one sha256 over their contents; names and order do not matter
    (texts come back ordered by their own digest, so a renamed file changes nothing)."""
    found: list[tuple[str, str]] = []
    for file in sample_files(path):
        raw = file.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SamplesError(f"{file} is not UTF-8 text (byte {error.start}); MEDIABUDDY_VOICE_SAMPLES") from None
        found.append((hashlib.sha256(raw).hexdigest(), text))
    found.sort()
    digest = hashlib.sha256("".join(sha for sha, _ in found).encode())
    return [text for _, text in found], digest.hexdigest()


def split_sentences(text: str) -> list[str]:
    """Sentences of prose: paragraphs first (a line break alone is wrapping), then sentence ends."""
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        flat = " ".join(paragraph.split())
        sentences.extend(s for s in _SENTENCE_END.split(flat) if _WORD.search(s))
    return sentences


def words_of(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def profile_texts(texts: list[str], samples_sha256: str = "") -> StyleProfile:
    """Measure the style of ``texts`` (one author's samples)."""
    from wordfreq import top_n_list, zipf_frequency

    joined = "\n\n".join(texts)
    words = words_of(joined)
    if len(words) < 300:
        raise SamplesError(f"the writing samples hold {len(words)} words; a style needs a few thousand "
                           f"(70 KB or more recommended; MEDIABUDDY_VOICE_SAMPLES)")
    lengths = sorted(len(words_of(s)) for s in split_sentences(joined))
    per_thousand = 1000 / len(words)
    punctuation = {}
    for name, marks in _PUNCTUATION.items():
        marks = (marks,) if isinstance(marks, str) else marks
        punctuation[name] = round(sum(joined.count(m) for m in marks) * per_thousand, 3)
    common = top_n_list("en", 60)
    counts = Counter(words)
    zipf = {w: zipf_frequency(w, "en") for w in counts}
    return StyleProfile(
        samples_sha256=samples_sha256,
        words=len(words),
        sentences=len(lengths),
        sentence_mean=round(statistics.fmean(lengths), 3),
        sentence_median=float(statistics.median(lengths)),
        sentence_stdev=round(statistics.pstdev(lengths), 3),
        sentence_p90=float(lengths[min(len(lengths) - 1, int(len(lengths) * 0.9))]),
        short_share=round(sum(1 for n in lengths if n <= 8) / len(lengths), 4),
        long_share=round(sum(1 for n in lengths if n >= 30) / len(lengths), 4),
        word_length=round(statistics.fmean(len(w) for w in words), 3),
        mattr=round(_mattr(words), 4),
        rare_share=round(sum(c for w, c in counts.items() if zipf[w] < 3.0) / len(words), 4),
        punctuation=punctuation,
        function_words={w: round(counts[w] * per_thousand, 3) for w in common},
        signature_phrases=_signature_phrases(texts, zipf),
    )


def _mattr(words: list[str], window: int = 500) -> float:
    """Moving-average type/token ratio (stepped by a tenth of the window for speed)."""
    if len(words) <= window:
        return len(set(words)) / len(words)
    step = window // 10
    ratios = [len(set(words[i:i + window])) / window for i in range(0, len(words) - window + 1, step)]
    return statistics.fmean(ratios)


def _signature_phrases(texts: list[str], zipf: dict[str, float], limit: int = 12) -> tuple[str, ...]:
    """Phrases of common words the author repeats far beyond chance (see the module docstring)."""
    parts = _parts(texts)
    seen_in: dict[tuple[str, ...], set[int]] = {}
    counts: Counter[tuple[str, ...]] = Counter()
    total = 0
    for part_index, part in enumerate(parts):
        for sentence in split_sentences(part):
            tokens = words_of(sentence)
            total += len(tokens)
            for n in (2, 3, 4):
                for i in range(len(tokens) - n + 1):
                    gram = tuple(tokens[i:i + n])
                    counts[gram] += 1
                    seen_in.setdefault(gram, set()).add(part_index)
    scored = []
    for gram, count in counts.items():
        if count < 3 or len(seen_in[gram]) < 2:
            continue
        if any(zipf.get(w, 0.0) < 4.0 for w in gram):  # a topic or rare word: content, not style
            continue
        if all(zipf.get(w, 0.0) >= 6.2 for w in gram):  # only the commonest glue ("of the"): says nothing
            continue
        expected = math.log(total) + sum(math.log(10 ** (zipf[w] - 9)) for w in gram)
        pmi = math.log(count) - expected
        scored.append((pmi * math.log(count), " ".join(gram)))
    chosen: list[str] = []
    for _score, phrase in sorted(scored, key=lambda item: (-item[0], item[1])):
        if any(phrase in other or other in phrase for other in chosen):
            continue  # "by and by" and "and by and by" are one habit
        chosen.append(phrase)
        if len(chosen) == limit:
            break
    return tuple(chosen)


def _parts(texts: list[str]) -> list[str]:
    """At least four parts, so "found in two parts" means something for a single file."""
    if len(texts) >= 4:
        return texts
    parts = []
    for text in texts:
        paragraphs = re.split(r"\n\s*\n", text)
        size = max(1, math.ceil(len(paragraphs) / 4))
        parts.extend("\n\n".join(paragraphs[i:i + size]) for i in range(0, len(paragraphs), size))
    return parts


def excerpts(texts: list[str], count: int = 4, words: int = 120) -> tuple[str, ...]:
    """Short passages spread over the samples, for a rewrite prompt (style by example)."""
    paragraphs = [" ".join(p.split()) for t in texts for p in re.split(r"\n\s*\n", t)]
    prose = [p for p in paragraphs if 40 <= len(p.split()) <= 200 and not p.isupper()]
    if not prose:
        return ()
    step = max(1, len(prose) // count)
    return tuple(" ".join(p.split()[:words]) for p in prose[::step][:count])


def load_profile(samples: Path, cache_root: Path) -> tuple[StyleProfile, tuple[str, ...]]:
    """The profile and excerpts of ``samples``, computed once per content (cached by sha256)."""
    from server.pipeline.cache import ResultCache, digest

    texts, sha = read_samples(samples)
    key = digest("style-profile", VERSION, sha)
    value, _hit = ResultCache(cache_root).json(
        "style", key, lambda: {"profile": profile_texts(texts, sha).to_json(), "excerpts": list(excerpts(texts))})
    return StyleProfile.from_json(value["profile"]), tuple(value["excerpts"])
