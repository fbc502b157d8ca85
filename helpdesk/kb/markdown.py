"""Markdown → safe HTML.

markdown-it-py parses CommonMark (plus tables and strikethrough); raw HTML in the
source is allowed through the parser so that **nh3** (the Rust ``ammonia`` sanitiser,
maintained and allow-list based) is the single security boundary: scripts, styles,
iframes, event-handler attributes, ``style`` attributes and any URL scheme other than
http, https and mailto (relative URLs are kept) are removed. Links get
``rel="noopener noreferrer"``.
"""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "dl", "dt", "em", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# removed together with everything inside them, not just the tags
CONTENT_TAGS = {"script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math"}
_H1 = re.compile(r"<(/?)h1>")


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


def sanitise(html: str) -> str:
    """Clean HTML with the allow-list (idempotent: safe to run again at display time)."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=CONTENT_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def render(markdown: str) -> str:
    """The article body as sanitised HTML. The page's only h1 is the title, so a
    ``# heading`` in the body becomes an h2."""
    rendered = _parser().render(markdown)
    return sanitise(_H1.sub(r"<\1h2>", rendered))
