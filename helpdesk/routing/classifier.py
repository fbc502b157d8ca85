"""The request router's model: pure scikit-learn, no Flask, no database.

A request's text is normalised (lower case, accents stripped, whitespace collapsed, length
capped), given the marker words of the kinds it names (:mod:`helpdesk.routing.lexicon`:
a specialty, a medicine, a payment), turned into word 1-2-gram and character 2-5-gram TF-IDF features, and scored by a
linear SVM whose scores are calibrated into probabilities (temperature scaling fitted on
cross-validated scores). :meth:`Router.decide` routes a request automatically only when
the model is both confident (top probability >= ``threshold``) and unambiguous (top minus
second >= ``margin``); everything else goes to human triage with the top-3 suggestions.

Single requests are scored by a small numpy re-implementation of the fitted pipeline
(:class:`_FastScorer`, ~0.2 ms instead of ~5 ms of scikit-learn overhead), used only after
it has reproduced the pipeline's own probabilities.

Web workers do not load this module (importing scikit-learn costs ~110 MB): they serve the
model's compiled twin, :mod:`helpdesk.routing.compiled` (numpy only), which also holds
what both share: :func:`normalise`, :class:`Decision`, the decision policy and
:class:`ModelLoadError` (re-exported here).

:func:`save` writes the model with joblib (owner-only file mode: vocabularies are
derived from patient text) plus a JSON sidecar with its metadata; :func:`load` raises
:class:`ModelLoadError` for anything it cannot use. Only load files this application wrote.

Nothing here logs or raises with patient text in the message.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from helpdesk.routing import lexicon as _lexicon
from helpdesk.routing.compiled import (
    DEFAULT_MARGIN,
    DEFAULT_THRESHOLD,
    MAX_CHARS,
    Decision,
    ModelLoadError,
    atomic_write,
    decide_safely,
    normalise,
    prepare,
    rank,
)
from helpdesk.routing.compiled import PROBES as _PROBES
from helpdesk.routing.compiled import identity as _identity  # old pickles name classifier._identity

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_THRESHOLD",
    "MAX_CHARS",
    "Decision",
    "ModelLoadError",
    "Router",
    "build_pipeline",
    "load",
    "normalise",
    "prepare",
    "save",
    "sidecar_path",
    "train",
]

# From this many examples, calibration uses 3 folds (not 5) fitted in parallel
# processes; below it training takes seconds and worker processes cost more than they
# save. (100k examples: ~45 s on 2 cores.)
_LARGE = 20_000

log = logging.getLogger(__name__)

_FORMAT = 1  # bump when the pickled Router's shape changes incompatibly


def build_pipeline(
    seed: int = 0,
    *,
    C: float = 0.5,
    word_ngrams: tuple[int, int] = (1, 2),
    char_ngrams: tuple[int, int] = (2, 5),
    max_word_features: int | None = 20_000,
    max_char_features: int | None = 80_000,
    method: str = "temperature",
    cv: int = 5,
    ensemble: bool = False,
    n_jobs: int | None = None,
) -> Pipeline:
    """Word and character-n-gram TF-IDF into a calibrated linear SVM.

    The keyword arguments exist for model selection; the defaults are the variant chosen
    by cross-validation on ``corpus/train.csv``:

    - word 1-2-grams + ``char_wb`` 2-5-grams, sublinear TF, no ``min_df`` (rare words and
      typos matter with ~200 examples per queue), vocabularies capped so a model trained
      on 100k requests stays small;
    - ``LinearSVC(C=0.5)``, calibrated by temperature scaling (one inverse temperature
      for a softmax over the SVM scores, fitted on 5-fold cross-validated scores; the
      final SVM is fitted on all the data, ``ensemble=False``). It ranked confidence
      better than per-class sigmoids and predicting costs one linear model. The SVM is
      solved in the dual, ~3x faster than the primal on 100k short texts.

    ``n_jobs`` runs the calibration folds in parallel processes (the vectorisers gain
    nothing from it: the character one dominates and results are costly to ship back).

    Inputs must already be :func:`normalise`-d (``Router`` does this).
    """
    common: dict[str, Any] = {"preprocessor": _identity, "lowercase": False, "sublinear_tf": True}
    features = FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=word_ngrams,
                    token_pattern=r"(?u)\b\w+\b",  # noqa: S106 (a regex, not a secret)
                    max_features=max_word_features,
                    **common,
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=char_ngrams,
                    max_features=max_char_features,
                    **common,
                ),
            ),
        ]
    )
    svm = LinearSVC(C=C, dual=True, max_iter=5_000, random_state=seed)
    classifier = CalibratedClassifierCV(svm, method=method, cv=cv, ensemble=ensemble, n_jobs=n_jobs)
    return Pipeline([("features", features), ("clf", classifier)])


class _Unsupported(Exception):
    """The pipeline has a shape the fast scorer does not reproduce."""




_WORD_CACHE_SIZE = 5_000  # words whose character n-grams are remembered (~2 MB at most)


class _FastScorer:
    """``pipeline.predict_proba`` re-done in plain numpy for one text at a time.

    scikit-learn's per-call validation costs ~5 ms for a single text; the arithmetic
    itself takes well under 0.1 ms. This reads the fitted pipeline's own arrays (no
    copies). It is only used once it has reproduced the pipeline's probabilities on a few
    probe texts; a pipeline it does not recognise makes the router use scikit-learn.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        features, clf = pipeline[0], pipeline[-1]
        if len(pipeline) != 2 or not isinstance(features, FeatureUnion):
            raise _Unsupported("pipeline shape")
        if features.transformer_weights or not isinstance(clf, CalibratedClassifierCV):
            raise _Unsupported("pipeline shape")
        self.parts = []
        offset = 0
        for _name, vec in features.transformer_list:
            if not isinstance(vec, TfidfVectorizer) or vec.norm != "l2" or vec.binary:
                raise _Unsupported("vectoriser")
            idf = vec.idf_ if vec.use_idf else np.ones(len(vec.vocabulary_))
            # char_wb n-grams never cross a space, so a text's n-grams are its words'
            # n-grams: look each distinct word up once, and remember common words.
            per_word = (
                vec.analyzer == "char_wb"
                and vec.preprocessor is _identity
                and not vec.lowercase
                and vec.strip_accents is None
            )
            cache: dict[str, np.ndarray] | None = {} if per_word else None
            self.parts.append((vec.build_analyzer(), vec.vocabulary_, idf, vec.sublinear_tf, offset, cache))
            offset += len(vec.vocabulary_)
        self.classes = clf.classes_
        self.models = []
        for cc in clf.calibrated_classifiers_:
            est = cc.estimator
            coef = getattr(est, "coef_", None)
            if coef is None or getattr(coef, "ndim", 0) != 2 or coef.shape[1] != offset:
                raise _Unsupported("estimator")
            if cc.method == "sigmoid":
                params = (
                    np.array([c.a_ for c in cc.calibrators], dtype=float),
                    np.array([c.b_ for c in cc.calibrators], dtype=float),
                )
            elif cc.method == "temperature":
                params = (float(cc.calibrators[0].beta_), None)
            else:
                raise _Unsupported("calibration method")
            pos = np.searchsorted(self.classes, est.classes_)
            self.models.append((coef, np.asarray(est.intercept_, dtype=float), cc.method, params, pos))

    def reproduces(self, expected: np.ndarray | None) -> bool:
        """Whether this scorer gives ``expected`` (the pipeline's output on ``_PROBES``)."""
        if expected is None:
            return False
        got = np.vstack([self.proba(t) for t in _PROBES])
        return got.shape == np.shape(expected) and bool(np.allclose(got, expected, rtol=0, atol=1e-9))

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sparse TF-IDF row: (column indices, values)."""
        all_idx, all_val = [], []
        for analyzer, vocab, idf, sublinear, offset, cache in self.parts:
            if cache is None:
                counts = Counter(map(vocab.get, analyzer(text)))
                counts.pop(None, None)
                if not counts:
                    continue
                idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
                tf = np.fromiter(counts.values(), dtype=float, count=len(counts))
            else:
                arrays, times = [], []
                for word, n in Counter(text.split()).items():
                    hits = cache.get(word)
                    if hits is None:
                        grams = (j for j in map(vocab.get, analyzer(word)) if j is not None)
                        hits = np.fromiter(grams, dtype=np.intp)
                        if len(cache) >= _WORD_CACHE_SIZE:
                            cache.clear()
                        cache[word] = hits
                    if hits.size:
                        arrays.append(hits)
                        times.append(n)
                if not arrays:
                    continue
                weights = np.repeat(np.asarray(times, dtype=float), [a.size for a in arrays])
                counted = np.bincount(np.concatenate(arrays), weights=weights)
                idx = np.flatnonzero(counted)
                tf = counted[idx]
            if sublinear:
                tf = np.log(tf) + 1.0
            val = tf * idf[idx]
            norm = float(np.sqrt(val @ val))
            if norm > 0:
                val /= norm
            all_idx.append(idx + offset)
            all_val.append(val)
        if not all_idx:
            return np.empty(0, dtype=np.intp), np.empty(0)
        return np.concatenate(all_idx), np.concatenate(all_val)

    def proba(self, text: str) -> np.ndarray:
        """Probabilities in ``classes`` order; all zeros when no n-gram is known."""
        n = len(self.classes)
        idx, val = self.vector(text)
        if idx.size == 0:
            return np.zeros(n)
        mean = np.zeros(n)
        for coef, intercept, method, (p1, p2), pos in self.models:
            scores = coef[:, idx] @ val + intercept
            if method == "temperature":
                if scores.size == 1:
                    logits = np.array([-scores[0], scores[0]])
                elif np.all((scores >= 0) & (scores <= 1)) and np.isclose(scores.sum(), 1.0):
                    logits = np.log(scores + 1e-12)  # sklearn's "looks like probabilities" rule
                else:
                    logits = scores
                z = p1 * logits
                z = np.exp(z - z.max())
                proba = z / z.sum()
            else:  # sigmoid, one-vs-rest
                calibrated = expit(-(p1 * scores + p2))
                proba = np.zeros(n)
                if n == 2:
                    proba[1] = calibrated[0]
                    proba[0] = 1.0 - proba[1]
                else:
                    proba[pos] = calibrated
                    total = proba.sum()
                    proba = proba / total if total != 0 else np.full(n, 1.0 / n)
            proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
            mean += proba
        return mean / len(self.models)


def _fast_scorer(pipeline: Pipeline) -> _FastScorer | None:
    try:
        return _FastScorer(pipeline)
    except _Unsupported:
        return None
    except (AttributeError, TypeError, ValueError, IndexError):
        return None  # an unexpected shape: scikit-learn's own path still works


_SEP = "\x00"  # normalise() turns NUL into a space, so no n-gram contains it


def _pack(pipeline: Pipeline) -> tuple[Pipeline, list[str] | None]:
    """A copy of ``pipeline`` whose vocabularies are NUL-joined strings, for pickling.

    Unpickling a dict of 100k n-grams (joblib uses the pure-Python unpickler) costs ~50 MB
    of transient memory that the process keeps; one string per vocabulary costs ~1 MB.
    The live pipeline is not modified. Unknown shapes are left as they are.
    """
    features = pipeline[0]
    if not isinstance(features, FeatureUnion):
        return pipeline, None
    packed: list[str] = []
    transformers = []
    for name, vec in features.transformer_list:
        vocab = getattr(vec, "vocabulary_", None)
        if not isinstance(vec, TfidfVectorizer) or not isinstance(vocab, dict):
            return pipeline, None
        terms = sorted(vocab, key=vocab.__getitem__)
        if [vocab[t] for t in terms] != list(range(len(terms))) or any(_SEP in t for t in terms):
            return pipeline, None
        light = copy.copy(vec)
        del light.vocabulary_
        transformers.append((name, light))
        packed.append(_SEP.join(terms))
    light_features = copy.copy(features)
    light_features.transformer_list = transformers
    light_pipeline = copy.copy(pipeline)
    light_pipeline.steps = [("features", light_features), *pipeline.steps[1:]]
    return light_pipeline, packed


def _unpack(pipeline: Pipeline, packed: list[str]) -> None:
    for (_name, vec), joined in zip(pipeline[0].transformer_list, packed, strict=True):
        vec.vocabulary_ = {term: i for i, term in enumerate(joined.split(_SEP))} if joined else {}


@dataclass
class Router:
    """A fitted pipeline and what is known about it."""

    pipeline: Pipeline
    version: str
    labels: list[str]
    trained_at: str
    n_examples: int
    metrics: dict[str, Any] = field(default_factory=dict)
    format: int = _FORMAT
    lexicon: int = 0  # the lexicon version trained with (0: none; models before it)

    def __post_init__(self) -> None:
        # The pipeline's own answers on the probes: the fast scorer must reproduce them,
        # now and after every load (so a load needs no scikit-learn prediction).
        self._probe_proba: np.ndarray | None = None
        self._fast: _FastScorer | None = None
        with contextlib.suppress(Exception):  # an odd pipeline just predicts the slow way
            self._probe_proba = np.asarray(self.pipeline.predict_proba(list(_PROBES)))
        fast = _fast_scorer(self.pipeline)
        if fast is not None and fast.reproduces(self._probe_proba):
            self._fast = fast

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fast", None)  # rebuilt on load
        state["pipeline"], state["_packed_vocabularies"] = _pack(self.pipeline)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        packed = state.pop("_packed_vocabularies", None)
        self.__dict__.update(state)
        if packed is not None:
            _unpack(self.pipeline, packed)
        self._fast = _fast_scorer(self.pipeline)
        if self._fast is not None and not self._fast.reproduces(state.get("_probe_proba")):
            self._fast = None

    def _proba(self, normalised: Sequence[str]) -> np.ndarray:
        if self._fast is not None:
            return np.vstack([self._fast.proba(t) for t in normalised])
        features = self.pipeline[:-1].transform(list(normalised))
        proba = self.pipeline[-1].predict_proba(features)
        # A text none of whose n-grams is in the vocabulary carries no evidence: the model
        # would answer with its priors. Report it as "no signal" (all zeros) instead.
        empty = np.asarray(features.getnnz(axis=1) == 0)
        if empty.any():
            proba = np.array(proba, dtype=float, copy=True)
            proba[empty] = 0.0
        return proba

    def predict_proba(self, texts: Iterable[str]) -> list[list[tuple[str, float]]]:
        """For each text, every label with its probability, highest first.

        Texts that are empty after normalisation (or share no n-gram with the training
        data) get probability 0 for every label.
        """
        normalised = [prepare(t, self.lexicon) for t in texts]
        if not normalised:
            return []
        proba = self._proba(normalised)
        classes = [str(c) for c in self.pipeline[-1].classes_]
        return [rank(classes, row) for row in proba]

    def decide(self, text: str, threshold: float = DEFAULT_THRESHOLD, margin: float = DEFAULT_MARGIN) -> Decision:
        """Auto-route iff top probability >= threshold and top - second >= margin.

        Never raises: should scoring fail unexpectedly, the request goes to triage (not
        auto-routed, confidence 0) and the failure is logged without the text.
        """
        return decide_safely(self.predict_proba, text, threshold, margin, self.version)

    def metadata(self) -> dict[str, Any]:
        """JSON-friendly description (what the sidecar file holds)."""
        return {
            "version": self.version,
            "labels": list(self.labels),
            "trained_at": self.trained_at,
            "n_examples": self.n_examples,
            "metrics": self.metrics,
            "format": self.format,
            "lexicon": self.lexicon,
            "sklearn_version": sklearn.__version__,
        }


def _version(trained_at: datetime, texts: Sequence[str], labels: Sequence[str], seed: int) -> str:
    digest = hashlib.sha256()
    digest.update(str(seed).encode())
    for text, label in zip(texts, labels, strict=True):
        digest.update(label.encode("utf-8", "replace") + b"\x1f")
        digest.update(text.encode("utf-8", "replace") + b"\x1e")
    return f"{trained_at:%Y%m%d-%H%M%S}-{digest.hexdigest()[:8]}"


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    *,
    use_lexicon: bool = True,
    **pipeline_params: Any,
) -> Router:
    """Fit a :class:`Router` on labelled texts.

    ``progress``, when given, is called with a short step name ("normalise", "features",
    "classifier", "done") as training advances. With ``use_lexicon`` (the default) texts
    carry the marker words of :mod:`helpdesk.routing.lexicon`, and the model records the
    lexicon's version so it is always scored the same way. Extra keyword arguments go to
    :func:`build_pipeline`.
    """

    def step(name: str) -> None:
        if progress is not None:
            progress(name)

    texts = list(texts)
    labels = [str(label) for label in labels]
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError("training needs at least two distinct labels")
    fewest = min(Counter(labels).values())
    if fewest < 2:
        raise ValueError("every label needs at least two examples")
    # Calibration cross-validates: never ask for more folds than the rarest label allows.
    # A large set needs fewer folds to fit one temperature, and each fold is an SVM fit.
    large = len(texts) >= _LARGE
    pipeline_params.setdefault("cv", min(3 if large else 5, fewest))
    if large:
        pipeline_params.setdefault("n_jobs", min(os.cpu_count() or 1, pipeline_params["cv"]))

    step("normalise")
    lexicon_version = _lexicon.VERSION if use_lexicon else 0
    normalised = [prepare(t, lexicon_version) for t in texts]
    pipeline = build_pipeline(seed, **pipeline_params)
    step("features")
    features = pipeline[:-1].fit_transform(normalised)
    step("classifier")
    pipeline[-1].fit(features, labels)
    trained_at = datetime.now(UTC).replace(microsecond=0)
    router = Router(
        pipeline=pipeline,
        version=_version(trained_at, texts, labels, seed),
        labels=classes,
        trained_at=trained_at.isoformat(),
        n_examples=len(texts),
        lexicon=lexicon_version,
    )
    step("done")
    return router


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Where the JSON metadata of the model at ``path`` lives (``model.joblib.json``)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def save(router: Router, path: str | os.PathLike[str]) -> Path:
    """Write the model (joblib) and its metadata sidecar, each atomically.

    Returns the model path. The sidecar is written after the model, so a reader never
    sees metadata for a model that is not there yet. Files are created owner-only
    (0600): the vocabularies hold n-grams of (de-identified) patient text.
    """
    path = Path(path)
    atomic_write(path, lambda fh: joblib.dump(router, fh, compress=3))
    meta = json.dumps(router.metadata(), indent=2, sort_keys=True, default=str).encode()
    atomic_write(sidecar_path(path), lambda fh: fh.write(meta))
    return path


def load(path: str | os.PathLike[str]) -> Router:
    """Read a model written by :func:`save`.

    Raises :class:`ModelLoadError` when the file is missing, truncated, not a joblib file,
    or holds something other than a compatible :class:`Router`. Only load files this
    application wrote: joblib files are pickles.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    try:
        obj = joblib.load(path)
    except Exception as exc:  # truncated/garbage files raise many different types
        raise ModelLoadError(f"model file unreadable: {path} ({type(exc).__name__})") from exc
    if not isinstance(obj, Router):
        raise ModelLoadError(f"not a routing model: {path} ({type(obj).__name__})")
    if getattr(obj, "format", None) != _FORMAT:
        raise ModelLoadError(f"incompatible model format in {path}")
    return obj
