"""The request router for web workers: the fitted model as plain arrays, no scikit-learn.

Importing scikit-learn costs ~110 MB of resident memory (it pulls in scipy); a web worker
only needs the fitted numbers. :func:`compile_router` (run where the model is trained,
with scikit-learn at hand) extracts them from a :class:`~helpdesk.routing.classifier.Router`:

- per TF-IDF vectoriser: the vocabulary (term -> column), ``idf_``, ``sublinear_tf`` and
  the analyzer configuration (word n-grams with their token pattern, ``char`` or
  ``char_wb`` n-grams, the preprocessing);
- per calibrated linear classifier: ``coef_``, ``intercept_`` and the calibration
  parameters (temperature ``beta_``, or sigmoid ``a_``/``b_`` per class);
- labels, version and the model's metadata.

:class:`CompiledRouter` scores with a pure-Python/numpy re-implementation of
scikit-learn's analyzers (``_word_ngrams``, ``_char_ngrams``, ``_char_wb_ngrams``,
``_preprocess``) and the same arithmetic as ``predict_proba``; it refuses to compile a
configuration it does not reproduce exactly (:class:`UnsupportedModel`). Compiling checks
the result against scikit-learn itself on probe texts, and the probes and scikit-learn's
answers are stored with the model: every :func:`loads` re-checks them (to 1e-9), so a
model that loads scores as the trained model did.

The artefact (:func:`dumps`; the app stores it in the database, ``routing_models.artefact``)
is a zip of ``.npy`` arrays, read with ``allow_pickle=False``: vocabularies are packed as
one UTF-8 string per vectoriser plus an offsets array (a 100k-term vocabulary unpickled
as a dict costs ~50 MB of transient memory; this costs a few), metadata is a JSON member.
:func:`save` / :func:`load` write and read the same bytes as a file (``flask routing
export``, benchmarks, tests), atomically and owner-only (0600): vocabularies are derived
from (de-identified) patient text.

This module also holds what both routers share (text normalisation and the lexicon's
markers, :func:`prepare`; :class:`Decision`, the decision policy, :class:`ModelLoadError`),
so that importing it costs numpy only. It must import nothing but the standard library,
numpy and :mod:`helpdesk.routing.lexicon` (plain Python): a test enforces it.

Nothing here logs or raises with patient text in the message.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpdesk.routing import lexicon

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_THRESHOLD",
    "MAX_CHARS",
    "AnalyzerSpec",
    "CompiledRouter",
    "Decision",
    "ModelLoadError",
    "UnsupportedModel",
    "atomic_write",
    "build_analyzer",
    "compile_router",
    "compiled_path",
    "dumps",
    "load",
    "loads",
    "make_decision",
    "normalise",
    "prepare",
    "rank",
    "save",
]

log = logging.getLogger(__name__)

#: Auto-route only when the top probability is at least this ...
DEFAULT_THRESHOLD = 0.75
#: ... and at least this far ahead of the runner-up.
#:
#: Checked on the yardstick no model trains on (``corpus/eval.csv`` + ``corpus/holdback.csv``,
#: December 2026 corpus, lexicon 1): auto-routed accuracy 0.979 at coverage 0.889 there
#: (bitext 0.987 at 0.908, clinc150 0.965 at 0.876). Wider policies keep >= 0.97 on the
#: yardstick down to 0.55 / 0.20 (coverage 0.95), but real requests routed 3-4 points less
#: accurately than the public dev sets when last measured, and a wrong queue costs a patient
#: more than a stop in triage: the defaults keep that headroom. With temperature-scaled
#: probabilities a top of 0.75 rarely leaves a runner-up within 0.5. Re-check both with
#: ``flask routing evaluate`` when the corpus, the lexicon or the label set changes.
DEFAULT_MARGIN = 0.50

#: Only the start of a request is classified: the subject and first lines carry the intent
#: (training requests are 60 characters at the median, 260 at most), and scoring cost
#: grows with length: ~1 ms of CPU at 2,000 characters, ~2.2 ms at 5,000. This keeps
#: every request, even a pasted 1 MB log, within the 2 ms budget.
MAX_CHARS = 2_000

_FORMAT = 1  # bump when the compiled file's layout changes incompatibly
_TOLERANCE = 1e-9  # how closely the compiled model must reproduce scikit-learn's probabilities

# ---------------------------------------------------------------------------------------
# Text normalisation (both routers: the pipeline's preprocessor is the identity)

_WS = re.compile(r"\s+")
# C0/C1 control characters and the replacement character left by a lossy decode.
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
# Combining marks left by NFKD decomposition (the Unicode "combining" blocks).
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


def normalise(text: str) -> str:
    """Lower-case, accent-free, single-spaced, at most :data:`MAX_CHARS` characters.

    "Contraseña" and "contrasena" become the same string. Never raises for a ``str``;
    anything else (``None``, bytes) is coerced defensively.
    """
    if not isinstance(text, str):
        if isinstance(text, bytes | bytearray):
            text = bytes(text).decode("utf-8", errors="replace")
        else:
            text = "" if text is None else str(text)
    # Cut before the (linear but not free) unicode work, leaving room for whitespace runs.
    text = text[: MAX_CHARS * 2]
    # Lone surrogates (from a lossy decode upstream) cannot be normalised reliably.
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    text = _strip_accents(text.lower())
    text = _JUNK.sub(" ", text)
    text = _WS.sub(" ", text).strip()
    return text[:MAX_CHARS].rstrip()


def prepare(text: str, lexicon_version: int = 0) -> str:
    """What a model scores: :func:`normalise`-d text, plus the lexicon's marker words when
    the model was trained with them (``lexicon_version`` is the model's, 0 for none)."""
    text = normalise(text)
    return lexicon.mark(text) if lexicon_version else text


def check_lexicon(version: Any) -> int:
    """The lexicon version a model was trained with, if this code has that lexicon."""
    if version in (None, 0):
        return 0
    if version != lexicon.VERSION:
        raise ValueError("lexicon version")  # trained with lists this code no longer has: retrain
    return lexicon.VERSION


# ---------------------------------------------------------------------------------------
# Decisions (both routers)


@dataclass(frozen=True)
class Decision:
    """What the router recommends for one request.

    ``queue`` is ``None`` when the request is not auto-routed (the caller sends it to
    triage); ``top3`` always holds the best suggestions, highest first.
    """

    queue: str | None
    auto_routed: bool
    confidence: float
    top3: list[tuple[str, float]]
    model_version: str


class ModelLoadError(Exception):
    """A saved model is missing, unreadable, corrupt or not a routing model."""


class UnsupportedModel(ValueError):
    """The fitted model has a configuration the compiled scorer does not reproduce exactly."""


def rank(classes: Sequence[str], row: np.ndarray) -> list[tuple[str, float]]:
    """Every label with its probability, highest first (ties keep the label order)."""
    order = np.argsort(-row, kind="stable")
    return [(classes[i], float(row[i])) for i in order]


def decide_safely(predict_proba: Callable[[list[str]], list[list[tuple[str, float]]]], text: str,
                  threshold: float, margin: float, version: str) -> Decision:
    """The one decision path of both routers. Never raises: should scoring fail
    unexpectedly, the request goes to triage and only the failure's type is logged."""
    try:
        ranked = predict_proba([text])[0]
    except Exception as exc:  # a request must never be lost to a scoring bug
        log.error("routing model %s could not score a request (%s)", version, type(exc).__name__)
        return Decision(None, False, 0.0, [], version)
    return make_decision(ranked, threshold, margin, version)


def make_decision(ranked: Sequence[tuple[str, float]], threshold: float, margin: float, version: str) -> Decision:
    """Auto-route iff top probability >= threshold and top - second >= margin.

    No signal at all (no ranking, or a top probability of 0) is "not auto-routed, no
    suggestions".
    """
    top_p = ranked[0][1] if ranked else 0.0
    if top_p <= 0.0:
        return Decision(None, False, 0.0, [], version)
    second_p = ranked[1][1] if len(ranked) > 1 else 0.0
    auto = top_p >= threshold and (top_p - second_p) >= margin
    return Decision(
        queue=ranked[0][0] if auto else None,
        auto_routed=auto,
        confidence=top_p,
        top3=list(ranked[:3]),
        model_version=version,
    )


# ---------------------------------------------------------------------------------------
# Analyzers: scikit-learn's, re-done (sklearn/feature_extraction/text.py, 1.6 - 1.9)

_KINDS = ("word", "char", "char_wb")
_ACCENTS = (None, "ascii", "unicode")
_PREPROCESSORS = ("identity", "default")
_WHITE_SPACES = re.compile(r"\s\s+")  # _VectorizerMixin._white_spaces


@dataclass(frozen=True)
class AnalyzerSpec:
    """An analyzer configuration the compiled scorer reproduces.

    ``preprocessor`` is ``"identity"`` (the pipeline's own ``_identity`` function: then
    ``lowercase`` and ``strip_accents`` are ignored, as scikit-learn ignores them) or
    ``"default"`` (scikit-learn's: ``str.lower`` if ``lowercase``, then accent stripping).
    """

    kind: str
    ngram_range: tuple[int, int]
    token_pattern: str | None = None
    preprocessor: str = "identity"
    lowercase: bool = False
    strip_accents: str | None = None

    def __post_init__(self) -> None:
        lo, hi = self.ngram_range
        if self.kind not in _KINDS:
            raise UnsupportedModel("analyzer kind")
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
            raise UnsupportedModel("n-gram range")
        if self.preprocessor not in _PREPROCESSORS or self.strip_accents not in _ACCENTS:
            raise UnsupportedModel("preprocessing")
        if not isinstance(self.lowercase, bool):
            raise UnsupportedModel("preprocessing")
        if self.kind == "word":
            if not isinstance(self.token_pattern, str):
                raise UnsupportedModel("token pattern")
            try:
                groups = re.compile(self.token_pattern).groups
            except re.error as exc:
                raise UnsupportedModel("token pattern") from exc
            if groups > 1:
                raise UnsupportedModel("token pattern")
        elif self.token_pattern is not None:
            raise UnsupportedModel("token pattern")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ngram_range"] = list(self.ngram_range)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AnalyzerSpec:
        return cls(
            kind=d["kind"],
            ngram_range=(d["ngram_range"][0], d["ngram_range"][1]),
            token_pattern=d["token_pattern"],
            preprocessor=d["preprocessor"],
            lowercase=d["lowercase"],
            strip_accents=d["strip_accents"],
        )

    @property
    def per_word(self) -> bool:
        """Whether a text's n-grams are exactly the concatenation of its words' n-grams.

        True for ``char_wb`` with the identity preprocessor (lower-casing or NFKD on the
        whole text can change where words split: "¨" decomposes to a space + a mark).
        """
        return self.kind == "char_wb" and self.preprocessor == "identity"


def _strip_accents_unicode(s: str) -> str:  # sklearn.feature_extraction.text.strip_accents_unicode
    try:
        s.encode("ASCII", errors="strict")
        return s
    except UnicodeEncodeError:
        normalized = unicodedata.normalize("NFKD", s)
        return "".join([c for c in normalized if not unicodedata.combining(c)])


def _strip_accents_ascii(s: str) -> str:  # sklearn.feature_extraction.text.strip_accents_ascii
    return unicodedata.normalize("NFKD", s).encode("ASCII", "ignore").decode("ASCII")


def _preprocessor(spec: AnalyzerSpec) -> Callable[[str], str] | None:
    if spec.preprocessor == "identity":
        return None
    accents = {None: None, "ascii": _strip_accents_ascii, "unicode": _strip_accents_unicode}[spec.strip_accents]
    lower = spec.lowercase

    def preprocess(doc: str) -> str:  # sklearn's _preprocess
        if lower:
            doc = doc.lower()
        if accents is not None:
            doc = accents(doc)
        return doc

    return preprocess


def _word_ngrams(tokens: list[str], min_n: int, max_n: int) -> list[str]:
    # _VectorizerMixin._word_ngrams without stop words
    if max_n != 1:
        original_tokens = tokens
        if min_n == 1:
            tokens = list(original_tokens)
            min_n += 1
        else:
            tokens = []
        n_original_tokens = len(original_tokens)
        tokens_append = tokens.append
        space_join = " ".join
        for n in range(min_n, min(max_n + 1, n_original_tokens + 1)):
            for i in range(n_original_tokens - n + 1):
                tokens_append(space_join(original_tokens[i : i + n]))
    return tokens


def _char_ngrams(text_document: str, min_n: int, max_n: int) -> list[str]:
    # _VectorizerMixin._char_ngrams
    text_document = _WHITE_SPACES.sub(" ", text_document)
    text_len = len(text_document)
    if min_n == 1:
        ngrams = list(text_document)
        min_n += 1
    else:
        ngrams = []
    ngrams_append = ngrams.append
    for n in range(min_n, min(max_n + 1, text_len + 1)):
        for i in range(text_len - n + 1):
            ngrams_append(text_document[i : i + n])
    return ngrams


def _word_char_wb_ngrams(word: str, min_n: int, max_n: int, out: list[str]) -> None:
    # the body of _VectorizerMixin._char_wb_ngrams's loop, for one word
    w = " " + word + " "
    w_len = len(w)
    ngrams_append = out.append
    for n in range(min_n, max_n + 1):
        offset = 0
        ngrams_append(w[offset : offset + n])
        while offset + n < w_len:
            offset += 1
            ngrams_append(w[offset : offset + n])
        if offset == 0:  # count a short word (w_len < n) only once
            break


def _char_wb_ngrams(text_document: str, min_n: int, max_n: int) -> list[str]:
    # _VectorizerMixin._char_wb_ngrams
    text_document = _WHITE_SPACES.sub(" ", text_document)
    ngrams: list[str] = []
    for w in text_document.split():
        _word_char_wb_ngrams(w, min_n, max_n, ngrams)
    return ngrams


def build_analyzer(spec: AnalyzerSpec) -> Callable[[str], list[str]]:
    """``text -> n-grams``, as ``TfidfVectorizer(...).build_analyzer()`` for ``spec``."""
    preprocess = _preprocessor(spec)
    min_n, max_n = spec.ngram_range
    if spec.kind == "word":
        findall = re.compile(spec.token_pattern or "").findall

        def analyze(doc: str) -> list[str]:
            if preprocess is not None:
                doc = preprocess(doc)
            return _word_ngrams(findall(doc), min_n, max_n)

    else:
        ngrams = _char_ngrams if spec.kind == "char" else _char_wb_ngrams

        def analyze(doc: str) -> list[str]:
            if preprocess is not None:
                doc = preprocess(doc)
            return ngrams(doc, min_n, max_n)

    return analyze


# ---------------------------------------------------------------------------------------
# Scoring

_WORD_CACHE_SIZE = 5_000  # words whose character n-grams are remembered (~2 MB at most)


class _Part:
    """One TF-IDF vectoriser: text -> (columns, values) of its l2-normalised row."""

    def __init__(self, spec: AnalyzerSpec, vocabulary: dict[str, int], idf: np.ndarray, sublinear: bool,
                 offset: int) -> None:
        self.spec = spec
        self.analyze = build_analyzer(spec)
        self.vocabulary = vocabulary
        self.idf = idf
        self.sublinear = sublinear
        self.offset = offset
        self.min_n, self.max_n = spec.ngram_range
        # char_wb n-grams never cross a space: look each distinct word up once.
        self.cache: dict[str, np.ndarray] | None = {} if spec.per_word else None

    def _counts(self, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        vocab = self.vocabulary
        if self.cache is None:
            counts = Counter(map(vocab.get, self.analyze(text)))
            counts.pop(None, None)
            if not counts:
                return None
            idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=float, count=len(counts))
            return idx, tf
        cache = self.cache
        arrays, times = [], []
        for word, n in Counter(_WHITE_SPACES.sub(" ", text).split()).items():
            hits = cache.get(word)
            if hits is None:
                grams: list[str] = []
                _word_char_wb_ngrams(word, self.min_n, self.max_n, grams)
                hits = np.fromiter((j for j in map(vocab.get, grams) if j is not None), dtype=np.intp)
                if len(cache) >= _WORD_CACHE_SIZE:
                    cache.clear()
                cache[word] = hits
            if hits.size:
                arrays.append(hits)
                times.append(n)
        if not arrays:
            return None
        weights = np.repeat(np.asarray(times, dtype=float), [a.size for a in arrays])
        counted = np.bincount(np.concatenate(arrays), weights=weights)
        idx = np.flatnonzero(counted)
        return idx, counted[idx]

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        found = self._counts(text)
        if found is None:
            return None
        idx, tf = found
        if self.sublinear:
            tf = np.log(tf) + 1.0
        val = tf * self.idf[idx]
        norm = float(np.sqrt(val @ val))
        if norm > 0:
            val /= norm
        return idx + self.offset, val


@dataclass(frozen=True)
class _Linear:
    """One calibrated linear classifier (an entry of ``calibrated_classifiers_``)."""

    coef: np.ndarray  # (n_scores, n_features); n_scores is 1 for two classes
    intercept: np.ndarray  # (n_scores,)
    method: str  # "temperature" or "sigmoid"
    a: np.ndarray  # temperature: [beta]; sigmoid: a_ per calibrator
    b: np.ndarray  # temperature: []; sigmoid: b_ per calibrator
    pos: np.ndarray  # column of each of the estimator's classes in ``classes``


def _expit(x: np.ndarray) -> np.ndarray:
    # scipy.special.expit without scipy, overflow-free: 1 / (1 + e^-x)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _calibrated(model: _Linear, idx: np.ndarray, val: np.ndarray, n: int) -> np.ndarray:
    # _CalibratedClassifier.predict_proba for one row
    scores = model.coef[:, idx] @ val + model.intercept
    if model.method == "temperature":
        if scores.size == 1:  # binary decision_function: logits (-x, x)
            logits = np.array([-scores[0], scores[0]])
        elif np.all((scores >= 0) & (scores <= 1)) and np.isclose(scores.sum(), 1.0):
            logits = np.log(scores + 1e-12)  # scikit-learn's "looks like probabilities" rule
        else:
            logits = scores
        z = model.a[0] * logits
        z = np.exp(z - z.max())
        proba = z / z.sum()
    else:  # sigmoid, one-vs-rest
        calibrated = _expit(-(model.a * scores + model.b))
        proba = np.zeros(n)
        if n == 2:
            proba[1] = calibrated[0]
            proba[0] = 1.0 - proba[1]
        else:
            proba[model.pos] = calibrated
            total = proba.sum()
            proba = proba / total if total != 0 else np.full(n, 1.0 / n)
    proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
    return proba


class CompiledRouter:
    """Scores requests like the :class:`~helpdesk.routing.classifier.Router` it was
    compiled from, with numpy only. Build with :func:`compile_router` or :func:`load`."""

    def __init__(self, *, parts: list[_Part], models: list[_Linear], classes: list[str],
                 meta: dict[str, Any], probes: Sequence[str] = (), probe_proba: np.ndarray | None = None) -> None:
        n_features = sum(len(p.vocabulary) for p in parts)
        n = len(classes)
        if not parts or not models or n < 2:
            raise ValueError("empty model")
        for m in models:
            if m.coef.ndim != 2 or m.coef.shape[1] != n_features or m.intercept.shape != (m.coef.shape[0],):
                raise ValueError("coefficient shapes")
            if m.coef.shape[0] != (1 if n == 2 else n) or m.pos.shape != (m.coef.shape[0] if n > 2 else 2,):
                raise ValueError("class count")
            if m.method == "temperature" and m.a.shape != (1,):
                raise ValueError("calibration shapes")
            if m.method == "sigmoid" and not (m.a.shape == m.b.shape == (m.coef.shape[0],)):
                raise ValueError("calibration shapes")
            if m.method not in ("temperature", "sigmoid"):
                raise ValueError("calibration method")
            if not (np.all(m.pos >= 0) and np.all(m.pos < n)):
                raise ValueError("class positions")
        self.parts = parts
        self.models = models
        self.classes = classes
        self.meta = meta
        self.version: str = str(meta["version"])
        self.labels: list[str] = [str(label) for label in meta["labels"]]
        self.lexicon = check_lexicon(meta.get("lexicon"))
        # scikit-learn's probabilities on probe texts: re-checked on every load
        self.probes = list(probes)
        self.probe_proba = probe_proba

    def __repr__(self) -> str:
        return f"<CompiledRouter {self.version} ({len(self.classes)} labels)>"

    def metadata(self) -> dict[str, Any]:
        """JSON-friendly description (the trained model's, plus the compiled format)."""
        return {**self.meta, "version": self.version, "labels": list(self.labels), "compiled_format": _FORMAT}

    def _proba(self, text: str) -> np.ndarray:
        """Probabilities in ``classes`` order for an already normalised text; all zeros
        when no n-gram is known."""
        n = len(self.classes)
        found = [v for v in (part.vector(text) for part in self.parts) if v is not None]
        if not found:
            return np.zeros(n)
        idx = np.concatenate([i for i, _ in found])
        val = np.concatenate([v for _, v in found])
        mean = np.zeros(n)
        for model in self.models:
            mean += _calibrated(model, idx, val, n)
        return mean / len(self.models)

    def probabilities(self, texts: Iterable[str]) -> np.ndarray:
        """``(n_texts, n_classes)`` probabilities in ``classes`` order (texts are prepared)."""
        rows = [self._proba(prepare(t, self.lexicon)) for t in texts]
        return np.vstack(rows) if rows else np.zeros((0, len(self.classes)))

    def predict_proba(self, texts: Iterable[str]) -> list[list[tuple[str, float]]]:
        """For each text, every label with its probability, highest first.

        Texts that are empty after normalisation (or share no n-gram with the training
        data) get probability 0 for every label.
        """
        return [rank(self.classes, row) for row in self.probabilities(texts)]

    def decide(self, text: str, threshold: float = DEFAULT_THRESHOLD, margin: float = DEFAULT_MARGIN) -> Decision:
        """Auto-route iff top probability >= threshold and top - second >= margin.

        Never raises: should scoring fail unexpectedly, the request goes to triage (not
        auto-routed, confidence 0) and the failure is logged without the text.
        """
        return decide_safely(self.predict_proba, text, threshold, margin, self.version)

    def self_check(self) -> bool:
        """Whether this model reproduces scikit-learn's probabilities on the probe texts."""
        if not self.probes or self.probe_proba is None:
            return False
        got = np.vstack([self._proba(t) for t in self.probes])
        expected = self.probe_proba
        return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=0, atol=_TOLERANCE))


