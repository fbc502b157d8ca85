"""The retrain gate: per-queue precision and recall before and after, on the yardstick."""

from __future__ import annotations

from helpdesk.routing.training import corpus_examples, queue_losses, retrain


def test_the_gate_names_every_queue_that_loses_more_than_one_point():
    def result(**pr):
        return {"per_queue": {q: {"precision": p, "recall": r, "support": 10} for q, (p, r) in pr.items()}}

    before = result(billing=(0.90, 0.80), general=(0.70, 0.70), records=(0.50, 0.50))
    after = result(billing=(0.895, 0.85), general=(0.68, 0.75), records=(0.60, 0.45))
    assert queue_losses(before, after) == ["general precision 0.700 -> 0.680", "records recall 0.500 -> 0.450"]
    assert queue_losses(before, before) == []


def test_a_candidate_that_loses_a_queue_is_refused_and_the_cli_shows_each_queue(app, ctx, queues):
    # Teach the candidate that billing requests are general: billing recall collapses.
    texts, labels = corpus_examples()
    poison = [t for t, q in zip(texts, labels, strict=True) if q == "billing"]
    report = retrain(extra=(poison * 2, ["general"] * (2 * len(poison))))
    assert not report.promoted
    assert "billing recall" in report.reason
    billing = report.per_queue["billing"]
    assert billing["after"]["recall"] < billing["before"]["recall"] - 0.01

    output = app.test_cli_runner().invoke(args=["routing", "retrain"]).output
    assert "per queue on the yardstick (precision / recall)" in output
    assert all(f"  {q}" in output for q in ("billing", "scheduling", "account-access"))


def test_retraining_the_same_corpus_is_judged_as_the_version_it_makes(app, ctx, queues):
    """The gate judges the new version (trained on every example) against the active one,
    both on the yardstick neither was trained on: retraining what the active model was
    trained on is promoted with the same figures, not refused because a copy trained on
    four fifths of the examples routes a little worse."""
    first = retrain(force=True)
    again = retrain()
    assert again.promoted, again.reason
    for queue, pr in again.per_queue.items():
        assert pr["after"] == pr["before"], queue
    assert again.project_eval["macro_f1"] == first.project_eval["macro_f1"]
    assert again.holdout["n"] > 0  # the copy's held-out figures are still reported
