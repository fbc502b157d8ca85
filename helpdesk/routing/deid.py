"""De-identification of request text before it is used for training or analysis.

Pure and fast (regular expressions, one pass per kind). Replaces, in this order:

========== ================================================================================
[EMAIL]    e-mail addresses
[MRN]      the value after "MRN", "medical record number", "patient ID", "expediente",
           "número de expediente", "historia clínica" (the label is kept)
[NUMBER]   card-like numbers (13-19 digits, optionally grouped by spaces or dashes) and
           US social security numbers (123-45-6789)
[DATE]     numeric dates (03/14/1985, 3-14-85, 2024-01-02, 14.03.1985) and written ones
           ("March 3, 2024", "Mar 3rd", "3 March 2024", "March 2024", "3 de marzo de 2024",
           "marzo de 2024"); a month name alone ("may") is left alone
[PHONE]    US phone numbers: (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567,
           5551234567, +1 555 123 4567, 1-800-555-1234, with an optional extension
[MRN]      any other run of 6 or more digits
[NAME]     the given ``names`` (case- and accent-insensitive, whole words, longest first)
           and the name after "my name is", "this is", "me llamo", "mi nombre es",
           "soy" + capitalised word, "name:" / "nombre:"
========== ================================================================================

This is a safety net for free text, not a guarantee: unlisted names written without an
introduction ("tell Maria I called") stay. Output is stable under repetition
(``deidentify(deidentify(x)) == deidentify(x)``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["deidentify"]

# Every repetition over a broad class is bounded: an unbounded local part made
# "555-555-555-..." quadratic (each start scanned to the end looking for "@").
_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,6}\.[a-z]{2,24}\b",
    re.IGNORECASE,
)

_MRN_LABELLED = re.compile(
    r"(?P<label>\b(?:mrn|medical\s+record\s+(?:number|no\.?|#)|patient\s+id|"
    r"(?:n[uú]mero\s+de\s+)?expediente(?:\s+m[eé]dico)?|historia\s+cl[ií]nica)"
    r"\s*(?:number|no\.?|n[uú]m\.?|#)?\s*[:#]?\s*)"
    r"(?P<value>(?=[A-Za-z0-9-]{0,30}\d)[A-Za-z0-9][A-Za-z0-9-]{2,30})(?![A-Za-z0-9-])",
    re.IGNORECASE,
)

_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")

_MONTHS_EN = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
# Next to a day number, "may" is far more often the verb ("I may 2..."): only "May" counts.
_MONTHS_EN_DAY = _MONTHS_EN.replace("|may|", "|(?-i:May)|")
_MONTHS_ES = (
    r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|se(?:p|t|pt)iembre|octubre|"
    r"noviembre|diciembre)"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d\d"
_DATE = re.compile(
    r"(?<![\w/.-])(?:"
    # numeric: 03/14/1985, 3-14-85, 14.03.1985, 2024-01-02, 2024/1/2
    r"\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}[/.-]\d{1,2}[/.-]\d{1,2}"
    # March 3, 2024 / Mar. 3rd / March 3 2024
    rf"|{_MONTHS_EN_DAY}\.?\s+{_DAY}\b(?:,?\s+{_YEAR})?"
    # 3 March 2024 / 3rd of March
    rf"|{_DAY}\s+(?:of\s+)?{_MONTHS_EN_DAY}\b\.?(?:,?\s+{_YEAR})?"
    # March 2024
    rf"|{_MONTHS_EN}\.?,?\s+{_YEAR}"
    # 3 de marzo (de 2024) / marzo 3 / marzo de 2024 / el 3 de marzo del 2024
    rf"|{_DAY}\s+de\s+{_MONTHS_ES}\b(?:\s+(?:de|del)\s+{_YEAR})?"
    rf"|{_MONTHS_ES}\s+{_DAY}\b(?:,?\s+{_YEAR})?"
    rf"|{_MONTHS_ES}\s+(?:de|del)\s+{_YEAR}"
    r")(?![\w/-])",
    re.IGNORECASE,
)

_PHONE = re.compile(
    r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-]?)\d{3}[\s.-]?\d{4}"
    r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,6})?(?!\w)",
    re.IGNORECASE,
)

_LONG_DIGITS = re.compile(r"(?<!\w)\d{6,}(?!\w)")

# Words that end a name after an introduction ("my name is john and ...").
_STOP = {
    "and",
    "but",
    "or",
    "i",
    "im",
    "i'm",
    "my",
    "me",
    "the",
    "a",
    "an",
    "from",
    "with",
    "at",
    "in",
    "on",
    "for",
    "to",
    "of",
    "is",
    "was",
    "not",
    "please",
    "thanks",
    "thank",
    "hi",
    "hello",
    "here",
    "calling",
    "writing",
    "because",
    "so",
    "it",
    "this",
    "that",
    "who",
    "dob",
    "born",
    "patient",
    "mrn",
    "y",
    "pero",
    "o",
    "yo",
    "mi",
    "el",
    "la",
    "de",
    "del",
    "con",
    "en",
    "por",
    "para",
    "que",
    "soy",
    "tengo",
    "necesito",
    "quiero",
    "no",
    "gracias",
    "hola",
    "mrs",
    "mr",
    "ms",
    "dr",
    "sr",
    "sra",
}
_NAME_WORD = r"[^\W\d_][^\W\d_'’-]{0,30}(?:['’-][^\W\d_]{1,30}){0,3}"
_INTRO = re.compile(
    r"(?P<intro>\b(?:my\s+name\s+is|my\s+name's|this\s+is|i\s+am|i'm|me\s+llamo|"
    r"mi\s+nombre\s+es|soy|name\s*:|nombre\s*:|patient\s*:|paciente\s*:)\s+)"
    rf"(?P<words>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,3}})",
    re.IGNORECASE,
)
# Parts of a display name that are ordinary words too ("María de la Cruz" -> "de", "la").
_NOT_A_NAME = {
    "de",
    "del",
    "la",
    "las",
    "los",
    "el",
    "y",
    "e",
    "da",
    "das",
    "do",
    "dos",
    "di",
    "du",
    "van",
    "von",
    "der",
    "den",
    "le",
    "al",
    "bin",
    "ibn",
    "st",
    "jr",
    "sr",
    "sra",
    "srta",
    "mr",
    "mrs",
    "ms",
    "dr",
    "ii",
    "iii",
    "iv",
    "the",
    "and",
    "of",
    "mc",
}
# Words that are not names after "I'm"/"soy" even when capitalised.
_STOP |= {
    "unable",
    "sorry",
    "confused",
    "frustrated",
    "new",
    "locked",
    "still",
    "very",
    "really",
    "just",
    "also",
    "currently",
    "sure",
    "not",
    "so",
    "trying",
    "having",
    "getting",
    "looking",
    "writing",
    "calling",
    "asking",
    "wondering",
    "pregnant",
    "diabetic",
    "paciente",
    "nuevo",
    "nueva",
    "diabetico",
    "diabetica",
    "mama",
    "papa",
    "mother",
    "father",
    "the",
    "your",
}
# Introductions that are often followed by ordinary words: require a capital letter.
_WEAK_INTROS = ("this is", "i am", "i'm", "soy")


def _fold(text: str) -> str:
    """Accent-free copy with the same length (one character per character)."""
    out = []
    for ch in text:
        decomposed = unicodedata.normalize("NFD", ch)
        out.append(decomposed[0] if decomposed else ch)
    return "".join(out)


def _name_words(words: str, strict_case: bool) -> int:
    """How many characters of ``words`` form the name (0 when none)."""
    taken_end = 0
    for count, match in enumerate(re.finditer(_NAME_WORD, words)):
        if count and not words[taken_end : match.start()].isspace():
            break
        word = match.group(0)
        if word.lower() in _STOP:
            break
        capitalised = word[0].isupper()
        if strict_case and (not capitalised or word.lower().endswith("ing")):
            break
        # Lower-case introductions ("my name is john smith") take at most two words.
        if not capitalised and count >= 2:
            break
        taken_end = match.end()
    return taken_end


def _replace_intros(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        intro = match.group("intro")
        words = match.group("words")
        weak = intro.strip().lower().rstrip(":") in _WEAK_INTROS
        end = _name_words(words, strict_case=weak)
        if end == 0:
            return match.group(0)
        return intro + "[NAME]" + words[end:]

    return _INTRO.sub(repl, text)


def _usable_name(name: str) -> bool:
    words = name.split()
    if not words:
        return False
    if len(words) == 1:
        word = _fold(words[0]).lower().strip(".")
        return len(word) >= 2 and word not in _NOT_A_NAME
    return True


def _replace_names(text: str, names: Iterable[str]) -> str:
    cleaned = {" ".join(n.split()) for n in names if isinstance(n, str) and _usable_name(n)}
    if not cleaned:
        return text
    folded_names = sorted({_fold(n) for n in cleaned}, key=len, reverse=True)
    alternatives = "|".join(r"\s+".join(map(re.escape, n.split())) for n in folded_names)
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    folded = _fold(text)  # same length as text, so match positions carry over
    parts = []
    last = 0
    for match in pattern.finditer(folded):
        parts.append(text[last : match.start()])
        parts.append("[NAME]")
        last = match.end()
    parts.append(text[last:])
    return "".join(parts)


def deidentify(text: str, names: Iterable[str] = ()) -> str:
    """``text`` with e-mails, phone numbers, dates, record numbers, card-like numbers and
    names replaced by ``[EMAIL]``, ``[PHONE]``, ``[DATE]``, ``[MRN]``, ``[NUMBER]`` and
    ``[NAME]``. ``names`` are names known to belong to the patient (e.g. the requester's
    display name and its parts)."""
    if not text:
        return text or ""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _MRN_LABELLED.sub(lambda m: m.group("label") + "[MRN]", text)
    text = _SSN.sub("[NUMBER]", text)
    text = _CARD.sub("[NUMBER]", text)
    text = _DATE.sub("[DATE]", text)
    text = _PHONE.sub("[PHONE]", text)
    text = _LONG_DIGITS.sub("[MRN]", text)
    text = _replace_names(text, names)
    return _replace_intros(text)


# --- spans for highlighting (knowledge base: "article from ticket") ---------------------


def find_personal_data(text: str, names: Iterable[str] = ()) -> list[tuple[int, int, str]]:
    """Where ``text`` looks like personal data, by the same rules as :func:`deidentify`:
    sorted, non-overlapping ``(start, end, kind)`` spans with kind one of ``email``,
    ``mrn``, ``number``, ``date``, ``phone``, ``name`` (earlier kinds win an overlap)."""
    if not text:
        return []
    spans: list[tuple[int, int, str]] = []

    def claim(start: int, end: int, kind: str) -> None:
        if end > start and not any(start < e and s < end for s, e, _ in spans):
            spans.append((start, end, kind))

    for match in _EMAIL.finditer(text):
        claim(match.start(), match.end(), "email")
    for match in _MRN_LABELLED.finditer(text):
        claim(match.start("value"), match.end("value"), "mrn")
    for pattern, kind in ((_SSN, "number"), (_CARD, "number"), (_DATE, "date"), (_PHONE, "phone"),
                          (_LONG_DIGITS, "mrn")):
        for match in pattern.finditer(text):
            claim(match.start(), match.end(), kind)
    cleaned = {" ".join(n.split()) for n in names if isinstance(n, str) and _usable_name(n)}
    if cleaned:
        folded_names = sorted({_fold(n) for n in cleaned}, key=len, reverse=True)
        alternatives = "|".join(r"\s+".join(map(re.escape, n.split())) for n in folded_names)
        pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        for match in pattern.finditer(_fold(text)):
            claim(match.start(), match.end(), "name")
    for match in _INTRO.finditer(text):
        weak = match.group("intro").strip().lower().rstrip(":") in _WEAK_INTROS
        end = _name_words(match.group("words"), strict_case=weak)
        if end:
            claim(match.start("words"), match.start("words") + end, "name")
    return sorted(spans)
