"""The house style: which way each picture moves, how captions are cut and set.

Sizes are fractions of the frame's short side, so 9:16, 16:9, 1:1 and 4:5 (and the
half-size draft) all read the same on a phone: captions sit in the lower third, above the
bottom strip that phone apps cover, below the picture's centre, at most two lines.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from server.renderer.model import CaptionLook, Motion, Phrase, Word

# Alternate directions so consecutive pictures never drift the same way.
_PATHS = ((0, -1), (1, 0), (0, 1), (-1, 0))
MAX_PHRASE_WORDS = 8
PHRASE_HOLD_MS = 400      # a phrase stays this long after its last word, unless the next one starts
PHRASE_GAP_MS = 650       # a pause this long starts a new phrase
_SENTENCE_ENDS = (".", "!", "?", "…", "。", "！", "？")
_CLAUSE_MARKS = (",", ";", ":", "、", "，", "—")


def motion_for(index: int, width: int, height: int) -> Motion:
    """A slow pan, one pixel per frame at 1080p (two at 4K), along the frame's long side
    (up and down in portrait, sideways in landscape), where a pan can travel furthest
    before it has to turn back."""
    speed = max(1, round(min(width, height) / 1080))
    if height > width:
        dx, dy = 0, (-1 if index % 2 == 0 else 1)
    elif width > height:
        dx, dy = (1 if index % 2 == 0 else -1), 0
    else:
        dx, dy = _PATHS[index % len(_PATHS)]
    return Motion(dx * speed, dy * speed)


def pan_hidden_margins(width: int, height: int) -> tuple[float, float]:
    """The fraction of a picture's width and of its height that some frame of a pan may
    leave out at each edge, for the longest pans ``motion_for`` makes (over every
    direction it uses at this aspect). A picture that keeps its text inside these
    margins shows that text on every frame.

    The still is scaled by (frame + travel) / frame along the pan and cropped to the
    frame: along the pan a frame can miss up to travel / (frame + travel) at either end;
    across it, the uniform scale leaves half the surplus out at each side.
    """
    travel = Motion(0, 0).max_travel
    along = travel / (1 + travel)
    across = (1 - 1 / (1 + travel)) / 2
    if height > width:
        return across, along
    if width > height:
        return along, across
    return along, along   # square: the pans turn through all four directions


def caption_look(width: int, height: int, family: str, text_rgb: tuple[int, int, int],
                 highlight_rgb: tuple[int, int, int], box_opacity: float) -> CaptionLook:
    unit = min(width, height)
    size = max(14, round(unit * 0.064))
    portrait = height > width
    # Bottom of the caption block: 27% up from the bottom in portrait (clear of the app's
    # buttons and description), 9% in landscape.
    margin_v = round(height * (0.27 if portrait else 0.09))
    return CaptionLook(font_family=family, font_size=size, text_rgb=text_rgb, highlight_rgb=highlight_rgb,
                       outline=max(2, round(size * 0.09)), margin_v=margin_v,
                       margin_h=round(width * (0.08 if portrait else 0.15)), box_opacity=box_opacity)


@lru_cache(maxsize=8)
def _face(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def phrases(words: list[Word], until_ms: int, look: CaptionLook, font_path: Path, width: int,
            joiner: str = " ") -> tuple[Phrase, ...]:
    """Cut one scene's words into short, balanced phrases of at most two lines that fit the frame.

    The words first fall into runs at sentence ends and pauses; a run of a single word
    joins its nearer neighbour (a lone "code." flashing on screen reads as a glitch). Each
    run is then cut into the pieces that cost least: few, of even length, ending at a
    clause mark where one is near, never a single word when the run has more, each at most
    ``MAX_PHRASE_WORDS`` words in at most two lines of even width. The last phrase is held
    no later than ``until_ms`` (the scene's end), so a scene's captions depend on that
    scene alone.
    """
    face = _face(str(font_path), look.font_size)
    room = width - 2 * look.margin_h - 2 * look.outline
    most = MAX_PHRASE_WORDS if joiner else 2 * MAX_PHRASE_WORDS   # CJK "words" are single characters

    measured: dict[str, float] = {}   # the search below measures the same lines many times over

    def length(line: list[Word] | tuple[Word, ...]) -> float:
        text = joiner.join(w.text for w in line)
        if text not in measured:
            measured[text] = face.getlength(text)
        return measured[text]

    out: list[Phrase] = []
    for run in _runs(words):
        for piece in _pieces(run, most, lambda ws: _lines(ws, length, room) is not None):
            lines = _lines(piece, length, room) or [piece]   # one word wider than the frame: libass wraps it
            out.append(Phrase(tuple(tuple(line) for line in lines), piece[0].start_ms, piece[-1].end_ms))
    # Hold each phrase a little after its last word, never into the next one.
    held = []
    for i, phrase in enumerate(out):
        limit = out[i + 1].start_ms if i + 1 < len(out) else until_ms
        held.append(Phrase(phrase.lines, phrase.start_ms, max(phrase.end_ms, min(phrase.end_ms + PHRASE_HOLD_MS, limit))))
    return tuple(held)


def _runs(words: list[Word]) -> list[list[Word]]:
    """Words split at sentence ends and pauses; a one-word run joins the neighbour it is
    nearer to in time (there is always one unless the scene says a single word)."""
    runs: list[list[Word]] = []
    for word in words:
        if not runs or runs[-1][-1].text.endswith(_SENTENCE_ENDS) \
                or word.start_ms - runs[-1][-1].end_ms >= PHRASE_GAP_MS:
            runs.append([])
        runs[-1].append(word)
    i = 0
    while i < len(runs):
        if len(runs[i]) == 1 and len(runs) > 1:
            before = runs[i][0].start_ms - runs[i - 1][-1].end_ms if i > 0 else None
            after = runs[i + 1][0].start_ms - runs[i][0].end_ms if i + 1 < len(runs) else None
            if after is None or (before is not None and before <= after):
                runs[i - 1] += runs.pop(i)
                continue
            lone = runs.pop(i)
            runs[i][:0] = lone
            continue
        i += 1
    return runs


PIECE_COST = 25        # each extra phrase on screen: about seven words at most unless a comma or the room says less
CLAUSE_BONUS = 12      # a phrase that ends where the voice pauses at a comma
WEAK_END_COST = 10     # a phrase that leaves an article or preposition hanging ("such as CORS and the")
INSIDE_QUOTE_COST = 15  # a phrase that ends inside a quotation or brackets: "The sign read 'No" / "entry' in"
_OPENERS = "\"'“‘«(「『"
_CLOSERS = "\"'”’»)」』"
# Articles, conjunctions and prepositions that lean on the next word (English, French,
# Spanish, German, Portuguese, Italian): a phrase ending on one reads as cut short.
_WEAK_ENDS = frozenset("a an the and or but nor of to for with in on at as by from into than that this "
                       "its their our your my is are was were be "
                       "le la les l' un une d'un d'une des du de d' et ou au aux à pour par sur sous dans avec que qui "
                       "el los las una del y o en con por para "
                       "der die das dem den des ein eine einen und oder mit von zu im auf für "
                       "os as um uma do da dos das e em com "
                       "il lo gli di il che per".split())


def _pieces(run: list[Word], most: int, fits) -> list[list[Word]]:  # noqa: ANN001
    """The cheapest cut of ``run`` into phrases (dynamic programming over cut points)."""
    n = len(run)
    # Quotations and brackets open after each word (straight quotes open a word and close
    # one; an apostrophe inside "don't" does neither).
    inside, depth = [], 0
    for word in run:
        text = word.text
        opened = len(text) - len(text.lstrip(_OPENERS))
        closed = len(text) - len(text.rstrip(_CLOSERS)) if len(text) > opened else 0
        depth = max(0, depth + opened - closed)
        inside.append(depth > 0)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * n
    for end in range(1, n + 1):
        for start in range(max(0, end - most), end):
            count = end - start
            if count == 1 and n > 1:
                continue
            if best[start][0] == float("inf") or not (count == 1 or fits(run[start:end])):
                continue
            cost = best[start][0] + PIECE_COST + count * count
            if end < n and run[end - 1].text.endswith(_CLAUSE_MARKS):
                cost -= CLAUSE_BONUS
            elif end < n and run[end - 1].text.lower() in _WEAK_ENDS:
                cost += WEAK_END_COST
            if end < n and inside[end - 1]:
                cost += INSIDE_QUOTE_COST
            if cost < best[end][0]:
                best[end] = (cost, start)
    if best[n][0] == float("inf"):   # nothing fits (words wider than the frame): one word a phrase
        return [[w] for w in run]
    cuts, end = [], n
    while end > 0:
        start = best[end][1]
        cuts.append(run[start:end])
        end = start
    return cuts[::-1]


def _lines(words: list[Word], length, room: float) -> list[list[Word]] | None:  # noqa: ANN001
    """One line if the words fit in one, else two of the most even width; None if they don't fit in two."""
    if length(words) <= room:
        return [list(words)]
    options = [(max(length(words[:k]), length(words[k:])), k) for k in range(1, len(words))]
    fitting = [(widest, k) for widest, k in options if widest <= room]
    if not fitting:
        return None
    # The most even pair of lines, but a first line ending on "the" or "le" costs a sixth of the room.
    _, k = min((widest + (room / 6 if words[k - 1].text.lower() in _WEAK_ENDS else 0), k) for widest, k in fitting)
    return [list(words[:k]), list(words[k:])]


def wrap_title(title: str, font_path: Path, size: int, width: int, max_lines: int = 4) -> str:
    """The title broken into lines that fit ``width`` (newline-separated)."""
    face = _face(str(font_path), size)
    spaced = " " in title.strip()
    units = title.split() if spaced else list(title.strip())
    joiner = " " if spaced else ""
    lines: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current}{joiner}{unit}" if current else unit
        if current and face.getlength(candidate) > width:
            lines.append(current)
            current = unit
        else:
            current = candidate
    if current:
        lines.append(current)
    if 1 < len(lines) <= max_lines:
        lines = _balanced(units, joiner, len(lines), lambda text: face.getlength(text), width) or lines
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip(".,;: ") + "…"
    return "\n".join(lines)


def _balanced(units: list[str], joiner: str, count: int, length, width: float) -> list[str] | None:  # noqa: ANN001
    """``units`` in ``count`` lines whose widest is as narrow as it can be (so a title never
    leaves one short word alone on its last line), or None if none fits ``width``."""
    n = len(units)
    text = lambda a, b: joiner.join(units[a:b])  # noqa: E731
    # best[k][j]: the narrowest widest line for the first j units in k lines, and where line k starts.
    best = [[(float("inf"), 0)] * (n + 1) for _ in range(count + 1)]
    best[0][0] = (0.0, 0)
    for k in range(1, count + 1):
        for j in range(k, n + 1):
            for i in range(k - 1, j):
                if best[k - 1][i][0] == float("inf"):
                    continue
                wide = max(best[k - 1][i][0], length(text(i, j)))
                if wide <= width and wide < best[k][j][0]:
                    best[k][j] = (wide, i)
    if best[count][n][0] == float("inf"):
        return None
    lines, j = [], n
    for k in range(count, 0, -1):
        i = best[k][j][1]
        lines.append(text(i, j))
        j = i
    return lines[::-1]
