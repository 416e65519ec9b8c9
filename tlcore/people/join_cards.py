"""A printable page of join cards: one per person, with their name, their link and its QR code.

The page holds the tokens, so it is written beside the roster for the teacher to print and is the
only place a token is kept; `class add-students` writes a page for the new students alone.
"""
from __future__ import annotations

import html
from pathlib import Path

import segno

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Join cards · {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1cm; }}
.cards {{ display: grid; grid-template-columns: repeat(3, 1fr); gap: 0.5cm; }}
.card {{ border: 1px dashed #888; padding: 0.4cm; break-inside: avoid; text-align: center; }}
.card h2 {{ margin: 0 0 0.2cm; font-size: 1.3em; }}
.card p {{ font-size: 0.7em; word-break: break-all; margin: 0.2cm 0 0; }}
</style></head>
<body><h1>Class {title}: join cards</h1>
<p>Open the link or scan the code on the studio's network; it signs that browser in. Keep each card private.</p>
<div class="cards">{cards}</div></body></html>
"""


def write_join_cards(path: Path, class_name: str, links: dict[str, str], address: str) -> Path:
    """Write the cards for {person: "/?join=TOKEN"} with links made whole with the server's address."""
    cards = []
    for person, link in links.items():
        url = address.rstrip("/") + link
        code = segno.make(url, error="m").svg_inline(scale=3, dark="#000", light="#fff")
        cards.append(f"<div class='card'><h2>{html.escape(person)}</h2>{code}<p>{html.escape(url)}</p></div>")
    path.write_text(PAGE.format(title=html.escape(class_name), cards="".join(cards)), encoding="utf-8")
    return path
