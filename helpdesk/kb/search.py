"""Ranked, typo-tolerant article search: pure scikit-learn, no Flask, no database.

Technique (docs/knowledge-base.md explains the choice):

* Text is folded (lower case, accents removed, punctuation to spaces), so "contraseña",
  "Contrasena" and "CONTRASEÑA" are the same word, in English and Spanish alike.
* Two TF-IDF vocabularies are fitted on the published articles: **character n-grams**
  (3–5, inside word boundaries; title, summary, category and the body's first 600
  characters) and **words** (every field, the whole body). A misspelling such as
  "pasword" or "reschedual" shares most of its character n-grams with the right word,
  so it still scores; whole words sharpen the ranking when they are spelled right.
* Fields are weighted: each article's vector is the weighted sum of its *title* (×3),
  *summary* (×1.5), *category* (×1) and *body* (×1) vectors, each L2-normalised first, so
  a match in the title counts three times a match in the body whatever the body's length.
* Query words the word vocabulary doesn't know ("pasword", "camra", "sita") are also
  corrected to their nearest vocabulary words by character-bigram/trigram similarity
  (only when close), and the corrections are added to the query — this is what reaches
  misspelt words deep in a body.
* A query is one sparse vector; the score of every article is one sparse product with the
  transposed (term × article) matrix, i.e. an inverted index: the cost grows with the
  postings of the query's n-grams, not with the number of articles.
* Audience, language and "related queue" boosts are applied on the scored array (numpy
  masks), then the top results are taken with ``argpartition``.

The same code runs whatever the database is; the index is rebuilt from the published
articles when they change (``helpdesk.kb.index``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize

from helpdesk.kb.text import fold

__all__ = ["FIELD_WEIGHTS", "MAX_QUERY_CHARS", "Doc", "Hit", "SearchIndex", "normalise"]

FIELD_WEIGHTS = {"title": 3.0, "summary": 1.5, "category": 1.0, "body": 1.0}
CHAR_WEIGHT = 0.65
WORD_WEIGHT = 0.35
#: Only the start of a long query is used: what a patient types first carries the intent,
#: and it bounds the cost of a pathological input.
MAX_QUERY_CHARS = 1_000
#: Bodies are indexed up to this length (articles are limited to 100,000 characters).
MAX_BODY_CHARS = 20_000
#: A misspelt word is corrected only to a vocabulary word at least this similar.
CORRECTION_MIN_SIMILARITY = 0.5
#: Character n-grams cover the body's first characters only (the topic is stated there).
CHAR_BODY_CHARS = 600
#: Multiplier for articles related to a queue the caller cares about (the ticket's queue).
QUEUE_BOOST = 1.3

_NON_WORD = re.compile(r"[^0-9a-z]+")
_WORD_PATTERN = r"(?u)\b\w+\b"

# Small function-word lists (English and Spanish). Deliberately not scikit-learn's English
# list, which contains "bill", "call" and "find" — words patients search for.
STOP_WORDS = frozenset(
    """a an and are as at be but by can could do does for from had has have how i if in into is it its me my
    no not of on or our so than that the their them then there these they this to us was we were what when
    where which who will with would you your yours im cant dont
    al como con de del el en es esta este la las le lo los me mi mis no para pero por que se su sus un una
    uno y ya yo""".split()  # noqa: SIM905  (easier to read and extend as a block)
)


def normalise(text: str) -> str:
    """Fold accents and case; keep letters and digits only."""
    return " ".join(_NON_WORD.sub(" ", fold(text)).split())


@dataclass(frozen=True)
class Doc:
    """What the index needs of an article (plain values)."""

    id: int
    title: str
    summary: str
    category: str
    body: str
    language: str
    public: bool
    queues: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    id: int
    score: float


class _Field:
    """Count n-grams once for every field, then TF-IDF with document-level IDF."""

    def __init__(self, counter: CountVectorizer) -> None:
        self.counter = counter
        self.idf: np.ndarray | None = None
        self.postings: sp.csr_matrix | None = None

    def fit(self, fields: dict[str, list[str]], n_docs: int) -> _Field:
        names = list(fields)
        try:
            counts = sp.csr_matrix(self.counter.fit_transform([t for name in names for t in fields[name]]))
        except ValueError:  # empty vocabulary (only stop words, say)
            return self
        blocks = [counts[k * n_docs:(k + 1) * n_docs] for k in range(len(names))]
        df = np.asarray((sum(blocks) > 0).sum(axis=0)).ravel()
        self.idf = (np.log((1 + n_docs) / (1 + df)) + 1).astype(np.float32)
        total = sum(FIELD_WEIGHTS[name] for name in names)
        matrix = None
        for name, block in zip(names, blocks, strict=True):
            part = self._weigh(block) * (FIELD_WEIGHTS[name] / total)
            matrix = part if matrix is None else matrix + part
        # term × article, CSR: the rows are the postings lists of an inverted index
        self.postings = sp.csr_matrix(matrix.T, dtype=np.float32)
        return self

    def _weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        tf = counts.astype(np.float32)
        tf.data = 1 + np.log(tf.data)  # sublinear term frequency
        return normalize(sp.csr_matrix(tf.multiply(self.idf)))

    @property
    def ready(self) -> bool:
        return self.postings is not None

    def vocabulary(self) -> dict[str, int]:
        return self.counter.vocabulary_ if self.ready else {}

    def score(self, text: str) -> np.ndarray | None:
        if self.postings is None:
            return None
        q = self.counter.transform([text])
        if not q.nnz:
            return None
        return (self._weigh(q) @ self.postings).toarray().ravel()


def _lead(text: str) -> str:
    if len(text) <= CHAR_BODY_CHARS:
        return text
    cut = text.rfind(" ", 0, CHAR_BODY_CHARS)
    return text[: cut if cut > 0 else CHAR_BODY_CHARS]


class SearchIndex:
    """An immutable index over ``docs``; safe to share between threads."""

    def __init__(self, docs: Sequence[Doc], generation: str | None = None) -> None:
        started = time.perf_counter()
        self.generation = generation
        self.size = len(docs)
        self.ids = np.array([d.id for d in docs], dtype=np.int64)
        self.public = np.array([d.public for d in docs], dtype=bool)
        self.language = np.array([d.language for d in docs], dtype=object)
        self._queues = [frozenset(d.queues) for d in docs]
        self._position = {d.id: i for i, d in enumerate(docs)}
        self._terms: np.ndarray | None = None
        self._term_vec: TfidfVectorizer | None = None
        self._term_t: sp.csr_matrix | None = None
        title = [normalise(d.title) for d in docs]
        summary = [normalise(d.summary) for d in docs]
        category = [normalise(d.category) for d in docs]
        body = [normalise(d.body[:MAX_BODY_CHARS]) for d in docs]
        # Character n-grams for the short fields and the start of the body (where the
        # topic is stated); whole words everywhere. Bodies' misspelt words are reached
        # through the word vocabulary's spelling correction.
        self._char = _Field(CountVectorizer(analyzer="char_wb", ngram_range=(3, 5), lowercase=False, dtype=np.float32))
        self._word = _Field(CountVectorizer(analyzer="word", token_pattern=_WORD_PATTERN, lowercase=False,
                                            stop_words=sorted(STOP_WORDS), dtype=np.float32))
        if docs:
            lead = [_lead(b) for b in body]
            self._char.fit({"title": title, "summary": summary, "category": category, "body": lead}, self.size)
            self._word.fit({"title": title, "summary": summary, "category": category, "body": body}, self.size)
            self._fit_speller(self._word.vocabulary())
        self.build_seconds = time.perf_counter() - started

    def _fit_speller(self, vocabulary: dict[str, int]) -> None:
        terms = sorted(t for t in vocabulary if len(t) >= 3 and not t.isdigit())
        if not terms:
            return
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), lowercase=False, use_idf=False,
                              binary=True, dtype=np.float32)
        self._term_t = sp.csr_matrix(vec.fit_transform(terms).T, dtype=np.float32)
        self._term_vec = vec
        self._terms = np.array(terms, dtype=object)

    def corrections(self, text: str) -> list[str]:
        """Vocabulary words close to the query's unknown words ("pasword" → "password")."""
        if self._term_vec is None or self._term_t is None or self._terms is None:
            return []
        vocabulary = self._word.vocabulary()
        unknown = [
            t for t in dict.fromkeys(text.split())
            if len(t) >= 3 and not t.isdigit() and t not in vocabulary and t not in STOP_WORDS
        ][:12]
        if not unknown:
            return []
        queries = self._term_vec.transform(unknown)
        # Each query row was normalised over the n-grams the vocabulary knows; renormalise
        # over all of the word's n-grams, or "qpwo" would look like "two" (3 shared of 3 known).
        analyse = self._term_vec.build_analyzer()
        known = np.diff(queries.indptr).astype(np.float32)
        total = np.array([max(len(set(analyse(t))), 1) for t in unknown], dtype=np.float32)
        sims = (queries @ self._term_t).toarray() * np.sqrt(known / total)[:, None]
        out: list[str] = []
        for row in sims:
            best = float(row.max())
            if best < CORRECTION_MIN_SIMILARITY:
                continue
            # the closest word, and a second one when it is as close ("camra": camera, cámara)
            close = np.flatnonzero(row >= best - 0.02)
            close = close[np.argsort(-row[close], kind="stable")][:2]
            out.extend(str(self._terms[i]) for i in close)
        return out

    @property
    def nnz(self) -> int:
        return sum(f.postings.nnz for f in (self._char, self._word) if f.postings is not None)

    def __contains__(self, article_id: int) -> bool:
        return article_id in self._position

    def scores(self, query: str) -> np.ndarray:
        """A relevance score in [0, 1] for every indexed article."""
        out = np.zeros(self.size, dtype=np.float32)
        text = normalise(query[: MAX_QUERY_CHARS * 2])[:MAX_QUERY_CHARS]
        if not text or not self.size:
            return out
        fixed = self.corrections(text)
        for field, weight, query_text in (
            (self._char, CHAR_WEIGHT, " ".join([text, *fixed])),
            (self._word, WORD_WEIGHT, " ".join([text, *fixed])),
        ):
            scored = field.score(query_text)
            if scored is not None:
                out += weight * scored
        return out

    def search(
        self,
        query: str,
        *,
        public_only: bool = True,
        language: str | None = None,
        limit: int = 10,
        min_score: float = 0.0,
        boost_queues: Iterable[str] = (),
        exclude: Iterable[int] = (),
    ) -> list[Hit]:
        if limit <= 0 or not self.size:
            return []
        scores = self.scores(query)
        boost = frozenset(boost_queues)
        if boost:
            related = np.fromiter((bool(qs & boost) for qs in self._queues), dtype=bool, count=self.size)
            scores = np.where(related, scores * QUEUE_BOOST, scores)
        keep = scores > max(min_score, 0.0)
        if public_only:
            keep &= self.public
        if language:
            keep &= self.language == language
        for article_id in exclude:
            pos = self._position.get(article_id)
            if pos is not None:
                keep[pos] = False
        candidates = np.flatnonzero(keep)
        if not candidates.size:
            return []
        if candidates.size > limit:
            top = np.argpartition(-scores[candidates], limit - 1)[:limit]
            candidates = candidates[top]
        # best first; ties by id for a stable order
        order = sorted(candidates.tolist(), key=lambda i: (-float(scores[i]), int(self.ids[i])))
        return [Hit(int(self.ids[i]), round(float(scores[i]), 4)) for i in order]
