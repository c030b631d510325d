"""Small pieces the add-on's panels and preferences draw with: wrapped text that fits the region."""

from __future__ import annotations

import textwrap


def text_width(context) -> int:
    """How many characters fit in a line of the region being drawn (a rough estimate)."""
    region = getattr(context, "region", None)
    scale = (context.preferences.system.ui_scale if context.preferences else 0.0) or 1.0  # 0 in background mode
    px = region.width if region is not None and region.width > 1 else 800
    return max(20, int(px / (7.5 * scale)) - 8)


def wrapped(layout, text: str, width: int, icon: str = "NONE") -> None:
    """``text`` as labels of at most ``width`` characters (paragraphs kept); ``icon`` on the first line."""
    col = layout.column(align=True)
    for i, line in enumerate(l for para in text.splitlines() for l in (textwrap.wrap(para, width) or [""])):
        col.label(text=line, icon=icon if i == 0 else "BLANK1" if icon != "NONE" else "NONE")