# ---------------------------------------------------------------------------------------
# Compiling (needs the fitted scikit-learn objects; imported lazily)

# Beyond the Router's own probes: accents, upper case, punctuation, repeats, runs of
# spaces, one-letter words, digits. Synthetic: the file stores them.
def identity(text: str) -> str:
    """The pipeline's preprocessor: module-level (not a lambda) so pipelines pickle; texts
    are normalised beforehand. ``classifier._identity`` names this same function."""
    return text


# Texts the scikit-learn pipeline and its compiled twin must score alike.
PROBES = (
    "I forgot my password",
    "olvide mi contrasena y no puedo entrar",
    "need to reschedule my appointment",
    "why was I charged twice on my bill",
    "refill my prescription",
    "copy of my medical records",
    "the app crashes",
    "what are your hours",
    "zzqx",
)


_EXTRA_PROBES = (
    "Olvidé mi CONTRASEÑA!! ¿me ayudan?",
    "  refill   refill\trefill  my   meds ",
    "a b c d e f g",
    "re: re: bill #12345 due 01/02/2025",
    "portal app app app crashes crashes",
    "x",
    "",
)


def _spec_of(vec: Any, identity: Any) -> AnalyzerSpec:
    """The :class:`AnalyzerSpec` of a fitted vectoriser, or :class:`UnsupportedModel`."""
    if getattr(vec, "input", None) != "content" or callable(vec.analyzer) or vec.analyzer not in _KINDS:
        raise UnsupportedModel("analyzer")
    if vec.preprocessor is identity:
        preprocessor = "identity"
    elif vec.preprocessor is None:
        preprocessor = "default"
    else:
        raise UnsupportedModel("preprocessor")
    strip = vec.strip_accents or None
    if preprocessor == "default" and strip not in _ACCENTS:
        raise UnsupportedModel("strip_accents")
    token_pattern = None
    if vec.analyzer == "word":
        if vec.tokenizer is not None or vec.stop_words is not None:
            raise UnsupportedModel("tokenizer or stop words")
        token_pattern = vec.token_pattern
    lo, hi = vec.ngram_range
    return AnalyzerSpec(
        kind=vec.analyzer,
        ngram_range=(int(lo), int(hi)),
        token_pattern=token_pattern,
        preprocessor=preprocessor,
        lowercase=bool(vec.lowercase) if preprocessor == "default" else False,
        strip_accents=strip if preprocessor == "default" else None,
    )


