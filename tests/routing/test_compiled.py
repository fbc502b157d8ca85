"""The compiled router: numpy only, the same probabilities and decisions as scikit-learn."""

from __future__ import annotations

import copy
import io
import logging
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from helpdesk.routing import classifier, compiled
from helpdesk.routing.classifier import Router, train
from helpdesk.routing.compiled import (
    DEFAULT_MARGIN,
    DEFAULT_THRESHOLD,
    AnalyzerSpec,
    CompiledRouter,
    Decision,
    ModelLoadError,
    UnsupportedModel,
    build_analyzer,
    compile_router,
    compiled_path,
    dumps,
    load,
    loads,
    prepare,
    save,
)
from helpdesk.routing.evaluation import read_labelled_csv

pytestmark = pytest.mark.pure  # no app, no database: the per-test table reset is skipped

CORPUS = Path(classifier.__file__).resolve().parent / "corpus"
ROOT = Path(__file__).resolve().parents[2]
POLICIES = [(DEFAULT_THRESHOLD, DEFAULT_MARGIN), (0.5, 0.1), (0.9, 0.85), (0.0, 0.0)]


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[str]]:
    return read_labelled_csv(CORPUS / "train.csv", None)


@pytest.fixture(scope="module")
def every_row(corpus) -> list[str]:
    eval_texts, _ = read_labelled_csv(CORPUS / "eval.csv", None)
    return corpus[0] + eval_texts


@pytest.fixture(scope="module")
def router(corpus) -> Router:
    r = train(*corpus, seed=0)
    r.version = "v-test"
    return r


