"""Pure text helpers shared by the knowledge base (no Flask, no database)."""

from __future__ import annotations

import re
import unicodedata

_NON_SLUG = re.compile(r"[^a-z0-9]+")
_WS = re.compile(r"\s+")
# C0 control characters except tab/newline, DEL and the replacement character.
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def fold(text: str) -> str:
    """Lower case without accents: "Contraseña" → "contrasena"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def slugify(text: str, max_len: int = 80) -> str:
    slug = _NON_SLUG.sub("-", fold(text)).strip("-")
    return slug[:max_len].rstrip("-") or "article"


def clean_line(text: str) -> str:
    """One line of user text: NFC, no control characters, whitespace collapsed."""
    return _WS.sub(" ", _JUNK.sub("", unicodedata.normalize("NFC", text))).strip()


def clean_block(text: str) -> str:
    """Multi-line user text: NFC, no control characters, unified newlines, trimmed."""
    text = _JUNK.sub("", unicodedata.normalize("NFC", text)).replace("\r\n", "\n").replace("\r", "\n")
    return text.strip()
