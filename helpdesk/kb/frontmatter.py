"""The seed articles shipped in ``content/*.md``: a front-matter block, then Markdown.

Pure: parsing only. ``helpdesk.kb.seed`` loads the parsed articles through the service.

```
---
title: Reset your password
summary: One or two sentences.
category: Signing in
queues: account-access, technical
audience: public            # or internal
language: en                # or es
translation_of: reset-your-password   # optional: the slug of the article this one translates
---
Markdown body…
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CONTENT_DIR = Path(__file__).resolve().parent / "content"
REQUIRED = ("title", "summary", "category", "audience", "language")
_NUMBER_PREFIX = re.compile(r"^\d+-")


class ContentError(ValueError):
    """A content file is malformed (the message names the file and the problem)."""


@dataclass(frozen=True)
class ContentArticle:
    slug: str
    title: str
    summary: str
    category: str
    queues: tuple[str, ...]
    audience: str
    language: str
    body_md: str
    source: str
    translation_of: str | None = None


def parse(text: str, *, source: str = "<string>") -> ContentArticle:
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    if not text.startswith("---\n"):
        raise ContentError(f"{source}: missing the '---' front-matter block")
    end = text.find("\n---", 4)
    if end < 0:
        raise ContentError(f"{source}: the front-matter block is not closed with '---'")
    header, body = text[4:end], text[end + 4:]
    meta: dict[str, str] = {}
    for n, line in enumerate(header.splitlines(), start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ContentError(f"{source}:{n}: expected 'key: value'")
        meta[key.strip().lower()] = value.strip()
    missing = [k for k in REQUIRED if not meta.get(k)]
    if missing:
        raise ContentError(f"{source}: missing {', '.join(missing)}")
    stem = Path(source).stem
    slug = meta.get("slug") or _NUMBER_PREFIX.sub("", stem)
    return ContentArticle(
        slug=slug,
        title=meta["title"],
        summary=meta["summary"],
        category=meta["category"],
        queues=tuple(q.strip() for q in meta.get("queues", "").split(",") if q.strip()),
        audience=meta["audience"].lower(),
        language=meta["language"].lower(),
        body_md=body.strip("\n") + "\n",
        source=source,
        translation_of=meta.get("translation_of") or None,
    )


def load_all(directory: Path = CONTENT_DIR) -> list[ContentArticle]:
    return [parse(p.read_text(encoding="utf-8"), source=p.name) for p in sorted(directory.glob("*.md"))]
