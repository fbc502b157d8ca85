"""Routing metrics and labelled-corpus reading (pure: no Flask, no database).

:func:`evaluate` scores a :class:`~helpdesk.routing.classifier.Router` on labelled texts:

- ``accuracy``, ``macro_f1`` and ``per_queue`` use the model's *top* prediction whatever
  the threshold, so they describe the model;
- ``coverage`` (share auto-routed) and ``auto_accuracy`` (accuracy among auto-routed)
  describe the routing policy (threshold + margin);
- ``latency_ms`` times every single ``decide()`` call, as the app makes them.

``macro_f1`` averages over the queues present in the true labels; queues the model
predicted but that never occur in the truth are listed in ``per_queue`` (support 0) and in
the confusion matrix, but do not enter the average (their F1 is 0 by definition, and the
mistakes already lower the recall of the true queues).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

__all__ = [
    "CorpusFormatError",
    "UnknownQueueError",
    "evaluate",
    "format_report",
    "normalise_queue",
    "read_labelled_csv",
]


class CorpusFormatError(ValueError):
    """A labelled CSV file is not in the ``text,queue`` format."""


class UnknownQueueError(CorpusFormatError):
    """A labelled CSV file names queues that are not known.

    ``unknown`` maps each unknown queue name to the (1-based, physical) lines it is on.
    """

    def __init__(self, unknown: dict[str, list[int]], path: str = "") -> None:
        self.unknown = unknown
        parts = []
        for queue, lines in sorted(unknown.items()):
            shown = ", ".join(str(n) for n in lines[:5]) + (", ..." if len(lines) > 5 else "")
            parts.append(f"{queue!r} (line {shown})")
        where = f" in {path}" if path else ""
        super().__init__(f"unknown queue(s){where}: " + "; ".join(parts))


class _Decides(Protocol):  # what evaluate() needs from a Router
    def decide(self, text: str, threshold: float, margin: float) -> Any: ...


def normalise_queue(name: str) -> str:
    """Queue names compare case-insensitively and with "-" and "_" equivalent."""
    return name.strip().lower().replace("_", "-")


def read_labelled_csv(path: str | os.PathLike[str], known_labels: Iterable[str] | None) -> tuple[list[str], list[str]]:
    """Read a ``text,queue`` CSV file into parallel lists of texts and queue names.

    Queue names are normalised (``account_access`` -> ``account-access``). A UTF-8 BOM and
    CRLF line ends are fine. Rows with neither text nor queue are skipped; a row with a
    queue but no text, or text but no queue, is an error. With ``known_labels`` given, any
    queue outside it raises :class:`UnknownQueueError` naming each one and its line(s).
    """
    known = None if known_labels is None else {normalise_queue(q) for q in known_labels}
    texts: list[str] = []
    labels: list[str] = []
    unknown: dict[str, list[int]] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise CorpusFormatError(f"{path}: empty file, expected a 'text,queue' header")
        columns = [h.strip().lower() for h in header]
        if "text" not in columns or "queue" not in columns:
            raise CorpusFormatError(f"{path}: header must have 'text' and 'queue' columns")
        i_text, i_queue = columns.index("text"), columns.index("queue")
        line = reader.line_num + 1  # physical line where the next record starts
        for row in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            text = row[i_text] if i_text < len(row) else ""
            raw_queue = row[i_queue] if i_queue < len(row) else ""
            queue = normalise_queue(raw_queue)
            if not queue or not text.strip():
                raise CorpusFormatError(f"{path}: line {start} needs both a text and a queue")
            if known is not None and queue not in known:
                unknown.setdefault(queue, []).append(start)
                continue
            texts.append(text)
            labels.append(queue)
    if unknown:
        raise UnknownQueueError(unknown, str(path))
    return texts, labels


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of already sorted values."""
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


def evaluate(
    router: _Decides,
    texts: Sequence[str],
    labels: Sequence[str],
    threshold: float,
    margin: float,
) -> dict[str, Any]:
    """Score ``router`` on labelled texts; see the module docstring for the definitions.

    A request the model cannot score at all (empty text) counts as predicted ``None``:
    wrong for accuracy and F1, shown as the column ``"(none)"`` in the confusion matrix.
    """
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    truth = [str(label) for label in labels]
    predicted: list[str | None] = []
    auto: list[bool] = []
    latencies: list[float] = []
    for text in texts:
        start = time.perf_counter()
        decision = router.decide(text, threshold=threshold, margin=margin)
        latencies.append((time.perf_counter() - start) * 1000.0)
        predicted.append(decision.top3[0][0] if decision.top3 else None)
        auto.append(bool(decision.auto_routed))

    n = len(truth)
    true_set = sorted(set(truth))
    extra = sorted({p for p in predicted if p is not None and p not in set(true_set)})
    matrix_labels = true_set + extra
    none_label = "(none)"
    if any(p is None for p in predicted):
        matrix_labels = matrix_labels + [none_label]
    index = {label: i for i, label in enumerate(matrix_labels)}
    size = len(matrix_labels)
    matrix = [[0] * size for _ in range(size)]
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t]][index[none_label if p is None else p]] += 1

    per_queue: dict[str, dict[str, float | int]] = {}
    for label in true_set + extra:
        i = index[label]
        tp = matrix[i][i]
        predicted_count = sum(matrix[r][i] for r in range(size))
        support = sum(matrix[i])
        precision = _safe_div(tp, predicted_count)
        recall = _safe_div(tp, support)
        per_queue[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _safe_div(2 * precision * recall, precision + recall),
            "support": support,
        }

    correct = sum(t == p for t, p in zip(truth, predicted, strict=True))
    n_auto = sum(auto)
    auto_correct = sum(a and t == p for t, p, a in zip(truth, predicted, auto, strict=True))
    latencies.sort()
    return {
        "n": n,
        "threshold": threshold,
        "margin": margin,
        "macro_f1": _safe_div(sum(per_queue[q]["f1"] for q in true_set), len(true_set)),
        "accuracy": _safe_div(correct, n),
        "coverage": _safe_div(n_auto, n),
        "auto_accuracy": _safe_div(auto_correct, n_auto),
        "n_auto": n_auto,
        "per_queue": per_queue,
        "confusion": {"labels": matrix_labels, "matrix": matrix},
        "latency_ms": {"p50": _percentile(latencies, 50), "p99": _percentile(latencies, 99)},
    }