def _sklearn_proba(pipeline: Any, texts: list[str]) -> np.ndarray:
    """scikit-learn's own answer, one text at a time (as the app asks), with the Router's
    rule: a text with no known n-gram has probability 0 everywhere."""
    rows = []
    for text in texts:
        features = pipeline[:-1].transform([text])
        row = np.array(pipeline[-1].predict_proba(features)[0], dtype=float)
        if features.nnz == 0:
            row[:] = 0.0
        rows.append(row)
    return np.vstack(rows)


def compile_router(router: Any) -> CompiledRouter:
    """The numpy-only twin of a fitted :class:`~helpdesk.routing.classifier.Router`.

    Raises :class:`UnsupportedModel` for any configuration whose scores it would not
    reproduce exactly, and when its probabilities on probe texts differ from
    scikit-learn's by more than 1e-9.
    """
    # lazy: this module is numpy-only for the workers; compiling (at training time) reads scikit-learn
    from sklearn.calibration import CalibratedClassifierCV  # lazy: see above
    from sklearn.feature_extraction.text import TfidfVectorizer  # lazy: see above
    from sklearn.linear_model._base import LinearClassifierMixin  # lazy: see above
    from sklearn.pipeline import FeatureUnion, Pipeline  # lazy: see above

    pipeline = router.pipeline
    if not isinstance(pipeline, Pipeline) or len(pipeline) != 2:
        raise UnsupportedModel("pipeline shape")
    features, clf = pipeline[0], pipeline[-1]
    if not isinstance(features, FeatureUnion) or features.transformer_weights:
        raise UnsupportedModel("pipeline shape")
    if not isinstance(clf, CalibratedClassifierCV):
        raise UnsupportedModel("classifier")

    parts: list[_Part] = []
    offset = 0
    for _name, vec in features.transformer_list:
        if type(vec) is not TfidfVectorizer:
            raise UnsupportedModel("vectoriser")
        if vec.norm != "l2" or vec.binary or np.dtype(vec.dtype) != np.float64:
            raise UnsupportedModel("vectoriser")
        spec = _spec_of(vec, identity)
        vocab = vec.vocabulary_
        n_terms = len(vocab)
        if sorted(vocab.values()) != list(range(n_terms)):
            raise UnsupportedModel("vocabulary")
        idf = np.asarray(vec.idf_, dtype=np.float64) if vec.use_idf else np.ones(n_terms)
        if idf.shape != (n_terms,):
            raise UnsupportedModel("idf")
        parts.append(_Part(spec, {term: int(j) for term, j in vocab.items()}, idf, bool(vec.sublinear_tf), offset))
        offset += n_terms

    classes = [str(c) for c in clf.classes_]
    models = []
    for cc in clf.calibrated_classifiers_:
        est = cc.estimator
        if not isinstance(est, LinearClassifierMixin) or (
            type(est).decision_function is not LinearClassifierMixin.decision_function
        ):
            raise UnsupportedModel("estimator")
        coef = np.asarray(est.coef_, dtype=np.float64)
        intercept = np.asarray(est.intercept_, dtype=np.float64).reshape(-1)
        if cc.method == "temperature":
            a = np.array([float(cc.calibrators[0].beta_)])
            b = np.zeros(0)
        elif cc.method == "sigmoid":
            a = np.array([c.a_ for c in cc.calibrators], dtype=np.float64)
            b = np.array([c.b_ for c in cc.calibrators], dtype=np.float64)
        else:
            raise UnsupportedModel("calibration method")
        pos = np.searchsorted(np.asarray(clf.classes_), est.classes_).astype(np.int64)
        models.append(_Linear(coef, intercept, cc.method, a, b, pos))

    meta = dict(router.metadata())
    meta.update(version=str(router.version), labels=[str(label) for label in router.labels])
    raw = [*PROBES, *_EXTRA_PROBES]
    probes = [normalise(t) for t in raw] + [t for t in raw if t != normalise(t)]
    try:
        compiled = CompiledRouter(parts=parts, models=models, classes=classes, meta=meta, probes=probes,
                                  probe_proba=_sklearn_proba(pipeline, probes))
    except ValueError as exc:
        raise UnsupportedModel(str(exc)) from exc
    if not compiled.self_check():
        raise UnsupportedModel("compiled probabilities differ from scikit-learn's")
    return compiled


