"""Markdown the therapist writes (articles, the front page's introduction) made into HTML that
is safe to put in a page: rendered by markdown-it-py, then sanitised by nh3 against a short
allow-list.

Two layers, because each covers what the other cannot promise: markdown-it turns the text into
HTML and refuses `javascript:` links, and nh3 (the ammonia sanitiser) then keeps only the
tags and attributes below, whatever the Markdown let through as raw HTML. No element may carry
an event handler, a style (the CSP forbids inline styles anyway) or a class; no picture may be
loaded from elsewhere (pages make no third-party request), so images are not allowed at all:
an article's pictures come from the exercise it features.
"""

from __future__ import annotations

import re
from functools import cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

# The page's own <h1> is the title: a "# heading" in the text becomes an <h2>.
ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "s", "del",
    "code", "pre", "kbd", "abbr", "sub", "sup", "blockquote", "ul", "ol", "li", "a",
    "table", "thead", "tbody", "tr", "th", "td",
})
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start"}}
# Dropped with everything inside them (other unknown tags keep their text).
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template",
                                  "svg", "math", "noscript", "textarea", "select"})
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# A line holding only this marks where an article's featured exercise goes.
EXERCISE_MARKER = "[[exercise]]"
_MARKER_LINE = re.compile(r"^[ \t]*\[\[exercise\]\][ \t]*$", re.MULTILINE | re.IGNORECASE)


@cache
def _markdown() -> MarkdownIt:
    # CommonMark with tables and strikethrough; raw HTML is parsed (then sanitised below) so
    # that a pasted <abbr> or <kbd> survives. Images are off: see the module's docstring.
    return (MarkdownIt("commonmark", {"html": True})
            .enable(["table", "strikethrough"]).disable("image"))


def _render(source: str) -> str:
    md = _markdown()
    tokens = md.parse(source)
    for token in tokens:
        if token.type in ("heading_open", "heading_close") and token.tag == "h1":
            token.tag = "h2"
    return md.renderer.render(tokens, md.options, {})


def to_html(source: str | None) -> Markup:
    """Safe HTML for a Markdown text (empty for none)."""
    if not source or not source.strip():
        return Markup("")
    html = nh3.clean(
        _render(source),
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return Markup(html)  # noqa: S704 - sanitised by nh3 just above


def split_at_exercise(source: str | None) -> tuple[str, str | None]:
    """The text before and after the line that places the featured exercise; (all of it,
    None) when there is no such line."""
    source = source or ""
    match = _MARKER_LINE.search(source)
    if match is None:
        return source, None
    return source[:match.start()], source[match.end():]

