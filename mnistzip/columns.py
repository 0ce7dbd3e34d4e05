"""Plain-text tables that fit the width they are given: in a terminal, in 80 columns, or in a file.

A table too wide for the width is cut into blocks of columns, one under the
other, each repeating the first ``keep`` columns (a row's name), as pandas
prints a wide frame: no cell is ever shortened, and nothing but spaces and
dashes is drawn, so a table redirected to a file reads as it does on screen.
"""

from __future__ import annotations

GAP = "  "  # between two columns


def render(headers: list[str], rows: list[list[str]], width: int = 80, right: set[int] | None = None,
           keep: int = 1) -> list[str]:
    """The lines of a table: ``headers`` and ``rows`` of strings; ``right``: the columns aligned right (default:
    all but the first ``keep``); blocks of columns no wider than ``width``, each starting with the first ``keep``."""
    right = set(range(keep, len(headers))) if right is None else right
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines: list[str] = []
    for block in _blocks(widths, width, keep):
        if lines:
            lines.append("")

        def line(cells: list[str]) -> str:
            return GAP.join(cells[i].rjust(widths[i]) if i in right else cells[i].ljust(widths[i])
                            for i in block).rstrip()

        lines += [line(headers), GAP.join("-" * widths[i] for i in block)] + [line(r) for r in rows]
    return lines


def _blocks(widths: list[int], width: int, keep: int) -> list[list[int]]:
    """Columns in blocks that fit ``width``, each led by the first ``keep`` (a block holds at least one more)."""
    lead = list(range(min(keep, len(widths))))
    used = sum(widths[i] for i in lead) + len(GAP) * max(len(lead) - 1, 0)
    blocks, current, size = [], [], used
    for i in range(len(lead), len(widths)):
        extra = widths[i] + len(GAP) * bool(lead or current)
        if current and size + extra > width:
            blocks.append(lead + current)
            current, size = [], used
            extra = widths[i] + len(GAP) * bool(lead)
        current.append(i)
        size += extra
    if current or not blocks:
        blocks.append(lead + current)
    return blocks
