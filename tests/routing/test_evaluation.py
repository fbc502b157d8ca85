"""Routing metrics on hand-computed examples, and reading labelled CSV files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.metrics import f1_score

from helpdesk.routing.classifier import Decision
from helpdesk.routing.evaluation import (
    CorpusFormatError,
    UnknownQueueError,
    evaluate,
    format_report,
    read_labelled_csv,
)

pytestmark = pytest.mark.pure  # no app, no database: the per-test table reset is skipped


class ScriptedRouter:
    """Answers from a script: text -> (top prediction or None, auto-routed?)."""

    def __init__(self, script: dict[str, tuple[str | None, bool]]) -> None:
        self.script = script
        self.calls: list[tuple[str, float, float]] = []

    def decide(self, text: str, threshold: float, margin: float) -> Decision:
        self.calls.append((text, threshold, margin))
        top, auto = self.script[text]
        if top is None:
            return Decision(None, False, 0.0, [], "v1")
        return Decision(top if auto else None, auto, 0.9, [(top, 0.9), ("zz", 0.1)], "v1")


# truth:     a  a  a  b  b  c
# predicted: a  a  b  b  c  c
# auto:      T  T  T  F  T  F
TEXTS = ["t1", "t2", "t3", "t4", "t5", "t6"]
TRUTH = ["a", "a", "a", "b", "b", "c"]
SCRIPT = {
    "t1": ("a", True),
    "t2": ("a", True),
    "t3": ("b", True),
    "t4": ("b", False),
    "t5": ("c", True),
    "t6": ("c", False),
}


@pytest.fixture
def result() -> dict:
    return evaluate(ScriptedRouter(SCRIPT), TEXTS, TRUTH, threshold=0.7, margin=0.2)


def test_headline_figures(result):
    assert result["n"] == 6
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["coverage"] == pytest.approx(4 / 6)
    assert result["auto_accuracy"] == pytest.approx(2 / 4)  # t1, t2 right; t3, t5 wrong
    # per-queue F1: a = 0.8, b = 0.5, c = 2/3
    assert result["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    predicted = [SCRIPT[t][0] for t in TEXTS]
    assert result["macro_f1"] == pytest.approx(f1_score(TRUTH, predicted, average="macro"))


def test_per_queue(result):
    assert result["per_queue"] == {
        "a": {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3},
        "b": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
        "c": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1},
    }


def test_confusion_rows_are_true_columns_predicted(result):
    assert result["confusion"] == {
        "labels": ["a", "b", "c"],
        "matrix": [[2, 1, 0], [0, 1, 1], [0, 0, 1]],
    }


def test_each_decision_is_timed_and_gets_the_policy():
    router = ScriptedRouter(SCRIPT)
    result = evaluate(router, TEXTS, TRUTH, threshold=0.7, margin=0.2)
    assert [c[0] for c in router.calls] == TEXTS
    assert {(c[1], c[2]) for c in router.calls} == {(0.7, 0.2)}
    assert 0.0 <= result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]


def test_predicted_labels_outside_the_truth_are_shown_but_not_averaged():
    router = ScriptedRouter({"x": ("a", True), "y": ("d", True)})
    result = evaluate(router, ["x", "y"], ["a", "b"], 0.5, 0.1)
    assert result["confusion"] == {"labels": ["a", "b", "d"], "matrix": [[1, 0, 0], [0, 0, 1], [0, 0, 0]]}
    assert result["per_queue"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert result["macro_f1"] == pytest.approx(0.5)  # a: 1.0, b: 0.0
    assert result["auto_accuracy"] == pytest.approx(0.5)


def test_unscorable_texts_count_as_wrong_and_show_as_none():
    router = ScriptedRouter({"x": ("a", True), "": (None, False)})
    result = evaluate(router, ["x", ""], ["a", "a"], 0.5, 0.1)
    assert result["accuracy"] == 0.5 and result["coverage"] == 0.5
    assert result["confusion"] == {"labels": ["a", "(none)"], "matrix": [[1, 1], [0, 0]]}


def test_empty_set_and_mismatched_lengths():
    empty = evaluate(ScriptedRouter({}), [], [], 0.5, 0.1)
    assert empty["n"] == 0 and empty["accuracy"] == 0.0 and empty["coverage"] == 0.0
    with pytest.raises(ValueError):
        evaluate(ScriptedRouter(SCRIPT), ["t1"], [], 0.5, 0.1)


def test_format_report(result):
    report = format_report(result)
    for needle in [
        "macro-F1",
        "0.656",
        "accuracy",
        "0.667",
        "coverage",
        "auto accuracy",
        "0.500",
        "p50",
        "p99",
        "rows = true",
        "threshold 0.70, margin 0.20",
    ]:
        assert needle in report
    lines = report.splitlines()
    assert any(line.split()[:4] == ["a", "1.000", "0.667", "0.800"] for line in lines)
    assert any(line.split() == ["1", "a", "2", "1", "0"] for line in lines)


# ------------------------------------------------------------------ CSV


def write(tmp_path: Path, content: str | bytes, name: str = "set.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


KNOWN = ["account-access", "billing", "general"]


def test_read_csv(tmp_path: Path):
    path = write(tmp_path, 'text,queue\nforgot password,account-access\n"bill, wrong",billing\n')
    assert read_labelled_csv(path, KNOWN) == (["forgot password", "bill, wrong"], ["account-access", "billing"])


def test_underscores_case_crlf_bom_and_multiline_text(tmp_path: Path):
    content = '\ufefftext,queue\r\nforgot password,Account_Access\r\n"line one\r\nline two",billing\r\n\r\n'
    path = write(tmp_path, content)
    texts, labels = read_labelled_csv(path, ["account_access", "billing"])
    assert labels == ["account-access", "billing"]
    assert texts[0] == "forgot password" and texts[1].startswith("line one")


def test_unknown_queues_are_an_error_naming_queue_and_line(tmp_path: Path):
    content = "text,queue\nok,billing\nhmm,pharmacy\nfine,general\nagain,pharmacy\nx,dental\n"
    path = write(tmp_path, content)
    with pytest.raises(UnknownQueueError) as caught:
        read_labelled_csv(path, KNOWN)
    assert caught.value.unknown == {"pharmacy": [3, 5], "dental": [6]}
    message = str(caught.value)
    assert "'pharmacy' (line 3, 5)" in message and "'dental' (line 6)" in message


def test_line_numbers_count_physical_lines(tmp_path: Path):
    path = write(tmp_path, 'text,queue\n"two\nlines",billing\nbad,nope\n')
    with pytest.raises(UnknownQueueError) as caught:
        read_labelled_csv(path, KNOWN)
    assert caught.value.unknown == {"nope": [4]}


def test_without_known_labels_any_queue_is_accepted(tmp_path: Path):
    path = write(tmp_path, "text,queue\na,new_queue\n")
    assert read_labelled_csv(path, None) == (["a"], ["new-queue"])


@pytest.mark.parametrize(
    "content",
    ["", "body,label\na,billing\n", "text,queue\n,billing\n", "text,queue\nsome text,\n"],
    ids=["empty", "wrong-header", "no-text", "no-queue"],
)
def test_malformed_files(tmp_path: Path, content: str):
    with pytest.raises(CorpusFormatError):
        read_labelled_csv(write(tmp_path, content), KNOWN)


def test_extra_columns_are_ignored(tmp_path: Path):
    path = write(tmp_path, "id,queue,text,lang\n1,billing,my bill,en\n")
    assert read_labelled_csv(path, KNOWN) == (["my bill"], ["billing"])
