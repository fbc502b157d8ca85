"""Routing targets, measured and printed with the numbers they compare against:

* classify one request: p99 <= 2 ms (single text, warm model) on this machine;
* web-worker memory with the model loaded: <= 150 MB RSS (a fresh process that imports
  the app, creates it and loads the compiled model; the scikit-learn Router measured the
  same way for comparison), with the app modules that import scikit-learn/scipy/pygal;
* retrain on 100,000 labelled tickets: <= 60 s.

    .venv/bin/python bench/routing.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpdesk.routing import classifier, compiled, evaluation  # noqa: E402

TRAIN = ROOT / "helpdesk" / "routing" / "corpus" / "train.csv"
EVAL = ROOT / "helpdesk" / "routing" / "corpus" / "eval.csv"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q / 100))]


def latency(router, label: str) -> None:
    texts, _ = evaluation.read_labelled_csv(EVAL, None)
    for t in texts[:50]:
        router.decide(t, classifier.DEFAULT_THRESHOLD, classifier.DEFAULT_MARGIN)
    times = []
    for _ in range(5):
        for t in texts:
            t0 = time.perf_counter()
            router.decide(t, classifier.DEFAULT_THRESHOLD, classifier.DEFAULT_MARGIN)
            times.append((time.perf_counter() - t0) * 1000)
    long_text = "my bill is wrong " * 60_000  # ~1 MB
    t0 = time.perf_counter()
    router.decide(long_text, classifier.DEFAULT_THRESHOLD, classifier.DEFAULT_MARGIN)
    big = (time.perf_counter() - t0) * 1000
    print(f"classify one request, {label} ({len(times)} calls): p50 {pct(times, 50):.3f} ms, "
          f"p99 {pct(times, 99):.3f} ms (target p99 <= 2 ms); a 1 MB request: {big:.1f} ms")


# A fresh process, as a web worker: interpreter, then create_app (development settings),
# then the model loaded and warmed. Resident memory from /proc/self/status (VmRSS: what
# the process holds now; ru_maxrss would report the peak, inherited from the parent).
# An import hook notes which app modules first import the heavy libraries.
RSS_PROBE = """
import json, sys
sys.path.insert(0, {root!r})
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
HEAVY = ("sklearn", "scipy", "joblib", "pygal")
pulled = {{}}
class Spy:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in HEAVY and top not in pulled and top not in sys.modules:
            chain, f = [], sys._getframe(1)
            while f is not None:
                mod = f.f_globals.get("__name__", "")
                if mod.startswith("helpdesk") and (not chain or chain[-1] != mod):
                    chain.append(mod)
                f = f.f_back
            pulled[top] = chain
        return None
sys.meta_path.insert(0, Spy())
before = rss_kb()
after_app = None
if {with_app!r}:
    from helpdesk import create_app
    from helpdesk.config import Settings
    app = create_app(Settings.from_env({{"HELPDESK_ENV": "development", "HELPDESK_INSTANCE_PATH": {inst!r}}}))
    after_app = rss_kb()
at_create_app = dict(pulled)
if {kind!r} == "compiled":
    from helpdesk.routing import compiled
    router = compiled.load({model!r})
else:
    from helpdesk.routing import classifier
    router = classifier.load({model!r})
for _ in range(100):
    router.decide("I forgot my password", 0.6, 0.2)
print(json.dumps({{"before": before, "after_app": after_app, "after_model": rss_kb(), "pulled": at_create_app,
                  "sklearn_loaded": "sklearn" in sys.modules, "scipy_loaded": "scipy" in sys.modules}}))
"""

TARGET_MB = 150


def rss_probe(kind: str, model: Path, inst: str, with_app: bool = True) -> dict:
    code = RSS_PROBE.format(root=str(ROOT), inst=inst, model=str(model), kind=kind, with_app=with_app)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory(router) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.joblib"
        classifier.save(router, path)
        twin = compiled.save(compiled.compile_router(router), compiled.compiled_path(path))
        sizes = path.stat().st_size, twin.stat().st_size
        runs = {
            "compiled": rss_probe("compiled", twin, tmp),
            "sklearn": rss_probe("sklearn", path, tmp),
            "bare": rss_probe("compiled", twin, tmp, with_app=False),
        }
    for kind, label in (("compiled", "compiled model"), ("sklearn", "scikit-learn Router")):
        r = runs[kind]
        before, app, model = (r[k] / 1024 for k in ("before", "after_app", "after_model"))
        verdict = "ok" if model <= TARGET_MB else "OVER"
        print(f"web worker RSS, {label}: interpreter {before:.0f} MB, app created {app:.0f} MB, "
              f"model loaded {model:.0f} MB (+{model - app:.0f} MB) -> {verdict} (target <= {TARGET_MB} MB)")
    bare = runs["bare"]
    print(f"compiled model without the app (numpy + model only): {bare['after_model'] / 1024:.0f} MB RSS; "
          f"scikit-learn/scipy imported: {bare['sklearn_loaded']}/{bare['scipy_loaded']}")
    pulled = runs["compiled"]["pulled"]
    if pulled:
        for lib, chain in sorted(pulled.items()):
            print(f"  create_app imports {lib} via {' <- '.join(chain) or '(not from helpdesk code)'}")
    else:
        print("  create_app imports none of scikit-learn, scipy, joblib, pygal")
    print(f"model files: joblib {sizes[0] / 1e6:.1f} MB, compiled {sizes[1] / 1e6:.1f} MB")


def retrain_time(rows: int) -> None:
    texts, labels = evaluation.read_labelled_csv(TRAIN, None)
    rng = random.Random(0)
    words = [w for t in texts for w in t.split()]
    big_t, big_l = [], []
    while len(big_t) < rows:
        i = rng.randrange(len(texts))
        extra = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 6)))
        big_t.append(f"{texts[i]} {extra}".strip())
        big_l.append(labels[i])
    t0 = time.perf_counter()
    classifier.train(big_t, big_l, seed=0)
    took = time.perf_counter() - t0
    print(f"retrain on {rows:,} labelled requests: {took:.1f} s (target <= 60 s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    texts, labels = evaluation.read_labelled_csv(TRAIN, None)
    router = classifier.train(texts, labels, seed=0)
    latency(router, "scikit-learn Router")
    latency(compiled.compile_router(router), "compiled model")
    memory(router)
    retrain_time(args.rows)
    print(f"(this process peaked at {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB RSS)")


if __name__ == "__main__":
    main()
