"""Finding English on a page or in an e-mail that should be all Spanish.

What counts as English is read at test time, never listed by hand, so that a string a
developer adds later is covered as soon as it exists:

* every message of the catalogue (``translations/messages.pot``) whose Spanish
  translation differs from it, cut at its placeholders and markup into fragments;
* the English names of the things the database names (queues, help-centre topics) that
  have a Spanish name of their own;
* and for text that was never marked for translation at all (so is in no catalogue),
  English function words ("the", "your", "please"…), which Spanish does not use.

Text that is meant to be in another language says so (``lang="en"`` on an English
article's title, the switcher's *English*) and is skipped with everything inside it, as
are the patient's own words in form fields.
"""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
POT = ROOT / "translations" / "messages.pot"
PO = ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po"

PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|<[^>]*>")
#: Words of English sentences that no Spanish sentence contains.
ENGLISH_WORDS = ("the", "your", "you", "we", "our", "please", "is", "are", "was", "were", "of", "and", "with",
                 "this", "that", "to", "for", "can't", "don't", "it", "here", "there", "have", "has", "will")
ENGLISH_WORD = re.compile(r"(?<![\w’'-])(" + "|".join(re.escape(w) for w in ENGLISH_WORDS) + r")(?![\w’'-])",
                          re.IGNORECASE)
TEXT_ATTRIBUTES = ("aria-label", "title", "alt", "placeholder", "aria-description")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def _strings(value) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(s for s in value if s) if isinstance(value, tuple | list) else (value,)


@cache
def catalogue_fragments() -> tuple[str, ...]:
    """English fragments of the catalogue's messages that the Spanish catalogue changes."""
    with open(POT, "rb") as f:
        pot = read_po(f)
    with open(PO, "rb") as f:
        po = read_po(f, locale="es")
    spanish_text = "\n".join(s for m in po for s in _strings(m.string))
    fragments = set()
    for message in pot:
        if not message.id:
            continue
        translated = po.get(message.id, context=message.context)
        english = _strings(message.id)
        if translated is not None and set(_strings(translated.string)) == set(english):
            continue  # the same in both languages ("General")
        for text in english:
            for piece in PLACEHOLDER.split(text):
                piece = " ".join(piece.split()).strip(" .,:;!?()·—–-“”\"'…")
                # a fragment that is also Spanish text (a name, "911") proves nothing
                if len(piece) >= 3 and re.search(r"[A-Za-z]{2}", piece) and piece not in spanish_text:
                    fragments.add(piece)
    return tuple(sorted(fragments, key=len, reverse=True))


def _pattern(fragments: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"(?<![\w])(" + "|".join(re.escape(f) for f in fragments) + r")(?![\w])")


class _Visible(HTMLParser):
    """The text of a page a Spanish reader sees or hears: text, the attributes screen
    readers read, button labels and the messages scripts show (``data-msg-*``), except
    what is marked as another language and what the patient typed."""

    def __init__(self, language: str) -> None:
        super().__init__(convert_charrefs=True)
        self.language = language
        self.stack: list[tuple[str, bool]] = []  # (tag, shown in the page's language)
        self.parts: list[str] = []
        self.titles: list[str] = []  # <title>: an article's own title shares it with ours, unmarked

    def _ours(self) -> bool:
        return not self.stack or self.stack[-1][1]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        lang = a.get("lang")
        ours = self._ours() if lang is None else lang.split("-")[0] == self.language
        if tag not in VOID:
            self.stack.append((tag, ours and tag not in ("script", "style", "textarea")))
        if not ours:
            return
        self.parts += [a[name] for name in TEXT_ATTRIBUTES if a.get(name)]
        self.parts += [value for name, value in a.items() if name.startswith("data-msg") and value]
        if tag in ("input", "button") and a.get("type") in ("submit", "button", "reset") and a.get("value"):
            self.parts.append(a["value"])
        if tag == "meta" and a.get("name") == "description" and a.get("content"):
            self.parts.append(a["content"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        if self._ours() and data.strip():
            (self.titles if self.stack and self.stack[-1][0] == "title" else self.parts).append(data)


def _parse(html: str, language: str) -> _Visible:
    parser = _Visible(language)
    parser.feed(html)
    parser.close()
    return parser


def visible_text(html: str, language: str = "es") -> list[str]:
    return [" ".join(p.split()) for p in _parse(html, language).parts]


def english_in(texts: list[str], extra_english: tuple[str, ...] = (), *, words: bool = True) -> list[str]:
    """Each piece of ``texts`` that holds English, with what gave it away (``words``: also
    English function words, for text that was never marked for translation)."""
    known = _pattern(tuple(sorted({*catalogue_fragments(), *extra_english}, key=len, reverse=True)))
    found = []
    for text in texts:
        hits = [m.group(1) for m in known.finditer(text)]
        if words:
            hits += [m.group(1) for m in ENGLISH_WORD.finditer(text)]
        if hits:
            found.append(f"{text[:160]!r} ← {sorted(set(hits))}")
    return found


def english_on_page(html: str, extra_english: tuple[str, ...] = ()) -> list[str]:
    """English on a Spanish page. The <title> can't mark an English article's title in
    it as English, so it is checked against the known English strings only."""
    parser = _parse(html, "es")
    texts = [" ".join(p.split()) for p in parser.parts]
    titles = [" ".join(p.split()) for p in parser.titles]
    return english_in(texts, extra_english) + english_in(titles, extra_english, words=False)