# ---------------------------------------------------------------------------------------
# Files


def compiled_path(model_path: str | os.PathLike[str]) -> Path:
    """Where the compiled twin of the model at ``model_path`` lives.

    ``models/v1.joblib`` -> ``models/v1.compiled.npz``.
    """
    path = Path(model_path)
    stem = path.name[: -len(".joblib")] if path.name.endswith(".joblib") else path.name
    return path.with_name(stem + ".compiled.npz")


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write ``path`` through a temporary file in the same directory, then rename it.

    The file is created owner-only (0600), and a reader sees the old file or the new
    one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _pack_terms(vocabulary: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    terms = sorted(vocabulary, key=vocabulary.__getitem__)
    offsets = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in terms], out=offsets[1:])
    blob = "".join(terms).encode("utf-8", "surrogatepass")
    return np.frombuffer(blob, dtype=np.uint8), offsets


def _unpack_terms(blob: np.ndarray, offsets: np.ndarray) -> dict[str, int]:
    text = blob.tobytes().decode("utf-8", "surrogatepass")
    if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != len(text):
        raise ValueError("vocabulary offsets")
    if offsets.size > 1 and np.any(np.diff(offsets) <= 0):
        raise ValueError("vocabulary offsets")
    bounds = offsets.tolist()
    vocabulary = {text[bounds[i] : bounds[i + 1]]: i for i in range(len(bounds) - 1)}
    if len(vocabulary) != len(bounds) - 1:
        raise ValueError("duplicate terms")
    return vocabulary