@pytest.fixture(scope="module")
def model_file(router: Router, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(compile_router(router), tmp_path_factory.mktemp("models") / "v-test.compiled.npz")


@pytest.fixture(scope="module")
def fast(model_file: Path) -> CompiledRouter:
    """What a web worker serves: the compiled model as read back from its file."""
    return load(model_file)


def sklearn_proba(router: Router, texts: list[str], *, normalised: bool = True) -> np.ndarray:
    """scikit-learn's own pipeline (not the Router's numpy fast path), empty rows zeroed."""
    docs = [prepare(t, router.lexicon) for t in texts] if normalised else list(texts)
    features = router.pipeline[:-1].transform(docs)
    proba = np.array(router.pipeline[-1].predict_proba(features), dtype=float)
    proba[np.asarray(features.getnnz(axis=1) == 0)] = 0.0
    return proba


def assert_same_decision(got: Decision, want: Decision) -> None:
    assert (got.queue, got.auto_routed, got.model_version) == (want.queue, want.auto_routed, want.model_version)
    assert got.confidence == pytest.approx(want.confidence, abs=1e-9, rel=0)
    assert [q for q, _ in got.top3] == [q for q, _ in want.top3]
    assert np.allclose([p for _, p in got.top3], [p for _, p in want.top3], rtol=0, atol=1e-9)


# ------------------------------------------------------------------ no scikit-learn


def test_importing_the_compiled_router_imports_neither_sklearn_nor_scipy():
    code = (
        "import helpdesk.routing.compiled, sys; "
        "assert 'sklearn' not in sys.modules and 'scipy' not in sys.modules, 'scikit-learn imported'; "
        "assert 'helpdesk.routing.classifier' not in sys.modules, 'classifier imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_loading_and_scoring_a_compiled_model_needs_no_sklearn(model_file: Path):
    code = (
        "import sys; from helpdesk.routing import compiled; "
        f"r = compiled.load({str(model_file)!r}); d = r.decide('I forgot my password'); "
        "assert d.auto_routed and d.queue == 'account-access', d; "
        "assert 'sklearn' not in sys.modules and 'scipy' not in sys.modules and 'joblib' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_routing_package_imports_nothing():
    result = subprocess.run(
        [sys.executable, "-c", "import helpdesk.routing, sys; assert not [m for m in sys.modules "
         "if m.startswith('helpdesk.routing.')], sorted(sys.modules)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_classifier_shares_the_compiled_modules_types():
    # One ModelLoadError for both loaders (services and the CLI catch one class), one Decision.
    assert classifier.ModelLoadError is compiled.ModelLoadError
    assert classifier.Decision is compiled.Decision
    assert classifier.normalise is compiled.normalise


# ------------------------------------------------------------------ equivalence on the corpus


def test_probabilities_equal_sklearn_on_every_corpus_row(router: Router, fast: CompiledRouter, every_row):
    assert len(every_row) > 1_500
    want = sklearn_proba(router, every_row)
    got = fast.probabilities(every_row)
    assert fast.classes == [str(c) for c in router.pipeline[-1].classes_]
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-9


def test_ranked_probabilities_equal_the_routers(router: Router, fast: CompiledRouter, every_row):
    for want, got in zip(router.predict_proba(every_row), fast.predict_proba(every_row), strict=True):
        assert [q for q, _ in got] == [q for q, _ in want]
        assert np.allclose([p for _, p in got], [p for _, p in want], rtol=0, atol=1e-9)


@pytest.mark.parametrize(("threshold", "margin"), POLICIES)
def test_decisions_are_identical_on_every_corpus_row(router: Router, fast: CompiledRouter, every_row,
                                                     threshold, margin):
    auto = 0
    for text in every_row:
        want = router.decide(text, threshold, margin)
        got = fast.decide(text, threshold, margin)
        assert_same_decision(got, want)
        auto += got.auto_routed
    assert 0 < auto <= len(every_row)


def test_metadata_and_labels(router: Router, fast: CompiledRouter):
    assert fast.version == "v-test" and fast.labels == router.labels
    meta = fast.metadata()
    assert meta["version"] == "v-test" and meta["n_examples"] == router.n_examples
    assert meta["trained_at"] == router.trained_at and meta["labels"] == router.labels


# ------------------------------------------------------------------ any input


BAD_INPUTS = [
    "",
    " ",
    "\n\t  \r\n",
    "x" * 1_000_000,
    "I forgot my password " * 50_000,
    "😀😀😀🙏🏽",
    "\x00\x01\x02 ÿþ",
    "\x00\xff\xfe\ufffd\x1b[31m\x07",
    "\x85\xa0\u2028\u3000 spaces of every kind",
    "\ud800\udfff lone surrogates",
    "¨ ´ ˜ spacing accents",
    "ΟΔΟΣ ΣΟΦΙΑΣ",
    "我需要预约医生",
    "مرحبا أحتاج موعد",
    "a",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
]


@pytest.mark.parametrize("text", BAD_INPUTS, ids=lambda t: repr(t[:20]))
def test_bad_inputs_get_the_routers_decision_never_an_exception(router: Router, fast: CompiledRouter, text: str):
    got = fast.decide(text)
    assert isinstance(got, Decision)
    assert_same_decision(got, router.decide(text))
    assert np.abs(fast.probabilities([text]) - sklearn_proba(router, [text])).max() <= 1e-9
    if got.confidence == 0.0:
        assert got.top3 == [] and not got.auto_routed


@pytest.mark.parametrize("value", [None, b"Caf\xc3\xa9 bill", 12345, b"\xff\xfe"])
def test_non_strings_are_coerced_like_the_router_does(router: Router, fast: CompiledRouter, value):
    assert_same_decision(fast.decide(value), router.decide(value))  # type: ignore[arg-type]


def test_a_megabyte_is_cut_to_max_chars_and_stays_fast(fast: CompiledRouter):
    huge = "my bill is wrong " * 60_000
    fast.decide(huge)
    start = time.perf_counter()
    decision = fast.decide(huge)
    assert (time.perf_counter() - start) < 0.05
    assert decision.queue == "billing"
    assert np.array_equal(fast.probabilities([huge]), fast.probabilities([huge[: compiled.MAX_CHARS * 2]]))


def test_a_scoring_failure_goes_to_triage_and_logs_no_text(fast: CompiledRouter, monkeypatch, caplog):
    broken = copy.copy(fast)
    monkeypatch.setattr(broken, "_proba", lambda text: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="helpdesk.routing.compiled"):
        decision = broken.decide("my secret diagnosis")
    assert decision == Decision(None, False, 0.0, [], "v-test")
    assert "ZeroDivisionError" in caplog.text and "diagnosis" not in caplog.text


def test_word_cache_gives_the_same_answer_warm_cold_and_after_eviction(fast: CompiledRouter, monkeypatch):
    text = "reschedule reschedule my appointment please"
    cold = copy.copy(fast)
    cold.parts = [copy.copy(p) for p in fast.parts]
    for p in cold.parts:
        if p.cache is not None:
            p.cache = {}
    first = cold.probabilities([text])
    assert np.array_equal(cold.probabilities([text]), first)
    monkeypatch.setattr(compiled, "_WORD_CACHE_SIZE", 2)
    assert np.array_equal(cold.probabilities(["a b c d e f g " + text]), fast.probabilities(["a b c d e f g " + text]))


def test_single_request_latency(fast: CompiledRouter, every_row):
    for t in every_row[:50]:
        fast.decide(t)
    times = []
    for t in every_row:
        start = time.perf_counter()
        fast.decide(t)
        times.append(time.perf_counter() - start)
    times.sort()
    assert times[len(times) // 2] < 0.002  # p50 well under the 2 ms p99 budget (~0.1 ms here)


# ------------------------------------------------------------------ analyzers


TRICKY = [
    "",
    " ",
    "a",
    "ab",
    "Olvidé mi CONTRASEÑA!!  ¿me   ayudan?",
    "tabs\tand\nnew\r\nlines   and  runs",
    "¨ diaeresis ´ acute",  # NFKD turns these into space + mark
    "ΟΔΟΣ ΣΟΦΙΑΣ ὈΔΥΣΣΕΎΣ",  # final sigma depends on context when lower-casing
    "ﬁle ﬂow Ⅻ ½ ²",
    "İstanbul ǅ",  # lower() changes the length
    "don't re-enter e-mail_address x_y 3.14 #tag @me",
    "\x85\xa0\u2028\u3000 unicode spaces",
    "😀 emoji 🙏🏽 and 我需要预约医生",
    "one two three four five six",
]
SPECS = [
    AnalyzerSpec("word", (1, 2), token_pattern=r"(?u)\b\w+\b"),
    AnalyzerSpec("word", (1, 1), token_pattern=r"(?u)\b\w\w+\b"),
    AnalyzerSpec("word", (2, 3), token_pattern=r"(?u)\b\w\w+\b", preprocessor="default", lowercase=True),
    AnalyzerSpec("word", (1, 3), token_pattern=r"(?u)\b(\w)\w*\b", preprocessor="default", lowercase=True,
                 strip_accents="unicode"),
    AnalyzerSpec("word", (1, 2), token_pattern=r"\S+", preprocessor="default", strip_accents="ascii"),
    AnalyzerSpec("char_wb", (2, 5)),
    AnalyzerSpec("char_wb", (1, 3)),
    AnalyzerSpec("char_wb", (3, 3), preprocessor="default", lowercase=True, strip_accents="unicode"),
    AnalyzerSpec("char", (1, 4)),
    AnalyzerSpec("char", (2, 5), preprocessor="default", lowercase=True, strip_accents="ascii"),
]


def sklearn_vectoriser(spec: AnalyzerSpec) -> TfidfVectorizer:
    kwargs = {"analyzer": spec.kind, "ngram_range": spec.ngram_range, "lowercase": spec.lowercase,
              "strip_accents": spec.strip_accents}
    if spec.token_pattern is not None:
        kwargs["token_pattern"] = spec.token_pattern
    if spec.preprocessor == "identity":
        kwargs["preprocessor"] = classifier._identity
    return TfidfVectorizer(**kwargs)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.kind}{s.ngram_range}-{s.preprocessor}-{s.strip_accents}")
def test_analyzers_produce_sklearns_ngrams_in_sklearns_order(spec: AnalyzerSpec):
    ours, theirs = build_analyzer(spec), sklearn_vectoriser(spec).build_analyzer()
    for text in TRICKY:
        assert ours(text) == theirs(text), text
    assert AnalyzerSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "nope", "ngram_range": (1, 1)},
        {"kind": "char", "ngram_range": (0, 2)},
        {"kind": "char", "ngram_range": (3, 2)},
        {"kind": "word", "ngram_range": (1, 1), "token_pattern": r"(a)(b)"},
        {"kind": "word", "ngram_range": (1, 1), "token_pattern": "("},
        {"kind": "word", "ngram_range": (1, 1)},
        {"kind": "char", "ngram_range": (1, 1), "strip_accents": "latin"},
        {"kind": "char", "ngram_range": (1, 1), "preprocessor": "custom"},
    ],
)
def test_analyzer_specs_it_cannot_reproduce_are_refused(kwargs):
    with pytest.raises(UnsupportedModel):
        AnalyzerSpec(**kwargs)


# ------------------------------------------------------------------ other configurations


def _vec(router: Router, i: int) -> TfidfVectorizer:
    return router.pipeline[0].transformer_list[i][1]


@pytest.mark.parametrize(
    "change",
    [
        lambda r: setattr(_vec(r, 0), "stop_words", ["the"]),
        lambda r: setattr(_vec(r, 0), "tokenizer", str.split),
        lambda r: setattr(_vec(r, 0), "analyzer", str.split),
        lambda r: setattr(_vec(r, 1), "preprocessor", str.lower),
        lambda r: _vec(r, 1).set_params(preprocessor=None, strip_accents=lambda s: s),
        lambda r: setattr(_vec(r, 1), "binary", True),
        lambda r: setattr(_vec(r, 1), "norm", "l1"),
        lambda r: setattr(_vec(r, 1), "dtype", np.float32),
        lambda r: setattr(_vec(r, 0), "input", "filename"),
        lambda r: setattr(r.pipeline[0], "transformer_weights", {"word": 2.0}),
        lambda r: setattr(r.pipeline[-1].calibrated_classifiers_[0], "method", "isotonic"),
    ],
    ids=["stop_words", "tokenizer", "callable-analyzer", "custom-preprocessor", "callable-accents", "binary",
         "l1", "float32", "input-filename", "weights", "isotonic"],
)
def test_configurations_it_cannot_reproduce_are_refused(router: Router, change):
    changed = copy.deepcopy(router)
    change(changed)
    with pytest.raises(UnsupportedModel):
        compile_router(changed)


def test_a_result_that_differs_from_sklearn_is_refused(router: Router, monkeypatch):
    monkeypatch.setattr(compiled, "_word_ngrams", lambda tokens, lo, hi: tokens)  # unigrams only: wrong
    with pytest.raises(UnsupportedModel, match="differ"):
        compile_router(router)


def test_sklearn_default_preprocessing_is_reproduced(router: Router, corpus):
    """Lower-casing, accent stripping and the default token pattern, on raw (not
    normalised) text: what a differently built pipeline would need."""
    changed = copy.deepcopy(router)
    word, char = _vec(changed, 0), _vec(changed, 1)
    word.preprocessor, word.lowercase, word.strip_accents = None, True, "unicode"
    word.token_pattern = r"(?u)\b\w\w+\b"
    char.preprocessor, char.lowercase, char.strip_accents = None, True, "ascii"
    twin = compile_router(changed)
    assert [p.spec.preprocessor for p in twin.parts] == ["default", "default"]
    raw = corpus[0][::3] + TRICKY
    got = np.vstack([twin._proba(t) for t in raw])
    assert np.abs(got - sklearn_proba(changed, raw, normalised=False)).max() <= 1e-9


@pytest.mark.parametrize(
    ("labels_kept", "params"),
    [
        (None, {"method": "sigmoid"}),
        (None, {"method": "temperature", "ensemble": True, "cv": 3}),
        (None, {"method": "sigmoid", "ensemble": True, "cv": 3}),
        (("billing", "scheduling"), {"method": "temperature"}),
        (("billing", "scheduling"), {"method": "sigmoid"}),
    ],
    ids=["sigmoid", "temperature-ensemble", "sigmoid-ensemble", "binary-temperature", "binary-sigmoid"],
)
def test_other_calibrations_and_two_classes_are_reproduced(corpus, every_row, tmp_path: Path, labels_kept, params):
    texts, labels = corpus
    if labels_kept:
        pairs = [(t, q) for t, q in zip(texts, labels, strict=True) if q in labels_kept]
        texts, labels = [t for t, _ in pairs], [q for _, q in pairs]
    r = train(texts[::2] if not labels_kept else texts, labels[::2] if not labels_kept else labels, seed=1, **params)
    twin = load(save(compile_router(r), tmp_path / "m.compiled.npz"))
    rows = every_row[::4]
    assert np.abs(twin.probabilities(rows) - sklearn_proba(r, rows)).max() <= 1e-9
    for text in rows[:100]:
        assert_same_decision(twin.decide(text), r.decide(text))


# ------------------------------------------------------------------ the file


def test_compiled_path_sits_next_to_the_joblib_model(tmp_path: Path):
    assert compiled_path(tmp_path / "v1.joblib") == tmp_path / "v1.compiled.npz"
    assert compiled_path("models/v2") == Path("models/v2.compiled.npz")


def test_file_round_trip_is_owner_only_atomic_and_pickle_free(router: Router, fast: CompiledRouter, tmp_path: Path):
    path = save(compile_router(router), tmp_path / "v.compiled.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["v.compiled.npz"]  # no temporary file left behind
    assert path.stat().st_mode & 0o077 == 0  # vocabularies come from patient text
    with np.load(path, allow_pickle=False) as data:  # every member is a plain array
        assert all(data[name].dtype != object for name in data.files)
    again = load(save(load(path), tmp_path / "copy.compiled.npz"))
    assert np.array_equal(again.probabilities(["refill my meds", "pay my bill"]),
                          fast.probabilities(["refill my meds", "pay my bill"]))


def test_saving_over_an_existing_file_replaces_it(router: Router, corpus, tmp_path: Path):
    path = save(compile_router(router), tmp_path / "m.compiled.npz")
    other = train(corpus[0][::5], corpus[1][::5])
    other.version = "other"
    save(compile_router(other), path)
    assert load(path).version == "other"


def test_only_a_checked_model_can_be_saved(fast: CompiledRouter, tmp_path: Path):
    unchecked = copy.copy(fast)
    unchecked.probe_proba = None
    with pytest.raises(ValueError):
        save(unchecked, tmp_path / "m.compiled.npz")


def _members(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _rewrite(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def _tamper_coef(a: dict[str, np.ndarray]) -> None:
    a["model0_coef"] = a["model0_coef"] * 1.01


def _tamper_terms(a: dict[str, np.ndarray]) -> None:
    a["part0_terms"] = np.roll(a["part0_terms"], 1)  # every term shifted by a byte


def _tamper_header(a: dict[str, np.ndarray]) -> None:
    a["header"] = np.frombuffer(a["header"].tobytes().replace(b'"compiled_format": 1', b'"compiled_format": 99'),
                                dtype=np.uint8)


@pytest.mark.parametrize(
    "tamper",
    [
        _tamper_coef,
        _tamper_terms,
        _tamper_header,
        lambda a: a.pop("model0_intercept"),
        lambda a: a.update(part1_idf=a["part1_idf"][:-1]),
        lambda a: a.update(part0_offsets=a["part0_offsets"][::-1].copy()),
        lambda a: a.update(model0_coef=a["model0_coef"].astype(np.float32)),
        lambda a: a.update(model0_coef=np.full_like(a["model0_coef"], np.nan)),
        lambda a: a.update(header=np.frombuffer(b"{not json", dtype=np.uint8)),
        lambda a: a.update(probe_proba=a["probe_proba"][:-1]),
        lambda a: a.update(model0_pos=a["model0_pos"] + 100),
    ],
    ids=["coef", "terms", "format", "missing-member", "idf-length", "offsets", "dtype", "nan", "header",
         "probes", "positions"],
)
def test_an_inconsistent_file_is_a_model_load_error(model_file: Path, tmp_path: Path, tamper):
    arrays = _members(model_file)
    tamper(arrays)
    path = tmp_path / "bad.compiled.npz"
    _rewrite(path, arrays)
    with pytest.raises(ModelLoadError):
        load(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage bytes \x00\xff" * 100, b"\x80\x04K\x01.", b"\x93NUMPY\x01\x00garbage", b"PK\x03\x04junk"],
)
def test_garbage_is_a_model_load_error(tmp_path: Path, content: bytes):
    path = tmp_path / "m.compiled.npz"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError):
        load(path)


def test_a_single_npy_array_is_a_model_load_error(tmp_path: Path):
    path = tmp_path / "m.compiled.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.arange(3.0))
    with pytest.raises(ModelLoadError, match="not a compiled model"):
        load(path)


def test_truncated_or_bit_flipped_files_are_a_model_load_error(model_file: Path, tmp_path: Path):
    data = model_file.read_bytes()
    path = tmp_path / "m.compiled.npz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError):
        load(path)
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(flipped))
    with pytest.raises(ModelLoadError):
        load(path)


def test_a_pickled_member_is_refused(model_file: Path, tmp_path: Path):
    arrays = _members(model_file)
    arrays["header"] = np.array([{"evil": True}], dtype=object)
    path = tmp_path / "m.compiled.npz"
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=True, **arrays)
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ModelLoadError):
        load(path)


def test_missing_file_or_a_directory_is_a_model_load_error(tmp_path: Path):
    with pytest.raises(ModelLoadError):
        load(tmp_path / "nope.compiled.npz")
    with pytest.raises(ModelLoadError):
        load(tmp_path)


def test_the_file_is_a_plain_zip_of_npy_arrays(model_file: Path):
    with zipfile.ZipFile(model_file) as z:
        names = set(z.namelist())
    assert {"header.npy", "probe_proba.npy", "part0_terms.npy", "model0_coef.npy"} <= names


# ------------------------------------------------------------------ what the database stores


def test_the_stored_bytes_are_the_file_and_load_alike(router: Router, model_file: Path):
    data = dumps(compile_router(router))
    assert data[:4] == b"PK\x03\x04"
    again = loads(data)
    assert isinstance(again, CompiledRouter) and again.version == "v-test"
    from_file = load(model_file)
    texts = ["I forgot my password", "refill my prescription", "zzqx"]
    assert np.array_equal(again.probabilities(texts), from_file.probabilities(texts))
    assert loads(model_file.read_bytes()).version == "v-test"  # an exported file imports as it is


@pytest.mark.parametrize("content", [b"", b"garbage \x00\xff" * 50, b"PK\x03\x04junk", b"\x93NUMPY\x01\x00x"])
def test_garbage_bytes_are_a_model_load_error(content: bytes):
    with pytest.raises(ModelLoadError):
        loads(content)


def test_truncated_bytes_are_a_model_load_error(model_file: Path):
    data = model_file.read_bytes()
    with pytest.raises(ModelLoadError):
        loads(data[: len(data) // 2])
