"""Reading a date of birth as people type it (pure: no Flask, no database).

Accepted, in English and Spanish pages alike:

* ``1984-03-14`` (what a browser's date picker sends), ``1984/3/14``;
* numbers in the page's order: ``03/14/1984`` on English pages (month first),
  ``14/03/1984`` on Spanish pages (day first); ``-``, ``.`` or spaces also separate.
  When only the other order makes a real date (``14/03/1984`` on an English page) that
  one is taken: a day can't be 14 months. Two-digit years are refused (``84`` could be
  1884 or 1984... and for a birth date a century matters);
* month names or abbreviations in English or Spanish, with or without accents:
  ``March 14, 1984``, ``14 Mar 1984``, ``14 de marzo de 1984``, ``14 setiembre 1984``.

Anything else, a date in the future or before 1900 raises ``BirthDateError`` with a
reason code; the caller shows a friendly message and keeps what was typed.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from babel.dates import get_month_names

EARLIEST = date(1900, 1, 1)


class BirthDateError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "empty" | "unreadable" | "future" | "too_old"


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def _month_words() -> dict[str, int]:
    words: dict[str, int] = {"setiembre": 9, "sept": 9, "set": 9}
    for locale in ("en", "es"):
        for width in ("wide", "abbreviated"):
            for number, name in get_month_names(width, locale=locale).items():
                words[_fold(str(name)).rstrip(".")] = number
    return words


_MONTHS = _month_words()
_TOKENS = re.compile(r"[^\W\d_]+|\d+")
_FILLER = {"de", "del", "of", "the", "th", "st", "nd", "rd"}


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _from_numbers(numbers: list[str], day_first: bool) -> date | None:
    if len(numbers) != 3 or not all(1 <= len(n) <= 4 for n in numbers):
        return None
    a, b, c = numbers
    if len(a) == 4:  # year first: Y-M-D
        return _make(int(a), int(b), int(c))
    if len(c) != 4:
        return None
    first, second, year = int(a), int(b), int(c)
    preferred = _make(year, second, first) if day_first else _make(year, first, second)
    if preferred is not None:
        return preferred
    return _make(year, first, second) if day_first else _make(year, second, first)


def _from_words(tokens: list[str]) -> date | None:
    months = [_MONTHS[t] for t in tokens if t in _MONTHS]
    numbers = [t for t in tokens if t.isdigit()]
    others = [t for t in tokens if not t.isdigit() and t not in _MONTHS and t not in _FILLER]
    if len(months) != 1 or len(numbers) != 2 or others:
        return None
    years = [n for n in numbers if len(n) == 4]
    days = [n for n in numbers if len(n) <= 2]
    if len(years) != 1 or len(days) != 1:
        return None
    return _make(int(years[0]), months[0], int(days[0]))


def parse_birth_date(text: object, *, language: str = "en", today: date | None = None) -> date:
    """The date typed in ``text``; ``language`` decides the order of bare numbers."""
    raw = text.strip() if isinstance(text, str) else ""
    if not raw:
        raise BirthDateError("empty")
    if len(raw) > 40:
        raise BirthDateError("unreadable")
    tokens = _TOKENS.findall(_fold(raw))
    if any(not t.isdigit() for t in tokens):
        found = _from_words(tokens)
    else:
        found = _from_numbers(tokens, day_first=language == "es")
    if found is None:
        raise BirthDateError("unreadable")
    if found > (today or date.today()):
        raise BirthDateError("future")
    if found < EARLIEST:
        raise BirthDateError("too_old")
    return found
