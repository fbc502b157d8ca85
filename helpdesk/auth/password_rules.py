"""Password rules after NIST SP 800-63B (section 5.1.1.2); no database, no request needed.

* at least ``MIN_PASSWORD`` characters, up to ``MAX_PASSWORD`` (any characters: spaces,
  accents, emoji);
* no composition rules (no "one digit, one symbol");
* refused when it is one of the common passwords in ``common_passwords.txt``;
* refused when it contains the user's e-mail local part, a part of their name, or the
  product's name.

Messages are English (marked ``N_``); the pages translate them with
``helpdesk.i18n.translate``. The length messages carry the limits read at call time
(``too_short()``, ``length_hint()``...), so they always state what is enforced.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from helpdesk.errors import ValidationFailed
from helpdesk.i18n import N_

MIN_PASSWORD = 8
MAX_PASSWORD = 128
COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
#: The product's names (compared without spaces or punctuation).
PRODUCT_WORDS = ("riverside", "helpdesk")
#: Parts of a name or an address shorter than this are not checked ("Li", "Ana"): too
#: many innocent passwords contain them.
MIN_PART = 4

TOO_LONG = N_("That password is too long.")
TOO_COMMON = N_("That password is too common: it is one of the first passwords attackers try. "
                "Choose something harder to guess, such as a short sentence.")
PERSONAL = N_("Don't use your name, your e-mail address or the name of this site in your password.")


def too_short() -> str:
    return N_("Use at least %(count)d characters.", count=MIN_PASSWORD)


def too_short_field() -> str:
    return N_("At least %(count)d characters.", count=MIN_PASSWORD)


def too_long_field() -> str:
    return N_("At most %(count)d characters.", count=MAX_PASSWORD)


def length_range() -> str:
    """The forms' message for a password outside the limits (before the service runs)."""
    return N_("Use %(min)d to %(max)d characters.", min=MIN_PASSWORD, max=MAX_PASSWORD)


_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    with COMMON_FILE.open(encoding="utf-8") as f:
        return frozenset(line.rstrip("\n") for line in f if line.strip() and not line.startswith("#"))


def _squash(text: str) -> str:
    """Lower-case letters and digits only: 'Help-Desk' and 'help desk' both give 'helpdesk'."""
    return _NON_ALNUM.sub("", text.casefold())


def context_words(email: str | None = None, name: str | None = None) -> set[str]:
    words = set(PRODUCT_WORDS)
    if email:
        local = email.rpartition("@")[0] if "@" in email else email
        if len(_squash(local)) >= 3:
            words.add(_squash(local))
        words.update(_squash(p) for p in _NON_ALNUM.split(local) if len(_squash(p)) >= MIN_PART)
    if name:
        words.update(_squash(p) for p in name.split() if len(_squash(p)) >= MIN_PART)
    return {w for w in words if w}


def password_problem(password: object, *, email: str | None = None, name: str | None = None) -> tuple[str, str] | None:
    """(message, field message) of the first rule ``password`` breaks, or None."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        return too_short(), too_short_field()
    if len(password) > MAX_PASSWORD:
        return TOO_LONG, too_long_field()
    folded = password.casefold()
    if folded in common_passwords() or folded.strip() in common_passwords() or _squash(password) in common_passwords():
        return TOO_COMMON, TOO_COMMON
    squashed = _squash(password)
    if any(word in squashed for word in context_words(email, name)):
        return PERSONAL, PERSONAL
    return None


def check_password(password: object, *, email: str | None = None, name: str | None = None,
                   field: str = "password") -> str:
    """``password`` unchanged when it follows the rules, else ValidationFailed."""
    problem = password_problem(password, email=email, name=name)
    if problem is not None:
        message, field_message = problem
        raise ValidationFailed(message, fields={field: [field_message]})
    assert isinstance(password, str)
    return password
