"""Storyboard quality over a corpus: every article through the offline path (extract → voice → the offline planner).

    python bench/storyboard_quality.py [ARTICLES_DIR] [--json]

Per article it prints: prose words in the source against words spoken and the share of the
source's prose that is spoken (``extract.quality.prose_kept``: markdown-it's text of
paragraphs, headings and list items, outside code, tables and HTML; words of three letters
or more), leaked markup (``extract.quality.leaked_markup``, must be none), scenes, the share within bounds (15–25 words; 40–70 characters
for Japanese and Chinese), scenes ending mid-phrase, composite descriptions (must be 0),
concepts that are not noun phrases (must be 0), distinct concepts per scene, and the
language the job carries. Offline by construction: no key reaches the scratch settings.
The pipeline runs on a throwaway SQLite database, as `mediabuddy render` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config import load_settings  # noqa: E402
from server.providers.extract.quality import leaked_markup, prose_kept  # noqa: E402
from server.providers.timeline import rules  # noqa: E402
from server.providers.timeline.segmenter import plan_scenes  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "articles"
STAGES = ("extract", "voice")   # then the offline planner itself, with the job's language

def measure_article(path: Path, home: Path) -> dict[str, object]:
    from server import create_app, upgrade_database
    from server.extensions import db
    from server.intake import accept
    from server.models import Job
    from server.pipeline.runner import run_job

    # The length limit is lifted: the report measures planning, not whether a video would be too long.
    settings = load_settings(home=home, database_url=f"sqlite:///{home / (path.stem + '.db')}",
                             gemini_api_key=None, replicate_api_token=None, max_minutes=120)
    app = create_app(settings)
    upgrade_database(app)
    with app.app_context():
        job_id = accept(path.read_bytes(), path.name, None, settings).job_id
    started = time.perf_counter()
    try:
        run_job(app, job_id, stages=STAGES)
    except Exception as error:  # a refused article is a result too
        return {"article": path.name, "error": f"{type(error).__name__}: {error}"}
    seconds = time.perf_counter() - started
    with app.app_context():
        job = db.session.get(Job, job_id)
        language = job.language or "en"
        spoken = job.spoken_text or ""
        theme = str((job.settings or {}).get("theme") or "midnight")
        db.session.remove()
        db.engine.dispose()
    planned = time.perf_counter()
    scenes = plan_scenes(spoken, theme=theme, language=language)
    plan_seconds = time.perf_counter() - planned
    kept = prose_kept(path.read_text(encoding="utf-8"), spoken)
    problems = rules.check(scenes, language=language)
    bounds = rules.bounds_for(spoken, language)
    within = sum(1 for i, s in enumerate(scenes) if bounds.low <= rules.measure(s.text, bounds) <= bounds.high
                 or (i == len(scenes) - 1 and rules.measure(s.text, bounds) <= bounds.high))
    return {
        "article": path.name, "language": language, "prose_words": kept.source_words,
        "spoken_words": kept.spoken_words, "prose_kept_pct": round(100 * kept.ratio, 1),
        "unit": bounds.unit, "leaks": leaked_markup(spoken), "scenes": len(scenes),
        "within_bounds_pct": round(100 * within / max(1, len(scenes)), 1),
        "mid_phrase": sum(1 for p in problems if p.rule == "boundary"),
        "composite": sum(1 for p in problems if p.rule == "composite"),
        "not_noun": sum(1 for p in problems if p.rule == "concept"),
        "distinct_concepts": len({s.concept.lower() for s in scenes}),
        "chapters": sum(1 for s in scenes if s.chapter), "seconds": round(seconds + plan_seconds, 2),
        "plan_seconds": round(plan_seconds, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--json", action="store_true", help="one JSON object per article")
    args = parser.parse_args()
    articles = sorted(p for p in args.corpus.glob("*.md"))
    if not articles:
        parser.error(f"no .md files in {args.corpus}")
    results = []
    with tempfile.TemporaryDirectory(prefix="storyboard-quality-") as scratch:
        for path in articles:
            result = measure_article(path, Path(scratch))
            results.append(result)
            if args.json:
                print(json.dumps(result, ensure_ascii=False))
    if not args.json:
        header = (f"{'article':40} {'lang':4} {'prose':>6} {'spoken':>6} {'kept':>6} {'leaks':>5} {'scenes':>6} {'in 15-25':>8} "
                  f"{'mid-ph':>6} {'compos':>6} {'!noun':>5} {'distinct':>9} {'chap':>4} {'s':>6}")
        print(header)
        print("-" * len(header))
        for r in results:
            if "error" in r:
                print(f"{r['article'][:40]:40} refused: {r['error']}")
                continue
            leak_count = len(r["leaks"])  # type: ignore[arg-type]
            print(f"{r['article'][:40]:40} {r['language']:4} {r['prose_words']:>6} {r['spoken_words']:>6} "
                  f"{r['prose_kept_pct']:>5}% "
                  f"{leak_count:>5} {r['scenes']:>6} {r['within_bounds_pct']:>7}% {r['mid_phrase']:>6} "
                  f"{r['composite']:>6} {r['not_noun']:>5} {r['distinct_concepts']:>4}/{r['scenes']:<4} "
                  f"{r['chapters']:>4} {r['seconds']:>6}")
            if leak_count:
                print(f"{'':40} leaked: {r['leaks']}")
        ok = [r for r in results if "error" not in r]
        scenes = sum(int(r["scenes"]) for r in ok)
        print("-" * len(header))
        print(f"{'total':40} {'':4} {sum(int(r['prose_words']) for r in ok):>6} "
              f"{sum(int(r['spoken_words']) for r in ok):>6} {'':>6} {sum(len(r['leaks']) for r in ok):>5} "  # type: ignore[arg-type]
              f"{scenes:>6} {round(sum(r['within_bounds_pct'] * r['scenes'] for r in ok) / max(1, scenes), 1):>7}% "  # type: ignore[operator]
              f"{sum(int(r['mid_phrase']) for r in ok):>6} {sum(int(r['composite']) for r in ok):>6} "
              f"{sum(int(r['not_noun']) for r in ok):>5} {sum(int(r['distinct_concepts']) for r in ok):>4}/{scenes:<4}")
    bad = [r for r in results if "error" not in r and (r["composite"] or r["not_noun"] or r["leaks"])]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