def _json_array(obj: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, sort_keys=True, default=str).encode(), dtype=np.uint8)


def dumps(compiled: CompiledRouter) -> bytes:
    """The bytes of ``compiled`` (from :func:`compile_router` or :func:`loads`): what the
    database stores for a model version (:func:`save` writes the same bytes to a file)."""
    if compiled.probe_proba is None or not compiled.probes:
        raise ValueError("only a model from compile_router() or load() can be saved")
    arrays: dict[str, np.ndarray] = {}
    header = {
        "compiled_format": _FORMAT,
        "meta": {**compiled.meta, "version": compiled.version, "labels": list(compiled.labels)},
        "classes": compiled.classes,
        "probes": compiled.probes,
        "parts": [{"analyzer": p.spec.to_json(), "sublinear_tf": p.sublinear} for p in compiled.parts],
        "models": [{"method": m.method} for m in compiled.models],
    }
    arrays["header"] = _json_array(header)
    for i, part in enumerate(compiled.parts):
        arrays[f"part{i}_terms"], arrays[f"part{i}_offsets"] = _pack_terms(part.vocabulary)
        arrays[f"part{i}_idf"] = np.asarray(part.idf, dtype=np.float64)
    for k, m in enumerate(compiled.models):
        arrays[f"model{k}_coef"] = m.coef
        arrays[f"model{k}_intercept"] = m.intercept
        arrays[f"model{k}_a"] = m.a
        arrays[f"model{k}_b"] = m.b
        arrays[f"model{k}_pos"] = m.pos
    arrays["probe_proba"] = np.asarray(compiled.probe_proba, dtype=np.float64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def save(compiled: CompiledRouter, path: str | os.PathLike[str]) -> Path:
    """Write ``compiled`` (the bytes of :func:`dumps`) to ``path``, atomically, 0600."""
    path = Path(path)
    data = dumps(compiled)
    atomic_write(path, lambda fh: fh.write(data))
    return path


def _float_array(arrays: dict[str, np.ndarray], name: str, ndim: int) -> np.ndarray:
    a = arrays[name]
    if a.dtype != np.float64 or a.ndim != ndim or not np.all(np.isfinite(a)):
        raise ValueError(f"bad array {name}")
    return a


def _from_arrays(arrays: dict[str, np.ndarray]) -> CompiledRouter:
    header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    if header.get("compiled_format") != _FORMAT:
        raise ModelLoadError("incompatible compiled model format")
    parts: list[_Part] = []
    offset = 0
    for i, p in enumerate(header["parts"]):
        spec = AnalyzerSpec.from_json(p["analyzer"])
        terms, offsets = arrays[f"part{i}_terms"], arrays[f"part{i}_offsets"]
        if terms.dtype != np.uint8 or offsets.dtype != np.int64:
            raise ValueError("vocabulary arrays")
        vocabulary = _unpack_terms(terms, offsets)
        idf = _float_array(arrays, f"part{i}_idf", 1)
        if idf.shape != (len(vocabulary),):
            raise ValueError("idf shape")
        parts.append(_Part(spec, vocabulary, idf, bool(p["sublinear_tf"]), offset))
        offset += len(vocabulary)
    models = []
    for k, m in enumerate(header["models"]):
        pos = arrays[f"model{k}_pos"]
        if pos.dtype != np.int64 or pos.ndim != 1:
            raise ValueError("class positions")
        models.append(_Linear(
            coef=_float_array(arrays, f"model{k}_coef", 2),
            intercept=_float_array(arrays, f"model{k}_intercept", 1),
            method=str(m["method"]),
            a=_float_array(arrays, f"model{k}_a", 1),
            b=_float_array(arrays, f"model{k}_b", 1),
            pos=pos,
        ))
    compiled = CompiledRouter(
        parts=parts, models=models, classes=[str(c) for c in header["classes"]], meta=dict(header["meta"]),
        probes=[str(t) for t in header["probes"]], probe_proba=_float_array(arrays, "probe_proba", 2),
    )
    if not compiled.self_check():
        raise ModelLoadError("compiled model failed its self-check")
    return compiled


def loads(data: bytes | bytearray | memoryview) -> CompiledRouter:
    """A model from the bytes of :func:`dumps` (a database column or a file).

    Raises :class:`ModelLoadError` when they are truncated, not such a model,
    inconsistent, or do not reproduce the probabilities they were saved with.
    """
    try:
        data = bytes(data)
        npz = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ModelLoadError("not a compiled model file")
        with npz:
            arrays = {name: npz[name] for name in npz.files}
        return _from_arrays(arrays)
    except ModelLoadError:
        raise
    except Exception as exc:  # truncated/garbage bytes raise many different types
        raise ModelLoadError(f"compiled model unreadable ({type(exc).__name__})") from exc


def load(path: str | os.PathLike[str]) -> CompiledRouter:
    """Read a file written by :func:`save` (see :func:`loads`).

    Raises :class:`ModelLoadError` when it is missing, truncated, not such a file,
    inconsistent, or does not reproduce the probabilities it was saved with.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"compiled model file not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"compiled model file unreadable: {path} ({type(exc).__name__})") from exc
    try:
        return loads(data)
    except ModelLoadError as exc:
        raise ModelLoadError(f"{exc}: {path}") from None
