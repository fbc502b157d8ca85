"""The relevance floor of knowledge-base suggestions, measured on the KB evaluation set.

    .venv/bin/python bench/kb_floor.py

Seeds the shipped articles into a throw-away SQLite database and scores, as the agent's
ticket panel does (public and internal articles, helpdesk.kb.index.search_articles):

* relevant pairs: every query of the ranking evaluation (tests/kb/test_kb_ranking.py,
  realistic misspelled patient queries in English and Spanish) with the article it must
  find;
* irrelevant pairs: for each of those queries, the best-scoring article of another
  category (a competitor that does not answer it), and the best article for each of the
  off-topic requests below (things no shipped article is about).

Prints the score distributions and, for candidate floors, how many relevant pairs stay
(recall) and how many irrelevant ones are cut; the chosen floor
(``AGENT_SUGGESTION_MIN_SCORE``) is printed beside the floor it replaced (the baseline).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Requests the help desk gets that no shipped article answers.
OFF_TOPIC = [
    "my knee still hurts two weeks after the surgery, is that normal",
    "the cafeteria on the third floor was closed when I came for lunch",
    "I want to donate blood next month, where do I sign up",
    "I left my umbrella in the waiting room of the eye clinic yesterday",
    "can I bring my dog to visit my father on the ward",
    "the nurse was very kind and I would like to thank her",
    "how do I volunteer at the hospital gift shop",
    "is the flu vaccine available for walk-ins this weekend",
    "I need a letter for my employer saying I was admitted last week",
    "the television in room 412 does not work",
    "where can I buy flowers near the main entrance",
    "my wheelchair was damaged during transport between buildings",
    "can you recommend a good physical therapist for back pain",
    "I am a medical student looking for an observership",
    "someone parked in the ambulance bay and blocked it",
    "me duele la espalda desde ayer, que debo tomar",
    "quiero donar sangre el mes que viene",
    "la comida del hospital estaba fria",
    "perdi mis lentes en la sala de espera",
    "quiero agradecer a la enfermera del turno de noche",
]


def main() -> int:
    from helpdesk import create_app
    from helpdesk.config import Settings
    from helpdesk.kb import index as kb_index
    from tests.kb.test_kb_ranking import RANKING

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        app = create_app(Settings.for_testing(instance_path=work, database_url=f"sqlite:///{work / 'floor.db'}",
                                              redis_url=None, jobs_inline=True))
        with app.app_context():
            from flask_migrate import upgrade

            from helpdesk.auth import services as accounts
            from helpdesk.demo import QUEUES
            from helpdesk.kb.seed import seed_articles

            upgrade(directory=str(ROOT / "migrations"))
            for slug, name, d in QUEUES:
                accounts.create_queue(actor=None, slug=slug, name=name, description=d)
            n = seed_articles()

            relevant: list[tuple[float, str]] = []
            irrelevant: list[tuple[float, str]] = []
            for query, expected in RANKING:
                hits = kb_index.search_articles(query, include_internal=True, limit=50, min_score=0.0)
                by_slug = {h.article.slug: h for h in hits}
                target = by_slug.get(expected)
                relevant.append((target.score if target else 0.0, f"{query!r} -> {expected}"))
                category = target.article.category if target else None
                others = [h for h in hits if h.article.slug != expected and h.article.category != category]
                if others:
                    irrelevant.append((others[0].score, f"{query!r} -> {others[0].article.slug} (other category)"))
            for query in OFF_TOPIC:
                hits = kb_index.search_articles(query, include_internal=True, limit=1, min_score=0.0)
                if hits:
                    irrelevant.append((hits[0].score, f"{query!r} -> {hits[0].article.slug} (off topic)"))

    rel = sorted(s for s, _ in relevant)
    irr = sorted(s for s, _ in irrelevant)
    print(f"{n} shipped articles; {len(rel)} relevant pairs, {len(irr)} irrelevant pairs")
    print(f"relevant scores:   min {rel[0]:.3f}  p10 {rel[len(rel) // 10]:.3f}  median {rel[len(rel) // 2]:.3f}")
    print(f"irrelevant scores: median {irr[len(irr) // 2]:.3f}  p90 {irr[len(irr) * 9 // 10]:.3f}  max {irr[-1]:.3f}")
    print("lowest relevant:", *[f"  {s:.3f} {d}" for s, d in sorted(relevant)[:3]], sep="\n")
    print("highest irrelevant:", *[f"  {s:.3f} {d}" for s, d in sorted(irrelevant)[-3:]], sep="\n")
    print(f"{'floor':>6} {'relevant kept':>14} {'irrelevant cut':>15}")
    for floor in (0.03, 0.05, 0.08, 0.10, 0.12, 0.15, 0.18, 0.20, 0.25):
        kept = sum(1 for s in rel if s > floor)
        cut = sum(1 for s in irr if s <= floor)
        print(f"{floor:>6.2f} {kept:>7}/{len(rel)} ({100 * kept / len(rel):3.0f}%) {cut:>7}/{len(irr)} "
              f"({100 * cut / len(irr):3.0f}%)")
    chosen = kb_index.AGENT_SUGGESTION_MIN_SCORE
    kept = sum(1 for s in rel if s > chosen)
    cut = sum(1 for s in irr if s <= chosen)
    print(f"chosen floor AGENT_SUGGESTION_MIN_SCORE = {chosen:.2f}: keeps {kept}/{len(rel)} relevant, "
          f"cuts {cut}/{len(irr)} irrelevant (baseline floor 0.03: keeps "
          f"{sum(1 for s in rel if s > 0.03)}/{len(rel)}, cuts {sum(1 for s in irr if s <= 0.03)}/{len(irr)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
