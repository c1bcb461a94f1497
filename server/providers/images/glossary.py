"""English glosses for French and Japanese concept words, so an icon (tagged in English) can picture them.

The icon set names its pictures in English only. A concept in another language is matched
through an English gloss of each word, from, in order:

1. French cognates, by spelling rules checked against the icon vocabulary: accents dropped
   and a regular suffix mapped ("modèle" → "model", "catégorie" → "category",
   "sécurité" → "security", "électrique" → "electric"). A rule only counts when its result
   is a word some icon is tagged with, so a false friend can only land on a real picture word.
2. Japanese katakana loanwords, by asking pyopenjtalk's dictionary (NAIST/UniDic, BSD,
   already installed for the Japanese voice) how it reads each English word of the icon
   vocabulary and inverting that: "ボックス" → "box", "カメラ" → "camera". Computed once
   per process (under a second), only when a Japanese concept needs it.
3. A small hand-written table of common picturable nouns that no rule above reaches
   (French "boîte", "fichier", "navigateur"; Japanese kanji "本", "猫", "言葉"). It is the
   last resort the issue allows: short, for nouns an article is likely to picture.

Japanese concepts are written without spaces: ``split_japanese`` cuts them into nouns with
SudachiPy (the tagger the planner already uses).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

_LOCK = threading.Lock()

# French nouns whose English gloss no spelling rule reaches. Lemmas (singular), lower case.
_FRENCH = {
    "boîte": "box", "fichier": "file", "navigateur": "browser", "fenêtre": "window", "bouton": "button",
    "marge": "margin", "bordure": "border", "bord": "border", "contenu": "document", "écran": "screen",
    "ordinateur": "computer", "livre": "book", "maison": "house", "arbre": "tree", "eau": "water",
    "voiture": "car", "lettre": "letter", "clé": "key", "clef": "key", "serrure": "lock", "mot": "word",
    "mot de passe": "password", "courriel": "email", "réseau": "network", "serveur": "server",
    "logiciel": "software", "outil": "tool", "chemin": "road", "route": "road", "carte": "map",
    "monde": "world", "ville": "city", "pays": "country", "argent": "money", "prix": "price",
    "temps": "clock", "heure": "clock", "jour": "day", "nuit": "night", "soleil": "sun", "lune": "moon",
    "pluie": "rain", "neige": "snow", "vent": "wind", "feu": "fire", "coeur": "heart", "cœur": "heart",
    "tête": "brain", "esprit": "mind", "idée": "idea", "oeil": "eye", "œil": "eye",
    "yeux": "eye", "voix": "voice", "parole": "speech", "langue": "language", "langage": "language",
    "enfant": "child", "famille": "family", "personne": "person", "utilisateur": "user",
    "développeur": "developer", "équipe": "team", "entreprise": "company", "travail": "work",
    "bureau": "office", "école": "school", "élève": "student", "étudiant": "student",
    "enseignant": "teacher", "médecin": "doctor", "santé": "health", "hôpital": "hospital",
    "loi": "law", "juge": "judge", "vote": "vote", "données": "data", "donnée": "data",
    "base de données": "database", "nuage": "cloud", "téléphone": "phone", "appareil": "device",
    "puce": "chip", "mémoire": "memory", "disque": "disk", "imprimante": "printer",
    "clavier": "keyboard", "souris": "mouse", "tableau": "table", "couleur": "color",
    "arrière-plan": "background", "remplissage": "padding", "couche": "layers",
    "taille": "ruler", "largeur": "ruler", "hauteur": "ruler", "épaisseur": "ruler", "mesure": "ruler",
    "ligne": "text", "texte": "text", "titre": "title", "dessin": "drawing",
    "vidéo": "video", "lecteur": "player", "musique": "music", "chanson": "song",
    "erreur": "bug", "bogue": "bug", "sécurité": "security", "attaque": "attack", "pirate": "hacker",
    "mot-clé": "key", "requête": "request", "réponse": "answer", "question": "question",
    "recherche": "search", "voisin": "neighbour", "oiseau": "bird", "chien": "dog", "chat": "cat",
    "poisson": "fish", "fleur": "flower", "montagne": "mountain", "mer": "sea", "bateau": "ship",
    "avion": "plane", "train": "train", "vélo": "bicycle", "pont": "bridge", "porte": "door",
    "tasse": "mug", "café": "coffee", "pain": "bread", "cadeau": "gift", "étoile": "star",
    "drapeau": "flag", "horloge": "clock", "calendrier": "calendar", "semaine": "week",
    "mois": "month", "année": "year", "compte": "account", "paiement": "payment", "panier": "cart",
    "magasin": "shop", "commande": "order", "courrier": "mail", "message": "message",
    "conversation": "conversation", "réunion": "meeting", "projet": "project", "dossier": "folder",
    "rapport": "report", "graphique": "chart", "élément": "element", "zone": "area",
    "propriété": "sliders", "règle": "rule", "étape": "step", "niveau": "level",
    "espace": "space", "bloc": "block", "moteur": "engine", "rendu": "image", "forme": "shapes",
    "dimension": "ruler", "partie": "piece", "morceau": "piece",
}

# Japanese nouns whose gloss the voice dictionary does not give: kanji words and a few loanwords.
_JAPANESE = {
    "本": "book", "書籍": "book", "猫": "cat", "犬": "dog", "鳥": "bird", "魚": "fish", "木": "tree",
    "森": "forest", "花": "flower", "山": "mountain", "海": "sea", "川": "water", "水": "water",
    "雨": "rain", "雪": "snow", "風": "wind", "空": "cloud", "雲": "cloud", "太陽": "sun", "月": "moon",
    "星": "star", "火": "fire", "家": "house", "町": "city", "街": "city", "都市": "city", "国": "flag",
    "世界": "world", "地図": "map", "道": "road", "橋": "bridge", "車": "car", "電車": "train",
    "列車": "train", "船": "ship", "飛行機": "plane", "自転車": "bicycle", "駅": "train",
    "時間": "clock", "時計": "clock", "朝": "sun", "夜": "moon", "日": "sun", "季節": "leaf",
    "春": "seedling", "夏": "sun", "秋": "leaf", "冬": "snowflake", "心": "heart", "愛": "heart",
    "頭": "brain", "脳": "brain", "考え": "lightbulb", "思考": "brain", "記憶": "brain", "目": "eye",
    "手": "hand", "声": "microphone", "言葉": "comment", "言語": "language", "文字": "font",
    "文章": "file", "手紙": "envelope", "日記": "book", "記事": "newspaper", "新聞": "newspaper",
    "写真": "camera", "絵": "image", "音楽": "music", "歌": "music", "映画": "film", "人": "person",
    "人々": "people", "子供": "child", "子ども": "child", "家族": "family", "友達": "user",
    "先生": "person", "学校": "school", "大学": "university", "会社": "building", "仕事": "briefcase",
    "お金": "money", "金": "money", "店": "shop", "料理": "utensils", "食事": "utensils",
    "ご飯": "bowl", "お茶": "mug", "茶": "mug", "珈琲": "coffee", "パン": "bread", "病院": "hospital",
    "医者": "doctor", "健康": "heart", "電話": "phone", "鍵": "key", "扉": "door", "窓": "window",
    "机": "table", "椅子": "chair", "紙": "file", "鉛筆": "pencil", "箱": "box", "道具": "tool",
    "機械": "gears", "電気": "bolt", "光": "lightbulb", "問題": "question", "答え": "answer",
    "質問": "question", "会話": "conversation", "旅": "suitcase", "旅行": "suitcase",
    "庭": "seedling", "畑": "seedling", "植物": "leaf", "葉": "leaf", "石": "mountain",
    "データ": "data", "モデル": "model", "ブラウザ": "browser", "ブラウザー": "browser",
    "マージン": "margin", "イメージ": "image", "コンピュータ": "computer", "ソフトウェア": "software",
    "プログラム": "code", "コード": "code", "サイト": "website", "ウェブ": "web", "アプリ": "app",
    "ゲーム": "gamepad", "ボタン": "button", "画面": "screen", "ファイル": "file", "フォルダ": "folder",
    "パスワード": "password", "図書館": "book", "メール": "email", "カード": "card",
}

# French suffixes and their English forms, tried on the accent-free word; first match that is a picture word wins.
_FRENCH_SUFFIXES = (("ique", "ic"), ("ité", "ity"), ("ie", "y"), ("eur", "or"), ("eur", "er"), ("isme", "ism"),
                    ("iste", "ist"), ("oire", "ory"), ("aire", "ary"), ("if", "ive"), ("ive", "ive"), ("el", "al"),
                    ("elle", "al"), ("e", ""), ("", ""))
_KATAKANA = re.compile(r"^[\u30a0-\u30ffー]+$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


def is_japanese(word: str) -> bool:
    return bool(_CJK.search(word))


def _plain(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def _french_singular(word: str) -> tuple[str, ...]:
    forms = [word]
    if word.endswith("aux") and len(word) > 4:
        forms.append(word[:-3] + "al")
    if word.endswith(("s", "x")) and len(word) > 3:
        forms.append(word[:-1])
    return tuple(forms)


def french(word: str, vocabulary: frozenset[str], *, rules: bool = True) -> str:
    """The English picture word for a French noun, or "" when none is known.

    ``rules`` False: the table only, for a word that may be English (no spelling rules).
    """
    lowered = word.lower().strip(".,'’")
    for form in _french_singular(lowered):
        if form in _FRENCH:
            return _FRENCH[form]
    if not rules:
        return ""
    for form in _french_singular(lowered):
        plain = _plain(form)
        for suffix, english in _FRENCH_SUFFIXES:
            ending = _plain(suffix)
            if not plain.endswith(ending) or len(plain) - len(ending) < 3:
                continue
            candidate = plain[:len(plain) - len(ending)] + english
            if candidate in vocabulary:
                return candidate
    return ""


@lru_cache(maxsize=1)
def _katakana(vocabulary: frozenset[str]) -> dict[str, str]:
    """Katakana reading → English word, for every icon word the voice dictionary knows."""
    try:
        import pyopenjtalk  # installed with the Japanese voice; absent → katakana has only the table
    except ImportError:
        return {}
    words = sorted(w for w in vocabulary if w.isascii() and w.isalpha() and len(w) > 2)
    readings: dict[str, str] = {}
    with _LOCK:
        for forms in (words, [w.title() for w in words]):
            for at in range(0, len(forms), 100):   # the front end refuses very long input
                for feature in pyopenjtalk.run_frontend("。".join(forms[at:at + 100])):
                    original = unicodedata.normalize("NFKC", feature["orig"]).lower()
                    reading = feature["read"]
                    # A word the dictionary does not know is spelled out letter by letter: not a gloss.
                    if original in vocabulary and feature["pos"] == "名詞" and _KATAKANA.match(reading) \
                            and feature["mora_size"] < 3 * len(original):
                        readings.setdefault(reading, original)
                        readings.setdefault(reading.rstrip("ー"), original)
    return readings


def japanese(word: str, vocabulary: frozenset[str]) -> str:
    """The English picture word for a Japanese noun, or "" when none is known."""
    if word in _JAPANESE:
        return _JAPANESE[word]
    if _KATAKANA.match(word):
        table = _katakana(vocabulary)
        return table.get(word) or table.get(word.rstrip("ー"), "")
    # A kanji compound the table lacks ("本棚", "図書館"): its last glossed character is
    # usually its head ("棚" shelf of books → book is close enough; "館" is not glossed, "書" is not).
    for character in reversed(word):
        if character in _JAPANESE:
            return _JAPANESE[character]
    return ""


@lru_cache(maxsize=512)
def split_japanese(text: str) -> tuple[str, ...]:
    """The nouns of a Japanese concept, in order (its head is the last one)."""
    from server.providers.timeline import nlp   # SudachiPy, loaded once by the planner already

    nouns = [t.lemma or t.text for t in nlp.analyse(text, "ja") if t.pos in ("NOUN", "PROPN")]
    return tuple(nouns) or (text,)
