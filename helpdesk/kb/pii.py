"""Personal data in a draft ("article from ticket"): where it is, and the text cut into
plain and highlighted segments for the form. The rules are the router's
de-identification rules (``helpdesk.routing.deid``), so both agree on what counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from helpdesk.routing.deid import find_personal_data

KIND_LABELS = {
    "email": "e-mail address",
    "phone": "phone number",
    "date": "date",
    "mrn": "record or ID number",
    "number": "card or social security number",
    "name": "the patient's name",
}


@dataclass(frozen=True)
class Hit:
    field: str
    start: int
    end: int
    kind: str

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass(frozen=True)
class Segment:
    text: str
    kind: str | None = None  # None: plain text

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind or "", "")


def find_in_fields(fields: Mapping[str, str], names: Iterable[str] = ()) -> list[Hit]:
    names = list(names)
    return [
        Hit(name, start, end, kind)
        for name, text in fields.items()
        for start, end, kind in find_personal_data(text or "", names=names)
    ]


def segments(text: str, hits: Iterable[Hit]) -> list[Segment]:
    """``text`` cut at the hits, for rendering with <mark> (autoescaped)."""
    out: list[Segment] = []
    last = 0
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.start < last:
            continue
        if hit.start > last:
            out.append(Segment(text[last:hit.start]))
        out.append(Segment(text[hit.start:hit.end], hit.kind))
        last = hit.end
    if last < len(text):
        out.append(Segment(text[last:]))
    return out
