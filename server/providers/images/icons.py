"""Pictures for concepts: Font Awesome Free icons matched to a concept by meaning.

The icons come from the ``fontawesome-free-pack`` wheel (Font Awesome Free 7: icons
CC BY 4.0, attribution in the README), about 1,400 solid glyphs and 570 brand marks, each
with a slug such as ``book-open-reader``. A concept is matched by its words' lemmas:

1. its head noun names an icon (``database`` → ``database``; plural or singular);
2. its head noun is a tag of an icon: ``TAGS`` lists, like Font Awesome's own search
   terms, the everyday nouns an icon stands for (``budget`` → ``sack-dollar``);
3. the same for the phrase's modifiers (``error handling`` → ``bug``), then any icon
   whose slug contains the word;
4. brand marks only for a proper noun that names the brand (``Rust``, ``GitHub``).

``match`` returns candidates best first with a score; 0 candidates means "no picture
for this word", which the planner uses to prefer picturable concepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from server.providers.images import glossary

# Bump when a concept may now get another picture (tags, glosses): cards drawn before are stale.
VERSION = "4"   # 4: senses for account, worker, failure, source; 3: a head noun whose usual icon depends on its modifier ("box model" is not a robot); 2: French and Japanese concepts glossed into English icon words

# Everyday nouns each icon stands for (the icon first, then what it can picture).
_TAG_LINES = """
image: background backgrounds wallpaper
list-check: practice practices guideline guidelines checklist checklists
syringe: xss injection injections
seedling: greenhouse greenhouses seedlings nursery spring
microchip: board boards circuit circuits controller controllers sensor sensors relay relays firmware
temperature-half: temperature temperatures thermometer thermostat
sun-plant-wilt: drought wilting
sun: summer
triangle-exclamation: fault faults
gauge-high: dashboard dashboards
spinner: placeholder placeholders loading
keyboard: keystroke keystrokes
file-lines: log logs logfile logfiles
truck: shipper shippers
inbox: collector collectors
flag-checkered: checkpoint checkpoints
cubes: framework frameworks
boxes-stacked: resource resources asset assets inventory
globe: http https protocol protocols
sliders: mode modes value values variable variables
quote-left: adage adages proverb proverbs motto mottos maxim
gavel: judgement judgements
handshake: consensus compromise
clock-rotate-left: retrospect hindsight retrospective retrospectives past
cloud-bolt: doom
scale-balanced: balance tradeoff tradeoffs trade-off
key: keyword keywords
terminal: output shell console cli
file-signature: proposal proposals
cookie: session sessions
heading: title titles headline headlines
border-all: border borders edge edges outline
expand: margin margins spacing
compress: padding inset
layer-group: layer layers stack stacking
ruler-combined: size sizes width height dimension dimensions thickness measurement measurements
cube: element elements object objects block blocks
window-restore: browser browsers window windows tab tabs
tags: category categories label labels classification
font: font fonts typography character characters
circle-play: player playback
spa: flower flowers blossom
mug-hot: coffee tea cup cups mug
people-group: meeting meetings
check-to-slot: vote votes election elections ballot
print: printer printers printing
briefcase: work job jobs career employment business
house-chimney: neighbour neighbours neighbor neighbors neighbourhood neighborhood
sack-dollar: money budget cost price fee salary fund funding grant grants payment pay revenue income expense finance
coins: coin cash currency economy saving savings
money-bill-wave: bill bills dollar dollars
scale-balanced: balance justice fairness law legality regulation rule rules tradeoff trade-off comparison compare
bug: bug error errors defect defects flaw glitch failure failures crash exception exceptions panic
triangle-exclamation: warning danger risk risks threat threats problem problems issue issues caution alert vulnerability
shield-halved: security safety protection defense defence safeguard attack attacks attacker attackers hacker
user-shield: privacy identity
key: key password passwords credential credentials secret secrets token tokens authentication access permission
lock: lock encryption confidentiality restriction
database: data database databases record records storage dataset datasets table tables query queries sql
server: server servers backend infrastructure host hosting deployment cluster
code: code program programs software syntax function functions method methods snippet source implementation api apis
terminal: terminal command commands shell cli console prompt script scripts bash
code-branch: branch branches repository repositories repo version versions commit commits merge history
code-pull-request: pull contribution contributions patch patches review reviews
people-group: community communities team teams group groups people member members crowd staff audience society population
users: user users customer customers client clients participant participants colleague colleagues peer peers
user-tie: owner owners manager managers leader leaders leadership director directors executive boss employer
user-graduate: student students learner learners graduate education trainee trainees apprentice apprentices
chalkboard-user: coach coaching teacher teaching training lesson lessons workshop mentor mentoring mentorship course
handshake: agreement partnership partner partners collaboration cooperation deal contract relationship trust
trophy: success win victory achievement achievements award prize champion
bullseye: goal goals target targets objective objectives aim focus purpose mission outcome outcomes
stopwatch: time timing duration benchmark benchmarks speed latency runtime second seconds minute minutes
gauge-high: performance efficiency speedup throughput measurement measure metric metrics score
chart-line: growth trend trends progress statistic statistics analytics result results improvement data-point
chart-column: survey surveys report reports number numbers figure figures comparison rate rates
clipboard-check: checklist requirement requirements criteria assessment evaluation audit plan plans
calendar-days: date dates schedule calendar deadline deadlines week weeks month months year years day days event events
clock: hour hours moment moments delay wait
hourglass-half: patience waiting period
lightbulb: idea ideas insight insights innovation creativity thought thoughts concept concepts solution solutions tip tips
brain: mind knowledge intelligence memory thinking cognition learning understanding expertise skill skills
heart: love passion health care kindness empathy feeling feelings emotion emotions wellbeing compassion
heart-pulse: mental heartbeat pulse vital
face-frown: fear anxiety doubt sadness pain stress frustration worry
face-smile: happiness joy satisfaction smile confidence
masks-theater: imposter impostor fraud fake pretense persona
user-tag: role roles
star: role-model role-models
diagram-project: flow flows flowchart flowcharts control-flow diagram diagrams
gears: service-worker service-workers web-worker web-workers
comments: communication conversation conversations discussion discussions feedback dialogue debate chat talk talks forum
comment: comment comments message messages reply question questions answer answers opinion
bullhorn: announcement announcements news marketing campaign promotion publicity voice
envelope: email emails mail letter letters newsletter inbox
newspaper: article articles blog post posts story stories press journalism publication
book: book books documentation manual guide guides reference chapter chapters reading library logbook logbooks diary diaries journal journals
file-lines: document documents file files page pages paper papers text form forms readme
folder-open: folder folders directory directories project projects archive
globe: world internet web website websites global network networks planet international
network-wired: connection connections ethernet networking topology
cloud: cloud saas
bell-concierge: service services hospitality
gear: setting settings configuration option options tool tools mechanism engine process processes system systems
gears: machinery automation workflow workflows pipeline pipelines operation operations
wrench: fix fixes repair maintenance tweak adjustment utility
screwdriver-wrench: toolkit tooling build builds maintenance
hammer: construction builder
cubes: module modules package packages component components library dependency dependencies container containers
box: box product products shipment delivery parcel
truck: truck trucks cargo freight shipping logistics
rocket: launch release releases startup speedup acceleration
flag-checkered: finish finale completion end conclusion
flag: milestone milestones country nation flag
road: road path paths journey direction roadmap way route
map: map maps territory landscape
compass: navigation orientation guidance exploration discovery
mountain: challenge challenges obstacle obstacles difficulty difficulties summit climb
stairs: step steps stage stages level levels ladder career promotion
scale-unbalanced: bias inequality imbalance discrimination
landmark: government governments agency agencies institution institutions authority authorities state policy policies foundation
building-columns: university universities court congress parliament
building: company companies organization organizations organisation business businesses office offices enterprise firm
industry: factory factories manufacturing production sector
shop: shop store market marketplace retail
cart-shopping: shopping purchase purchases order orders sale sales buyer buyers
magnifying-glass: search searches investigation research lookup inspection analysis discovery scrutiny
microscope: science experiment experiments study studies laboratory lab detail details
flask: chemistry test tests testing trial trials hypothesis
eye: view views visibility vision observation attention look sight
image: image images picture pictures photo photos illustration graphic graphics visual visuals
film: film films movie movies video videos
music: music song songs melody sound
microphone: speech speaker speakers podcast interview narration
pen-to-square: writing writer writers edit edits draft drafts note notes editing
pencil: sketch design designs drawing
palette: style styles color colour colors colours theme themes art artist artists
language: translation translations languages localization locale
graduation-cap: degree qualification qualifications diploma school university academia
award: recognition reward rewards honor honour prize certificate
medal: medal medals excellence
star: star stars rating ratings favorite favourite quality highlight
thumbs-up: approval approve like likes endorsement support recommendation
circle-check: correctness validity verification confirmation check checks success
circle-xmark: rejection denial cancellation mistake mistakes
ban: ban prohibition block blocking restriction limit limits
filter: filter filters selection criterion
sliders: control controls parameter parameters tuning preference preferences
list-check: task tasks todo list lists item items agenda
puzzle-piece: puzzle piece pieces integration plugin plugins extension extensions fit
link: link links reference references relation relations dependency url
plug: plugin connector power adapter integration
bolt: energy electricity power lightning
fire: fire burnout incident incidents emergency heat
bomb: explosion disaster catastrophe
recycle: reuse recycling sustainability cycle
arrows-rotate: update updates refresh loop loops iteration iterations retry retries sync synchronization
shuffle: randomness random chaos
house: home homes house household family
people-roof: family parent parents children kid kids
person: person individual human self someone
user-gear: worker workers operator operators admin administrator administrators
user: profile account accounts author authors contributor contributors maintainer maintainers developer developers engineer engineers programmer programmers
robot: robot robots bot bots automation ai artificial machine machines model models agent agents
microchip: chip chips hardware processor cpu computer computers memory compute
laptop: laptop laptops device devices workstation
mobile-screen: phone phones mobile smartphone app apps application applications
desktop: screen screens display monitor desktop
keyboard: keyboard typing input
hand-holding-heart: help support charity donation donations volunteer volunteers
handshake-angle: assistance aid
seedling: beginning start beginner beginners newcomer newcomers growth potential
tree: tree trees nature forest environment ecosystem
leaf: leaf plant plants green organic
sun: sun morning day light sunshine
cloud-bolt: storm storms thunder thunderstorm thunderstorms lightning tempest gale gales
cloud-rain: rain rainfall shower showers drizzle downpour
wind: wind winds breeze gust gusts
snowflake: snow snowfall winter frost ice
tower-observation: lighthouse lighthouses watchtower watchtowers beacon beacons
moon: night evening moon
water: water stream ocean sea
scroll: history tradition legacy story narrative
gavel: judge judgment verdict decision decisions court ruling lawsuit
file-contract: contract contracts license licenses terms agreement
certificate: certification standard standards compliance accreditation
hospital: hospital hospitals clinic healthcare medicine
stethoscope: doctor doctors diagnosis treatment patient patients
dumbbell: exercise fitness strength workout
eye-slash: blindness ignorance secrecy hiding
bell: notification notifications reminder reminders alarm
inbox: queue queues backlog request requests
download: download downloads install installation installer
upload: upload uploads publish publishing
share-nodes: share sharing social distribution
hashtag: tag tags topic topics hashtag
quote-left: quote quotes quotation saying phrase
paintbrush: creation craft
crown: king queen royalty power dominance
ghost: ghost fear mystery
mask: disguise
"""


def _parse_tags(lines: str) -> dict[str, tuple[str, ...]]:
    tags: dict[str, list[str]] = {}
    for line in lines.strip().splitlines():
        slug, _, words = line.partition(":")
        for word in words.split():
            tags.setdefault(word, []).append(slug.strip())
    return {word: tuple(slugs) for word, slugs in tags.items()}


TAGS = _parse_tags(_TAG_LINES)

# Slug words that make an icon a poor picture of a thing: layout, direction, typography.
_POOR = frozenset("arrow arrows angle angles chevron caret align border bars ellipsis font text indent outdent "
                  "bold italic underline subscript superscript strikethrough heading paragraph list-ol grip sort "
                  "slash minus plus equals divide xmark notdef square circle left right up down".split())


# Slug words that turn an icon into a state or an action on something (a badge, a control).
_STATE = frozenset("minimize maximize restore slash xmark minus plus question exclamation check arrow arrows turn "
                   "rotate left right up down circle square half empty low quarter".split())


@dataclass(frozen=True)
class Icon:
    """One icon that can be drawn: its family ("solid" or "brands"), slug, label and SVG."""

    family: str
    slug: str
    label: str
    svg: str
    width: int
    height: int

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.slug.split("-"))


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Icon]:
    """Every usable icon by ``family/slug`` (regular duplicates of solid glyphs are left out)."""
    import fontawesome_free_pack as fa  # the SVG data lives in a compiled module: load once

    icons: dict[str, Icon] = {}
    for name in dir(fa):
        item = getattr(fa, name)
        family = getattr(item, "family", None)
        if family not in ("solid", "brands") or not isinstance(getattr(item, "slug", None), str):
            continue
        icons[f"{family}/{item.slug}"] = Icon(family, item.slug, item.label, item.svg, item.width, item.height)
    return icons


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, str]]:
    """(whole-slug → keys, slug word → keys, brand slug → key)."""
    whole: dict[str, list[str]] = {}
    by_word: dict[str, list[str]] = {}
    brands: dict[str, str] = {}
    for key, icon in catalogue().items():
        if icon.family == "brands":
            brands[icon.slug] = key
            brands.setdefault(icon.slug.split("-")[0], key)
            continue
        if any(word in _POOR for word in icon.words[:1]) or len(icon.slug) <= 1 or icon.slug.isdigit():
            continue
        whole.setdefault(icon.slug, []).append(key)
        if any(word in _STATE for word in icon.words):
            continue   # "window-minimize" pictures a button, not a window: reachable by its exact slug or a tag only
        for word in icon.words:
            if word not in _POOR:
                by_word.setdefault(word, []).append(key)
    for keys in by_word.values():  # shortest slug first: "cloud" before "cloud-arrow-up"
        keys.sort(key=lambda k: (len(catalogue()[k].words), k))
    return whole, by_word, brands


_BRAND_NAMES = {"node.js": "node-js", "nodejs": "node-js", "node": "node-js", "go": "golang", "javascript": "js",
                "css": "css3", "html": "html5", "rust": "rust", "github": "github", "git": "git-alt"}


_COMMON_BRANDS = frozenset("rust github gitlab git python docker node nodejs node.js go golang javascript js css html "
                           "linux ubuntu debian fedora apple windows android aws google npm java php react angular vue "
                           "chrome firefox wordpress slack discord markdown mastodon kubernetes jenkins figma swift "
                           "microsoft youtube wikipedia stack-overflow".split())


def well_known_brand(word: str) -> bool:
    """A word that, even in lower case, names a technology with a mark ("github", "docker")."""
    return word.lower() in _COMMON_BRANDS


@lru_cache(maxsize=1)
def vocabulary() -> frozenset[str]:
    """Every English word some icon is found by: its tags and the words of its name."""
    whole, by_word, _ = _index()
    return frozenset(TAGS) | frozenset(by_word) | frozenset(whole)


_FRENCH_LINKS = frozenset("de du des d' la le les l' à au aux en pour sur par un une".split())
_FRENCH_LETTERS = frozenset("àâçéèêëîïôûùüÿœæ")


def _guess_language(words: list[str]) -> str:
    if any(glossary.is_japanese(w) for w in words):
        return "ja"
    if any(w in _FRENCH_LINKS or w.endswith("'") or _FRENCH_LETTERS & set(w) for w in words):
        return "fr"
    return "en"


def in_english(words: list[str], language: str | None = None) -> list[str]:
    """The concept's words as English icon words, head noun last.

    French puts the head first ("modèle de boîte", "boîte rectangulaire"); Japanese is
    written without spaces. A word that no icon knows is glossed (``glossary``); a word
    with no gloss stays as it is and simply matches nothing.
    """
    language = (language or _guess_language(words)).split("-")[0].lower()
    known = vocabulary()
    if language == "ja":
        nouns = [noun for word in words for noun in (glossary.split_japanese(word) if glossary.is_japanese(word)
                                                      else (word,))]
        return [glossary.japanese(n, known) or n for n in nouns]
    if language != "fr":
        # A lone word no icon knows may still be French (the card is drawn without the language).
        return [w if w in known or _singular(w) in known else glossary.french(w, known, rules=False) or w
                for w in words]
    for joined in (" ".join(words), "-".join(words)):   # "mot de passe", "arrière-plan" split at its hyphen
        whole_gloss = glossary.french(joined, known, rules=False) if len(words) > 1 else ""
        if whole_gloss:
            return [whole_gloss]
    links = [i for i, w in enumerate(words) if w in _FRENCH_LINKS or w.endswith("'")]
    head = words[:links[0]] if links else words
    rest = [w.split("'")[-1] for w in words[links[0]:] if w not in _FRENCH_LINKS] if links else []
    ordered = rest + list(reversed(head))   # the complement, then the head noun last
    return [w if w in known or _singular(w) in known else glossary.french(w, known) or w for w in ordered if w]


# Head nouns whose usual icon pictures only one of their senses: "model" is a robot in "language
# model" but not in "box model", "data model" or "business model"; "order" is a shopping cart in
# "purchase order", not in "execution order". After a modifier outside the listed ones, the head
# is not pictured by its own icon: the modifier is (as if it were the head), or a phrase tag is
# ("role-model"), or nothing, so the card falls back rather than draw a wrong sense.
_SENSES: dict[str, frozenset[str]] = {head: frozenset(words.split()) for head, words in {
    "model": "language ai ml machine learning llm neural trained generative foundation diffusion",
    "flow": "water river stream air lava",
    "order": "purchase sales customer online shopping",
    "operator": "machine crane radio telephone phone",
    "image": "photo picture cover profile background header hero featured stock",
    "volume": "sound audio speaker",
    "path": "garden forest mountain walking hiking",
    "policy": "government public state foreign",
    "course": "training online university college school",
    "account": "bank user email social service admin root",
    "worker": "factory farm construction office health care social skilled",
    "failure": "system network disk hardware software test build login server power",
    "source": "open code program closed main data",
    "role": "",
    "value": "market price money",
}.items()}


def _ambiguous(words: list[str]) -> bool:
    """The head's usual icon would picture the wrong sense given the modifier before it."""
    if len(words) < 2:
        return False
    head = _singular(words[-1])
    senses = _SENSES.get(head)
    return senses is not None and _singular(words[-2]) not in senses and words[-2] not in senses