# The retrain gate refuses a candidate that loses more than this much precision or recall
# on any queue (one point) against the active model, on the project's yardstick.
QUEUE_TOLERANCE = 0.01


def queue_losses(before: dict[str, Any], after: dict[str, Any], tolerance: float = QUEUE_TOLERANCE) -> list[str]:
    """Each queue whose precision or recall is more than ``tolerance`` lower ``after``
    than ``before`` (two :func:`evaluation.evaluate` results on the same examples)."""
    lost = []
    for queue, old in before["per_queue"].items():
        new = after["per_queue"].get(queue)
        if new is None or not old.get("support"):
            continue
        for measure in ("precision", "recall"):
            if new[measure] < old[measure] - tolerance:
                lost.append(f"{queue} {measure} {old[measure]:.3f} -> {new[measure]:.3f}")
    return lost


def read_column(path: str | os.PathLike[str], column: str) -> list[str] | None:
    """The values of ``column`` for the rows :func:`read_labelled_csv` returns, in the same
    order (``None`` when the file has no such column)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        if column not in header or "text" not in header or "queue" not in header:
            return None
        i, i_text, i_queue = header.index(column), header.index("text"), header.index("queue")
        return [row[i] if i < len(row) else "" for row in reader
                if any(c.strip() for c in row) and len(row) > max(i_text, i_queue)]


def accuracy_by_group(router: _Decides, texts: Sequence[str], labels: Sequence[str], groups: Sequence[str],
                      threshold: float, margin: float) -> dict[str, dict[str, float | int]]:
    """Per group (e.g. the held-back slice's ``pattern``): accuracy of the top choice,
    the share auto-routed, accuracy when auto-routed, and the count."""
    tally: dict[str, list[int]] = {}
    for text, label, group in zip(texts, labels, groups, strict=True):
        decision = router.decide(text, threshold=threshold, margin=margin)
        right = bool(decision.top3) and decision.top3[0][0] == label
        t = tally.setdefault(group, [0, 0, 0, 0])  # n, right, auto, auto right
        t[0] += 1
        t[1] += right
        t[2] += bool(decision.auto_routed)
        t[3] += bool(decision.auto_routed) and right
    return {g: {"n": n, "accuracy": _safe_div(r, n), "coverage": _safe_div(a, n), "auto_accuracy": _safe_div(ar, a)}
            for g, (n, r, a, ar) in sorted(tally.items())}


def format_groups(groups: dict[str, dict[str, float | int]], title: str = "pattern") -> str:
    width = max([len(title)] + [len(g) for g in groups])
    lines = [f"{title:<{width}}  accuracy  coverage  auto accuracy      n",
             f"{'-' * width}  --------  --------  -------------  -----"]
    for g, m in groups.items():
        lines.append(f"{g:<{width}}  {m['accuracy']:8.3f}  {m['coverage']:8.3f}  {m['auto_accuracy']:13.3f}  {m['n']:5d}")
    return "\n".join(lines)


def format_report(result: dict[str, Any]) -> str:
    """A plain-text report of an :func:`evaluate` result, for a terminal."""
    per_queue = result["per_queue"]
    labels = result["confusion"]["labels"]
    width = max([len("queue")] + [len(q) for q in per_queue] + [len(q) for q in labels])
    lines = [
        f"{'queue':<{width}}  precision  recall     f1  support",
        f"{'-' * width}  ---------  ------  -----  -------",
    ]
    for queue, m in per_queue.items():
        lines.append(f"{queue:<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:5.3f}  {m['support']:7d}")
    lines.append("")
    policy = ""
    if "threshold" in result and "margin" in result:
        policy = f" (threshold {result['threshold']:.2f}, margin {result['margin']:.2f})"
    lines += [
        f"examples        {result['n']}",
        f"macro-F1        {result['macro_f1']:.3f}",
        f"accuracy        {result['accuracy']:.3f}",
        f"coverage        {result['coverage']:.3f}{policy}",
        f"auto accuracy   {result['auto_accuracy']:.3f}",
        f"latency         p50 {result['latency_ms']['p50']:.2f} ms, p99 {result['latency_ms']['p99']:.2f} ms",
        "",
        "confusion (rows = true, columns = predicted)",
    ]
    matrix = result["confusion"]["matrix"]
    codes = [f"{i + 1}" for i in range(len(labels))]
    cell = max([3] + [len(str(v)) for row in matrix for v in row] + [len(c) for c in codes])
    lines.append(" " * (width + 4) + " ".join(f"{c:>{cell}}" for c in codes))
    for code, label, row in zip(codes, labels, matrix, strict=True):
        lines.append(f"{code:>2} {label:<{width}} " + " ".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)
