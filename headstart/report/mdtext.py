"""Markdown text from user strings: escaped cells and paragraphs, inline code, fenced blocks, sizes on disk.

Shared by every page headstart writes (reports, model cards, export notes); no report logic here.
"""

from __future__ import annotations

import re
from typing import Any


def md_text(text: Any) -> str:
    """Escape a user string for a Markdown table cell or paragraph (no HTML, no pipes, no newlines)."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"([\\`*_\[\]|#])", r"\\\1", text)
    return " ".join(text.split())


def bytes_text(count: int) -> str:
    """Bytes as every page and command writes them (sizes on disk, in memory): decimal units, as file browsers and
    ``du --si`` show them, with three significant digits and their trailing zeros, as seconds are written, so a
    column lines up ("12.0 MB" beside "9.87 MB"): "500 B", "6.30 kB", "298 kB", "90.9 MB", "1.30 GB", "1,300 GB"."""
    if count < 1000:
        return f"{count} B"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        text = f"{count / scale:#.3g}".rstrip(".")
        if "e+" not in text:  # 999,999 B is "1.00 MB", not "1.00e+03 kB"
            return f"{text} {unit}"
    return f"{count / 1e9:,.0f} GB"


def _backtick_run(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def md_code(text: Any) -> str:
    """A user string as an inline code span, shown as is: on one line (a newline could start a heading or end the
    paragraph), between backtick fences longer than any backtick run in it. Not for table cells (a pipe splits them)."""
    text = " ".join(str(text).splitlines())
    fence = "`" * (_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""  # CommonMark strips one space each side
    return f"{fence}{pad}{text}{pad}{fence}"


def md_fence(text: str, info: str = "") -> str:
    """A fenced code block showing ``text`` as is: its fence is longer than any backtick run in it, so no line of it
    closes the block; ``info`` names the language (``"bash"``)."""
    fence = "`" * max(3, _backtick_run(text) + 1)
    return f"{fence}{info}\n{text}\n{fence}"