def match(words: list[str], *, proper: bool = False, language: str | None = None) -> list[tuple[float, str]]:
    """Icons for a concept given as lemmas, head noun LAST; best first as (score, key).

    ``proper`` says the concept is a proper noun, so a brand mark may stand for it.
    ``language`` is the article's; unknown (None), it is guessed from the words, so a
    French or Japanese concept finds its picture through an English gloss (``in_english``).
    """
    whole, by_word, brands = _index()
    found: dict[str, float] = {}

    def offer(key: str, score: float) -> None:
        if key in catalogue() and score > found.get(key, 0.0):
            found[key] = score

    cleaned = [w.lower().strip(".,'’") for w in words if w.strip(".,'’")]
    if not cleaned:
        return []
    named = cleaned
    cleaned = in_english(cleaned, language)
    if proper:
        # A brand mark for the whole name ("GitHub"), or for a word of it that is a well-known
        # technology ("Rust project"); not for any capitalised word ("EDGE chart" is not a browser).
        name = " ".join(named)
        candidates = [_BRAND_NAMES.get(name), name.replace(" ", "-")]
        candidates += [_BRAND_NAMES.get(word, word) for word in named if word in _COMMON_BRANDS]
        for candidate in candidates:
            if candidate and candidate in brands:
                offer(brands[candidate], 9.5)
                break
    # A phrase tag names the whole compound ("role model", "control flow"): the best picture.
    for size in range(min(3, len(cleaned)), 1, -1):
        joined = "-".join(cleaned[-size:])
        for form in dict.fromkeys((joined, _singular(joined))):
            for rank, slug in enumerate(TAGS.get(form, ())):
                offer(f"solid/{slug}", 10.0 - 0.3 * rank)
    ambiguous = _ambiguous(cleaned)
    if ambiguous and len(named) > 1 and named[-2] in _COMMON_BRANDS and not proper:
        # "docker images": the tool's mark, not a photograph.
        brand = _BRAND_NAMES.get(named[-2], named[-2])
        if brand in brands:
            offer(brands[brand], 9.0)
    for position, word in enumerate(reversed(cleaned)):
        if ambiguous and position == 0:
            continue   # "box model": the robot of "model" would mislead; the box stands for it
        # The head noun counts more than a modifier; a modifier that settles an ambiguous head counts as one.
        weight = 1.0 if position == 0 or ambiguous and position == 1 else 0.6
        for form in dict.fromkeys((word, _singular(word), word[:-1] if word.endswith("ies") else word)):
            for key in whole.get(form, []):
                offer(key, 10.0 * weight)
            for rank, slug in enumerate(TAGS.get(form, ())):
                offer(f"solid/{slug}", (9.0 - 0.3 * rank) * weight)
            for key in by_word.get(form, [])[:6]:
                slug_words = catalogue()[key].words
                # The first slug word is what the icon shows ("kitchen-set" shows a kitchen).
                lead = 1.0 if slug_words[0] == form else 0.6
                offer(key, (7.0 - 0.7 * (len(slug_words) - 1)) * weight * lead)
    return sorted(((score, key) for key, score in found.items()), key=lambda item: (-item[0], item[1]))


GOOD_MATCH = 4.5   # below this score an icon is a guess, not a picture of the concept
FALLBACK = "solid/lightbulb"   # an idea: for a concept no icon pictures


def picturable(words: list[str], *, proper: bool = False, language: str | None = None) -> float:
    """How well the best icon pictures the concept: 0 (none) to 10 (named exactly)."""
    found = match(words, proper=proper, language=language)
    return found[0][0] if found else 0.0


def rasterise(key: str, size: int, colour: str) -> bytes:
    """The icon as PNG bytes, ``size`` pixels on its longer side, filled with ``colour``."""
    import resvg_py  # heavy-ish native module: only the image provider needs it

    icon = catalogue()[key]
    svg = re.sub(r'fill="currentColor"', f'fill="{colour}"', icon.svg)
    if 'fill="' not in svg:
        svg = svg.replace("<svg ", f'<svg fill="{colour}" ', 1)
    scale = size / max(icon.width, icon.height)
    return bytes(resvg_py.svg_to_bytes(svg_string=svg, width=max(1, round(icon.width * scale)),
                                       height=max(1, round(icon.height * scale))))
