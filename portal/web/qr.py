"""QR codes as inline SVG, for the printed programme sheet and setting up an authenticator app.

Inline, because the CSP allows no data: images; segno's SVG carries no style attribute (its
colours are presentation attributes: fill, stroke), so the CSP's style-src 'self' passes it.
"""

from __future__ import annotations

from markupsafe import Markup


def qr_svg(data: str, *, title: str, css_class: str) -> Markup:
    """The QR code for data as an inline <svg> named by title, scaled by CSS (css_class)."""
    import segno  # on the two pages that draw one, not in every worker at start

    code = segno.make(data, error="m", micro=False)
    # A viewBox and no fixed size, so CSS can scale it (a fixed-size <svg> would be cropped,
    # and a cropped code doesn't scan); the full quiet zone of four modules is kept.
    svg = code.svg_inline(scale=1, border=4, dark="#000", light="#fff", omitsize=True,
                          svgclass=css_class, lineclass=None, title=title)
    # A named image for assistive technology (the <title> gives the name); sharp modules.
    attributes = 'role="img" focusable="false" shape-rendering="crispEdges" '
    return Markup(svg.replace("<svg ", "<svg " + attributes, 1))  # noqa: S704
