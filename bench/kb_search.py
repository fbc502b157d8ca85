"""Knowledge-base search latency with 5,000 published articles (target: p95 <= 20 ms).

    .venv/bin/python bench/kb_search.py [--articles 5000] [--queries 3000] [--database-url URL]

Builds a throw-away database (a temp SQLite file unless --database-url is given), loads
the shipped articles through the real loader and bulk-inserts synthetic ones until there
are ``--articles`` published (bench only: realistic titles and bodies made from the
shipped content, 20 % Spanish, 10 % internal). Then it times the whole search path a
request takes — generation check, ranked index, the SQL that loads and re-checks the
hits — for patient searches and agents' ticket suggestions, and prints p50/p95/p99 next
to the 20 ms target. It also reports the index build time, its size, and whether the
realistic misspelled queries of the test suite still find the right article first.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 20.0

PLACES = ["Northside", "Lakeview", "Eastgate", "Hillcrest", "Maple Grove", "Cedar Park", "Harbor Point", "Sunset Ridge",
          "Oakwood", "Riverside Main"]
DEPARTMENTS = ["cardiology", "dermatology", "pediatrics", "orthopedics", "oncology", "radiology", "maternity",
               "neurology", "urology", "physical therapy", "sleep medicine", "endocrinology", "allergy",
               "gastroenterology", "audiology", "ophthalmology", "nephrology", "rheumatology", "podiatry",
               "behavioral health", "wound care", "infusion", "nutrition", "pulmonology", "vascular surgery"]
TOPICS = [
    "Visiting hours for {dept} at {place}", "Preparing for your {dept} visit at {place}",
    "Parking for the {dept} clinic at {place}", "Checking in for {dept} at {place}",
    "What to bring to {dept} at {place}", "Referrals to {dept} at {place}",
    "Lab work before {dept} appointments at {place}", "Billing questions for {dept} at {place}",
    "Telehealth visits with {dept} at {place}", "Forms you need for {dept} at {place}",
    "Wait times in {dept} at {place}", "Accessibility at the {place} {dept} clinic",
    "Cancelling a {dept} procedure at {place}", "Results from {dept} tests at {place}",
    "Interpreters for {dept} visits at {place}", "Children's {dept} appointments at {place}",
    "Insurance coverage for {dept} at {place}", "Prescriptions after {dept} visits at {place}",
    "Contacting the {dept} nurse line at {place}", "Second opinions in {dept} at {place}",
]
TOPICS_ES = [
    "Horario de visitas de {dept} en {place}", "Cómo prepararse para su cita de {dept} en {place}",
    "Estacionamiento de {dept} en {place}", "Resultados de pruebas de {dept} en {place}",
    "Formularios para {dept} en {place}",
]
QUERIES = [
    "pasword", "forgot my pasword", "reschedual my apointment", "bil", "payment plan for my bil", "acount locked",
    "activaton code expired", "refil my prescripshun", "chnage pharmacy", "camra not working video visit",
    "test resluts not showing", "copy of medical recods", "interpeter", "parkng", "finacial asistance",
    "insurence claim denyed", "restablecer contrasena", "olvide mi contraseña", "cambiar mi sita",
    "no entiendo mi factura", "plan de pagos", "renovar reseta", "videoconsulta no funsiona",
    "I was charged twice for my visit last month and the statement shows the same charge two times, can you fix it",
    "Hola, no puedo entrar al portal, olvidé mi contraseña y el código de activación no llegó a mi correo",
    "My mother needs an interpreter for her cardiology visit next Tuesday at Northside, how do I ask for one?",
]


def build(n_articles: int, database_url: str | None, workdir: Path):
    from helpdesk import create_app
    from helpdesk.config import Settings

    overrides = {"instance_path": workdir, "database_url": database_url or f"sqlite:///{workdir / 'bench.db'}",
                 "redis_url": None, "jobs_inline": True}
    app = create_app(Settings.for_testing(**overrides))
    with app.app_context():
        import sqlalchemy as sa
        from flask_migrate import upgrade

        from helpdesk.extensions import db

        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        upgrade(directory=str(ROOT / "migrations"))
        from helpdesk.auth import services as accounts
        from helpdesk.demo import QUEUES
        from helpdesk.kb.frontmatter import load_all
        from helpdesk.kb.markdown import render
        from helpdesk.kb.models import Article, ArticleQueue, ArticleStatus, Audience, Language
        from helpdesk.kb.seed import seed_articles
        from helpdesk.kb.services import bump_generation
        from helpdesk.timeutil import utcnow

        queues = {slug: accounts.create_queue(actor=None, slug=slug, name=name, description=d)
                  for slug, name, d in QUEUES}
        seeded = seed_articles()
        content = load_all()
        paragraphs = {lang: [p for a in content if a.language == lang for p in a.body_md.split("\n\n") if len(p) > 60]
                      for lang in ("en", "es")}
        rng = random.Random(5000)
        combos = [(t, d, p) for t in TOPICS for d in DEPARTMENTS for p in PLACES]
        combos_es = [(t, d, p) for t in TOPICS_ES for d in DEPARTMENTS for p in PLACES]
        rng.shuffle(combos)
        rng.shuffle(combos_es)
        now = utcnow()
        started = time.perf_counter()
        for i in range(max(0, n_articles - seeded)):
            spanish = i % 5 == 0
            template, dept, place = combos_es.pop() if spanish else combos.pop()
            title = template.format(dept=dept, place=place)
            lang = "es" if spanish else "en"
            body = "\n\n".join([f"## {title}", *rng.sample(paragraphs[lang], 7)])
            slug = f"bench-{i}"
            article = Article(
                slug=slug, title=title, summary=f"{title}: what to know before you go.", body_md=body,
                body_html=render(body), category=rng.choice(["Appointments", "General", "Bills and payments",
                                                             "Medical records", "Technical help"]),
                audience=Audience.INTERNAL if i % 10 == 3 else Audience.PUBLIC, language=Language(lang),
                status=ArticleStatus.PUBLISHED, published_at=now, reviewed_at=now, created_at=now, updated_at=now,
            )
            article.queue_links.append(ArticleQueue(queue=rng.choice(list(queues.values()))))
            db.session.add(article)
            if i % 500 == 499:
                db.session.commit()
        bump_generation()
        db.session.commit()
        total = db.session.scalar(sa.select(sa.func.count()).select_from(Article)
                                  .where(Article.status == ArticleStatus.PUBLISHED))
        print(f"{total:,} published articles ({seeded} shipped + {total - seeded:,} synthetic, inserted in "
              f"{time.perf_counter() - started:.1f}s) on {db.engine.dialect.name}")
    return app


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return at(0.50), at(0.95), at(0.99)


def line(label: str, samples: list[float]) -> str:
    p50, p95, p99 = percentiles(samples)
    verdict = "OK" if p95 <= TARGET_MS else "OVER TARGET"
    return (f"{label:<34} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   p99 {p99:6.2f} ms   "
            f"(target p95 <= {TARGET_MS:.0f} ms: {verdict}; n={len(samples)}, mean {statistics.fmean(samples):.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--database-url", default=None, help="default: a temp SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        app = build(args.articles, args.database_url, Path(tmp))
        with app.test_request_context():
            import sqlalchemy as sa

            from helpdesk.extensions import db
            from helpdesk.kb.index import cache, search_articles, suggest_for_patient
            from helpdesk.kb.models import Article

            started = time.perf_counter()
            index = cache().get()
            build_s = time.perf_counter() - started
            print(f"index built in {build_s:.2f}s: {index.size:,} articles, {index.nnz:,} postings "
                  f"(~{index.nnz * 8 / 1e6:.0f} MB)")

            rng = random.Random(1)
            workload = [rng.choice(QUERIES) for _ in range(args.queries)]
            for q in workload[:50]:  # warm-up
                search_articles(q)
            patient, suggest, core = [], [], []
            for q in workload:
                t0 = time.perf_counter()
                search_articles(q, include_internal=False, limit=10)
                patient.append((time.perf_counter() - t0) * 1000)
            for q in workload[: args.queries // 2]:
                t0 = time.perf_counter()
                suggest_for_patient(q)
                suggest.append((time.perf_counter() - t0) * 1000)
            for q in workload[: args.queries // 2]:
                t0 = time.perf_counter()
                index.search(q, public_only=False, limit=5)
                core.append((time.perf_counter() - t0) * 1000)
                db.session.rollback()
            print()
            print(line("search (help centre, full path)", patient))
            print(line("suggest (Get help, full path)", suggest))
            print(line("ranking core only (no SQL)", core))

            from tests.kb.test_kb_ranking import RANKING  # the suite's realistic queries

            slugs = dict(db.session.execute(sa.select(Article.id, Article.slug)).all())
            misses = []
            for q, expected in RANKING:
                top = [slugs[r.article.id] for r in search_articles(q)[:3]]
                if not top or top[0] != expected:
                    misses.append(f"  {q!r}: expected {expected}, got {top}")
            print(f"\nright article first at {index.size:,} articles: {len(RANKING) - len(misses)}/{len(RANKING)} "
                  "of the test suite's misspelled queries (47 articles: all of them)")
            print("\n".join(misses))
            p95 = percentiles(patient)[1]
    return 0 if p95 <= TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
