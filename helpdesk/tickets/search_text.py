"""The text side of ticket search, with no Flask and no database (tested alone).

Both search backends read a query the same way (``parse``): words are folded (accents
removed, lower case), stop words of English and Spanish are dropped, and each word is
matched by its English *or* its Spanish Snowball stem — the stemmers PostgreSQL's
``english`` and ``spanish`` configurations use. SQLite has no Spanish stemmer, so its
index holds the stems computed here (``index_text``). Names are matched with typos
(``name_match``), snippets are built here too (``snippet``: escaped text, ``<mark>``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import snowballstemmer
from markupsafe import Markup, escape

REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # as helpdesk.tickets.models
_REFERENCE = re.compile(rf"^(?:HD-?)?([{REFERENCE_ALPHABET}]{{6}})$", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 8
# Names: a query word is a candidate when its trigram word similarity with the name is at
# least this (pg_trgm's ``%>`` with this threshold, on a GIN index), and matches when a word
# of the name starts with it or is within a few edits of it (``name_match``).
NAME_CANDIDATE_SIMILARITY = 0.3

_EN = snowballstemmer.stemmer("english")
_ES = snowballstemmer.stemmer("spanish")


def fold(text: str) -> str:
    """Lower case without accents (as PostgreSQL's ``unaccent`` then ``lower``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    lines = (Path(__file__).with_name("search_stopwords.txt")).read_text(encoding="utf-8").splitlines()
    return frozenset(fold(w.strip()) for w in lines if w.strip() and not w.startswith("#"))


@lru_cache(maxsize=20_000)
def stems(word: str) -> tuple[str, str]:
    """The English and the Spanish stem of a folded word."""
    return _EN.stemWord(word), _ES.stemWord(word)


@dataclass(frozen=True)
class Query:
    text: str  # as typed, stripped
    words: tuple[str, ...]  # folded content words (stop words dropped), at most MAX_WORDS
    name_words: tuple[str, ...]  # folded words for the name match (stop words kept: "de la")
    references: tuple[str, ...]  # "HD-XXXXXX" forms of the words that look like a reference

    @property
    def empty(self) -> bool:
        return not (self.words or self.name_words or self.references or self.text)

    def stem_set(self) -> frozenset[str]:
        return frozenset(s for w in self.words for s in stems(w))


def parse(q: str) -> Query:
    text = " ".join(q.split())
    folded = words(text)
    stop = stopwords()
    content = tuple(dict.fromkeys(w for w in folded if w not in stop))[:MAX_WORDS]
    references = tuple(dict.fromkeys(
        "HD-" + m.group(1).upper() for token in text.split() if (m := _REFERENCE.match(token.strip(".,;:()#")))
    ))
    return Query(text=text, words=content, name_words=tuple(dict.fromkeys(folded))[:MAX_WORDS],
                 references=references)


def mrn_candidates(text: str) -> tuple[str, ...]:
    """Upper-case forms an MRN typed as ``text`` may be stored as ("MRN-204815", "204815")."""
    raw = text.strip().upper()
    alnum = re.sub(r"[^A-Z0-9]", "", raw)
    if not alnum or len(raw) > 32:
        return ()
    core = alnum.removeprefix("MRN")
    return tuple(dict.fromkeys(c for c in (raw, alnum, core, f"MRN-{core}", f"MRN{core}") if c))


# ------------------------------------------------------------------ the index (SQLite)


def index_text(text: str) -> str:
    """What SQLite's FTS5 table holds for ``text``: each word's English and Spanish stem."""
    out: list[str] = []
    for word in words(text):
        en, es = stems(word)
        out.append(en if en == es else f"{en} {es}")
    return " ".join(out)


def fts5_query(query: Query, columns: tuple[str, ...] | None) -> str:
    """An FTS5 MATCH expression: every word, by either stem, in ``columns`` (all when None)."""
    parts = []
    for word in query.words:
        options = " OR ".join(f'"{s}"' for s in dict.fromkeys(stems(word)))
        parts.append(f"({options})")
    expr = " AND ".join(parts)
    return f"{{{' '.join(columns)}}} : ({expr})" if columns else expr


# ------------------------------------------------------------------ names with typos


def _trigrams(text: str) -> list[list[str]]:
    """pg_trgm's trigrams, word by word: each word padded with two spaces before, one after."""
    out = []
    for word in _WORD.findall(text.lower()):
        padded = f"  {word} "
        out.append([padded[i:i + 3] for i in range(len(padded) - 2)])
    return out


def word_similarity(needle: str, haystack: str) -> float:
    """pg_trgm's ``word_similarity``: the best Jaccard similarity between the trigram set of
    ``needle`` and any run of consecutive trigrams of ``haystack``."""
    wanted = {t for word in _trigrams(needle) for t in word}
    if not wanted:
        return 0.0
    sequence = [t for word in _trigrams(haystack) for t in word]
    best = 0.0
    for start in range(len(sequence)):
        if sequence[start] not in wanted:
            continue  # a best run starts (and ends) on a shared trigram
        extent: set[str] = set()
        for end in range(start, len(sequence)):
            extent.add(sequence[end])
            if sequence[end] in wanted:
                common = len(wanted & extent)
                best = max(best, common / (len(wanted) + len(extent) - common))
    return best


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def allowed_edits(word: str) -> int:
    """Typos forgiven in a name word: none up to 3 letters, one up to 6, then two."""
    return 0 if len(word) <= 3 else 1 if len(word) <= 6 else 2


def name_match(word: str, name: str) -> bool:
    """``word`` (folded) matches the folded ``name``: a word of the name starts with it, or
    is within ``allowed_edits`` of it — after the trigram candidate test the index makes."""
    if word_similarity(word, name) < NAME_CANDIDATE_SIMILARITY:
        return False
    edits = allowed_edits(word)
    for part in _WORD.findall(name):
        if part.startswith(word) or (edits and abs(len(part) - len(word)) <= edits
                                     and levenshtein(part, word) <= edits):
            return True
    return False


# ------------------------------------------------------------------ snippets

SNIPPET_CHARS = 180
_MARK, _END_MARK = Markup("<mark>"), Markup("</mark>")
_TOKEN = re.compile(r"[^\W_]+|[\W_]+")


@lru_cache(maxsize=50_000)
def _token_stems(token: str) -> tuple[str, str]:
    return stems(fold(token))


def _count(text: str, wanted: frozenset[str]) -> int:
    """How many of the ``wanted`` stems occur in ``text`` (the words as ``_marked`` reads them)."""
    return len({s for token in set(_WORD.findall(text)) for s in _token_stems(token) if s in wanted})


def _marked(text: str, wanted: frozenset[str]) -> list[tuple[str, bool]]:
    return [(token, token[0].isalnum() and any(s in wanted for s in _token_stems(token)))
            for token in _TOKEN.findall(text)]


def snippet(texts: list[str], query: Query, chars: int = SNIPPET_CHARS) -> Markup | None:
    """The passage of ``texts`` (subject, then messages) with most query words, about
    ``chars`` long, HTML-escaped, query words in ``<mark>``. None when no word occurs."""
    wanted = query.stem_set()
    if not wanted:
        return None
    best: tuple[int, str] | None = None
    for text in texts:
        count = _count(text, wanted)
        if count and (best is None or count > best[0]):
            best = (count, text)
    if best is None:
        return None
    pieces = _marked(" ".join(best[1].split()), wanted)
    first = next(i for i, (_, hit) in enumerate(pieces) if hit)
    # start a little before the first hit, at a token boundary
    start, budget = first, chars // 4
    while start > 0 and budget - len(pieces[start - 1][0]) > 0:
        start -= 1
        budget -= len(pieces[start][0])
    while 0 < start < first and not pieces[start][0][0].isalnum():
        start += 1  # begin on a word
    # escaped a run of plain tokens at a time (not token by token: most of a snippet's cost)
    out: list[Markup] = [escape("… ")] if start > 0 else []
    plain: list[str] = []
    length, end = 0, start
    while end < len(pieces) and length < chars:
        token, hit = pieces[end]
        if hit:
            out += [escape("".join(plain)), _MARK, escape(token), _END_MARK]
            plain.clear()
        else:
            plain.append(token)
        length += len(token)
        end += 1
    out.append(escape("".join(plain)))
    if end < len(pieces):
        out.append(escape(" …"))
    return Markup("").join(out)
