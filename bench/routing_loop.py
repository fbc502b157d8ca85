"""The learning loop's effect: replay 50 agent corrections per queue and print the gain.

    .venv/bin/python bench/routing_loop.py [--per-queue 50] [--seed 11]

The baseline is the model trained on the project's corpus (``train.csv`` + ``generated.csv``).
The corrections stand for what agents label in *Triage*: requests phrased the way the
corpus does not phrase them. They are drawn from the generator's held-back templates and
slot values with another seed (``helpdesk.routing.corpus.generate.rows(held=True)``), so
they are new texts; the measurement is ``holdback.csv`` minus any text equal to a
correction, and ``eval.csv``. Printed: macro-F1, accuracy, coverage and accuracy when
auto-routed before and after, per-queue precision/recall, and the retrain gate's verdict
(``helpdesk.routing.evaluation.queue_losses`` on the same figures). No app, no database.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpdesk.routing import classifier, evaluation  # noqa: E402
from helpdesk.routing.corpus import generate  # noqa: E402

CORPUS = ROOT / "helpdesk" / "routing" / "corpus"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-queue", type=int, default=50)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    texts, labels = [], []
    for name in ("train.csv", "generated.csv"):
        t, lab = evaluation.read_labelled_csv(CORPUS / name, None)
        texts += t
        labels += lab
    pool = generate.rows(args.per_queue * 4, held=True, seed=args.seed)
    corrections: dict[str, list[str]] = {}
    for text, queue, _pattern in pool:
        if len(corrections.setdefault(queue, [])) < args.per_queue:
            corrections[queue].append(text)
    c_texts = [t for ts in corrections.values() for t in ts]
    c_labels = [q for q, ts in corrections.items() for _ in ts]
    seen = {t.lower() for t in c_texts}
    h_texts, h_labels = evaluation.read_labelled_csv(CORPUS / "holdback.csv", None)
    keep = [i for i, t in enumerate(h_texts) if t.lower() not in seen]
    e_texts, e_labels = evaluation.read_labelled_csv(CORPUS / "eval.csv", None)
    measures = {
        "holdback.csv (minus corrections)": ([h_texts[i] for i in keep], [h_labels[i] for i in keep]),
        "eval.csv": (e_texts, e_labels),
    }
    th, mg = classifier.DEFAULT_THRESHOLD, classifier.DEFAULT_MARGIN
    print(f"corpus {len(texts)} examples; corrections {len(c_texts)} "
          f"({', '.join(f'{q} {len(v)}' for q, v in sorted(corrections.items()))})")
    t0 = time.perf_counter()
    before_model = classifier.train(texts, labels, seed=0)
    after_model = classifier.train(texts + c_texts, labels + c_labels, seed=0)
    print(f"trained both models in {time.perf_counter() - t0:.1f} s\n")
    for name, (mt, ml) in measures.items():
        before = evaluation.evaluate(before_model, mt, ml, th, mg)
        after = evaluation.evaluate(after_model, mt, ml, th, mg)
        print(f"{name} (n={before['n']})")
        print(f"  {'':24s} {'before':>8s} {'after':>8s} {'gain':>8s}")
        for key, label in (("macro_f1", "macro-F1"), ("accuracy", "accuracy"), ("coverage", "auto-routed share"),
                           ("auto_accuracy", "accuracy when auto-routed")):
            print(f"  {label:24s} {before[key]:8.3f} {after[key]:8.3f} {after[key] - before[key]:+8.3f}")
        print(f"  {'queue':16s} {'precision before/after':>24s} {'recall before/after':>22s}")
        for q, b in sorted(before["per_queue"].items()):
            a = after["per_queue"][q]
            print(f"  {q:16s} {b['precision']:11.3f} / {a['precision']:.3f} {b['recall']:13.3f} / {a['recall']:.3f}")
        lost = evaluation.queue_losses(before, after)
        print(f"  gate: {'REFUSED, lost ' + ', '.join(lost) if lost else 'would promote (no queue lost > 1 point)'}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
